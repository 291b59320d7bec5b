//! Where the identity verifier's keys come from: a JWKS file or HTTPS URL, refreshed when a
//! token names a key the current set does not have; and the revoked-tokens file.
//!
//! A refresh happens at most once per [`JwksOptions::refresh_interval`], however many tokens
//! with unknown `kid`s arrive. A failed refresh keeps the last good key set; a source that
//! never loaded has no keys and refuses every token. HTTPS uses rustls on aws-lc-rs with the
//! system's roots plus any extra roots given.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use gatekit_bin::jwks::JwksSource;
//! use gatekit_core::identity::{Verifier, VerifierConfig};
//!
//! let source = JwksSource::load("https://idp.example.com/jwks.json", ".".as_ref()).await?;
//! let verifier = Verifier::new(
//!     VerifierConfig::new("https://idp.example.com/", "gatekit"),
//!     Default::default(),
//! )?;
//! # let token = "";
//! let identity = source.verify(&verifier, token, jiff::Timestamp::now()).await?;
//! # Ok(()) }
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use gatekit_core::Identity;
use gatekit_core::identity::{
    Hs256Secret, IdentityError, KeySet, MAX_JWKS_BYTES, Revocations, Verifier,
};
use jiff::{SignedDuration, Timestamp};
use tokio::io::AsyncReadExt as _;

/// The shortest time between two refreshes triggered by unknown key ids.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// How long one HTTPS fetch of the JWKS may take.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest revoked-tokens file read.
pub const MAX_REVOKED_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Why a key source or a revoked-tokens file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The `jwks` setting is neither `file:PATH` nor an `https://` URL.
    #[error("jwks = {spec:?}: {reason}")]
    BadSpec {
        /// The setting as given.
        spec: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The extra root certificates are not a PEM bundle of certificates.
    #[error("extra root certificates: {reason}")]
    RootCertificates {
        /// What is wrong with them.
        reason: String,
    },
    /// The HTTPS client could not be built.
    #[error("cannot build the HTTPS client: {reason}")]
    Client {
        /// Why.
        reason: String,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file or response is larger than accepted.
    #[error("{origin}: more than {max} bytes")]
    TooLarge {
        /// The file or URL.
        origin: String,
        /// The limit.
        max: u64,
    },
    /// The JWKS could not be fetched over HTTPS.
    #[error("fetching {url}: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong (connection, TLS, status, timeout).
        reason: String,
    },
    /// The document fetched or read is not a usable JWKS.
    #[error("{origin}: {source}")]
    Keys {
        /// The file or URL.
        origin: String,
        /// Why the keys were refused.
        source: IdentityError,
    },
    /// The revoked-tokens file has an unusable line.
    #[error("{path}: {source}")]
    Revocations {
        /// The file.
        path: PathBuf,
        /// Which line and why.
        source: IdentityError,
    },
}

/// How a [`JwksSource`] fetches and refreshes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JwksOptions {
    /// The shortest time between two refreshes triggered by unknown key ids.
    pub refresh_interval: Duration,
    /// How long one HTTPS fetch may take.
    pub fetch_timeout: Duration,
    /// A PEM bundle of root certificates trusted for the JWKS URL besides the system's
    /// (a private identity provider's CA).
    pub extra_roots_pem: Vec<u8>,
}

impl Default for JwksOptions {
    fn default() -> Self {
        JwksOptions {
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            extra_roots_pem: Vec::new(),
        }
    }
}

enum Origin {
    File(PathBuf),
    Https {
        url: reqwest::Url,
        client: reqwest::Client,
    },
    Fixed,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "file:{}", path.display()),
            Origin::Https { url, .. } => write!(f, "{url}"),
            Origin::Fixed => f.write_str("fixed keys"),
        }
    }
}

/// The current key set and where to refresh it from. Share it (`Arc`) across connections.
pub struct JwksSource {
    origin: Origin,
    hs256: Option<Hs256Secret>,
    refresh_interval: SignedDuration,
    keys: RwLock<Arc<KeySet>>,
    /// When the last refresh triggered by an unknown key was attempted.
    last_attempt: tokio::sync::Mutex<Option<Timestamp>>,
}

