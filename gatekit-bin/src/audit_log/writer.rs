//! The writer thread: batches records, writes them, fsyncs per the sync mode, checkpoints the
//! head, rotates files, and fails closed.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gatekit_core::audit::{ChainEncoder, ChainHead, ChainKey, PreparedEvent};
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use super::checkpoint::Checkpointer;
use super::files::{TRAIL_FILE, rotated_name};
use super::resume::Resumed;
use super::{AuditError, AuditLogConfig, HeadStore, Stats, SyncMode};

/// The most records written with one `write` (and, in `always` mode, one fsync).
const MAX_BATCH: usize = 256;
/// The batch buffer is shrunk back to this after an unusually large batch.
const BUF_KEEP: usize = 1 << 20;
/// Deferred records are written at once when this many bytes wait.
const DEFER_MAX: usize = 64 * 1024;
/// Deferred records are written at most this long after the first of them was chained
/// (sooner when [`DEFER_MAX`] bytes wait, never later than the sync interval): the most a
/// crash of the process can lose.
const WRITE_WITHIN: Duration = Duration::from_millis(10);

/// An error to hand every waiter of a batch, without wrapping a refusal twice.
fn shared(e: AuditError) -> Arc<AuditError> {
    match e {
        AuditError::Unwritable(inner) => inner,
        other => Arc::new(other),
    }
}

/// What handles send the writer.
// Appends are nearly every message; boxing their event would cost an allocation per record.
#[allow(clippy::large_enum_variant)]
pub(super) enum Request {
    /// Append a record; answered once it is durable per the sync mode.
    Append {
        event: PreparedEvent,
        done: oneshot::Sender<Result<(), AuditError>>,
        _permit: OwnedSemaphorePermit,
    },
    /// Fsync and checkpoint everything written so far.
    Flush {
        done: oneshot::Sender<Result<ChainHead, AuditError>>,
    },
    /// Flush, answer, and stop.
    Close {
        done: oneshot::Sender<Result<ChainHead, AuditError>>,
    },
    /// A record was written on a caller's thread to a clean file: schedule its fsync.
    Wake,
}

pub(super) struct Writer {
    dir: PathBuf,
    path: PathBuf,
    sync: SyncMode,
    interval: Duration,
    max_file_bytes: u64,
    key: Option<ChainKey>,
    encoder: ChainEncoder,
    checkpointer: Checkpointer,
    stats: Arc<Stats>,
    /// `None` after a failure: reopened (and a torn write cut) before the next write.
    file: Option<File>,
    /// The trail's lock file, held until the writer stops (released before a close is
    /// answered, so the trail can be reopened at once).
    lock: Option<File>,
    /// Device and inode of the open trail file, to notice it being removed or replaced.
    identity: (u64, u64),
    /// Bytes of whole records in the current file.
    len: u64,
    /// The current file's first seq.
    first_seq: u64,
    /// Records written but not yet fsynced, since when.
    dirty_since: Option<Instant>,
    /// Deferred records (`interval` mode), encoded into the chain but not yet written: they
    /// go out with the next write, or with the next fsync.
    deferred: Vec<u8>,
    /// How many records `deferred` holds.
    deferred_records: u64,
    /// The chain's head before the first deferred record, and since when they wait.
    deferred_from: Option<(ChainHead, Instant)>,
    /// A fsync or checkpoint failed: new records are refused until one succeeds.
    needs_sync: bool,
    /// The trail was removed or replaced underneath: refuse everything from now on.
    lost: Option<Arc<AuditError>>,
    /// Closed: appends on callers' threads are refused.
    closed: bool,
    /// When the writer thread wakes on its own (`None`: only when a request comes). Stale
    /// (in the past) while the thread is awake, which then looks at the deadlines again
    /// before it sleeps.
    wakes_at: Option<Instant>,
    buf: Vec<u8>,
}

