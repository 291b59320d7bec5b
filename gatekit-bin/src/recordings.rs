//! Session recordings on disk: `<audit dir>/sessions/<id>.jsonl`, one per session, written
//! by one thread off the data path.
//!
//! Connections hand their recorded lines to [`Recordings::write`], which never waits: the
//! lines go into a bounded queue to the writer thread. The writer drains the queue every
//! 50 ms (or as soon as it is half full, or something waits on it), with one write per
//! session file per drain, so a busy connection does not wake a thread per command. When
//! the queue is full they are
//! dropped and counted, and once the queue has room again the session's file gets a
//! `{"event":"dropped","count":N}` line (N recorded events lost) before its next lines.
//! [`Recordings::close`] ends a session's file with an fsync. Files are created `0600`,
//! the directory `0700`.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::Thread;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use gatekit_core::record::{RecordEvent, RecordLimits};
use tokio::sync::{mpsc, oneshot};

/// The directory under `[audit] dir` that holds the recordings.
pub const SESSIONS_DIR: &str = "sessions";

/// Batches of lines waiting for the writer, at most.
const QUEUE: usize = 4096;

/// How long queued lines wait for the writer at most (unless the queue fills up).
const TICK: Duration = Duration::from_millis(50);

/// Longest session id accepted in a file name.
const MAX_ID: usize = 128;

enum Msg {
    Write(Arc<str>, Bytes),
    Dropped(Arc<str>, u64),
    Close(Arc<str>, u64),
    Flush(oneshot::Sender<()>),
}

/// The recordings of one `serve`: the writer thread and its queue.
pub struct Recordings {
    tx: mpsc::Sender<Msg>,
    /// The writer thread, unparked when the queue is half full or a caller waits.
    writer: Thread,
    limits: RecordLimits,
    /// Events dropped per session and not yet marked in its file.
    dropped: Mutex<HashMap<Arc<str>, u64>>,
    /// Whether `dropped` has anything (the common path skips its lock).
    any_dropped: AtomicBool,
    /// Events dropped since start, for logs and metrics.
    dropped_total: AtomicU64,
}

/// The file of session `id` under the audit directory; refuses ids that are not a plain
/// name (letters, digits, `-`, `_`).
pub fn session_file(audit_dir: &Path, id: &str) -> anyhow::Result<PathBuf> {
    if !plain_id(id) {
        anyhow::bail!("`{id}` is not a session id (letters, digits, `-` and `_` only)");
    }
    Ok(audit_dir.join(SESSIONS_DIR).join(format!("{id}.jsonl")))
}

