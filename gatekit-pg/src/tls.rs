//! rustls configurations: the client-facing server side (from PEM or self-signed) and the
//! upstream-facing client side per `upstream_tls`. aws-lc-rs is the only crypto provider.

use std::sync::Arc;

use gatekit_core::pg::UpstreamTls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::PgGatewayError;

/// The crypto provider every TLS configuration here uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

fn tls_err(what: &'static str) -> impl Fn(rustls::Error) -> PgGatewayError {
    move |source| PgGatewayError::Tls { what, source }
}

/// The SHA-256 fingerprint of a DER certificate, as colon-separated hex.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(cert.as_ref());
    let hex = hex::encode_upper(digest);
    let mut out = String::with_capacity(hex.len() * 3 / 2);
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.extend(pair.iter().map(|&b| b as char));
    }
    out
}

/// Client-facing TLS: a certificate chain and key from PEM.
pub fn server_config_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<(Arc<ServerConfig>, String), PgGatewayError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| PgGatewayError::Pem {
            what: "client TLS certificate",
            detail: e.to_string(),
        })?;
    let Some(first) = certs.first() else {
        return Err(PgGatewayError::Pem {
            what: "client TLS certificate",
            detail: "no certificate found".into(),
        });
    };
    let fp = fingerprint(first);
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| PgGatewayError::Pem {
        what: "client TLS key",
        detail: e.to_string(),
    })?;
    Ok((server_config(certs, key)?, fp))
}

/// Client-facing TLS with a freshly generated self-signed certificate for `names`;
/// returns the configuration and the certificate's SHA-256 fingerprint, for clients to pin.
pub fn self_signed_server_config(
    names: &[String],
) -> Result<(Arc<ServerConfig>, String), PgGatewayError> {
    let ck = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| PgGatewayError::SelfSigned(e.to_string()))?;
    let der = ck.cert.der().clone();
    let fp = fingerprint(&der);
    tracing::info!(
        fingerprint = %fp,
        names = ?names,
        "generated a self-signed certificate for client TLS (SHA-256)"
    );
    let key = PrivateKeyDer::try_from(ck.signing_key.serialize_der())
        .map_err(|e| PgGatewayError::SelfSigned(e.to_string()))?;
    Ok((server_config(vec![der], key)?, fp))
}

fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, PgGatewayError> {
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err("client-facing TLS"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(tls_err("client-facing TLS"))?;
    Ok(Arc::new(cfg))
}

/// Upstream-facing TLS per `upstream_tls`: `None` for `disable`; for `prefer` and `require`
/// an encrypted channel without certificate checks (as libpq's modes of the same names);
/// for `verify-full` the chain is checked against `ca_pem` and the host name.
pub fn upstream_client_config(
    mode: UpstreamTls,
    ca_pem: Option<&[u8]>,
) -> Result<Option<Arc<ClientConfig>>, PgGatewayError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err("upstream TLS"))?;
    let cfg = match mode {
        UpstreamTls::Disable => return Ok(None),
        UpstreamTls::Prefer | UpstreamTls::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider())))
            .with_no_client_auth(),
        UpstreamTls::VerifyFull => {
            let pem = ca_pem.ok_or(PgGatewayError::MissingUpstreamCa)?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| PgGatewayError::Pem {
                    what: "upstream CA",
                    detail: e.to_string(),
                })?;
                roots.add(cert).map_err(tls_err("upstream CA"))?;
            }
            if roots.is_empty() {
                return Err(PgGatewayError::Pem {
                    what: "upstream CA",
                    detail: "no certificate found".into(),
                });
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Some(Arc::new(cfg)))
}

/// The TLS server name of an upstream `HOST:PORT`.
pub fn upstream_server_name(upstream: &str) -> Result<ServerName<'static>, PgGatewayError> {
    let host = upstream
        .rsplit_once(':')
        .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| PgGatewayError::BadUpstream(upstream.to_owned()))?;
    ServerName::try_from(host.to_owned())
        .map_err(|_| PgGatewayError::BadUpstream(upstream.to_owned()))
}

/// Encrypts without authenticating the server (`prefer`, `require`): the handshake
/// signatures are still checked, the certificate is not.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_config_and_fingerprint() {
        let (_, fp) = self_signed_server_config(&["localhost".into()]).unwrap();
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(fp.split(':').all(|p| p.len() == 2));
    }

    #[test]
    fn upstream_modes() {
        assert!(
            upstream_client_config(UpstreamTls::Disable, None)
                .unwrap()
                .is_none()
        );
        assert!(
            upstream_client_config(UpstreamTls::Require, None)
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            upstream_client_config(UpstreamTls::VerifyFull, None),
            Err(PgGatewayError::MissingUpstreamCa)
        ));
        assert!(upstream_server_name("127.0.0.1:5432").is_ok());
        assert!(upstream_server_name("db.internal:5432").is_ok());
        assert!(upstream_server_name("5432").is_err());
    }
}

/// TLS for tokio-postgres connections (the catalog lookups) over the upstream's rustls
/// client configuration, so the gateway has one TLS stack.
#[derive(Clone)]
pub struct PostgresTls {
    connector: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for PostgresTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl PostgresTls {
    /// TLS with `connector`, checking the upstream's certificate against `server_name` (when
    /// the configuration verifies at all).
    pub fn new(connector: tokio_rustls::TlsConnector, server_name: ServerName<'static>) -> Self {
        PostgresTls {
            connector,
            server_name,
        }
    }
}

impl<S> tokio_postgres::tls::MakeTlsConnect<S> for PostgresTls
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PostgresTlsStream<S>;
    type TlsConnect = PostgresTls;
    type Error = std::io::Error;

    fn make_tls_connect(&mut self, _domain: &str) -> Result<PostgresTls, std::io::Error> {
        Ok(self.clone())
    }
}

impl<S> tokio_postgres::tls::TlsConnect<S> for PostgresTls
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PostgresTlsStream<S>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<PostgresTlsStream<S>>> + Send>,
    >;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = self.connector.connect(self.server_name, stream).await?;
            Ok(PostgresTlsStream(Box::new(tls)))
        })
    }
}

/// A tokio-postgres connection's TLS stream.
pub struct PostgresTlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S> std::fmt::Debug for PostgresTlsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresTlsStream")
    }
}

impl<S> tokio::io::AsyncRead for PostgresTlsStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S> tokio::io::AsyncWrite for PostgresTlsStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl<S> tokio_postgres::tls::TlsStream for PostgresTlsStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        tokio_postgres::tls::ChannelBinding::none()
    }
}
