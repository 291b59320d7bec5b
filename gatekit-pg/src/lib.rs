//! The tokio adapter of gatekit for PostgreSQL: a listener that speaks the PostgreSQL wire
//! protocol to clients, logs in to the real server with a credential the client never
//! sees, and relays every message through `gatekit-core`'s sans-IO
//! [`Session`](gatekit_core::pg::Session). It holds no protocol or policy logic of its own:
//! token verification, admission, the decision on each statement and the audit trail are
//! asked of a [`Gate`].
//!
//! Each connection is one task running one driver loop: it writes what the session queued,
//! carries out its events (TLS upgrades, the upstream connection, the gate's answers), then
//! waits for bytes from either side or the session's next deadline. A connection's
//! buffers are bounded by the session's per-message caps.
//!
//! ```no_run
//! use gatekit_core::Identity;
//! use gatekit_core::pg::{LoginRefusal, SessionConfig};
//! use gatekit_pg::{Decision, Gate, LoginAttempt, PgGateway, PgGatewayConfig, SessionInfo, StatementRequest};
//!
//! struct FixedToken;
//!
//! impl Gate for FixedToken {
//!     async fn authenticate(&self, a: LoginAttempt<'_>) -> Result<Identity, LoginRefusal> {
//!         if a.token == "let-me-in" {
//!             Ok(Identity::new("alice", ["dev"]))
//!         } else {
//!             Err(LoginRefusal::InvalidToken("unknown token".into()))
//!         }
//!     }
//!
//!     async fn decide(&self, _: &SessionInfo, s: &StatementRequest) -> Decision {
//!         if s.sql.starts_with(b"DROP") {
//!             Decision::Deny { rule: Some("no-drops".into()), reason: "DROP is not allowed".into() }
//!         } else {
//!             Decision::Allow
//!         }
//!     }
//! }
//!
//! # async fn run() -> Result<(), gatekit_pg::PgGatewayError> {
//! let mut session = SessionConfig::new("shop", "shop_app");
//! session.upstream_database = Some("shop".into());
//! let (tls, fingerprint) = gatekit_pg::tls::self_signed_server_config(&["localhost".into()])?;
//! println!("gateway certificate SHA-256 {fingerprint}");
//! let mut config = PgGatewayConfig::new(session, "127.0.0.1:6432", "127.0.0.1:5432");
//! config.client_tls = Some(tls);
//! let gateway = PgGateway::bind(config, FixedToken).await?;
//! gateway.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cancel;
mod catalog;
mod conn;
mod driver;
mod error;
mod gate;
mod gateway;
pub mod tls;
pub mod workers;

pub use error::PgGatewayError;
pub use gate::{
    Decision, Gate, LoginAttempt, LoginRefusal, Outcome, SessionEnd, SessionInfo, StatementKind,
    StatementRequest,
};
pub use gateway::{PgGateway, PgGatewayConfig};
pub use workers::Workers;
