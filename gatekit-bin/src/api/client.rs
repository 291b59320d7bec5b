//! A small client of the gateway API, used by `gatekit approvals` and `gatekit sessions`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

/// Time allowed for one API call.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Largest response body read.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// `--api` is not an http(s) URL.
    #[error("--api `{0}` is not an http:// or https:// URL")]
    BadUrl(String),
    /// `--ca-file` could not be read or holds no certificate.
    #[error("--ca-file {path}: {message}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Setup(String),
    /// No token was given.
    #[error("no token: pass --token JWT or set GATEKIT_TOKEN")]
    NoToken,
    /// The API could not be reached.
    #[error("cannot reach the gateway API at {url}: {message}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// The cause.
        message: String,
    },
    /// The API answered with an error.
    #[error("{status}: {message}")]
    Http {
        /// The HTTP status, e.g. `403 Forbidden`.
        status: String,
        /// The API's `code`, when it sent one.
        code: Option<String>,
        /// The API's `error` message (or the body).
        message: String,
    },
    /// The answer is not the JSON expected.
    #[error("unexpected answer from {url}: {message}")]
    BadResponse {
        /// The URL called.
        url: String,
        /// What was wrong.
        message: String,
    },
}

/// A client of one gateway API.
#[derive(Debug)]
pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client of the API at `base` (`http(s)://host:port`), authenticating with `token`,
    /// trusting only the CA certificates in `ca_file` when given.
    pub fn new(
        base: &str,
        token: Option<String>,
        ca_file: Option<&Path>,
    ) -> Result<Self, ClientError> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadUrl(base.to_owned()));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = ca_file {
            let ca = |message: String| ClientError::CaFile {
                path: path.to_owned(),
                message,
            };
            let pem = std::fs::read(path).map_err(|e| ca(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca("holds no PEM certificate".into()));
            }
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        Ok(ApiClient {
            base: base.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.trim().is_empty()),
            http,
        })
    }

    /// `GET path` (path starts with `/`), returning the JSON answer.
    pub async fn get(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// `POST path` with a JSON body, returning the JSON answer.
    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, ClientError> {
        let token = self.token.as_deref().ok_or(ClientError::NoToken)?;
        let url = format!("{}{path}", self.base);
        let mut req = self
            .http
            .request(method, &url)
            .header(AUTHORIZATION, format!("Bearer {token}"));
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let mut res = req.send().await.map_err(|e| ClientError::Unreachable {
            url: url.clone(),
            message: error_chain(&e),
        })?;
        let status = res.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| ClientError::Unreachable {
            url: url.clone(),
            message: error_chain(&e),
        })? {
            if bytes.len() + chunk.len() > MAX_RESPONSE {
                return Err(ClientError::BadResponse {
                    url,
                    message: format!("answer larger than {MAX_RESPONSE} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let json: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        if !status.is_success() {
            let field = |k: &str| {
                json.as_ref()
                    .and_then(|j| j.get(k))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            return Err(ClientError::Http {
                status: status.to_string(),
                code: field("code"),
                message: field("error")
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(500).collect()),
            });
        }
        json.ok_or_else(|| ClientError::BadResponse {
            url,
            message: "not JSON".into(),
        })
    }
}

/// The error and its causes, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    s
}
