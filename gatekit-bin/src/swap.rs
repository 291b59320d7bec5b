//! Values a running gateway replaces without stopping: the policy engine and maskers on
//! `SIGHUP`, the verifier when the revoked-tokens file changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

/// A shared value that readers take a snapshot of and a reloader replaces whole.
///
/// A reader holds its snapshot (an `Arc`) for as long as it needs, so one statement is
/// decided under one policy even when a reload lands halfway.
#[derive(Debug)]
pub struct Swap<T>(RwLock<Arc<T>>);

impl<T> Swap<T> {
    /// Holds `value`.
    pub fn new(value: T) -> Self {
        Swap(RwLock::new(Arc::new(value)))
    }

    /// The current value.
    pub fn load(&self) -> Arc<T> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the value; readers holding the old one keep it until they drop it.
    pub fn store(&self, value: Arc<T>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = value;
    }
}

/// Notices when a file changes, by polling its modification time and length (a file
/// replaced by rename counts as changed; a file that disappears counts as changed once).
#[derive(Debug)]
pub struct FileWatch {
    path: PathBuf,
    seen: Option<(SystemTime, u64)>,
}

impl FileWatch {
    /// Watches `path`, taking its current state as seen.
    pub fn new(path: &Path) -> Self {
        FileWatch {
            path: path.to_owned(),
            seen: Self::stamp(path),
        }
    }

    /// The watched file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }

    /// Whether the file changed since the last call (or since [`FileWatch::new`]).
    pub fn changed(&mut self) -> bool {
        let now = Self::stamp(&self.path);
        if now == self.seen {
            return false;
        }
        self.seen = now;
        true
    }

    /// Waits until the file changes, polling every `every`.
    pub async fn next_change(&mut self, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            if self.changed() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{FileWatch, Swap};

    #[test]
    fn readers_keep_their_snapshot_across_a_store() {
        let s = Swap::new(1);
        let before = s.load();
        s.store(Arc::new(2));
        assert_eq!((*before, *s.load()), (1, 2));
    }

    #[test]
    fn file_changes_are_noticed_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.txt");
        std::fs::write(&path, "a\n").unwrap();
        let mut w = FileWatch::new(&path);
        assert!(!w.changed());
        std::fs::write(&path, "a\nb\n").unwrap();
        assert!(w.changed());
        assert!(!w.changed());
        std::fs::remove_file(&path).unwrap();
        assert!(w.changed());
        assert!(!w.changed());
    }
}