/// The writer, shared by its thread and, in `interval` mode, the handles appending.
pub(super) type SharedWriter = Arc<Mutex<Writer>>;

/// Locks the writer; a panic elsewhere while holding it leaves consistent state (every
/// write either counted or rewound), so poisoning is ignored.
pub(super) fn lock(writer: &SharedWriter) -> MutexGuard<'_, Writer> {
    writer.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves requests until every handle is dropped or one asks to close.
pub(super) fn run(writer: SharedWriter, rx: Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let deadline = {
            let mut w = lock(&writer);
            let deadline = w.deadline();
            // Set under the same lock appends take: an append that sees it knows this
            // thread wakes by then on its own.
            w.wakes_at = deadline;
            deadline
        };
        let first = match deadline {
            Some(deadline) => {
                let wait = deadline.saturating_duration_since(Instant::now());
                if wait.is_zero() {
                    tick(&writer);
                    continue;
                }
                match rx.recv_timeout(wait) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout) => {
                        tick(&writer);
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            None => match rx.recv() {
                Ok(r) => r,
                Err(_) => break,
            },
        };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        if lock(&writer).serve(&mut batch) {
            return;
        }
    }
    if let Err(e) = lock(&writer).sync_now() {
        tracing::error!(error = %e, "audit trail: final fsync failed");
    }
}

/// The periodic fsync (`interval` mode). The fsync itself runs without the writer's lock,
/// on a duplicate of the file's handle, so connections appending meanwhile do not wait for
/// the disk; the head is then checkpointed in the background. Anything unusual (a failed
/// trail, a retry, no open file) takes the locked path.
fn tick(writer: &SharedWriter) {
    {
        let mut w = lock(writer);
        if !w.sync_due(Instant::now()) {
            w.write_due();
            return;
        }
    }
    let Some(pending) = lock(writer).prepare_sync() else {
        lock(writer).tick();
        return;
    };
    let synced = pending.file.sync_data();
    let identity = fs::metadata(&pending.path).map(|m| (m.dev(), m.ino()));
    lock(writer).finish_sync(pending, synced, identity);
}

/// An fsync prepared under the lock and run outside it.
struct PendingSync {
    file: File,
    path: PathBuf,
    /// The head the fsync makes durable.
    head: ChainHead,
    /// Device and inode of the file then (a rotation meanwhile changes them).
    identity: (u64, u64),
    /// The file's length then, to tell whether records were written meanwhile.
    len: u64,
}

impl Writer {
    pub(super) fn new(
        config: &AuditLogConfig,
        resumed: Resumed,
        store: Box<dyn HeadStore>,
        stats: Arc<Stats>,
        lock: File,
    ) -> Result<Writer, AuditError> {
        let path = config.dir.join(TRAIL_FILE);
        let meta = resumed
            .file
            .metadata()
            .map_err(AuditError::io("stat", &path))?;
        Ok(Writer {
            dir: config.dir.clone(),
            path,
            sync: config.sync,
            interval: config.sync_interval,
            max_file_bytes: config.max_file_bytes,
            key: config.key.clone(),
            encoder: ChainEncoder::resume(resumed.head, config.key.clone()),
            checkpointer: Checkpointer::start(store, resumed.checkpoint)
                .map_err(AuditError::io("start the checkpointer for", &config.dir))?,
            stats,
            file: Some(resumed.file),
            identity: (meta.dev(), meta.ino()),
            len: resumed.len,
            first_seq: resumed.first_seq,
            dirty_since: None,
            deferred: Vec::new(),
            deferred_records: 0,
            deferred_from: None,
            needs_sync: resumed.checkpoint != resumed.head,
            lost: None,
            closed: false,
            wakes_at: None,
            buf: Vec::with_capacity(64 * 1024),
            lock: Some(lock),
        })
    }

