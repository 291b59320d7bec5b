//! The gateway's HTTP API: approvals, live sessions, health, metrics and the approvers'
//! page, on `[api] listen` (TLS when `[api]` names a certificate).
//!
//! | route | auth | what |
//! |---|---|---|
//! | `GET /healthz` | none | the process is up |
//! | `GET /readyz` | none | the state store answers and the listeners are bound |
//! | `GET /metrics` | none | Prometheus text ([`crate::metrics`]) |
//! | `GET /ui` | none (the page asks for a token) | the approvers' page |
//! | `GET /v1/approvals?status=S&limit=N` | bearer | approvals, newest first (pending: oldest first) |
//! | `GET /v1/approvals/{id}` | bearer | one approval |
//! | `POST /v1/approvals/{id}/approve` | bearer, approver | `{"reason": ...}` optional |
//! | `POST /v1/approvals/{id}/deny` | bearer, approver | `{"reason": ...}` optional |
//! | `GET /v1/sessions?limit=N` | bearer | live sessions on every replica |
//! | `POST /v1/sessions/{id}/terminate` | bearer, `[api] admin_groups` | ends a session |
//!
//! Bearer tokens are verified like the gateway's clients' tokens. Errors are JSON
//! `{"error": "...", "code": "..."}` with the matching status. Request bodies are capped
//! at [`MAX_BODY`], headers must arrive within [`HEADER_TIMEOUT`], and at most
//! [`MAX_CONNECTIONS`] connections are served at once.

pub mod cli;
pub mod client;
mod error;
pub(crate) mod handlers;
pub mod route;
mod server;
mod ui;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use error::ApiError;
pub use handlers::redacted as redacted_command;
pub use server::{ApiServer, tls_config};

use crate::gate::Shared;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::state::StateStore;

/// Largest request body read.
pub const MAX_BODY: usize = 64 * 1024;
/// Time allowed for a request's headers to arrive.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a request's body to arrive.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more are closed on accept.
pub const MAX_CONNECTIONS: usize = 512;

/// What the API serves from: the gateway's verifier and audit trail, the state store, the
/// metrics and the notifier.
pub struct ApiState {
    /// Token verification and the audit trail (shared with the listeners).
    pub shared: Arc<Shared>,
    /// Approvals and live sessions.
    pub store: Arc<dyn StateStore>,
    /// The metrics registry rendered at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Decisions and kills are announced here.
    pub notifier: Notifier,
    /// Members of these groups may terminate sessions (`[api] admin_groups`).
    pub admin_groups: Vec<String>,
    /// Set once every listener of the gateway is bound (`/readyz`).
    pub listeners_ready: Arc<AtomicBool>,
}

/// The API's URL as clients reach it (`http(s)://listen`), for messages and notifications.
pub fn public_url(api: &crate::config::ApiConfig) -> String {
    let scheme = if api.tls_cert_file.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}", api.listen.get_ref())
}

/// Binds the API of `[api]` (with its TLS certificate, when set) and serves it on a task
/// until `stop` turns true. Fails when the address cannot be bound or the certificate
/// cannot be read, naming the key.
pub async fn spawn_from_config(
    config: &crate::config::Config,
    state: Arc<ApiState>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<(std::net::SocketAddr, tokio::task::JoinHandle<()>)>> {
    use anyhow::Context;
    let Some(api) = &config.api else {
        return Ok(None);
    };
    let addr: std::net::SocketAddr = api.listen.get_ref().parse().context("api.listen")?;
    let tls = match (&api.tls_cert_file, &api.tls_key_file) {
        (Some(cert), Some(key)) => {
            let cert_pem = std::fs::read(config.path(cert)).context("api.tls_cert_file")?;
            let key_pem = std::fs::read(config.path(key)).context("api.tls_key_file")?;
            let (tls, fingerprint) =
                tls_config(&cert_pem, &key_pem).context("api.tls_cert_file")?;
            tracing::info!(%fingerprint, "API TLS certificate loaded (SHA-256)");
            Some(tls)
        }
        _ => None,
    };
    let server = ApiServer::bind(addr, tls, state).await?;
    let bound = server.local_addr().context("api.listen")?;
    tracing::info!(listen = %bound, url = %public_url(api), "API listening");
    let task = tokio::spawn(server.run(async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    Ok(Some((bound, task)))
}