fn plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Recordings {
    /// Creates `<audit_dir>/sessions` (0700) and starts the writer thread; every session
    /// keeps `limits` per command.
    pub fn open(audit_dir: &Path, limits: RecordLimits) -> anyhow::Result<Self> {
        let dir = audit_dir.join(SESSIONS_DIR);
        create_private_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let handle = std::thread::Builder::new()
            .name("gatekit-recordings".into())
            .spawn(move || writer(dir, rx))
            .context("starting the recordings writer")?;
        Ok(Recordings {
            tx,
            writer: handle.thread().clone(),
            limits,
            dropped: Mutex::new(HashMap::new()),
            any_dropped: AtomicBool::new(false),
            dropped_total: AtomicU64::new(0),
        })
    }

    /// The caps per command.
    pub fn limits(&self) -> RecordLimits {
        self.limits
    }

    /// Recorded events dropped since start because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }

    /// Queues lines of session `id`; never waits (a full queue drops and counts them).
    /// An id that is not a plain name (see [`session_file`]) is not recorded.
    pub fn write(&self, id: &str, lines: Bytes) {
        if !plain_id(id) {
            return;
        }
        if self.any_dropped.load(Ordering::Relaxed) {
            let mut dropped = self.dropped.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((key, n)) = dropped.remove_entry(id) {
                if let Err(e) = self.tx.try_send(Msg::Dropped(Arc::clone(&key), n)) {
                    let Msg::Dropped(key, n) = error_msg(e) else {
                        return;
                    };
                    dropped.insert(key, n + events(&lines));
                    self.dropped_total
                        .fetch_add(events(&lines), Ordering::Relaxed);
                    return;
                }
                self.any_dropped
                    .store(!dropped.is_empty(), Ordering::Relaxed);
            }
        }
        match self.tx.try_send(Msg::Write(id.into(), lines)) {
            Ok(()) => {
                if self.tx.capacity() < QUEUE / 2 {
                    self.writer.unpark();
                }
            }
            Err(mpsc::error::TrySendError::Full(msg)) => {
                let count = match &msg {
                    Msg::Write(_, lines) => events(lines),
                    _ => 0,
                };
                let mut dropped = self.dropped.lock().unwrap_or_else(PoisonError::into_inner);
                *dropped.entry(id.into()).or_insert(0) += count;
                self.any_dropped.store(true, Ordering::Relaxed);
                let total = self.dropped_total.fetch_add(count, Ordering::Relaxed);
                if total == 0 {
                    tracing::warn!(session = %id, "recordings writer is behind: dropping recorded events");
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Ends session `id`'s file: the dropped marker if events were lost, then an fsync.
    /// Waits for room in the queue, not for the disk.
    pub async fn close(&self, id: &str) {
        let n = {
            let mut dropped = self.dropped.lock().unwrap_or_else(PoisonError::into_inner);
            dropped.remove(id).unwrap_or(0)
        };
        if self.tx.send(Msg::Close(id.into(), n)).await.is_ok() {
            // A session's end is rare next to its commands: its file is finished at once.
            self.writer.unpark();
        }
    }

    /// Waits until everything queued so far is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            self.writer.unpark();
            let _ = wait.await;
        }
    }
}

fn error_msg(e: mpsc::error::TrySendError<Msg>) -> Msg {
    match e {
        mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m) => m,
    }
}

/// Recorded events (lines) in a batch.
fn events(lines: &[u8]) -> u64 {
    lines.iter().filter(|&&b| b == b'\n').count() as u64
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

fn open_private(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// The writer thread's open files, the lines of this drain not yet written, and the
/// sessions whose file failed.
struct Files {
    dir: PathBuf,
    open: foldhash::HashMap<Arc<str>, File>,
    pending: foldhash::HashMap<Arc<str>, Vec<u8>>,
    failed: HashSet<Arc<str>>,
}

impl Files {
    /// Queues `bytes` for session `id`'s file; written by [`Files::write_pending`].
    fn append(&mut self, id: &Arc<str>, bytes: &[u8]) {
        if self.failed.contains(id) {
            return;
        }
        match self.pending.get_mut(id) {
            Some(buf) => buf.extend_from_slice(bytes),
            None => {
                self.pending.insert(Arc::clone(id), bytes.to_vec());
            }
        }
    }

    /// Writes every session's pending lines, one write per file.
    fn write_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for (id, bytes) in pending {
            self.write(&id, &bytes);
        }
    }

    fn write(&mut self, id: &Arc<str>, bytes: &[u8]) {
        let r = match self.open.get_mut(id) {
            Some(f) => f.write_all(bytes),
            None => {
                let path = self.dir.join(format!("{id}.jsonl"));
                open_private(&path).and_then(|mut f| {
                    let r = f.write_all(bytes);
                    self.open.insert(Arc::clone(id), f);
                    r
                })
            }
        };
        if let Err(e) = r {
            tracing::error!(session = %id, error = %e, "cannot write the session recording");
            self.open.remove(id);
            self.failed.insert(Arc::clone(id));
        }
    }

    fn close(&mut self, id: &Arc<str>) {
        if let Some(bytes) = self.pending.remove(id) {
            self.write(id, &bytes);
        }
        self.failed.remove(id);
        if let Some(f) = self.open.remove(id)
            && let Err(e) = f.sync_all()
        {
            tracing::error!(session = %id, error = %e, "cannot sync the session recording");
        }
    }
}

/// Where a drain round of the writer stopped.
enum Drain {
    /// The queue is empty: wait for the next tick.
    Empty,
    /// A round's worth was taken: go on at once.
    More,
    /// Every sender is gone.
    Closed,
}

/// The writer thread: appends each session's lines to its file in `dir` (ids are plain
/// names: [`Recordings::write`] refuses others).
fn writer(dir: PathBuf, mut rx: mpsc::Receiver<Msg>) {
    let mut files = Files {
        dir,
        open: foldhash::HashMap::default(),
        pending: foldhash::HashMap::default(),
        failed: HashSet::new(),
    };
    loop {
        // One round takes at most a queue's worth, then writes: a steady stream of
        // messages cannot keep lines in memory unwritten.
        let mut taken = 0;
        let state = loop {
            if taken == QUEUE {
                break Drain::More;
            }
            taken += 1;
            match rx.try_recv() {
                Ok(Msg::Write(id, bytes)) => files.append(&id, &bytes),
                Ok(Msg::Dropped(id, count)) => files.append(&id, &marker(count)),
                Ok(Msg::Close(id, count)) => {
                    if count > 0 {
                        files.append(&id, &marker(count));
                    }
                    files.close(&id);
                }
                Ok(Msg::Flush(done)) => {
                    files.write_pending();
                    for f in files.open.values() {
                        let _ = f.sync_data();
                    }
                    let _ = done.send(());
                }
                Err(mpsc::error::TryRecvError::Empty) => break Drain::Empty,
                Err(mpsc::error::TryRecvError::Disconnected) => break Drain::Closed,
            }
        };
        files.write_pending();
        match state {
            Drain::More => {}
            Drain::Empty => std::thread::park_timeout(TICK),
            Drain::Closed => break,
        }
    }
    for f in files.open.values() {
        let _ = f.sync_all();
    }
}

fn marker(count: u64) -> Vec<u8> {
    let mut line = serde_json::to_vec(&RecordEvent::Dropped { count }).unwrap_or_default();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_must_be_plain_names() {
        let dir = Path::new("/var/audit");
        assert_eq!(
            session_file(dir, "ab12-x_y").unwrap(),
            Path::new("/var/audit/sessions/ab12-x_y.jsonl")
        );
        for bad in ["", "../etc/passwd", "a/b", "a.b", &"x".repeat(129)] {
            assert!(session_file(dir, bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn lines_are_appended_private_and_synced_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Recordings::open(dir.path(), RecordLimits::default()).unwrap();
        rec.write("s1", Bytes::from_static(b"{\"a\":1}\n"));
        rec.write("s2", Bytes::from_static(b"{\"b\":1}\n"));
        rec.write("s1", Bytes::from_static(b"{\"a\":2}\n"));
        rec.close("s1").await;
        rec.flush().await;
        let path = session_file(dir.path(), "s1").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"a\":2}\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        assert_eq!(rec.dropped(), 0);
    }

    #[test]
    fn lines_reach_the_file_within_a_tick_without_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Recordings::open(dir.path(), RecordLimits::default()).unwrap();
        rec.write("s1", Bytes::from_static(b"{\"a\":1}\n"));
        rec.write("s1", Bytes::from_static(b"{\"a\":2}\n"));
        let path = session_file(dir.path(), "s1").unwrap();
        let deadline = std::time::Instant::now() + TICK * 40;
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text == "{\"a\":1}\n{\"a\":2}\n" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "lines not written after {:?}: {text:?}",
                TICK * 40
            );
            std::thread::sleep(TICK / 5);
        }
    }

    #[test]
    fn a_full_queue_drops_counts_and_marks_the_loss() {
        // No writer thread: the queue fills and stays full until drained by hand.
        let (tx, mut rx) = mpsc::channel(2);
        let rec = Recordings {
            tx,
            writer: std::thread::current(),
            limits: RecordLimits::default(),
            dropped: Mutex::new(HashMap::new()),
            any_dropped: AtomicBool::new(false),
            dropped_total: AtomicU64::new(0),
        };
        rec.write("s1", Bytes::from_static(b"1\n"));
        rec.write("s1", Bytes::from_static(b"2\n"));
        rec.write("s1", Bytes::from_static(b"3\n4\n"));
        rec.write("s1", Bytes::from_static(b"5\n"));
        assert_eq!(rec.dropped(), 3);
        // Room again: the marker goes first, then the lines.
        let mut got = Vec::new();
        while let Ok(m) = rx.try_recv() {
            got.push(m);
        }
        assert_eq!(got.len(), 2);
        rec.write("s1", Bytes::from_static(b"6\n"));
        let kinds: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|m| match m {
                Msg::Write(_, b) => String::from_utf8(b.to_vec()).unwrap(),
                Msg::Dropped(_, n) => format!("dropped {n}"),
                _ => "other".into(),
            })
            .collect();
        assert_eq!(kinds, ["dropped 3", "6\n"]);
        assert_eq!(marker(3), b"{\"event\":\"dropped\",\"count\":3}\n");
    }
}
