//! The `gatekit` binary, driven as a user would: exit codes, output, and what each command
//! may and may not touch.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/gatekit.toml");
const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/policy-cases.toml");
const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

fn gatekit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatekit"));
    c.env_remove("GATEKIT_LOG").env("NO_COLOR", "1");
    // Target credentials of the example config are deliberately absent.
    c.env_remove("SHOP_DB_PASSWORD")
        .env_remove("CLUSTER_SA_TOKEN");
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("gatekit runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn check(args: &[&str]) -> (i32, String, String) {
    run(gatekit()
        .args(["check", "--config", EXAMPLE, "--protocol", "postgres"])
        .args(args))
}

/// A config with the HS256 development secret and no targets, in a temp dir.
fn dev_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("gatekit.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[identity]
issuer = "https://idp.test/"
audience = "gatekit"
hs256_secret_env = "GK_TEST_SECRET"

[audit]
dir = "audit"

[policy]
default = "allow"

{extra}
"#
        ),
    )
    .unwrap();
    path
}

const SHOP_TARGET: &str = r#"
[[target]]
name = "shop"
protocol = "postgres"
listen = "127.0.0.1:1"
upstream = "127.0.0.1:5432"
database = "shop"
user = "app"
allow_groups = ["dev"]

[[rule]]
name = "no-ddl"
classes = ["ddl"]
action = "deny"
reason = "schema changes go through migrations"
"#;

