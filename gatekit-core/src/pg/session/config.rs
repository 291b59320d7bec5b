//! What a gateway session needs to know about its target, fixed for every connection.

use std::sync::Arc;

use jiff::SignedDuration;

use crate::pg::codec::Limits;
use crate::pg::scram::KeyCache;

/// TLS towards the upstream server (`upstream_tls` in the target config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UpstreamTls {
    /// Never TLS.
    Disable,
    /// TLS when the server accepts it, plaintext when it answers `N`.
    #[default]
    Prefer,
    /// TLS or fail; the certificate is not checked (the driver's business).
    Require,
    /// TLS with the certificate and host name verified by the driver.
    VerifyFull,
}

/// How the startup `user` relates to the token's identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UserCheck {
    /// The startup `user` must equal the token's subject, or its e-mail (ASCII case
    /// insensitive).
    #[default]
    SubjectOrEmail,
    /// The startup `user` is ignored: the token alone says who connects.
    Ignore,
}

/// The upstream account's password, held by the gateway and never shown to the client.
///
/// It carries the SCRAM keys derived from it ([`KeyCache`]), shared by its clones: the
/// logins of every connection to a target reuse them.
#[derive(Clone)]
pub struct Password {
    secret: String,
    scram: Arc<KeyCache>,
}

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Password {
            secret: password.into(),
            scram: Arc::default(),
        }
    }

    /// The password, for the adapter's own connections with the held account (catalog
    /// lookups). Never log it.
    pub fn reveal(&self) -> &str {
        &self.secret
    }

    /// The SCRAM keys derived from this password so far.
    pub fn scram_keys(&self) -> &KeyCache {
        &self.scram
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.secret.as_bytes()
    }
}

impl PartialEq for Password {
    fn eq(&self, other: &Self) -> bool {
        self.secret == other.secret
    }
}

impl Eq for Password {}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Run-time settings a client may set in its startup packet or `options` by default
/// (lowercase, as PostgreSQL compares them): what drivers send on their own plus
/// harmless per-session preferences. `role`, `session_authorization` and every
/// `gatekit.*` setting are never allowed, whatever the list says.
pub const DEFAULT_ALLOWED_SETTINGS: &[&str] = &[
    "application_name",
    "bytea_output",
    "client_encoding",
    "client_min_messages",
    "datestyle",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "extra_float_digits",
    "idle_in_transaction_session_timeout",
    "intervalstyle",
    "lock_timeout",
    "search_path",
    "statement_timeout",
    "timezone",
];

/// The fixed part of a PostgreSQL gateway session: one per target, shared by its
/// connections.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// The target's name, for messages.
    pub target: String,
    /// Per-message size caps.
    pub limits: Limits,
    /// Whether the driver can do TLS with clients (answers `S` to SSLRequest).
    pub client_tls: bool,
    /// Whether the token may come without TLS. Honoured only when
    /// [`SessionConfig::loopback_listener`] is true too.
    pub allow_plaintext_auth: bool,
    /// Whether the listener is bound to a loopback address.
    pub loopback_listener: bool,
    /// How the startup `user` is checked against the identity.
    pub user_check: UserCheck,
    /// The upstream account the gateway logs in as.
    pub upstream_user: String,
    /// The upstream database; `None` passes the client's `database` on.
    pub upstream_database: Option<String>,
    /// The upstream account's password (`None`: trust, or a method needing none).
    pub upstream_password: Option<Password>,
    /// TLS towards the upstream.
    pub upstream_tls: UpstreamTls,
    /// Group → upstream role, in priority order: the first of the identity's groups found
    /// here picks the role. Non-empty and no group found: the login is refused.
    pub roles: Vec<(String, String)>,
    /// Run-time settings a client may set at startup (lowercase).
    pub allowed_settings: Vec<String>,
    /// How long a client has from connecting to a ready session.
    pub startup_timeout: SignedDuration,
}

impl SessionConfig {
    /// A config with the defaults: TLS for clients, no plaintext token, user must match,
    /// prefer TLS upstream, [`DEFAULT_ALLOWED_SETTINGS`], 30 s to finish the startup.
    pub fn new(target: impl Into<String>, upstream_user: impl Into<String>) -> Self {
        SessionConfig {
            target: target.into(),
            limits: Limits::default(),
            client_tls: true,
            allow_plaintext_auth: false,
            loopback_listener: false,
            user_check: UserCheck::default(),
            upstream_user: upstream_user.into(),
            upstream_database: None,
            upstream_password: None,
            upstream_tls: UpstreamTls::default(),
            roles: Vec::new(),
            allowed_settings: DEFAULT_ALLOWED_SETTINGS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            startup_timeout: SignedDuration::from_secs(30),
        }
    }

    pub(crate) fn plaintext_ok(&self) -> bool {
        self.allow_plaintext_auth && self.loopback_listener
    }
}
