//! The demo's configuration: the example policy's SQL rules, a `pii` masking profile, a
//! loopback listener that takes tokens without TLS, and the audit trail in the demo's
//! directory.

use std::net::SocketAddr;

/// The variable `gatekit token` reads the demo's HS256 secret from.
pub const SECRET_ENV: &str = "GATEKIT_DEMO_SECRET";
/// The variable holding the upstream account's password.
pub const PASSWORD_ENV: &str = "GATEKIT_DEMO_DB_PASSWORD";
/// The demo's issuer.
pub const ISSUER: &str = "https://demo.gatekit.invalid/";
/// The demo's audience.
pub const AUDIENCE: &str = "gatekit";
/// The one target.
pub const TARGET: &str = "shop";
/// The account the gateway holds.
pub const UPSTREAM_USER: &str = "shop_app";

/// Where the demo's listeners and upstream are.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    /// The gateway's PostgreSQL listener.
    pub gateway: SocketAddr,
    /// The approvals API.
    pub api: SocketAddr,
    /// The throwaway PostgreSQL server.
    pub upstream: SocketAddr,
}

/// The config file's text.
pub fn render(addrs: &Addresses) -> String {
    let Addresses {
        gateway,
        api,
        upstream,
    } = addrs;
    format!(
        r#"# gatekit demo: a throwaway PostgreSQL behind the gateway. Removed when the demo stops.

[identity]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
hs256_secret_env = "{SECRET_ENV}"            # development tokens (`gatekit token`)

[audit]
dir = "audit"

[api]
listen = "{api}"

[policy]
default = "allow"
review_timeout = "15m"

[[target]]
name = "{TARGET}"
protocol = "postgres"
listen = "{gateway}"
upstream = "{upstream}"
database = "shop"
user = "{UPSTREAM_USER}"
password_env = "{PASSWORD_ENV}"
upstream_tls = "disable"
allow_plaintext_auth = true                  # loopback only: psql may send the token without TLS
allow_groups = ["dev", "dba"]

[[rule]]
name = "no-bulk-writes"
groups = ["dev"]
classes = ["bulk-write"]
action = "deny"
reason = "bulk writes are not allowed for developers"

[[rule]]
name = "risky-needs-review"
groups = ["dev"]
classes = ["ddl", "dcl", "admin", "destructive", "procedural", "unparsed"]
action = "review"
approvers = ["dba"]
approval = "once"
min_approvals = 1
reason = "schema, privilege and opaque changes need a DBA"

[[mask]]
name = "pii"
targets = ["{TARGET}"]
detectors = ["credit_card", "email", "us_ssn", "iban", "phone"]
columns = ["ssn", "*card*", "email", "phone"]
strategy = "partial"
exempt_groups = ["dba"]
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_rendered_config_loads_and_judges_like_the_example() {
        let addrs = Addresses {
            gateway: "127.0.0.1:6432".parse().unwrap(),
            api: "127.0.0.1:6433".parse().unwrap(),
            upstream: "127.0.0.1:5432".parse().unwrap(),
        };
        let text = render(&addrs);
        let config = Config::parse(&text, "demo.toml".as_ref(), "/tmp".as_ref()).unwrap();
        let target = config.target(TARGET).unwrap();
        assert_eq!(target.listen.get_ref(), "127.0.0.1:6432");
        assert_eq!(target.allow_plaintext_auth, Some(true));
        let engine = crate::engine::Engine::from_config(&config).unwrap();
        let dev = gatekit_core::Identity::new("dev", ["dev"]);
        let verdict = |sql: &str| {
            let e = engine.evaluate(
                &dev,
                gatekit_core::Protocol::Postgres,
                TARGET,
                sql,
                jiff::Timestamp::UNIX_EPOCH,
            );
            (
                e.decision.verdict,
                e.decision.rule.as_deref().map(str::to_owned),
            )
        };
        use gatekit_core::policy::Verdict;
        assert_eq!(verdict("SELECT * FROM customers"), (Verdict::Allow, None));
        assert_eq!(
            verdict("DELETE FROM customers"),
            (Verdict::Deny, Some("no-bulk-writes".into()))
        );
        assert_eq!(
            verdict("ALTER TABLE customers ADD COLUMN note text"),
            (Verdict::Review, Some("risky-needs-review".into()))
        );
    }
}