impl JwksSource {
    /// Loads `jwks = "file:PATH"` (relative to `base_dir`) or `"https://…"` with default
    /// options. Fails when the first load fails.
    pub async fn load(spec: &str, base_dir: &Path) -> Result<Self, JwksError> {
        JwksSource::load_with(spec, base_dir, &JwksOptions::default()).await
    }

    /// [`JwksSource::load`] with explicit options.
    pub async fn load_with(
        spec: &str,
        base_dir: &Path,
        options: &JwksOptions,
    ) -> Result<Self, JwksError> {
        let origin = parse_spec(spec, base_dir, options)?;
        let keys = fetch(&origin).await?;
        Ok(JwksSource {
            origin,
            hs256: None,
            refresh_interval: SignedDuration::try_from(options.refresh_interval)
                .unwrap_or(SignedDuration::MAX),
            keys: RwLock::new(Arc::new(keys)),
            last_attempt: tokio::sync::Mutex::new(None),
        })
    }

    /// A source that never refreshes (an HS256-only development setup, tests).
    pub fn fixed(keys: KeySet) -> Self {
        JwksSource {
            origin: Origin::Fixed,
            hs256: None,
            refresh_interval: SignedDuration::MAX,
            keys: RwLock::new(Arc::new(keys)),
            last_attempt: tokio::sync::Mutex::new(None),
        }
    }

    /// Adds an HS256 secret to the current key set and to every refreshed one.
    pub fn with_hs256_secret(mut self, secret: Hs256Secret) -> Self {
        let keys = self.keys().as_ref().clone().with_hs256_secret(&secret);
        self.hs256 = Some(secret);
        self.install(keys);
        self
    }

    /// Where the keys come from, for messages (`file:PATH` or the URL).
    pub fn origin(&self) -> String {
        self.origin.to_string()
    }

    /// The current key set.
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Verifies `token` at `now` with the current keys. When the token names a key the set
    /// does not have, refreshes the set (at most once per refresh interval, measured on
    /// `now`) and tries once more. A failed refresh keeps the current set.
    pub async fn verify(
        &self,
        verifier: &Verifier,
        token: &str,
        now: Timestamp,
    ) -> Result<Identity, IdentityError> {
        let keys = self.keys();
        match verifier.verify_with_keys(&keys, token, now) {
            Err(e) if e.needs_key_refresh() => match self.refresh_after_miss(&keys, now).await {
                Some(fresh) => verifier.verify_with_keys(&fresh, token, now),
                None => Err(e),
            },
            result => result,
        }
    }

    /// Fetches the keys now, whatever the rate limit (a periodic refresh). On failure the
    /// current set stays and the error is returned.
    pub async fn refresh(&self) -> Result<(), JwksError> {
        if matches!(self.origin, Origin::Fixed) {
            return Ok(());
        }
        let keys = fetch(&self.origin).await?;
        self.install(keys);
        Ok(())
    }

    /// The refreshed set, if a refresh was due and succeeded, or if another caller refreshed
    /// since `seen` was read.
    async fn refresh_after_miss(&self, seen: &Arc<KeySet>, now: Timestamp) -> Option<Arc<KeySet>> {
        if matches!(self.origin, Origin::Fixed) {
            return None;
        }
        let mut last = self.last_attempt.lock().await;
        let current = self.keys();
        if !Arc::ptr_eq(&current, seen) {
            return Some(current);
        }
        // A clock that went backwards does not block refreshes.
        let too_soon = last.is_some_and(|at| {
            now >= at
                && at
                    .checked_add(self.refresh_interval)
                    .is_ok_and(|next| now < next)
        });
        if too_soon {
            tracing::debug!(origin = %self.origin, "unknown key id; JWKS refresh rate-limited");
            return None;
        }
        *last = Some(now);
        match fetch(&self.origin).await {
            Ok(keys) => Some(self.install(keys)),
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refresh failed; keeping the last good key set");
                None
            }
        }
    }

    fn install(&self, keys: KeySet) -> Arc<KeySet> {
        let keys = match &self.hs256 {
            Some(secret) => keys.with_hs256_secret(secret),
            None => keys,
        };
        tracing::info!(
            origin = %self.origin,
            keys = keys.usable_keys(),
            kids = ?keys.key_ids().collect::<Vec<_>>(),
            "JWKS loaded"
        );
        let keys = Arc::new(keys);
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys.clone();
        keys
    }
}

