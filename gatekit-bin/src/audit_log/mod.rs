//! The audit trail on disk: an append-only, hash-chained `audit.jsonl` with a checkpoint,
//! size-based rotation, and group commit.
//!
//! [`AuditLog::open`] resumes the trail in a directory (verifying the current file against
//! the checkpoint and refusing to start on a mismatch) and starts one writer thread. Handles
//! are cheap to clone; [`AuditLog::append`] returns once the record is durable per
//! [`SyncMode`]:
//!
//! - `always`: after the record's fsync. Records that arrive while an fsync runs are written
//!   and fsynced together, so concurrent sessions share fsyncs (group commit).
//! - `interval`: once chained, which the appending thread does itself under the writer's
//!   lock (no hand-off, no system call). Records are written in batches, one `write` each:
//!   by whichever thread finds 64 KiB waiting, else by the writer thread at most 10 ms
//!   after the first of them was chained. The writer thread fsyncs each record within
//!   `sync_interval` (50 ms) of its chaining. So a crash of the process loses at most
//!   10 ms of records, a crash of the machine at most 50 ms. That fsync and the checkpoint
//!   after it run without the lock, so appends never wait for the disk. A statement can
//!   thus run before its `command` record is written; use `always` when it must not.
//!
//! Records after the fact ([`AuditLog::append_detached`]: a command's result) never make
//! the caller wait; in `interval` mode they are appended like any record.
//!
//! After each fsync the head (newest seq and hash) is stored by a [`HeadStore`] — by default
//! `audit.head` beside the trail — so a cut-off or rewritten tail is detected. When a write,
//! fsync or checkpoint fails, the trail fails closed: every append returns
//! [`AuditError::Unwritable`] until a retry (made by the next append) succeeds. A trail file
//! removed or replaced underneath the writer is not retried.
//!
//! When `audit.jsonl` would grow past `max_file_bytes` it is renamed to
//! `audit-<first seq, 20 digits>.jsonl` and the chain continues in a new `audit.jsonl`.

mod checkpoint;
mod error;
mod files;
mod head;
mod read;
mod resume;
mod writer;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use gatekit_core::audit::{AuditEvent, ChainHead, ChainKey, PreparedEvent};
use tokio::sync::{Semaphore, oneshot};

pub use error::AuditError;
pub use files::{HEAD_FILE, LineEnd, TRAIL_FILE, last_lines, read_line, rotated_name, trail_files};
pub use head::{FileHeadStore, HeadStore};
pub use read::{Follower, TrailBreak, VerifyReport, verify_trail};

use writer::{Request, SharedWriter, Writer};

/// When a record counts as written (`[audit] sync`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// A record is acknowledged only after its fsync (commands wait for it).
    Always,
    /// A record is acknowledged once written; fsync runs at least every sync interval.
    #[default]
    Interval,
}

impl FromStr for SyncMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(SyncMode::Always),
            "interval" => Ok(SyncMode::Interval),
            other => Err(format!(
                "unknown sync mode `{other}` (known: always, interval)"
            )),
        }
    }
}

/// How to open a trail.
#[derive(Clone, Debug)]
pub struct AuditLogConfig {
    /// The directory holding `audit.jsonl`, its rotated files and `audit.head`.
    pub dir: PathBuf,
    /// When a record counts as written.
    pub sync: SyncMode,
    /// In `interval` mode, the longest a written record waits for its fsync.
    pub sync_interval: Duration,
    /// `audit.jsonl` is rotated before it would grow past this.
    pub max_file_bytes: u64,
    /// The HMAC chain key (`[audit] key_env`), if any.
    pub key: Option<ChainKey>,
    /// Records accepted but not yet written, at most; further appends wait.
    pub max_pending: usize,
}

impl AuditLogConfig {
    /// The default sync interval.
    pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_millis(50);
    /// The default rotation size: 64 MiB.
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 << 20;

    /// Defaults for a trail in `dir`: `interval` sync every 50 ms, 64 MiB files, no key.
    pub fn new(dir: impl Into<PathBuf>) -> AuditLogConfig {
        AuditLogConfig {
            dir: dir.into(),
            sync: SyncMode::default(),
            sync_interval: Self::DEFAULT_SYNC_INTERVAL,
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
            key: None,
            max_pending: 4096,
        }
    }
}

/// Counters of the writer's work.
#[derive(Debug, Default)]
struct Stats {
    records: AtomicU64,
    batches: AtomicU64,
    fsyncs: AtomicU64,
    rotations: AtomicU64,
    failures: AtomicU64,
    dropped: AtomicU64,
}

/// A snapshot of the writer's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuditStats {
    /// Records written.
    pub records: u64,
    /// Batches written (one `write` each).
    pub batches: u64,
    /// Fsyncs of trail files.
    pub fsyncs: u64,
    /// Rotations.
    pub rotations: u64,
    /// Batches refused because the trail was not writable.
    pub failures: u64,
    /// Detached records dropped because the writer's queue was full.
    pub dropped: u64,
}

struct Shared {
    tx: mpsc::Sender<Request>,
    permits: Arc<Semaphore>,
    stats: Arc<Stats>,
    sync: SyncMode,
    /// In `interval` mode appends write through it on the caller's thread: a statement
    /// then costs no hand-off to the writer thread and back.
    writer: SharedWriter,
}