    /// When the writer thread must act next: write the deferred records [`WRITE_WITHIN`]
    /// after the first of them, fsync `sync_interval` after the oldest record not yet on
    /// disk (or retry a failed fsync then).
    fn deadline(&self) -> Option<Instant> {
        let write = self
            .deferred_from
            .map(|(_, since)| since + WRITE_WITHIN.min(self.interval));
        match (write, self.sync_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the next periodic fsync (or retry of a failed one) is due: `sync_interval`
    /// after the oldest record not yet on disk, written or deferred.
    fn sync_deadline(&self) -> Option<Instant> {
        let since = match (self.dirty_since, self.deferred_from) {
            (Some(a), Some((_, b))) => a.min(b),
            (Some(a), None) => a,
            (None, Some((_, b))) => b,
            (None, None) => return None,
        };
        Some(since + self.interval)
    }

    /// Whether a tick at `now` must fsync (or take the locked path that retries and
    /// refuses), rather than only write the deferred records.
    fn sync_due(&self, now: Instant) -> bool {
        self.lost.is_some()
            || self.needs_sync
            || self.checkpointer.failed()
            || self.file.is_none()
            || self.sync_deadline().is_some_and(|d| d <= now)
    }

    /// Writes the deferred records because their time is up; a failure is logged, and the
    /// next append retries the trail and refuses records until it works.
    fn write_due(&mut self) {
        if self.deferred_from.is_none() {
            return;
        }
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.write_deferred() {
            tracing::error!(error = %e, "audit trail: write failed; refusing records until it works");
        }
    }

    /// Whether the writer thread has a deadline already (it need not be woken).
    fn scheduled(&self) -> bool {
        self.dirty_since.is_some() || self.deferred_from.is_some()
    }

    /// Writes what was deferred and hands out what a periodic fsync outside the lock
    /// needs; `None` when the locked path must run ([`Writer::tick`]).
    fn prepare_sync(&mut self) -> Option<PendingSync> {
        if self.lost.is_some() || self.needs_sync || self.checkpointer.failed() {
            return None;
        }
        if self.write_deferred().is_err() {
            return None;
        }
        self.dirty_since?;
        let file = self.file.as_ref()?.try_clone().ok()?;
        Some(PendingSync {
            file,
            path: self.path.clone(),
            head: self.encoder.head(),
            identity: self.identity,
            len: self.len,
        })
    }

    /// Takes the outcome of a periodic fsync run outside the lock.
    fn finish_sync(
        &mut self,
        pending: PendingSync,
        synced: std::io::Result<()>,
        identity: std::io::Result<(u64, u64)>,
    ) {
        if let Err(e) = synced {
            let e = AuditError::io("fsync", &self.path)(e);
            tracing::error!(error = %e, "audit trail: fsync failed; refusing records until it works");
            self.needs_sync = true;
            self.dirty_since = Some(Instant::now());
            return;
        }
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        if pending.identity != self.identity || self.file.is_none() {
            // Rotated or reopened meanwhile: that path fsynced and checkpointed the old file
            // itself, and the new one waits for the next fsync.
            return;
        }
        match identity {
            Ok(id) if id == self.identity => {}
            other => {
                let detail = match other {
                    Ok(_) => "another file is at its path".to_string(),
                    Err(e) => format!("its path: {e}"),
                };
                let e = self.lose(detail);
                tracing::error!(error = %e, "audit trail lost");
                return;
            }
        }
        if self.len == pending.len {
            self.dirty_since = None;
        } else if self.dirty_since.is_some() {
            // Written meanwhile (or rotated): those records wait for the next fsync.
            self.dirty_since = Some(Instant::now());
        }
        // Stored in the background; a failure is seen by the next append, which retries
        // the checkpoint and refuses records until it works.
        self.checkpointer.request(pending.head);
    }

    fn tick(&mut self) {
        if let Err(e) = self.sync_now() {
            tracing::error!(error = %e, "audit trail: fsync failed; refusing records until it works");
            self.dirty_since = Some(Instant::now());
        }
    }

    /// Serves one batch; true when a close was asked for.
    fn serve(&mut self, batch: &mut Vec<Request>) -> bool {
        let mut waiters = Vec::with_capacity(batch.len());
        let mut events = Vec::with_capacity(batch.len());
        let mut permits = Vec::with_capacity(batch.len());
        let mut flushes = Vec::new();
        let mut close = None;
        for req in batch.drain(..) {
            match req {
                Request::Append {
                    event,
                    done,
                    _permit,
                } => {
                    events.push(event);
                    waiters.push(done);
                    permits.push(_permit);
                }
                Request::Flush { done } => flushes.push(done),
                Request::Close { done } => close = Some(done),
                Request::Wake => {}
            }
        }
        if !events.is_empty() {
            let result = self.append(&events).map_err(shared);
            self.stats.batches.fetch_add(1, Ordering::Relaxed);
            if result.is_err() {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
            }
            for done in waiters {
                let _ = done.send(result.clone().map_err(AuditError::Unwritable));
            }
            drop(permits);
            // The records are durable; their checkpoint is stored beside the next fsync.
            if self.sync == SyncMode::Always && result.is_ok() {
                self.checkpointer.request(self.encoder.head());
            }
        }
        if !flushes.is_empty() || close.is_some() {
            let result = self
                .sync_now()
                .map(|()| self.encoder.head())
                .map_err(shared);
            for done in flushes {
                let _ = done.send(result.clone().map_err(AuditError::Unwritable));
            }
            if let Some(done) = close {
                self.lock = None;
                self.closed = true;
                let _ = done.send(result.map_err(AuditError::Unwritable));
                return true;
            }
        }
        false
    }

    /// Writes one record at once on the caller's thread (`interval` mode, a trail in
    /// trouble): retries the trail and refuses the record until it works. `Ok(true)` when
    /// the writer thread had nothing to fsync and must be woken to fsync this in time.
    fn append_one(&mut self, event: &PreparedEvent) -> Result<bool, AuditError> {
        if self.closed {
            return Err(AuditError::Closed);
        }
        let was_scheduled = self.scheduled();
        let result = self.append(std::slice::from_ref(event)).map_err(shared);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = result {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
            return Err(AuditError::Unwritable(e));
        }
        Ok(!was_scheduled && self.scheduled())
    }

    /// Encodes one record (`interval` mode) into the chain without writing it: it goes out
    /// with its batch, when [`DEFER_MAX`] bytes wait or [`WRITE_WITHIN`] after the batch's
    /// first record, or in front of a record written at once. `Ok(true)` when the writer
    /// thread must be woken to schedule that write (the record starts a batch). A failing
    /// trail refuses it like any record.
    pub(super) fn append_deferred(&mut self, event: &PreparedEvent) -> Result<bool, AuditError> {
        if self.closed {
            return Err(AuditError::Closed);
        }
        if let Some(lost) = &self.lost {
            return Err(AuditError::Unwritable(lost.clone()));
        }
        // A trail in trouble (a failed fsync, checkpoint or write) takes the path that
        // retries and refuses, so nothing piles up here while it cannot be written.
        if self.needs_sync || self.checkpointer.failed() || self.file.is_none() {
            return self.append_one(event);
        }
        // The first record of a batch: the writer thread must schedule its write, unless it
        // wakes before the batch is due anyway.
        let mut wake = false;
        if self.deferred_from.is_none() {
            let now = Instant::now();
            let due = now + WRITE_WITHIN.min(self.interval);
            wake = self.wakes_at.is_none_or(|at| at > due);
            self.deferred_from = Some((self.encoder.head(), now));
        }
        self.encoder
            .encode_prepared(jiff::Timestamp::now(), event, &mut self.deferred);
        self.deferred_records += 1;
        if self.deferred.len() >= DEFER_MAX {
            self.stats.batches.fetch_add(1, Ordering::Relaxed);
            self.write_deferred()?;
        }
        Ok(wake)
    }

    /// Writes the deferred records, if any.
    fn write_deferred(&mut self) -> Result<(), AuditError> {
        if self.deferred_from.is_none() {
            return Ok(());
        }
        if let Some(lost) = &self.lost {
            return Err(AuditError::Unwritable(lost.clone()));
        }
        let result = self.reopen().and_then(|()| self.write_records(&[]));
        if result.is_err() {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Writes a batch of records; in `always` mode also fsyncs them. On failure nothing of
    /// the batch counts: the encoder is rewound and the file is cut back when reopened.
    fn append(&mut self, events: &[PreparedEvent]) -> Result<(), AuditError> {
        if let Some(lost) = &self.lost {
            return Err(AuditError::Unwritable(lost.clone()));
        }
        self.reopen()?;
        if self.needs_sync || self.checkpointer.failed() {
            self.needs_sync = true;
            self.sync_now()?;
        }
        self.write_records(events)
    }

    /// Writes the deferred records and then `events` with one write. On failure both are
    /// lost: the encoder is rewound to before the first of them.
    fn write_records(&mut self, events: &[PreparedEvent]) -> Result<(), AuditError> {
        self.buf.clear();
        let (before, deferred, chained) = match self.deferred_from.take() {
            Some((head, since)) => {
                // `buf` is empty: take the batch's buffer rather than copy it.
                std::mem::swap(&mut self.buf, &mut self.deferred);
                (
                    head,
                    std::mem::take(&mut self.deferred_records),
                    Some(since),
                )
            }
            None => (self.encoder.head(), 0, None),
        };
        if self.deferred.capacity() > DEFER_MAX * 2 {
            self.deferred = Vec::new();
        }
        let now = jiff::Timestamp::now();
        for event in events {
            self.encoder.encode_prepared(now, event, &mut self.buf);
        }
        let result = self.write_batch(before);
        // Their fsync is due `sync_interval` after they were chained, not written.
        if let (Ok(()), Some(since), Some(dirty)) = (&result, chained, self.dirty_since) {
            self.dirty_since = Some(dirty.min(since));
        }
        if result.is_err() {
            self.encoder = ChainEncoder::resume(before, self.key.clone());
            if deferred > 0 {
                tracing::error!(
                    records = deferred,
                    "audit trail: deferred records lost with a failed write"
                );
            }
        }
        if self.buf.capacity() > BUF_KEEP {
            self.buf = Vec::with_capacity(BUF_KEEP);
        }
        if result.is_ok() {
            self.stats
                .records
                .fetch_add(events.len() as u64 + deferred, Ordering::Relaxed);
        }
        result
    }

    /// Writes the encoded batch; `before` is the head before it.
    fn write_batch(&mut self, before: ChainHead) -> Result<(), AuditError> {
        let n = self.buf.len() as u64;
        if self.len > 0 && self.len + n > self.max_file_bytes {
            self.rotate(before)?;
        }
        self.reopen()?;
        let Some(file) = self.file.as_mut() else {
            return Err(AuditError::Closed);
        };
        if let Err(e) = file.write_all(&self.buf) {
            self.file = None;
            return Err(AuditError::io("write", &self.path)(e));
        }
        self.len += n;
        match self.sync {
            SyncMode::Always => {
                if let Err(e) = self.fsync() {
                    self.len -= n;
                    self.file = None;
                    return Err(e);
                }
            }
            SyncMode::Interval => {
                self.dirty_since.get_or_insert_with(Instant::now);
            }
        }
        Ok(())
    }

    /// Fsyncs the trail and checks it is still the file at its path.
    fn fsync(&mut self) -> Result<(), AuditError> {
        let Some(file) = self.file.as_ref() else {
            return Err(AuditError::TrailChanged {
                path: self.path.clone(),
                detail: "no open file".into(),
            });
        };
        file.sync_data()
            .map_err(AuditError::io("fsync", &self.path))?;
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        let detail = match fs::metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == self.identity => return Ok(()),
            Ok(_) => "another file is at its path".to_string(),
            Err(e) => format!("its path: {e}"),
        };
        Err(self.lose(detail))
    }

    /// Marks the trail lost for good: every later record is refused with this error.
    fn lose(&mut self, detail: String) -> AuditError {
        let lost = Arc::new(AuditError::TrailChanged {
            path: self.path.clone(),
            detail,
        });
        if self.deferred_from.take().is_some() {
            tracing::error!(
                records = std::mem::take(&mut self.deferred_records),
                "audit trail: deferred records lost with the trail"
            );
            self.deferred.clear();
        }
        self.lost = Some(lost.clone());
        AuditError::Unwritable(lost)
    }

    /// Checkpoints the encoder's head and waits for it.
    fn checkpoint(&mut self) -> Result<(), AuditError> {
        if let Err(e) = self.checkpointer.store(self.encoder.head()) {
            self.needs_sync = true;
            return Err(AuditError::Unwritable(e));
        }
        self.needs_sync = false;
        Ok(())
    }

    /// Writes what was deferred, fsyncs what was written and checkpoints it.
    fn sync_now(&mut self) -> Result<(), AuditError> {
        if let Some(lost) = &self.lost {
            return Err(AuditError::Unwritable(lost.clone()));
        }
        self.write_deferred()?;
        if self.dirty_since.is_some() || self.needs_sync {
            self.reopen()?;
            if let Err(e) = self.fsync() {
                self.needs_sync = true;
                return Err(e);
            }
            self.dirty_since = None;
        }
        self.checkpoint()
    }

    /// Reopens the trail after a failure, cutting a torn write back to the last whole record.
    fn reopen(&mut self) -> Result<(), AuditError> {
        if self.file.is_some() {
            return Ok(());
        }
        fs::create_dir_all(&self.dir).map_err(AuditError::io("create directory", &self.dir))?;
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(AuditError::io("open", &self.path))?;
        let meta = file
            .metadata()
            .map_err(AuditError::io("stat", &self.path))?;
        if !meta.is_file() {
            return Err(AuditError::NotAFile {
                path: self.path.clone(),
            });
        }
        let identity = (meta.dev(), meta.ino());
        if meta.len() < self.len || (self.len > 0 && identity != self.identity) {
            let detail = format!("{} bytes where {} were written", meta.len(), self.len);
            return Err(self.lose(detail));
        }
        if meta.len() > self.len {
            file.set_len(self.len)
                .map_err(AuditError::io("truncate", &self.path))?;
        }
        self.identity = identity;
        self.file = Some(file);
        Ok(())
    }

    /// Closes the current file, whose last record is `last`, as `audit-<first seq>.jsonl`
    /// and starts a new one.
    fn rotate(&mut self, last: ChainHead) -> Result<(), AuditError> {
        // Everything in the old file is made durable and checkpointed first, so the
        // checkpoint never points past the files on disk.
        self.reopen()?;
        self.fsync()?;
        self.dirty_since = None;
        if let Err(e) = self.checkpointer.store(last) {
            self.needs_sync = true;
            return Err(AuditError::Unwritable(e));
        }
        let target = self.dir.join(rotated_name(self.first_seq));
        if fs::symlink_metadata(&target).is_ok() {
            return Err(AuditError::RotationTargetExists { path: target });
        }
        fs::rename(&self.path, &target).map_err(AuditError::io("rename", &self.path))?;
        self.file = None;
        self.len = 0;
        self.first_seq = last.seq + 1;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(AuditError::io("fsync", &self.dir))?;
        self.stats.rotations.fetch_add(1, Ordering::Relaxed);
        self.reopen()
    }
}
