//! Checks a trail line by line and against a checkpoint.

use serde::Deserialize;

use super::chain::{ChainHead, ChainKey, decode_hash, line_hash};
use super::{MAX_LINE_BYTES, VerifyError};

/// The chain fields of a line; the rest of the line is only checked to be JSON.
#[derive(Deserialize)]
struct LineHead<'a> {
    seq: u64,
    #[allow(dead_code)]
    ts: jiff::Timestamp,
    #[serde(borrow)]
    prev: &'a str,
    #[serde(borrow)]
    #[allow(dead_code)]
    event: &'a str,
}

/// Verifies a trail fed one line at a time, in order.
///
/// Each line must parse as a record with the next `seq`, and its `prev` must be the hash of
/// the line before it (SHA-256, or HMAC-SHA256 under the trail's key). An edited line breaks
/// the next line's `prev` (or, for the last line, the checkpoint); a deleted, inserted or
/// moved line breaks `seq` or `prev`; a cut-off tail falls short of the checkpoint. The
/// first break is reported and then repeated by every later call: it names the first `seq`
/// that cannot be trusted.
///
/// Without a checkpoint, a trail cut after any whole line, or an edit of its last line,
/// cannot be told from an honest one: keep the newest [`ChainHead`] somewhere else and pass
/// it to [`ChainVerifier::with_checkpoint`].
#[derive(Clone, Debug)]
pub struct ChainVerifier {
    key: Option<ChainKey>,
    start: ChainHead,
    next_seq: u64,
    prev: [u8; 32],
    checkpoint: Option<ChainHead>,
    error: Option<VerifyError>,
}

impl ChainVerifier {
    /// A verifier for a trail from its first record (seq 1, genesis `prev`).
    pub fn new(key: Option<ChainKey>) -> ChainVerifier {
        ChainVerifier::resume(ChainHead::GENESIS, key)
    }

    /// A verifier for the part of a trail that follows `head` (e.g. one rotated file, given
    /// the last head of the file before it).
    pub fn resume(head: ChainHead, key: Option<ChainKey>) -> ChainVerifier {
        ChainVerifier {
            key,
            start: head,
            next_seq: head.seq.saturating_add(1),
            prev: head.hash,
            checkpoint: None,
            error: None,
        }
    }

    /// Also checks the trail against a checkpointed head: it must reach `checkpoint.seq`, and
    /// the line at that seq must hash to `checkpoint.hash`.
    pub fn with_checkpoint(mut self, checkpoint: ChainHead) -> ChainVerifier {
        self.checkpoint = Some(checkpoint);
        self
    }

    /// The seq the next line must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The last verified record (or the head resumed from).
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.next_seq - 1,
            hash: self.prev,
        }
    }

    /// Checks the next line (with or without its trailing newline).
    pub fn push_line(&mut self, line: &[u8]) -> Result<(), VerifyError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let result = self.check(line);
        if let Err(e) = &result {
            self.error = Some(e.clone());
        }
        result
    }

    fn check(&mut self, line: &[u8]) -> Result<(), VerifyError> {
        let seq = self.next_seq;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if line.len() >= MAX_LINE_BYTES {
            return Err(VerifyError::LineTooLong {
                seq,
                len: line.len(),
                max: MAX_LINE_BYTES - 1,
            });
        }
        if line.contains(&b'\n') {
            return Err(VerifyError::BadRecord {
                seq,
                detail: "a newline inside the line".into(),
            });
        }
        let head: LineHead<'_> =
            serde_json::from_slice(line).map_err(|e| VerifyError::BadRecord {
                seq,
                detail: e.to_string(),
            })?;
        if head.seq != seq {
            return Err(VerifyError::SeqMismatch {
                expected: seq,
                found: head.seq,
            });
        }
        let prev = decode_hash(head.prev).ok_or_else(|| VerifyError::BadRecord {
            seq,
            detail: "prev is not 64 hex digits".into(),
        })?;
        if prev != self.prev {
            return Err(VerifyError::PrevMismatch { seq });
        }
        let hash = line_hash(self.key.as_ref(), line);
        if let Some(cp) = &self.checkpoint
            && cp.seq == seq
            && cp.hash != hash
        {
            return Err(VerifyError::CheckpointMismatch { seq });
        }
        self.prev = hash;
        self.next_seq = seq.saturating_add(1);
        Ok(())
    }

    /// Ends the trail: the first break seen, or the checkpoint check; on success, the head.
    pub fn finish(&self) -> Result<ChainHead, VerifyError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let head = self.head();
        if let Some(cp) = self.checkpoint {
            if cp.seq < self.start.seq {
                return Err(VerifyError::CheckpointUnreachable {
                    checkpoint: cp.seq,
                    start: self.start.seq,
                });
            }
            if cp.seq == self.start.seq && cp.hash != self.start.hash {
                return Err(VerifyError::CheckpointMismatch { seq: cp.seq });
            }
            if head.seq < cp.seq {
                return Err(VerifyError::Truncated {
                    next: self.next_seq,
                    last: head.seq,
                    checkpoint: cp.seq,
                });
            }
        }
        Ok(head)
    }
}
