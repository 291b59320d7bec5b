//! The SQL schema both SQL backends share, as numbered migrations, and the row forms of
//! stored records.

use gatekit_core::approval::Approval;
use gatekit_core::audit::ChainHead;
use jiff::Timestamp;

use super::{LiveSession, StateError};

/// Migrations, in order; the schema's version is the number applied. Plain SQL that SQLite
/// and PostgreSQL both take. Records are stored whole as JSON in `body`; the other columns
/// are what queries select and order on.
pub(crate) const MIGRATIONS: &[&str] = &["
CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    requester TEXT NOT NULL,
    target TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT,
    expires_at BIGINT NOT NULL,
    grant_until BIGINT,
    version BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX approvals_by_status ON approvals (status, created_at);
CREATE INDEX approvals_grants ON approvals (requester, target, grant_until)
    WHERE grant_until IS NOT NULL;
CREATE TABLE live_sessions (
    id TEXT PRIMARY KEY,
    replica TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    kill_requested_at BIGINT,
    kill_requested_by TEXT,
    body TEXT NOT NULL
);
CREATE INDEX live_sessions_kills ON live_sessions (replica)
    WHERE kill_requested_at IS NOT NULL;
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
"];

/// The schema version this build writes.
pub(crate) fn latest() -> u32 {
    MIGRATIONS.len() as u32
}

/// How many candidate grants a lookup examines; past that a request asks again (fails
/// closed).
pub(crate) const MAX_GRANT_CANDIDATES: i64 = 100;

/// A timestamp as stored: microseconds since the Unix epoch.
pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

/// A stored timestamp back.
pub(crate) fn from_micros(id: &str, us: i64) -> Result<Timestamp, StateError> {
    Timestamp::from_microsecond(us).map_err(|e| StateError::corrupt(id, e))
}

/// A version as stored.
pub(crate) fn version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The columns of an approval row.
pub(crate) struct ApprovalRow {
    pub(crate) status: &'static str,
    pub(crate) created_at: i64,
    pub(crate) decided_at: Option<i64>,
    pub(crate) expires_at: i64,
    pub(crate) grant_until: Option<i64>,
    pub(crate) version: i64,
    pub(crate) body: String,
}

impl ApprovalRow {
    /// The row for `a`.
    pub(crate) fn of(a: &Approval) -> Result<ApprovalRow, StateError> {
        Ok(ApprovalRow {
            status: a.status.name(),
            created_at: micros(a.created_at),
            decided_at: a.decided_at.map(micros),
            expires_at: micros(a.expires_at),
            grant_until: a.grant_until().map(micros),
            version: version(a.version),
            body: serde_json::to_string(a).map_err(|e| StateError::corrupt(&a.id, e))?,
        })
    }
}

/// An approval from its stored JSON.
pub(crate) fn approval(id: &str, body: &str) -> Result<Approval, StateError> {
    serde_json::from_str(body).map_err(|e| StateError::corrupt(id, e))
}

/// A session from its stored JSON and the columns that change after registration.
pub(crate) fn session(
    id: &str,
    body: &str,
    last_seen: i64,
    kill_at: Option<i64>,
    kill_by: Option<String>,
) -> Result<LiveSession, StateError> {
    let mut s: LiveSession = serde_json::from_str(body).map_err(|e| StateError::corrupt(id, e))?;
    s.last_seen = from_micros(id, last_seen)?;
    s.kill_requested_at = kill_at.map(|t| from_micros(id, t)).transpose()?;
    s.kill_requested_by = kill_by;
    Ok(s)
}

/// A session's JSON.
pub(crate) fn session_body(s: &LiveSession) -> Result<String, StateError> {
    serde_json::to_string(s).map_err(|e| StateError::corrupt(&s.id, e))
}

/// An audit head from its stored columns.
pub(crate) fn head(seq: i64, hash: &str) -> Result<ChainHead, StateError> {
    let corrupt = |m: &str| StateError::corrupt("audit_head", m);
    let seq = u64::try_from(seq).map_err(|_| corrupt("negative seq"))?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hash, &mut bytes).map_err(|_| corrupt("hash is not 64 hex digits"))?;
    Ok(ChainHead { seq, hash: bytes })
}
