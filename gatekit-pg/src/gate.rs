//! The adapter's contract with the rest of gatekit: the [`Gate`].
//!
//! The adapter carries bytes and runs the core session; everything that needs policy,
//! identity verification or the audit trail is asked of the `Gate`, which the `gatekit`
//! binary implements with the real verifier, policy engine and audit writer (and tests with
//! a fixed map of tokens).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use gatekit_core::Identity;
use gatekit_core::mask::Masker;
use gatekit_core::pg::PgError;
pub use gatekit_core::pg::{Decision, LoginRefusal, Outcome, StatementKind, StatementRequest};
use gatekit_core::record::RecordLimits;
use jiff::Timestamp;

/// A client's attempt to log in: its token and what it said about itself.
#[derive(Clone, Copy)]
pub struct LoginAttempt<'a> {
    /// The target's name.
    pub target: &'a str,
    /// The bearer token (a JWT). Never log it.
    pub token: &'a str,
    /// The user name the client gave.
    pub user: &'a str,
    /// The client's address.
    pub peer: SocketAddr,
    /// Whether the token came over TLS.
    pub tls: bool,
}

impl std::fmt::Debug for LoginAttempt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("target", &self.target)
            .field("user", &self.user)
            .field("peer", &self.peer)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// A live session, as reported to [`Gate::session_started`] and [`Gate::session_ended`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// Unique id of the session (32 hex digits).
    pub id: String,
    /// The target's name.
    pub target: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// Who is connected.
    pub identity: Identity,
    /// When the session became ready.
    pub started_at: Timestamp,
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEnd {
    /// When.
    pub ended_at: Timestamp,
    /// The error that ended it; `None` for a normal end.
    pub error: Option<PgError>,
}

/// What the adapter asks of gatekit. Every method is awaited on the connection's own
/// task, so a slow answer holds that connection only.
///
/// Contract:
/// - [`Gate::authenticate`] verifies the token (signature, issuer, audience, expiry,
///   revocation) and admits the identity to the target (`allow_groups`). Its refusal text
///   is shown to the client, so it must never contain the token.
/// - [`Gate::decide`] is asked about every statement (simple `Query`, each `Parse`, each
///   `FunctionCall`) before it reaches the server; the connection waits for the answer.
///   It should classify the text and run the policy; any internal failure must answer
///   [`Decision::Deny`] (fail closed).
/// - A [`Decision::Hold`] from `decide` sends the client the hold's notice and keeps the
///   statement (and what the client pipelines behind it, bounded) waiting on
///   [`Gate::await_review`], while the connection keeps relaying; if the client leaves
///   first, [`Gate::review_abandoned`] is called.
/// - [`Gate::terminated`] is watched for the whole session: when it resolves, the client
///   gets `FATAL 57P01` with its reason and both connections close.
/// - [`Gate::maskers`] is asked once per session, when it is ready: the compiled masking
///   profiles that apply to its identity on its target (none: the session is relayed
///   without per-row work). The adapter resolves result columns to their real names itself.
/// - [`Gate::session_started`] is called once the upstream session is ready, before the
///   client's first statement is decided; [`Gate::session_ended`] once per started
///   session, after both connections are closed.
/// - [`Gate::recording`] is asked once per session, when it is ready: `Some` records it.
///   The recording's lines (JSON, one per command, with the masked response) are handed
///   to [`Gate::record`] as they are made, the last ones before [`Gate::session_ended`].
/// - [`Gate::command_done`] is told how each allowed command ended upstream (its
///   [`Outcome::command`] is the [`StatementRequest::id`] it was decided under), after
///   its answer was written to the client, the last ones before [`Gate::session_ended`].
pub trait Gate: Send + Sync + 'static {
    /// Verifies a token and admits its holder to the target.
    fn authenticate(
        &self,
        attempt: LoginAttempt<'_>,
    ) -> impl Future<Output = Result<Identity, LoginRefusal>> + Send;

    /// Decides on one statement of a live session.
    fn decide(
        &self,
        session: &SessionInfo,
        statement: &StatementRequest,
    ) -> impl Future<Output = Decision> + Send;

    /// Waits for the review of a statement that [`Gate::decide`] answered with
    /// [`Decision::Hold`], and answers [`Decision::Allow`] or [`Decision::Deny`] (any
    /// other answer is taken as a denial). The connection keeps relaying while it waits;
    /// the wait ends when the approval is decided, when it times out (answer a denial
    /// saying so), or when the client goes away (the future is dropped and
    /// [`Gate::review_abandoned`] is called). The default has no approval queue and
    /// denies.
    fn await_review(
        &self,
        session: &SessionInfo,
        statement: &StatementRequest,
        approval: &str,
    ) -> impl Future<Output = Decision> + Send {
        let _ = (session, statement, approval);
        async {
            Decision::Deny {
                rule: None,
                reason: "no approval queue is running".into(),
            }
        }
    }

    /// The session ended while its statement waited for `approval`: withdraw the request.
    fn review_abandoned(
        &self,
        session: &SessionInfo,
        approval: &str,
    ) -> impl Future<Output = ()> + Send {
        let _ = (session, approval);
        async {}
    }

    /// Resolves when the session must end at once (an operator's kill, a revoked token),
    /// with the reason the client is told. Asked once per session, after
    /// [`Gate::session_started`]; the default never resolves.
    fn terminated(&self, session: &SessionInfo) -> impl Future<Output = String> + Send {
        let _ = session;
        std::future::pending()
    }

    /// The masking profiles for a session, applied in order; none by default.
    fn maskers(&self, session: &SessionInfo) -> Vec<Arc<Masker>> {
        let _ = session;
        Vec::new()
    }

    /// How the session is recorded (`None`, the default: not at all).
    fn recording(&self, session: &SessionInfo) -> Option<RecordLimits> {
        let _ = session;
        None
    }

    /// Recorded lines of a session, in order. Called on the connection's task between
    /// reads: hand them to a writer, never wait for the disk here.
    fn record(&self, session: &SessionInfo, lines: bytes::Bytes) {
        let _ = (session, lines);
    }

    /// An allowed command finished: its rows, bytes, duration and error. Called on the
    /// connection's task between reads: hand it on, never wait for the disk here. The
    /// default ignores it.
    fn command_done(&self, session: &SessionInfo, outcome: Outcome) {
        let _ = (session, outcome);
    }

    /// A session is ready (for the audit trail).
    fn session_started(&self, session: &SessionInfo) -> impl Future<Output = ()> + Send {
        let _ = session;
        async {}
    }

    /// A session has ended (for the audit trail).
    fn session_ended(
        &self,
        session: &SessionInfo,
        end: &SessionEnd,
    ) -> impl Future<Output = ()> + Send {
        let _ = (session, end);
        async {}
    }
}

