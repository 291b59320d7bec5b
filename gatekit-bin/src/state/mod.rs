//! The state store: approvals, live sessions and the audit checkpoint, shared by every
//! replica of a gateway.
//!
//! [`StateStore`] is one trait with three backends, picked by `[state] url` in [`open`]:
//!
//! - [`MemoryStore`]: one process, nothing kept (tests, `gatekit demo`);
//! - `sqlite:PATH` ([`SqliteStore`]): the embedded default, WAL mode; replicas on one
//!   machine may share the file and see each other's changes by polling (≤ 100 ms);
//! - `postgres://…` ([`PostgresStore`]): replicas on several machines share it and learn of
//!   changes through `LISTEN`/`NOTIFY`.
//!
//! State transitions are the sans-IO [`gatekit_core::approval`] state machine; the store
//! loads an approval, applies the transition and writes it back only if nobody changed it
//! in between (compare-and-set on [`Approval::version`]), retrying a few times, so two
//! replicas deciding at once can neither both win nor lose a vote.
//!
//! Every failure is returned as a [`StateError`]; callers fail closed on it.

mod error;
mod memory;
mod op;
mod postgres;
mod schema;
mod sqlite;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use gatekit_core::approval::{Approval, Choice, Status};
use gatekit_core::audit::ChainHead;
use gatekit_core::{ClassSet, Identity, Protocol};
use jiff::Timestamp;

use crate::config::Secret;

pub use error::StateError;
pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// The future every store method returns: boxed, so that stores are usable as
/// `Arc<dyn StateStore>`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StateError>> + Send + 'a>>;

/// The most approvals or sessions one list call returns.
pub const MAX_LIST: usize = 1000;

/// How long a waiter polls between reads where no notification reaches it (SQLite; and
/// PostgreSQL while its listening connection is down).
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The longest session id, replica id, peer or kill requester the store keeps.
pub const MAX_SESSION_FIELD: usize = 512;

/// Which approvals a list returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalFilter {
    /// Those with this status: pending ones oldest first (queue order), others newest
    /// decided first.
    Status(Status),
    /// Every decided, expired or cancelled one, newest decided first.
    Decided,
    /// All of them, newest created first.
    Any,
}

/// A session open on some replica, as every replica sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LiveSession {
    /// The session id (as in the audit trail).
    pub id: String,
    /// The replica holding the client connection.
    pub replica: String,
    /// The target's name.
    pub target: String,
    /// The target's protocol.
    pub protocol: Protocol,
    /// Who is connected.
    pub identity: Identity,
    /// The client's address.
    pub peer: String,
    /// When the session started.
    pub started_at: Timestamp,
    /// The holding replica's last heartbeat.
    pub last_seen: Timestamp,
    /// When a kill was asked for, if it was.
    #[serde(default)]
    pub kill_requested_at: Option<Timestamp>,
    /// Who asked for the kill.
    #[serde(default)]
    pub kill_requested_by: Option<String>,
}

