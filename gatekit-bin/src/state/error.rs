//! The state store's error type.

use gatekit_core::approval::ApprovalError;

/// Why the state store could not do what was asked. Every caller fails closed on it: a
/// failed lookup never lets a held command through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// `[state] url` is not a usable `sqlite:PATH` or `postgres://` URL.
    #[error("`state.url` `{url}`: {reason}")]
    BadUrl {
        /// The URL, with any password removed.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store could not be opened or reached.
    #[error("state store {location} is unreachable: {message}")]
    Unreachable {
        /// Where the store is (a path, or host/port/database).
        location: String,
        /// The cause.
        message: String,
    },
    /// The schema could not be brought up to date.
    #[error("state store {location}: migration to schema version {version} failed: {message}")]
    Migration {
        /// Where the store is.
        location: String,
        /// The schema version being applied.
        version: u32,
        /// The cause.
        message: String,
    },
    /// The store's schema is newer than this build knows.
    #[error(
        "state store {location} has schema version {found}; this gatekit knows up to {known}: upgrade gatekit"
    )]
    SchemaTooNew {
        /// Where the store is.
        location: String,
        /// The version found.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// A query failed.
    #[error("state store: {op} failed: {message}")]
    Query {
        /// What was being done (`create approval`, `list sessions`, ...).
        op: &'static str,
        /// The backend's message.
        message: String,
    },
    /// A stored record could not be read back.
    #[error("state store: record {id} is unreadable: {message}")]
    Corrupt {
        /// The record's id.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// No approval has this id.
    #[error("no approval {id}")]
    ApprovalNotFound {
        /// The id asked for.
        id: String,
    },
    /// An approval with this id already exists.
    #[error("approval {id} already exists")]
    DuplicateApproval {
        /// The id.
        id: String,
    },
    /// No live session has this id.
    #[error("no live session {id}")]
    SessionNotFound {
        /// The id asked for.
        id: String,
    },
    /// The approval refused the transition.
    #[error(transparent)]
    Transition(#[from] ApprovalError),
    /// Other replicas kept changing the approval; the change was not made.
    #[error("approval {id} changed concurrently {attempts} times; giving up")]
    Contended {
        /// The approval.
        id: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A field is longer than the store keeps.
    #[error("`{field}` is {len} bytes, more than the {max} the state store keeps")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The most kept.
        max: usize,
    },
}

impl StateError {
    /// A failed query while doing `op`.
    pub(crate) fn query(op: &'static str, e: impl std::fmt::Display) -> StateError {
        StateError::Query {
            op,
            message: e.to_string(),
        }
    }

    /// A stored record that does not parse.
    pub(crate) fn corrupt(id: &str, e: impl std::fmt::Display) -> StateError {
        StateError::Corrupt {
            id: id.to_owned(),
            message: e.to_string(),
        }
    }
}
