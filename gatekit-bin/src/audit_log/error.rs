//! What can go wrong writing or reading the trail on disk.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use gatekit_core::audit::VerifyError;

/// A failure of the audit trail on disk. Appends fail closed: while the trail cannot be
/// written, every record (and so every command) is refused with
/// [`AuditError::Unwritable`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Another writer (another `gatekit serve`) holds the trail.
    #[error("{} is held by another gatekit process; two writers would fork the chain", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`open`, `write`, `fsync`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A trail file does not verify.
    #[error("{} line {line}: {source}; run `gatekit audit verify`", path.display())]
    Broken {
        /// The trail file.
        path: PathBuf,
        /// The line (from 1) at which it breaks; 0 when it is the last line of a rotated file.
        line: u64,
        /// How it breaks.
        #[source]
        source: VerifyError,
    },
    /// The trail does not match its checkpoint (truncated, rewritten) or the checkpoint is
    /// unreadable.
    #[error("audit checkpoint {head}: {source}")]
    Checkpoint {
        /// Where the checkpoint lives.
        head: String,
        /// The mismatch.
        #[source]
        source: VerifyError,
    },
    /// The trail holds records but no checkpoint exists, so a cut-off tail cannot be ruled out.
    #[error(
        "audit checkpoint {head} is missing but the trail holds records up to seq {last_seq}; restore it or move the trail aside"
    )]
    CheckpointMissing {
        /// Where the checkpoint should be.
        head: String,
        /// The trail's last seq.
        last_seq: u64,
    },
    /// A trail path is not a regular file (a directory, a device, …).
    #[error("{} is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The trail file was removed, replaced or shortened while the writer had it open.
    #[error(
        "{} was removed, replaced or shortened while being written ({detail}); records since the last checkpoint may be lost: inspect the trail and restart",
        path.display()
    )]
    TrailChanged {
        /// The trail file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// Rotation would overwrite an existing file.
    #[error("cannot rotate the audit trail: {} already exists", path.display())]
    RotationTargetExists {
        /// The rotated file's name that is taken.
        path: PathBuf,
    },
    /// The HMAC chain key cannot be used.
    #[error("audit chain key: {0}")]
    Key(#[source] VerifyError),
    /// The trail cannot be written; the record was refused.
    #[error("audit trail not writable, record refused: {0}")]
    Unwritable(#[source] Arc<AuditError>),
    /// The writer has been closed.
    #[error("the audit writer is closed")]
    Closed,
    /// A detached record was dropped: the writer's queue held `max_pending` records.
    #[error(
        "audit writer queue full (`max_pending` records waiting for the disk); a command result was dropped"
    )]
    Busy,
}

impl AuditError {
    /// An [`AuditError::Io`] for `action` on `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| AuditError::Io {
            action,
            path,
            source,
        }
    }
}
