//! Cancel keys: the gateway's own keys, and forwarding a CancelRequest to the upstream
//! backend the key stands for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gatekit_core::pg::UpstreamTls;
use gatekit_core::pg::codec::{CancelKey, encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gateway::Inner;

/// Issued key (pid → secret) → the upstream backend's key.
#[derive(Debug, Default)]
pub(crate) struct CancelRegistry {
    map: Mutex<HashMap<u32, (Bytes, CancelKey)>>,
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl CancelRegistry {
    pub(crate) fn register(&self, issued: &CancelKey, upstream: CancelKey) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(issued.pid, (issued.secret.clone(), upstream));
        }
    }

    pub(crate) fn unregister(&self, issued: &CancelKey) {
        if let Ok(mut m) = self.map.lock()
            && m.get(&issued.pid)
                .is_some_and(|(s, _)| same_secret(s, &issued.secret))
        {
            m.remove(&issued.pid);
        }
    }

    pub(crate) fn lookup(&self, key: &CancelKey) -> Option<CancelKey> {
        let m = self.map.lock().ok()?;
        let (secret, upstream) = m.get(&key.pid)?;
        same_secret(secret, &key.secret).then(|| upstream.clone())
    }

    pub(crate) fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
}

const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends a CancelRequest for `key`'s backend, over TLS when `upstream_tls` asks for it.
/// Unknown keys are dropped silently, as PostgreSQL does.
pub(crate) async fn forward<G>(inner: &Inner<G>, key: &CancelKey) {
    let Some(upstream) = inner.cancels.lookup(key) else {
        tracing::debug!(target = %inner.config.target, pid = key.pid, "cancel request with an unknown key");
        return;
    };
    match tokio::time::timeout(CANCEL_TIMEOUT, send(inner, &upstream)).await {
        Ok(Ok(())) => {
            tracing::debug!(target = %inner.config.target, pid = upstream.pid, "cancel forwarded")
        }
        Ok(Err(e)) => {
            tracing::warn!(target = %inner.config.target, error = %e, "cancel forwarding failed")
        }
        Err(_) => tracing::warn!(target = %inner.config.target, "cancel forwarding timed out"),
    }
}

async fn send<G>(inner: &Inner<G>, upstream: &CancelKey) -> std::io::Result<()> {
    let mut packet = BytesMut::new();
    encode::cancel_request(&mut packet, upstream);
    let mut tcp = TcpStream::connect(&inner.upstream).await?;
    if inner.config.upstream_tls != UpstreamTls::Disable {
        let mut req = BytesMut::new();
        encode::ssl_request(&mut req);
        tcp.write_all(&req).await?;
        let answer = tcp.read_u8().await?;
        match (answer, &inner.connector) {
            (b'S', Some(connector)) => {
                let mut tls = connector.connect(inner.server_name.clone(), tcp).await?;
                tls.write_all(&packet).await?;
                tls.flush().await?;
                let _ = tls.shutdown().await;
                return Ok(());
            }
            (b'N', _) if inner.config.upstream_tls == UpstreamTls::Prefer => {}
            _ => {
                return Err(std::io::Error::other(
                    "upstream refused TLS for the cancel request",
                ));
            }
        }
    }
    tcp.write_all(&packet).await?;
    tcp.flush().await?;
    let _ = tcp.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_matches_pid_and_secret() {
        let r = CancelRegistry::default();
        let issued = CancelKey {
            pid: 5,
            secret: Bytes::from_static(b"abcd"),
        };
        let up = CancelKey {
            pid: 900,
            secret: Bytes::from_static(b"wxyz"),
        };
        r.register(&issued, up.clone());
        assert_eq!(r.lookup(&issued), Some(up));
        let wrong = CancelKey {
            pid: 5,
            secret: Bytes::from_static(b"abce"),
        };
        assert_eq!(r.lookup(&wrong), None);
        r.unregister(&wrong);
        assert_eq!(r.len(), 1);
        r.unregister(&issued);
        assert_eq!(r.len(), 0);
    }
}
