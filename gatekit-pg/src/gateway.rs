//! The listener: accepts clients and runs one driver per connection.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatekit_core::pg::SessionConfig;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use tokio::net::TcpListener;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::cancel::CancelRegistry;
use crate::catalog::Catalog;
use crate::error::PgGatewayError;
use crate::gate::Gate;
use crate::tls;
use crate::workers::Workers;

/// Everything a PostgreSQL gateway listener needs.
#[derive(Clone, Debug)]
pub struct PgGatewayConfig {
    /// The session rules (target name, held account, roles, allow-lists, limits).
    pub session: SessionConfig,
    /// Address to listen on.
    pub listen: String,
    /// The upstream server, `HOST:PORT`.
    pub upstream: String,
    /// Client-facing TLS; `None` answers `N` to SSLRequest (then only a loopback listener
    /// with `allow_plaintext_auth` takes tokens).
    pub client_tls: Option<Arc<ServerConfig>>,
    /// PEM CA bundle for `upstream_tls = "verify-full"`.
    pub upstream_ca_pem: Option<Vec<u8>>,
    /// How long opening the upstream TCP connection may take.
    pub connect_timeout: Duration,
}

impl PgGatewayConfig {
    /// A config with TLS off for clients and a 10 s upstream connect timeout.
    pub fn new(
        session: SessionConfig,
        listen: impl Into<String>,
        upstream: impl Into<String>,
    ) -> Self {
        PgGatewayConfig {
            session,
            listen: listen.into(),
            upstream: upstream.into(),
            client_tls: None,
            upstream_ca_pem: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Shared by the listener and its connections.
pub(crate) struct Inner<G> {
    pub(crate) config: Arc<SessionConfig>,
    pub(crate) upstream: String,
    pub(crate) server_name: ServerName<'static>,
    pub(crate) acceptor: Option<TlsAcceptor>,
    pub(crate) connector: Option<TlsConnector>,
    pub(crate) connect_timeout: Duration,
    pub(crate) provider: Arc<CryptoProvider>,
    pub(crate) cancels: CancelRegistry,
    pub(crate) gate: G,
    pub(crate) catalog: Catalog,
}

/// A bound PostgreSQL gateway listener for one target.
pub struct PgGateway<G> {
    inner: Arc<Inner<G>>,
    listener: TcpListener,
    workers: Option<Workers>,
}

impl<G> std::fmt::Debug for PgGateway<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgGateway")
            .field("target", &self.inner.config.target)
            .field("listen", &self.listener.local_addr().ok())
            .field("upstream", &self.inner.upstream)
            .field("workers", &self.workers)
            .finish()
    }
}

impl<G: Gate> PgGateway<G> {
    /// Binds the listener and prepares TLS. Whether the listener is loopback (for
    /// `allow_plaintext_auth`) is taken from the address actually bound.
    pub async fn bind(config: PgGatewayConfig, gate: G) -> Result<Self, PgGatewayError> {
        let listener =
            TcpListener::bind(&config.listen)
                .await
                .map_err(|source| PgGatewayError::Bind {
                    addr: config.listen.clone(),
                    source,
                })?;
        let local = listener
            .local_addr()
            .map_err(|source| PgGatewayError::Bind {
                addr: config.listen.clone(),
                source,
            })?;
        let mut session = config.session;
        session.loopback_listener = local.ip().is_loopback();
        session.client_tls = config.client_tls.is_some();
        let connector =
            tls::upstream_client_config(session.upstream_tls, config.upstream_ca_pem.as_deref())?
                .map(TlsConnector::from);
        let server_name = tls::upstream_server_name(&config.upstream)?;
        let catalog = Catalog::new(
            config.upstream.clone(),
            connector
                .clone()
                .map(|c| tls::PostgresTls::new(c, server_name.clone())),
            config.connect_timeout,
        );
        let inner = Inner {
            server_name,
            catalog,
            config: Arc::new(session),
            upstream: config.upstream,
            acceptor: config.client_tls.map(TlsAcceptor::from),
            connector,
            connect_timeout: config.connect_timeout,
            provider: tls::provider(),
            cancels: CancelRegistry::default(),
            gate,
        };
        Ok(PgGateway {
            inner: Arc::new(inner),
            listener,
            workers: None,
        })
    }

    /// Runs accepted connections on `workers` instead of as tasks of the runtime that
    /// runs the listener: each connection then stays on one thread until it ends.
    pub fn with_workers(mut self, workers: Workers) -> Self {
        self.workers = Some(workers);
        self
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Number of sessions whose cancel key is registered (live, ready sessions).
    pub fn live_sessions(&self) -> usize {
        self.inner.cancels.len()
    }

    /// Accepts clients until `shutdown` completes, each on its own task (on the
    /// [workers](Self::with_workers), if any). Connections already accepted run on to
    /// their end.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tracing::info!(
            target = %self.inner.config.target,
            listen = ?self.listener.local_addr().ok(),
            upstream = %self.inner.upstream,
            "postgres gateway listening"
        );
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => self.dispatch(tcp, peer),
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
    }

    /// Starts the connection's driver: here, or on a worker, whose runtime then owns the
    /// socket (a socket stays with the runtime that registered it).
    fn dispatch(&self, tcp: tokio::net::TcpStream, peer: SocketAddr) {
        let inner = Arc::clone(&self.inner);
        let Some(workers) = &self.workers else {
            tokio::spawn(crate::driver::drive(inner, tcp, peer));
            return;
        };
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::warn!(error = %e, %peer, "cannot hand a connection to a worker");
                return;
            }
        };
        workers.spawn(move || async move {
            match tokio::net::TcpStream::from_std(tcp) {
                Ok(tcp) => crate::driver::drive(inner, tcp, peer).await,
                Err(e) => tracing::warn!(error = %e, %peer, "cannot register a connection"),
            }
        });
    }
}
