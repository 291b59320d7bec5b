//! The typed shape of `gatekit.toml`, one struct per table.
//!
//! Every struct denies unknown keys, so a typo is an error naming the key and its line.
//! Enumerated values (classes, protocols, verdicts, strategies) are checked while parsing;
//! cross-references (a rule naming a target) are checked by [`super::validate`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use gatekit_core::policy::Verdict;
use gatekit_core::{Class, Protocol};
use serde::Deserialize;
use toml::Spanned;

use crate::audit_log::SyncMode;

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How clients are authenticated.
    pub identity: IdentityConfig,
    /// Where and how the audit trail is written.
    pub audit: AuditConfig,
    /// The state store (approvals, sessions, audit checkpoint).
    #[serde(default)]
    pub state: StateConfig,
    /// The HTTP API; no table, no listener.
    pub api: Option<ApiConfig>,
    /// Policy-wide settings.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Anomaly signals; no table, no signals.
    pub anomaly: Option<AnomalyConfig>,
    /// Webhook notifications.
    #[serde(default, rename = "notify")]
    pub notify: Vec<Spanned<NotifyConfig>>,
    /// The targets the gateway fronts.
    #[serde(default, rename = "target")]
    pub targets: Vec<Spanned<TargetConfig>>,
    /// Policy rules, in order.
    #[serde(default, rename = "rule")]
    pub rules: Vec<Spanned<RuleConfig>>,
    /// Custom detectors for masking.
    #[serde(default, rename = "detector")]
    pub detectors: Vec<Spanned<DetectorConfig>>,
    /// Masking profiles.
    #[serde(default, rename = "mask")]
    pub masks: Vec<Spanned<MaskConfig>>,
    /// The directory relative paths in the file are resolved against (the file's own).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[identity]`: OIDC token verification.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry.
    pub audience: String,
    /// `file:PATH` or `https://…` key set; optional when `hs256_secret_env` is set.
    pub jwks: Option<Spanned<String>>,
    /// Claim holding the user's groups (dotted path allowed).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Development only: accept HS256 tokens signed with the secret in this variable.
    pub hs256_secret_env: Option<String>,
    /// Token ids (jti) or subjects refused even if valid; one per line.
    pub revoked_file: Option<PathBuf>,
}

fn default_groups_claim() -> String {
    "groups".into()
}

/// `[audit]`: the hash-chained trail and session recordings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Directory holding `audit.jsonl` and `sessions/`.
    pub dir: PathBuf,
    /// Durability mode.
    #[serde(default)]
    pub sync: SyncMode,
    /// Variable holding the HMAC key of the chain.
    pub key_env: Option<String>,
    /// Rows kept per statement in a session recording.
    #[serde(default = "default_record_rows")]
    pub record_rows: u64,
    /// Bytes kept per statement in a session recording.
    #[serde(default = "default_record_bytes")]
    pub record_bytes: u64,
}

fn default_record_rows() -> u64 {
    1000
}

fn default_record_bytes() -> u64 {
    1 << 20
}

/// `[state]`: where approvals, live sessions and the audit checkpoint are kept.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `sqlite:PATH` or `postgres://…`.
    #[serde(default = "default_state_url")]
    pub url: Spanned<String>,
    /// Variable holding the password for a `postgres://` URL.
    pub password_env: Option<String>,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            url: Spanned::new(0..0, default_state_url().into_inner()),
            password_env: None,
        }
    }
}

fn default_state_url() -> Spanned<String> {
    Spanned::new(0..0, "sqlite:var/gatekit.db".into())
}

/// `[api]`: approvals, sessions, metrics and health over HTTP.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address.
    pub listen: Spanned<String>,
    /// Certificate (PEM) for TLS on the API.
    pub tls_cert_file: Option<PathBuf>,
    /// Private key (PEM) for TLS on the API.
    pub tls_key_file: Option<PathBuf>,
    /// Members of these groups may terminate live sessions (nobody when left out).
    #[serde(default)]
    pub admin_groups: Vec<String>,
}