impl fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksSource")
            .field("origin", &self.origin.to_string())
            .field("keys", &self.keys())
            .field("refresh_interval", &self.refresh_interval)
            .finish_non_exhaustive()
    }
}

fn parse_spec(spec: &str, base_dir: &Path, options: &JwksOptions) -> Result<Origin, JwksError> {
    let bad = |reason| JwksError::BadSpec {
        spec: spec.to_owned(),
        reason,
    };
    if let Some(path) = spec.strip_prefix("file:") {
        if path.is_empty() {
            return Err(bad("`file:` needs a path"));
        }
        return Ok(Origin::File(base_dir.join(path)));
    }
    if !spec.starts_with("https://") {
        return Err(bad("expected \"file:PATH\" or an \"https://\" URL"));
    }
    let url = reqwest::Url::parse(spec).map_err(|_| bad("not a valid URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials in the URL are not supported"));
    }
    let mut builder = reqwest::Client::builder()
        .https_only(true)
        .redirect(reqwest::redirect::Policy::limited(3))
        .timeout(options.fetch_timeout)
        .connect_timeout(options.fetch_timeout)
        .user_agent(concat!("gatekit/", env!("CARGO_PKG_VERSION")));
    if !options.extra_roots_pem.is_empty() {
        let roots = reqwest::Certificate::from_pem_bundle(&options.extra_roots_pem)
            .map_err(|e| JwksError::RootCertificates { reason: causes(&e) })?;
        if roots.is_empty() {
            return Err(JwksError::RootCertificates {
                reason: "no certificate in the PEM bundle".to_owned(),
            });
        }
        builder = builder.tls_certs_merge(roots);
    }
    let client = builder
        .build()
        .map_err(|e| JwksError::Client { reason: causes(&e) })?;
    Ok(Origin::Https { url, client })
}

async fn fetch(origin: &Origin) -> Result<KeySet, JwksError> {
    let json = match origin {
        Origin::File(path) => read_file(path).await?,
        Origin::Https { url, client } => get(client, url).await?,
        Origin::Fixed => return Ok(KeySet::empty()),
    };
    KeySet::from_jwks_json(&json).map_err(|source| JwksError::Keys {
        origin: origin.to_string(),
        source,
    })
}

async fn read_file(path: &Path) -> Result<Vec<u8>, JwksError> {
    let read_error = |source| JwksError::Read {
        path: path.to_owned(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(read_error)?;
    let limit = MAX_JWKS_BYTES as u64;
    let mut json = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut json)
        .await
        .map_err(read_error)?;
    if json.len() as u64 > limit {
        return Err(JwksError::TooLarge {
            origin: path.display().to_string(),
            max: limit,
        });
    }
    Ok(json)
}

async fn get(client: &reqwest::Client, url: &reqwest::Url) -> Result<Vec<u8>, JwksError> {
    let failed = |reason: String| JwksError::Fetch {
        url: url.to_string(),
        reason,
    };
    let mut response = client
        .get(url.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/json, application/jwk-set+json",
        )
        .send()
        .await
        .map_err(|e| failed(causes(&e)))?;
    if !response.status().is_success() {
        return Err(failed(format!("HTTP status {}", response.status())));
    }
    let limit = MAX_JWKS_BYTES as u64;
    let too_large = || JwksError::TooLarge {
        origin: url.to_string(),
        max: limit,
    };
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut json = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(causes(&e)))? {
        if (json.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        json.extend_from_slice(&chunk);
    }
    Ok(json)
}

/// An error and its causes on one line.
fn causes(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Reads a revoked-tokens file (one `jti:ID`, `sub:SUBJECT` or bare entry per line, `#`
/// comments) of at most [`MAX_REVOKED_FILE_BYTES`].
pub fn read_revoked_file(path: &Path) -> Result<Revocations, JwksError> {
    let read_error = |source| JwksError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut text = String::new();
    file.take(MAX_REVOKED_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_REVOKED_FILE_BYTES {
        return Err(JwksError::TooLarge {
            origin: path.display().to_string(),
            max: MAX_REVOKED_FILE_BYTES,
        });
    }
    Revocations::parse(&text).map_err(|source| JwksError::Revocations {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;
