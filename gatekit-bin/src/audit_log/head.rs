//! The checkpoint: the newest durable seq and hash, kept apart from the trail so that a
//! truncated or rewritten tail is detected.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use gatekit_core::audit::ChainHead;

use super::AuditError;
use super::files::HEAD_FILE;

/// The most bytes of a head file read.
const MAX_HEAD_BYTES: u64 = 4096;

/// Where the writer checkpoints the chain's head after each fsync.
pub trait HeadStore: Send + 'static {
    /// The stored head, or `None` when none was ever stored.
    fn load(&self) -> Result<Option<ChainHead>, AuditError>;
    /// Replaces the stored head. A failure fails the trail closed until a later store works.
    fn store(&mut self, head: &ChainHead) -> Result<(), AuditError>;
    /// Where the head lives, for messages (a path, a table).
    fn describe(&self) -> String;
}

/// A head file, `audit.head` beside the trail, replaced atomically (write, fsync, rename).
///
/// The directory is not fsynced after the rename: after a machine crash the file may hold
/// the previous head, which still checks a prefix of the trail.
#[derive(Debug, Clone)]
pub struct FileHeadStore {
    path: PathBuf,
    tmp: PathBuf,
}

impl FileHeadStore {
    /// The head file of the trail in `dir`.
    pub fn new(dir: &Path) -> FileHeadStore {
        FileHeadStore {
            path: dir.join(HEAD_FILE),
            tmp: dir.join(format!("{HEAD_FILE}.tmp")),
        }
    }

    /// The head file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl HeadStore for FileHeadStore {
    fn load(&self) -> Result<Option<ChainHead>, AuditError> {
        let file = match fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AuditError::io("open", &self.path)(e)),
        };
        // A head is under 100 bytes; read a little more than that, never a whole large file.
        let mut bytes = Vec::with_capacity(128);
        file.take(MAX_HEAD_BYTES)
            .read_to_end(&mut bytes)
            .map_err(AuditError::io("read", &self.path))?;
        let head =
            ChainHead::parse(bytes.trim_ascii()).map_err(|source| AuditError::Checkpoint {
                head: self.describe(),
                source,
            })?;
        Ok(Some(head))
    }

    fn store(&mut self, head: &ChainHead) -> Result<(), AuditError> {
        let mut f = fs::File::create(&self.tmp).map_err(AuditError::io("create", &self.tmp))?;
        let mut json = head.to_json();
        json.push('\n');
        f.write_all(json.as_bytes())
            .map_err(AuditError::io("write", &self.tmp))?;
        f.sync_data().map_err(AuditError::io("fsync", &self.tmp))?;
        fs::rename(&self.tmp, &self.path).map_err(AuditError::io("replace", &self.path))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}