/// Takes the trail's lock file (`audit.lock`), so two writers never interleave one chain.
fn lock_dir(dir: &std::path::Path) -> Result<std::fs::File, AuditError> {
    std::fs::create_dir_all(dir).map_err(AuditError::io("create directory", dir))?;
    let path = dir.join("audit.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(AuditError::io("open", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(AuditError::Locked { path }),
        Err(std::fs::TryLockError::Error(e)) => Err(AuditError::io("lock", &path)(e)),
    }
}

/// A handle to the trail's writer. Clone it into every session; the writer stops (after a
/// last fsync) when every handle is dropped or [`AuditLog::close`] is called.
#[derive(Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("stats", &self.stats())
            .finish()
    }
}

impl AuditLog {
    /// Opens the trail in `config.dir` with its `audit.head` checkpoint. Blocks while it
    /// verifies the current file (up to `max_file_bytes`).
    pub fn open(config: AuditLogConfig) -> Result<AuditLog, AuditError> {
        let store = FileHeadStore::new(&config.dir);
        AuditLog::open_with(config, Box::new(store))
    }

    /// Opens the trail with another checkpoint store.
    pub fn open_with(
        config: AuditLogConfig,
        mut store: Box<dyn HeadStore>,
    ) -> Result<AuditLog, AuditError> {
        let lock = lock_dir(&config.dir)?;
        let resumed = resume::resume(&config.dir, config.key.as_ref(), store.as_mut())?;
        let stats = Arc::new(Stats::default());
        let writer = Writer::new(&config, resumed, store, stats.clone(), lock)?;
        let writer: SharedWriter = Arc::new(Mutex::new(writer));
        let (tx, rx) = mpsc::channel();
        let thread_writer = Arc::clone(&writer);
        std::thread::Builder::new()
            .name("gatekit-audit".into())
            .spawn(move || writer::run(thread_writer, rx))
            .map_err(AuditError::io("start the writer for", &config.dir))?;
        Ok(AuditLog {
            shared: Arc::new(Shared {
                tx,
                permits: Arc::new(Semaphore::new(config.max_pending.max(1))),
                stats,
                sync: config.sync,
                writer,
            }),
        })
    }

    /// Wakes the writer thread to schedule a write or fsync, when an append on the caller's
    /// thread started a batch.
    fn wake_if(&self, wake: bool) -> Result<(), AuditError> {
        if wake {
            self.shared
                .tx
                .send(Request::Wake)
                .map_err(|_| AuditError::Closed)?;
        }
        Ok(())
    }

    /// Appends a record, stamped with the current time; returns once it is durable per the
    /// sync mode (`interval`: chained, to be written within 10 ms and fsynced within the
    /// sync interval). An error means the record was refused: refuse the command.
    pub async fn append(&self, event: AuditEvent) -> Result<(), AuditError> {
        // Serialized here, so the writer's lock covers only stamping, hashing and copying.
        let event = PreparedEvent::new(&event);
        if self.shared.sync == SyncMode::Interval {
            // Chained under the writer's lock and written with its batch; the writer thread
            // is woken only when a batch starts.
            let wake = writer::lock(&self.shared.writer).append_deferred(&event)?;
            return self.wake_if(wake);
        }
        let permit = self
            .shared
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AuditError::Closed)?;
        let (done, answer) = oneshot::channel();
        self.shared
            .tx
            .send(Request::Append {
                event,
                done,
                _permit: permit,
            })
            .map_err(|_| AuditError::Closed)?;
        answer.await.map_err(|_| AuditError::Closed)?
    }

    /// Appends a record after the fact (a command's result) without waiting for the disk:
    /// in `interval` mode exactly like [`AuditLog::append`]; in
    /// `always` mode it is handed to the writer thread, which
    /// fsyncs it with the next group, and the caller does not wait. When the writer's queue
    /// is full (`max_pending` records) the record is dropped rather than waited for, and
    /// [`AuditStats::dropped`] counts it. An error means the record was not written.
    pub fn append_detached(&self, event: AuditEvent) -> Result<(), AuditError> {
        let event = PreparedEvent::new(&event);
        if self.shared.sync == SyncMode::Interval {
            let wake = writer::lock(&self.shared.writer).append_deferred(&event)?;
            return self.wake_if(wake);
        }
        let Ok(permit) = self.shared.permits.clone().try_acquire_owned() else {
            self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(AuditError::Busy);
        };
        // Nobody waits for the answer: the writer's send to a dropped receiver is ignored.
        let (done, _) = oneshot::channel();
        self.shared
            .tx
            .send(Request::Append {
                event,
                done,
                _permit: permit,
            })
            .map_err(|_| AuditError::Closed)
    }

    /// Fsyncs and checkpoints everything appended so far; returns the checkpointed head.
    pub async fn flush(&self) -> Result<ChainHead, AuditError> {
        let (done, answer) = oneshot::channel();
        self.shared
            .tx
            .send(Request::Flush { done })
            .map_err(|_| AuditError::Closed)?;
        answer.await.map_err(|_| AuditError::Closed)?
    }

    /// Flushes and stops the writer; later appends through any handle fail with
    /// [`AuditError::Closed`].
    pub async fn close(self) -> Result<ChainHead, AuditError> {
        let (done, answer) = oneshot::channel();
        self.shared
            .tx
            .send(Request::Close { done })
            .map_err(|_| AuditError::Closed)?;
        answer.await.map_err(|_| AuditError::Closed)?
    }

    /// The writer's counters.
    pub fn stats(&self) -> AuditStats {
        let s = &self.shared.stats;
        AuditStats {
            records: s.records.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            rotations: s.rotations.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
        }
    }
}
