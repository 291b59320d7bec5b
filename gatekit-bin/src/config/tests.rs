use std::path::Path;

use gatekit_core::policy::Verdict;

use super::*;

const EXAMPLE: &str = include_str!("../../examples/gatekit.toml");

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"), Path::new("/etc/gatekit"))
}

/// The example with `needle` replaced by `with` (the needle must be there).
fn edited(needle: &str, with: &str) -> String {
    assert!(EXAMPLE.contains(needle), "example lacks {needle:?}");
    EXAMPLE.replacen(needle, with, 1)
}

fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).expect("needle present");
    text[..at].matches('\n').count() + 1
}

fn expect_err(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("config was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn example_parses_unchanged() {
    let c = parse(EXAMPLE).unwrap();
    assert_eq!(c.targets.len(), 3);
    assert_eq!(c.rules.len(), 5);
    assert_eq!(c.masks.len(), 1);
    assert_eq!(c.detectors.len(), 2);
    assert_eq!(c.audit.sync, crate::audit_log::SyncMode::Interval);
    assert_eq!(c.policy.default, Verdict::Allow);
    let shop = c.target("shop").unwrap();
    assert_eq!(shop.protocol, gatekit_core::Protocol::Postgres);
    assert_eq!(
        shop.roles.as_ref().unwrap().0,
        [
            ("dev".to_owned(), "shop_readonly".to_owned()),
            ("dba".to_owned(), "shop_admin".to_owned())
        ],
        "roles keep file order"
    );
    assert_eq!(
        c.path(Path::new("jwks.json")),
        Path::new("/etc/gatekit/jwks.json")
    );
}

#[test]
fn shared_example_parses_unchanged_when_present() {
    // The contract's copy lives beside the repository; CI lays it out there.
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/examples/gatekit.toml");
    let Ok(text) = std::fs::read_to_string(&shared) else {
        eprintln!(
            "{} not present; the repository copy is tested above",
            shared.display()
        );
        return;
    };
    parse(&text).unwrap();
    // Our copy only adds commented documentation lines.
    let ours: Vec<&str> = EXAMPLE
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let theirs: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert_eq!(
        ours, theirs,
        "gatekit-bin/examples/gatekit.toml drifted from the shared example"
    );
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = edited(
        "groups_claim = \"groups\"",
        "groups_claim = \"groups\"\ngroup_claim = \"x\"",
    );
    let msg = expect_err(&text);
    assert!(msg.contains("group_claim"), "{msg}");
    assert!(
        msg.contains(&format!("line {}", line_of(&text, "group_claim ="))),
        "{msg}"
    );
}

#[test]
fn wrong_type_names_line() {
    let text = edited("record_rows = 1000", "record_rows = \"many\"");
    let msg = expect_err(&text);
    assert!(
        msg.contains(&format!("line {}", line_of(&text, "record_rows ="))),
        "{msg}"
    );
}

#[test]
fn unknown_class_is_an_error() {
    let text = edited("classes = [\"bulk-write\"]", "classes = [\"bulk-writes\"]");
    let msg = expect_err(&text);
    assert!(
        msg.contains("bulk-writes") && msg.contains("unknown command class"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("line {}", line_of(&text, "[\"bulk-writes\"]"))),
        "{msg}"
    );
}

#[test]
fn duplicate_target_name() {
    let text = edited("name = \"bastion\"", "name = \"shop\"");
    let msg = expect_err(&text);
    assert!(msg.contains("duplicate target name `shop`"), "{msg}");
    assert!(
        msg.starts_with(&format!(
            "test.toml:{}:",
            line_of(&text, "name = \"shop\"\nprotocol = \"ssh\"")
        )),
        "{msg}"
    );
}

#[test]
fn rule_naming_unknown_target() {
    let text = edited(
        "name = \"no-bulk-writes\"",
        "name = \"no-bulk-writes\"\ntargets = [\"shopp\"]",
    );
    let msg = expect_err(&text);
    assert!(
        msg.contains("unknown target `shopp`") && msg.contains("rule \"no-bulk-writes\".targets"),
        "{msg}"
    );
    assert!(
        msg.starts_with(&format!(
            "test.toml:{}:",
            line_of(&text, "targets = [\"shopp\"]")
        )),
        "{msg}"
    );
}

#[test]
fn rule_target_protocol_mismatch() {
    let text = edited(
        "name = \"no-secrets-for-dev\"",
        "name = \"no-secrets-for-dev\"\ntargets = [\"shop\"]",
    );
    let msg = expect_err(&text);
    assert!(msg.contains("speaks postgres"), "{msg}");
}

#[test]
fn mask_naming_unknown_detector() {
    let text = edited("\"phone\", \"employee_id\"", "\"phone\", \"employee_idd\"");
    let msg = expect_err(&text);
    assert!(msg.contains("unknown detector `employee_idd`"), "{msg}");
    assert!(
        msg.contains(&format!(":{}:", line_of(&text, "employee_idd"))),
        "{msg}"
    );
}

#[test]
fn duplicate_rule_and_detector_names() {
    let msg = expect_err(&edited(
        "name = \"risky-needs-review\"",
        "name = \"no-bulk-writes\"",
    ));
    assert!(msg.contains("duplicate rule name"), "{msg}");
    let msg = expect_err(&edited("name = \"codenames\"", "name = \"email\""));
    assert!(msg.contains("built-in detector"), "{msg}");
}

#[test]
fn key_of_another_protocol() {
    let text = edited("impersonate = true", "impersonate = true\ndatabase = \"x\"");
    let msg = expect_err(&text);
    assert!(
        msg.contains("target \"prod-cluster\".database")
            && msg.contains("does not apply to protocol `kubernetes`"),
        "{msg}"
    );
}

#[test]
fn missing_required_key_for_protocol() {
    let msg = expect_err(&edited("database = \"shop\"\n", ""));
    assert!(
        msg.contains("target \"shop\".database") && msg.contains("required"),
        "{msg}"
    );
}

#[test]
fn bad_enum_values_name_line() {
    for (needle, bad) in [
        ("sync = \"interval\"", "sync = \"sometimes\""),
        ("upstream_tls = \"prefer\"", "upstream_tls = \"maybe\""),
        ("strategy = \"redact\"", "strategy = \"scramble\""),
        ("action = \"deny\"", "action = \"block\""),
        ("protocol = \"ssh\"", "protocol = \"telnet\""),
    ] {
        let text = edited(needle, bad);
        let msg = expect_err(&text);
        assert!(
            msg.contains(&format!("line {}", line_of(&text, bad))),
            "{bad}: {msg}"
        );
    }
}

#[test]
fn review_rule_needs_approvers() {
    let msg = expect_err(&edited("approvers = [\"dba\"]\n", ""));
    assert!(msg.contains("needs approvers"), "{msg}");
}

#[test]
fn identity_needs_a_key_source() {
    let msg = expect_err(&edited("jwks = \"file:jwks.json\"", ""));
    assert!(msg.contains("identity.jwks"), "{msg}");
    let msg = expect_err(&edited(
        "jwks = \"file:jwks.json\"",
        "jwks = \"http://idp/jwks\"",
    ));
    assert!(msg.contains("neither"), "{msg}");
}

#[test]
fn bad_listen_address() {
    let text = edited("listen = \"127.0.0.1:2222\"", "listen = \"localhost\"");
    let msg = expect_err(&text);
    assert!(
        msg.contains("target \"bastion\".listen")
            && msg.contains(&format!(":{}:", line_of(&text, "\"localhost\""))),
        "{msg}"
    );
}

#[test]
fn hash_strategy_needs_key() {
    let msg = expect_err(&edited("strategy = \"redact\"", "strategy = \"hash\""));
    assert!(msg.contains("hash_key_env"), "{msg}");
}

#[test]
fn optional_tables_can_be_left_out() {
    let minimal = r#"
[identity]
issuer = "https://idp/"
audience = "gatekit"
hs256_secret_env = "DEV_SECRET"

[audit]
dir = "audit"
"#;
    let c = parse(minimal).unwrap();
    assert!(c.api.is_none() && c.anomaly.is_none() && c.targets.is_empty());
    assert_eq!(
        c.policy.default,
        Verdict::Deny,
        "no [policy] table must fail closed"
    );
}

#[test]
fn policy_compile_errors_point_at_the_rule() {
    let text = edited(
        "hours = \"Mon-Fri 08:00-18:00 UTC\"",
        "hours = \"Mon-Fry 08:00-18:00 UTC\"",
    );
    let msg = expect_err(&text);
    assert!(
        msg.contains("rule \"prod-shell-needs-review\"") && msg.contains("hours"),
        "{msg}"
    );
    let rule_line = line_of(&text, "[[rule]]\nname = \"prod-shell-needs-review\"");
    assert!(msg.starts_with(&format!("test.toml:{rule_line}:")), "{msg}");
    let msg = expect_err(&edited(
        "pattern = \"(?i)systemctl",
        "pattern = \"(?i)(systemctl",
    ));
    assert!(msg.contains("pattern"), "{msg}");
    let msg = expect_err(&edited("approval = \"once\"", "approval = \"twice\""));
    assert!(msg.contains("approval"), "{msg}");
}

#[test]
fn review_default_and_bad_durations_are_refused() {
    let msg = expect_err(&edited("default = \"allow\"", "default = \"review\""));
    assert!(msg.contains("policy.default"), "{msg}");
    let msg = expect_err(&edited(
        "review_timeout = \"15m\"",
        "review_timeout = \"soon\"",
    ));
    assert!(msg.contains("policy.review_timeout"), "{msg}");
    let msg = expect_err(&edited(
        "Mon-Fri 08:00-19:00 Europe/Berlin",
        "Mon-Fri 08:00-19:00 Europe/Berlinn",
    ));
    assert!(msg.contains("anomaly.business_hours"), "{msg}");
}

#[test]
fn api_admin_groups_default_to_nobody_and_refuse_empty_names() {
    // The example documents the key in a comment: by default nobody may terminate sessions.
    assert!(parse(EXAMPLE).unwrap().api.unwrap().admin_groups.is_empty());
    let with = edited(
        "# admin_groups = [\"security\"]",
        "admin_groups = [\"security\"]",
    );
    assert_eq!(
        parse(&with).unwrap().api.unwrap().admin_groups,
        ["security"]
    );
    let err = expect_err(&edited(
        "# admin_groups = [\"security\"]",
        "admin_groups = [\"\"]",
    ));
    assert!(
        err.contains("`api.admin_groups`: group names must not be empty"),
        "{err}"
    );
}

#[test]
fn state_url_must_be_a_shared_store() {
    let url = "url = \"sqlite:var/gatekit.db\"";
    let msg = expect_err(&edited(url, "url = \"memory:\""));
    assert!(
        msg.contains("state.url") && msg.contains("gatekit approvals"),
        "{msg}"
    );
    let msg = expect_err(&edited(url, "url = \"redis://cache\""));
    assert!(msg.contains("neither"), "{msg}");
    let ok = edited(url, "url = \"postgres://gatekit@db.internal/gatekit\"");
    assert!(parse(&ok).is_ok());
}
