//! The tamper-evident audit trail: hash-chained JSON lines, encoded and verified.
//!
//! A trail is a sequence of lines, one JSON object each:
//!
//! ```text
//! {"seq":1,"ts":"2024-06-01T12:00:00Z","prev":"0000…0000","event":"command","session":"s1",…}
//! ```
//!
//! `seq` counts from 1; `ts` is RFC 3339 UTC; `prev` is the hex hash of the previous line's
//! bytes (without its newline) — SHA-256, or HMAC-SHA256 under a [`ChainKey`] so that
//! rewriting the trail needs the key — and [`GENESIS_HASH`] (64 zeros) for seq 1. The event's
//! kind and fields follow (see [`AuditEvent`]). Keys are always written in that order and a
//! line, newline included, is at most [`MAX_LINE_BYTES`].
//!
//! [`ChainEncoder`] writes records, [`ChainVerifier`] checks a trail line by line and against
//! a checkpointed [`ChainHead`], and [`AuditRecord`] reads records back for listing and search.
//! Nothing here touches a file or the clock: the writer passes `now` and stores the bytes.
//!
//! ```
//! use std::sync::Arc;
//! use gatekit_core::audit::{
//!     AuditEvent, ChainEncoder, ChainKey, ChainVerifier, CommandEvent, Verdict, VerifyError,
//! };
//! use gatekit_core::{Class, ClassSet, Identity, Protocol};
//!
//! let key = ChainKey::new(b"0123456789abcdef0123456789abcdef").unwrap();
//! let event = AuditEvent::Command(CommandEvent {
//!     session: "s1".into(),
//!     identity: Arc::new(Identity::new("alice", ["dev"])),
//!     target: "shop".into(),
//!     protocol: Protocol::Postgres,
//!     number: 1,
//!     command: "SELECT 1".into(),
//!     classes: ClassSet::of(Class::Read),
//!     objects: vec![],
//!     verdict: Verdict::Allow,
//!     rule: None,
//!     reason: None,
//!     rows: Some(1),
//!     bytes: None,
//!     duration_us: Some(120),
//!     error: None,
//! });
//! let now: jiff::Timestamp = "2024-06-01T12:00:00Z".parse().unwrap();
//! let mut enc = ChainEncoder::new(Some(key.clone()));
//! let mut trail = Vec::new();
//! for _ in 0..3 {
//!     trail.extend(enc.encode(now, &event));
//! }
//!
//! let mut v = ChainVerifier::new(Some(key.clone())).with_checkpoint(enc.head());
//! for line in trail.split_inclusive(|b| *b == b'\n') {
//!     v.push_line(line).unwrap();
//! }
//! assert_eq!(v.finish().unwrap().seq, 3);
//!
//! // Dropping the last record is caught by the checkpoint.
//! let mut v = ChainVerifier::new(Some(key)).with_checkpoint(enc.head());
//! for line in trail.split_inclusive(|b| *b == b'\n').take(2) {
//!     v.push_line(line).unwrap();
//! }
//! assert!(matches!(v.finish(), Err(VerifyError::Truncated { next: 3, .. })));
//! ```

mod chain;
mod error;
mod event;
mod header;
mod record;
mod verify;

#[cfg(test)]
mod tests;

pub use chain::{
    ChainEncoder, ChainHead, ChainKey, GENESIS_HASH, MIN_KEY_BYTES, PreparedEvent, line_hash,
};
pub use error::VerifyError;
pub use event::{
    AnomalyEvent, ApprovalEvent, ApprovalState, AuditEvent, CommandEvent, CommandResultEvent,
    ConfigReloadEvent, RESULT_ERROR_BYTES, SessionEndEvent, SessionStartEvent, Verdict,
};
pub use record::AuditRecord;
pub use verify::ChainVerifier;

/// The longest line of a trail, newline included. Writers cut oversized events to fit;
/// verifiers and readers reject longer lines without reading them whole.
pub const MAX_LINE_BYTES: usize = 1 << 20;