/// Where approvals, live sessions and the audit checkpoint are kept, shared by replicas.
///
/// Methods take `now` so that callers (and tests) control time. Every error is returned;
/// nothing fails open.
pub trait StateStore: Send + Sync + 'static {
    /// `memory`, `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Stores a new (pending) approval. Fails if its id exists.
    fn create_approval<'a>(&'a self, approval: &'a Approval) -> StoreFuture<'a, ()>;

    /// The approval with this id.
    fn get_approval<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Approval>;

    /// Approvals by filter, at most `limit` (capped at [`MAX_LIST`]).
    fn list_approvals(
        &self,
        filter: ApprovalFilter,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Approval>>;

    /// Casts `decider`'s vote atomically; returns the approval as it now is.
    fn decide<'a>(
        &'a self,
        id: &'a str,
        decider: &'a Identity,
        choice: Choice,
        reason: Option<&'a str>,
        now: Timestamp,
    ) -> StoreFuture<'a, Approval>;

    /// Cancels a pending approval (its client went away).
    fn cancel<'a>(
        &'a self,
        id: &'a str,
        reason: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, Approval>;

    /// Expires every pending approval due at `now`; returns those it expired.
    fn expire_due(&self, now: Timestamp) -> StoreFuture<'_, Vec<Approval>>;

    /// Uses an approved `once` approval for `command`; a second use fails.
    fn consume<'a>(
        &'a self,
        id: &'a str,
        command: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, Approval>;

    /// An approved window approval that covers this request at `now`, if any
    /// ([`Approval::covers`]).
    fn find_grant<'a>(
        &'a self,
        requester: &'a Identity,
        target: &'a str,
        classes: ClassSet,
        now: Timestamp,
    ) -> StoreFuture<'a, Option<Approval>>;

    /// Waits until the approval's version differs from `seen_version` (a vote, a decision,
    /// expiry, cancellation, use) and returns it, or returns it as it is after `timeout`.
    /// Changes made through any replica are seen within a second.
    fn wait_change<'a>(
        &'a self,
        id: &'a str,
        seen_version: u64,
        timeout: Duration,
    ) -> StoreFuture<'a, Approval>;

    /// Registers a live session; replaces one with the same id.
    fn register_session<'a>(&'a self, session: &'a LiveSession) -> StoreFuture<'a, ()>;

    /// Records that the session's replica still holds it.
    fn heartbeat_session<'a>(&'a self, id: &'a str, now: Timestamp) -> StoreFuture<'a, ()>;

    /// Removes a session (it ended). Removing one that is gone is not an error.
    fn unregister_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;

    /// Removes sessions whose last heartbeat is older than `before` (their replica died);
    /// returns how many.
    fn reap_sessions(&self, before: Timestamp) -> StoreFuture<'_, u64>;

    /// Every live session, oldest first, at most [`MAX_LIST`].
    fn list_sessions(&self) -> StoreFuture<'_, Vec<LiveSession>>;

    /// Asks the replica holding the session to end it; returns the session.
    fn request_kill<'a>(
        &'a self,
        id: &'a str,
        by: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, LiveSession>;

    /// The sessions of `replica` with a kill requested: returns as soon as there is one
    /// (within a second of the request, through any replica), or an empty list after
    /// `timeout`. A session stays listed until it is unregistered.
    fn wait_kills<'a>(
        &'a self,
        replica: &'a str,
        timeout: Duration,
    ) -> StoreFuture<'a, Vec<LiveSession>>;

    /// Replaces the audit trail's checkpointed head.
    fn put_audit_head<'a>(&'a self, head: &'a ChainHead) -> StoreFuture<'a, ()>;

    /// The checkpointed audit head, if one was ever stored.
    fn get_audit_head(&self) -> StoreFuture<'_, Option<ChainHead>>;
}

/// Where the state store is, resolved from `[state]`.
#[derive(Debug, Clone)]
pub enum Location {
    /// In this process's memory only.
    Memory,
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres {
        /// The `postgres://` URL.
        url: String,
        /// The password from `[state] password_env`, which overrides one in the URL.
        password: Option<Secret>,
    },
}

impl Location {
    /// Parses `[state] url`: `sqlite:PATH` (relative to `base_dir`), `postgres://…` or
    /// `postgresql://…`, or `memory:` (for embedding and tests; a config file may not name
    /// it, since nothing else could see what it keeps).
    pub fn parse(
        url: &str,
        base_dir: &Path,
        password: Option<Secret>,
    ) -> Result<Location, StateError> {
        if url == "memory:" {
            return Ok(Location::Memory);
        }
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(StateError::BadUrl {
                    url: url.to_owned(),
                    reason: "no file path after `sqlite:`".to_owned(),
                });
            }
            let path = Path::new(path);
            return Ok(Location::Sqlite(if path.is_absolute() {
                path.to_owned()
            } else {
                base_dir.join(path)
            }));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            postgres::parse_url(url)?;
            return Ok(Location::Postgres {
                url: url.to_owned(),
                password,
            });
        }
        Err(StateError::BadUrl {
            url: postgres::redact(url),
            reason: "expected `sqlite:PATH` or a `postgres://` URL".to_owned(),
        })
    }
}

/// Opens the store at `location`, creating or migrating its schema.
pub async fn open(location: &Location) -> Result<Arc<dyn StateStore>, StateError> {
    Ok(match location {
        Location::Memory => Arc::new(MemoryStore::new()),
        Location::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        Location::Postgres { url, password } => {
            Arc::new(PostgresStore::connect(url, password.as_ref()).await?)
        }
    })
}

/// Fails when a session field is longer than the store keeps.
pub(crate) fn check_session(s: &LiveSession) -> Result<(), StateError> {
    for (field, v) in [
        ("session.id", &s.id),
        ("session.replica", &s.replica),
        ("session.peer", &s.peer),
        ("session.target", &s.target),
    ] {
        if v.len() > MAX_SESSION_FIELD {
            return Err(StateError::TooLong {
                field,
                len: v.len(),
                max: MAX_SESSION_FIELD,
            });
        }
    }
    Ok(())
}