/// `[policy]`: policy-wide settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Verdict when no rule matches (`deny` when the key is left out).
    #[serde(default = "default_verdict")]
    pub default: Verdict,
    /// A held command fails after this long (e.g. `15m`).
    #[serde(default = "default_review_timeout")]
    pub review_timeout: Spanned<String>,
    /// Extra SQL functions classified `admin` wherever they are called.
    #[serde(default)]
    pub sql_admin_functions: Vec<String>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            default: default_verdict(),
            review_timeout: default_review_timeout(),
            sql_admin_functions: Vec::new(),
        }
    }
}

fn default_verdict() -> Verdict {
    Verdict::Deny
}

fn default_review_timeout() -> Spanned<String> {
    Spanned::new(0..0, "15m".into())
}

/// What an anomaly signal escalates to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Escalation {
    /// Only record the signal.
    None,
    /// Hold the command for review.
    Review,
    /// Refuse the command.
    Deny,
}

/// The kinds of anomaly signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// Many more writes than the session's usual rate.
    WriteSpike,
    /// An identity touching an object for the first time.
    FirstAccess,
    /// A privileged command outside business hours.
    OffHours,
}

/// `[anomaly]`: signals and their escalation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Days, hours and zone, e.g. `Mon-Fri 08:00-19:00 Europe/Berlin`.
    pub business_hours: Option<Spanned<String>>,
    /// Escalation for every signal kind.
    #[serde(default = "default_escalation")]
    pub escalate: Escalation,
    /// Who reviews escalated commands.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Per-kind escalation, overriding `escalate`.
    #[serde(default)]
    pub escalate_by_kind: BTreeMap<AnomalyKind, Escalation>,
}

fn default_escalation() -> Escalation {
    Escalation::None
}

/// `[[notify]] kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyKind {
    /// A Slack-compatible incoming webhook.
    Slack,
    /// A plain JSON POST.
    Json,
}

/// Events a webhook can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// A command is waiting for approval.
    ApprovalPending,
    /// An approval was approved, denied or expired.
    ApprovalDecided,
    /// An anomaly signal was raised.
    Anomaly,
    /// A live session was terminated.
    SessionKilled,
}

/// `[[notify]]`: a webhook.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Message shape.
    pub kind: NotifyKind,
    /// Variable holding the webhook URL (URLs carry secrets).
    pub url_env: String,
    /// Events sent to this webhook.
    pub events: Vec<NotifyEvent>,
}

/// `upstream_tls` of a PostgreSQL target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamTls {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it.
    #[default]
    Prefer,
    /// TLS or fail, certificate not checked.
    Require,
    /// TLS with the certificate and host name verified.
    VerifyFull,
}

/// `[[target]]`: one listener and the upstream behind it. Which keys apply depends on
/// `protocol`; a key of another protocol is an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Unique name, used by rules and masks.
    pub name: Spanned<String>,
    /// `postgres`, `ssh` or `kubernetes`.
    pub protocol: Protocol,
    /// Address the gateway listens on for this target.
    pub listen: Spanned<String>,
    /// Address (or URL for Kubernetes) of the real server.
    pub upstream: Spanned<String>,
    /// Groups admitted to the target; empty admits nobody.
    pub allow_groups: Vec<String>,
    /// PostgreSQL: database to connect to.
    pub database: Option<String>,
    /// PostgreSQL, SSH: the upstream account the gateway logs in as.
    pub user: Option<String>,
    /// PostgreSQL: variable holding the upstream password.
    pub password_env: Option<String>,
    /// PostgreSQL: file holding the upstream password.
    pub password_file: Option<PathBuf>,
    /// PostgreSQL: TLS towards the server.
    pub upstream_tls: Option<UpstreamTls>,
    /// PostgreSQL: CA bundle for `verify-full`.
    pub upstream_ca_file: Option<PathBuf>,
    /// PostgreSQL, Kubernetes: client-facing certificate (self-signed when left out).
    pub tls_cert_file: Option<PathBuf>,
    /// PostgreSQL, Kubernetes: client-facing private key.
    pub tls_key_file: Option<PathBuf>,
    /// PostgreSQL: accept the token without TLS on a loopback listener.
    pub allow_plaintext_auth: Option<bool>,
    /// PostgreSQL: group → upstream role, applied after login; the first entry (in file
    /// order) whose group the user holds picks the role.
    pub roles: Option<RoleMap>,
    /// SSH: private key the gateway logs in with.
    pub key_file: Option<PathBuf>,
    /// SSH: pinned upstream host keys.
    pub known_hosts: Option<PathBuf>,
    /// SSH: the gateway's own host key (generated if missing).
    pub host_key_file: Option<PathBuf>,
    /// SSH: CA that signs short-lived user certificates (generated if missing).
    pub user_ca_file: Option<PathBuf>,
    /// Kubernetes: CA of the API server.
    pub ca_file: Option<PathBuf>,
    /// Kubernetes: variable holding the service account token.
    pub token_env: Option<String>,
    /// Kubernetes: file holding the service account token.
    pub token_file: Option<PathBuf>,
    /// Kubernetes: impersonate the token's subject and groups upstream.
    pub impersonate: Option<bool>,
}

