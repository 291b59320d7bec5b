//! The adapter's one error type: what can stop a gateway from starting.

/// Why a PostgreSQL gateway could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgGatewayError {
    /// A PEM input held no certificate or no private key.
    #[error("{what}: {detail}")]
    Pem {
        /// Which input (`client TLS certificate`, `upstream CA`, …).
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// rustls refused the certificate, key or settings.
    #[error("TLS setup for {what} failed: {source}")]
    Tls {
        /// Which side.
        what: &'static str,
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },
    /// Generating the self-signed certificate failed.
    #[error("could not generate a self-signed certificate: {0}")]
    SelfSigned(String),
    /// `upstream_tls = "verify-full"` without a CA.
    #[error("upstream_tls = \"verify-full\" needs upstream_ca_file")]
    MissingUpstreamCa,
    /// The upstream address has no usable host for TLS server-name checks.
    #[error("upstream address `{0}` is not HOST:PORT")]
    BadUpstream(String),
    /// Binding the listener failed.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Reading a certificate or key file failed.
    #[error("could not read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
