//! What can go wrong reading, verifying or keying an audit trail.

/// An audit trail that cannot be trusted from some record on, or a chain key that cannot be
/// used.
///
/// `seq` always names the first record at which the chain is broken: a verifier reports the
/// earliest break and then repeats that error for every later call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A line is longer than [`MAX_LINE_BYTES`](super::MAX_LINE_BYTES); no writer produces one.
    #[error("seq {seq}: line is {len} bytes, more than the {max}-byte limit of a record")]
    LineTooLong {
        /// The seq the line should have carried.
        seq: u64,
        /// The line's length in bytes (at least `max + 1`; reading may have stopped there).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A line is not a record: not JSON, or missing `seq`, `ts`, `prev` or `event`.
    #[error("seq {seq}: not a valid record: {detail}")]
    BadRecord {
        /// The seq the line should have carried.
        seq: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// A record carries another seq than the next one: a line was deleted, inserted or moved.
    #[error(
        "seq {expected}: found a record with seq {found} where seq {expected} belongs (a line was deleted, inserted or moved)"
    )]
    SeqMismatch {
        /// The seq that belongs here.
        expected: u64,
        /// The seq the line carries.
        found: u64,
    },
    /// A record's `prev` is not the hash of the line before it.
    #[error(
        "seq {seq}: prev does not match the hash of the line before it (that line was changed, or this one was forged or moved)"
    )]
    PrevMismatch {
        /// The record whose `prev` does not match.
        seq: u64,
    },
    /// The trail ends before the checkpointed seq: records were cut off its tail.
    #[error(
        "seq {next}: the trail ends at seq {last} but the checkpoint is at seq {checkpoint} (the tail was truncated)"
    )]
    Truncated {
        /// The first missing seq.
        next: u64,
        /// The last seq the trail holds (0: none).
        last: u64,
        /// The checkpointed seq.
        checkpoint: u64,
    },
    /// The record at the checkpointed seq does not hash to the checkpointed hash.
    #[error(
        "seq {seq}: the record does not match the checkpoint's hash (it was changed, or the trail was rewritten)"
    )]
    CheckpointMismatch {
        /// The checkpointed seq.
        seq: u64,
    },
    /// The checkpoint lies before the first record this verifier was started after, so it
    /// cannot be checked.
    #[error(
        "seq {checkpoint}: the checkpoint lies before the verified part of the trail, which starts after seq {start}"
    )]
    CheckpointUnreachable {
        /// The checkpointed seq.
        checkpoint: u64,
        /// The seq the verifier resumed after.
        start: u64,
    },
    /// An HMAC chain key shorter than the minimum.
    #[error("the audit chain key is {len} bytes; at least {min} are required")]
    KeyTooShort {
        /// The key's length.
        len: usize,
        /// The minimum length.
        min: usize,
    },
    /// A chain head that is not `{"seq": N, "hash": "<64 hex digits>"}`.
    #[error("not a valid chain head: {detail}")]
    BadHead {
        /// What is wrong with it.
        detail: String,
    },
}

impl VerifyError {
    /// The first seq at which the trail cannot be trusted, when the error is about a record.
    pub fn seq(&self) -> Option<u64> {
        match self {
            VerifyError::LineTooLong { seq, .. }
            | VerifyError::BadRecord { seq, .. }
            | VerifyError::PrevMismatch { seq }
            | VerifyError::CheckpointMismatch { seq } => Some(*seq),
            VerifyError::SeqMismatch { expected, .. } => Some(*expected),
            VerifyError::Truncated { next, .. } => Some(*next),
            VerifyError::CheckpointUnreachable { checkpoint, .. } => Some(*checkpoint),
            VerifyError::KeyTooShort { .. } | VerifyError::BadHead { .. } => None,
        }
    }
}