/// `[[rule]]`: one policy rule; every condition given must hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name, reported in decisions and the audit trail.
    pub name: Spanned<String>,
    /// Only commands on this protocol.
    pub protocol: Option<Protocol>,
    /// Only these targets (all when left out).
    #[serde(default)]
    pub targets: Vec<Spanned<String>>,
    /// Only identities in one of these groups (everyone when left out).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Only commands carrying one of these classes (any command when left out).
    #[serde(default)]
    pub classes: Vec<Class>,
    /// Globs on the objects a command touches.
    #[serde(default)]
    pub objects: Vec<String>,
    /// A regex on the command text.
    pub pattern: Option<String>,
    /// A time window outside which the rule does not match.
    pub hours: Option<String>,
    /// The verdict when the rule matches.
    pub action: Verdict,
    /// Why, shown to the client and recorded.
    pub reason: Option<String>,
    /// Groups whose members may approve (for `review`).
    #[serde(default)]
    pub approvers: Vec<String>,
    /// `once` or `window:DURATION`.
    pub approval: Option<String>,
    /// Approvals needed before the command runs.
    pub min_approvals: Option<u32>,
}

/// `[[detector]]`: a custom masking detector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Name used in `[[mask]] detectors`.
    pub name: Spanned<String>,
    /// A regex matched on values.
    pub regex: Option<String>,
    /// A file of literal terms, one per line.
    pub terms_file: Option<PathBuf>,
}

/// `[[mask]] strategy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyName {
    /// A fixed marker such as `[REDACTED:credit_card]`.
    #[default]
    Redact,
    /// Keep the last four characters and the format.
    Partial,
    /// A keyed HMAC token, stable across sessions.
    Hash,
    /// Digits stay digits, length kept.
    FormatPreserving,
}

/// `[[mask]]`: a masking profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskConfig {
    /// Profile name.
    pub name: Spanned<String>,
    /// Targets the profile applies to.
    pub targets: Vec<Spanned<String>>,
    /// Detectors (built-in or `[[detector]]` names) run on every value.
    #[serde(default)]
    pub detectors: Vec<Spanned<String>>,
    /// Globs on SQL result column names masked whole.
    #[serde(default)]
    pub columns: Vec<String>,
    /// How a found value is replaced.
    #[serde(default)]
    pub strategy: StrategyName,
    /// Variable holding the key for `strategy = "hash"`.
    pub hash_key_env: Option<String>,
    /// Groups that see raw values.
    #[serde(default)]
    pub exempt_groups: Vec<String>,
}

/// `roles = { group = "role", … }`, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleMap(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for RoleMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RoleMap;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table of group = \"role\"")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RoleMap, A::Error> {
                let mut out = Vec::new();
                while let Some((group, role)) = map.next_entry::<String, String>()? {
                    out.push((group, role));
                }
                Ok(RoleMap(out))
            }
        }
        d.deserialize_map(Visitor)
    }
}