/// A shared gate (one verifier and audit writer behind several listeners).
impl<G: Gate> Gate for std::sync::Arc<G> {
    fn authenticate(
        &self,
        attempt: LoginAttempt<'_>,
    ) -> impl Future<Output = Result<Identity, LoginRefusal>> + Send {
        (**self).authenticate(attempt)
    }

    fn decide(
        &self,
        session: &SessionInfo,
        statement: &StatementRequest,
    ) -> impl Future<Output = Decision> + Send {
        (**self).decide(session, statement)
    }

    fn await_review(
        &self,
        session: &SessionInfo,
        statement: &StatementRequest,
        approval: &str,
    ) -> impl Future<Output = Decision> + Send {
        (**self).await_review(session, statement, approval)
    }

    fn review_abandoned(
        &self,
        session: &SessionInfo,
        approval: &str,
    ) -> impl Future<Output = ()> + Send {
        (**self).review_abandoned(session, approval)
    }

    fn terminated(&self, session: &SessionInfo) -> impl Future<Output = String> + Send {
        (**self).terminated(session)
    }

    fn maskers(&self, session: &SessionInfo) -> Vec<Arc<Masker>> {
        (**self).maskers(session)
    }

    fn recording(&self, session: &SessionInfo) -> Option<RecordLimits> {
        (**self).recording(session)
    }

    fn record(&self, session: &SessionInfo, lines: bytes::Bytes) {
        (**self).record(session, lines)
    }

    fn command_done(&self, session: &SessionInfo, outcome: Outcome) {
        (**self).command_done(session, outcome)
    }

    fn session_started(&self, session: &SessionInfo) -> impl Future<Output = ()> + Send {
        (**self).session_started(session)
    }

    fn session_ended(
        &self,
        session: &SessionInfo,
        end: &SessionEnd,
    ) -> impl Future<Output = ()> + Send {
        (**self).session_ended(session, end)
    }
}