#[test]
fn check_exit_codes_follow_the_verdict() {
    let (code, out, _) = check(&[
        "--user",
        "alice",
        "--group",
        "dev",
        "SELECT * FROM customers WHERE id = 1",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verdict:  allow"), "{out}");

    let (code, out, _) = check(&["--user", "alice", "--group", "dev", "DELETE FROM customers"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("rule:     no-bulk-writes"), "{out}");

    let (code, out, _) = check(&["--user", "alice", "--group", "dev", "DROP TABLE customers"]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("approvers: dba"), "{out}");

    // Outside the target's allow_groups: denied at session start, whatever the command.
    let (code, out, _) = check(&["--user", "eve", "--group", "marketing", "SELECT 1"]);
    assert_eq!(code, 3, "{out}");
}

#[test]
fn check_json_has_the_contract_fields() {
    let (code, out, _) = check(&[
        "--user",
        "alice",
        "--group",
        "dev",
        "--json",
        "TRUNCATE orders",
    ]);
    assert_eq!(code, 3);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["verdict"], "deny");
    assert_eq!(v["rule"], "no-bulk-writes");
    assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let classes: Vec<&str> = v["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        classes.contains(&"bulk-write") && classes.contains(&"destructive"),
        "{classes:?}"
    );
    assert_eq!(v["objects"][0], "public.orders");
}

#[test]
fn check_usage_and_config_errors_exit_2() {
    let (code, _, err) = check(&["--user", "a", "--target", "nope", "SELECT 1"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown target `nope`"), "{err}");
    let (code, _, err) = run(gatekit().args([
        "check",
        "--config",
        "/nonexistent/gatekit.toml",
        "--protocol",
        "postgres",
        "--user",
        "a",
        "x",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/gatekit.toml"), "{err}");
    let (code, _, _) = run(gatekit().args([
        "check",
        "--config",
        EXAMPLE,
        "--protocol",
        "gopher",
        "--user",
        "a",
        "x",
    ]));
    assert_eq!(code, 2);
    let (code, _, err) =
        run(gatekit().args(["check", "--config", EXAMPLE, "--protocol", "postgres", "x"]));
    assert_eq!(code, 2, "neither --token nor --user: {err}");
}

#[test]
fn minted_token_is_verified_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let config = dev_config(dir.path(), SHOP_TARGET);
    let (code, token, err) = run(gatekit()
        .env("GK_TEST_SECRET", SECRET)
        .args(["token", "--config"])
        .arg(&config)
        .args(["--sub", "alice", "--group", "dev", "--ttl", "10m"]));
    assert_eq!(code, 0, "{err}");
    let token = token.trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "{token}");

    let check = |token: &str, cmd: &str| {
        run(gatekit()
            .env("GK_TEST_SECRET", SECRET)
            .args(["check", "--json", "--protocol", "postgres", "--config"])
            .arg(&config)
            .args(["--token", token, cmd]))
    };
    let (code, out, err) = check(&token, "ALTER TABLE t ADD c int");
    assert_eq!(code, 3, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["user"], "alice");
    assert_eq!(v["groups"][0], "dev");
    assert_eq!(v["rule"], "no-ddl");

    // One changed signature byte: refused, and the token never appears in the error.
    let mut bad = token.clone().into_bytes();
    let last = bad.len() - 2;
    bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    let (code, _, err) = check(&bad, "SELECT 1");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--token"), "{err}");
    assert!(!err.contains(&bad), "error echoes the token: {err}");

    // Another secret: refused.
    let (code, _, _) = run(gatekit()
        .env("GK_TEST_SECRET", "another-secret-another-secret-0123456789")
        .args(["check", "--protocol", "postgres", "--config"])
        .arg(&config)
        .args(["--token", &token, "SELECT 1"]));
    assert_eq!(code, 2);
}

#[test]
fn token_needs_the_dev_secret() {
    let (code, _, err) = run(gatekit().args(["token", "--config", EXAMPLE, "--sub", "alice"]));
    assert_eq!(code, 2);
    assert!(err.contains("hs256_secret_env"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let config = dev_config(dir.path(), "");
    let (code, _, err) = run(gatekit()
        .env_remove("GK_TEST_SECRET")
        .args(["token", "--config"])
        .arg(&config)
        .args(["--sub", "alice"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("GK_TEST_SECRET") && err.contains("identity.hs256_secret_env"),
        "{err}"
    );
}

#[test]
fn policy_test_passes_the_example_and_reports_mismatches() {
    let (code, out, err) = run(gatekit().args(["policy", "test", "--config", EXAMPLE, CASES]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(" 0 failed"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        r#"
[[case]]
name = "wrongly expects a bulk delete to pass"
user = "alice"
groups = ["dev"]
protocol = "postgres"
command = "DELETE FROM customers"
expect = "allow"

[[case]]
name = "right about reads"
user = "alice"
groups = ["dev"]
protocol = "postgres"
command = "SELECT 1"
expect = "allow"
rule = "none"
"#,
    )
    .unwrap();
    let (code, out, _) = run(gatekit()
        .args(["policy", "test", "--config", EXAMPLE])
        .arg(&cases));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL  wrongly expects a bulk delete to pass"),
        "{out}"
    );
    assert!(
        out.contains("expected: allow") && out.contains("decided:  deny by rule no-bulk-writes"),
        "{out}"
    );
    assert!(out.contains("ok    right about reads"), "{out}");
    assert!(out.contains("1 passed, 1 failed"), "{out}");
}

#[test]
fn serve_refuses_to_start_on_a_missing_credential() {
    let dir = tempfile::tempdir().unwrap();
    let config = dev_config(
        dir.path(),
        "[[notify]]\nkind = \"json\"\nurl_env = \"GK_TEST_HOOK\"\nevents = [\"anomaly\"]\n",
    );
    let (code, _, err) = run(gatekit()
        .env("GK_TEST_SECRET", SECRET)
        .env_remove("GK_TEST_HOOK")
        .args(["serve", "--config"])
        .arg(&config));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("notify[0].url_env") && err.contains("GK_TEST_HOOK"),
        "{err}"
    );
    // The example names SHOP_DB_PASSWORD, which is unset here.
    let (code, _, err) = run(gatekit().args(["serve", "--config", EXAMPLE]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("jwks") || err.contains("SHOP_DB_PASSWORD") || err.contains("url_env"),
        "{err}"
    );
}

#[test]
fn serve_writes_a_verifiable_trail_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dev_config(dir.path(), "");
    let mut child = gatekit()
        .env("GK_TEST_SECRET", SECRET)
        .args(["--log-format", "json", "serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let trail = dir.path().join("audit/audit.jsonl");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&trail).is_ok_and(|t| t.contains("config_reload")) {
        assert!(
            Instant::now() < deadline,
            "no config_reload record in {}",
            trail.display()
        );
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("gatekit serving") && log.contains("audit trail closed"),
        "{log}"
    );
    assert!(!log.contains(SECRET), "the secret leaked into the log");

    let (code, out, err) = run(gatekit().args(["audit", "verify", "--config"]).arg(&config));
    assert_eq!(code, 0, "{out}{err}");

    // Edit one byte of the trail: verify names the break and exits 1.
    let text = std::fs::read_to_string(&trail).unwrap();
    std::fs::write(&trail, text.replacen("config_reload", "config_reloaX", 1)).unwrap();
    let (code, out, err) = run(gatekit().args(["audit", "verify", "--config"]).arg(&config));
    assert_eq!(code, 1, "{out}{err}");
    assert!(format!("{out}{err}").contains("seq 1"), "{out}{err}");
}

#[test]
fn every_subcommand_help_shows_an_example() {
    for sub in [
        &["serve"][..],
        &["check"],
        &["policy", "test"],
        &["token"],
        &["audit"],
        &["audit", "verify"],
        &["audit", "search"],
        &["audit", "tail"],
    ] {
        let (code, out, _) = run(gatekit().args(sub).arg("--help"));
        assert_eq!(code, 0, "{sub:?}");
        assert!(
            out.contains("Example"),
            "{sub:?} --help has no example:\n{out}"
        );
    }
}
