//! The PostgreSQL wire protocol: message codecs and the gateway session state machine.
//!
//! [`codec`] decodes and encodes frontend and backend messages with per-type size caps and
//! forwards unchanged messages byte for byte. [`Session`] is the sans-IO gateway between one
//! client and one upstream server: it takes bytes and answers in (`handle_*`), and hands bytes
//! for each side, events for the driver and deadlines out (`poll_output`, `poll_timeout`).
//! [`scram`] is the client side of the upstream SCRAM-SHA-256 login, with its key cache.

pub mod codec;
mod error;
pub mod scram;
mod session;

pub use codec::{Frame, Limits};
pub use error::{PgError, Side, Tag};
pub use session::{
    ColumnCache, ColumnKey, CopyField, CopyRequest, CopySource, DEFAULT_ALLOWED_SETTINGS, Decision,
    Event, LoginRefusal, LoginRequest, Masking, Outcome, Output, Password, QualifiedColumn,
    Session, SessionConfig, StatementKind, StatementRequest, UpstreamTls, UserCheck,
};
