//! Accepting connections: TCP or TLS, HTTP/1.1 with bounded headers and timeouts, and
//! graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use super::{ApiState, HEADER_TIMEOUT, MAX_CONNECTIONS};

/// Largest request head (request line and headers) read.
const MAX_HEAD: usize = 16 * 1024;
/// Time a connection gets to finish its requests once shutdown starts.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The TLS settings of the API from a PEM certificate chain and key (HTTP/1.1 over ALPN).
pub fn tls_config(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> anyhow::Result<(Arc<rustls::ServerConfig>, String)> {
    let (config, fingerprint) = gatekit_pg::tls::server_config_from_pem(cert_pem, key_pem)?;
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), fingerprint))
}

/// A bound API listener.
pub struct ApiServer {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<ApiState>,
}

impl ApiServer {
    /// Binds `addr`; serves TLS with `tls` when given.
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        state: Arc<ApiState>,
    ) -> anyhow::Result<ApiServer> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("api.listen: cannot bind {addr}"))?;
        Ok(ApiServer {
            listener,
            tls: tls.map(TlsAcceptor::from),
            state,
        })
    }

    /// The bound address (for `127.0.0.1:0`).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then lets open connections finish their requests
    /// (for at most a few seconds).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut conns = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "api: accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        tracing::warn!(%peer, "api: too many connections; closing one");
                        continue;
                    };
                    let state = Arc::clone(&self.state);
                    let tls = self.tls.clone();
                    let stop = stop_rx.clone();
                    conns.spawn(async move {
                        let _ = stream.set_nodelay(true);
                        match tls {
                            None => serve_conn(stream, peer, state, stop).await,
                            Some(acceptor) => {
                                match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                                    Ok(Ok(tls)) => serve_conn(tls, peer, state, stop).await,
                                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "api: TLS handshake failed"),
                                    Err(_) => tracing::debug!(%peer, "api: TLS handshake timed out"),
                                }
                            }
                        }
                        drop(permit);
                    });
                }
            }
        }
        drop(self.listener);
        let _ = stop_tx.send(true);
        let drained =
            tokio::time::timeout(DRAIN, async { while conns.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            conns.abort_all();
        }
    }
}

async fn serve_conn<S>(
    io: S,
    peer: SocketAddr,
    state: Arc<ApiState>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(state.handle(req, peer).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "api: connection ended with an error");
            }
        }
        () = stopped => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
