//! The `gatekit` binary, driven as a user would: exit codes, output, and what each command
//! may and may not touch.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gatekit_bin::state::StateStore;

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
    dev_config_audit(dir, "", extra)
}

/// [`dev_config`] with more `[audit]` keys.
fn dev_config_audit(dir: &Path, audit: &str, extra: &str) -> PathBuf {
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
{audit}

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
    // Every masking profile is compiled at start: a hash key that is not set stops it.
    let config = dev_config(
        dir.path(),
        &format!(
            "{SHOP_TARGET}\n[[mask]]\nname = \"pii\"\ntargets = [\"shop\"]\ndetectors = [\"email\"]\nstrategy = \"hash\"\nhash_key_env = \"GK_TEST_MASK_KEY\"\n"
        ),
    );
    let (code, _, err) = run(gatekit()
        .env("GK_TEST_SECRET", SECRET)
        .env_remove("GK_TEST_MASK_KEY")
        .args(["serve", "--config"])
        .arg(&config));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("mask \"pii\"") && err.contains("GK_TEST_MASK_KEY"),
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

    // Emptying the trail together with its audit.head is caught by the head the gateway
    // checkpointed in the state store.
    let head_file = dir.path().join("audit/audit.head");
    let (saved_trail, saved_head) = (
        std::fs::read(&trail).unwrap(),
        std::fs::read(&head_file).unwrap(),
    );
    std::fs::write(&trail, "").unwrap();
    std::fs::remove_file(&head_file).unwrap();
    let (code, out, err) = run(gatekit().args(["audit", "verify", "--config"]).arg(&config));
    assert_eq!(code, 1, "a wiped trail passes: {out}{err}");
    std::fs::write(&trail, saved_trail).unwrap();
    std::fs::write(&head_file, saved_head).unwrap();
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
        &["mask"],
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

#[path = "../../gatekit-pg/tests/support/cluster.rs"]
#[allow(dead_code)]
mod cluster;

/// Waits until something listens on `addr`.
fn wait_listening(addr: &str, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "gatekit serve exited early"
        );
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `gatekit serve` on `config`, with the test cluster's credential, once `port` listens.
fn serve_shop(config: &Path, port: u16) -> std::process::Child {
    let mut child = gatekit()
        .env("GK_TEST_SECRET", SECRET)
        .env("GK_TEST_DB_PASSWORD", cluster::SCRAM_PASSWORD)
        .args(["--log-format", "json", "serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(&format!("127.0.0.1:{port}"), &mut child);
    child
}

/// Stops `serve` with SIGTERM; it must exit cleanly. Returns its log.
fn stop_serve(child: std::process::Child) -> String {
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    log
}

/// A token for `alice` in `groups`, minted with the config's dev secret.
fn mint(config: &Path, groups: &[&str]) -> String {
    let mut c = gatekit();
    c.env("GK_TEST_SECRET", SECRET)
        .args(["token", "--config"])
        .arg(config)
        .args(["--sub", "alice"]);
    for g in groups {
        c.args(["--group", g]);
    }
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{err}");
    out.trim().to_owned()
}

fn psql(port: u16, token: &str, sql: &str) -> (i32, String, String) {
    run(Command::new(cluster::bin().join("psql"))
        .env("PGPASSWORD", token)
        .env("PGCONNECT_TIMEOUT", "10")
        .arg(format!(
            "host=127.0.0.1 port={port} user=alice dbname=shop sslmode=require"
        ))
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-Atc", sql]))
}

#[test]
fn serve_judges_real_postgres_traffic_and_records_it() {
    let pg = cluster::Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let port = cluster::free_port();
    let config = dev_config(
        dir.path(),
        &format!(
            r#"
[[target]]
name = "shop"
protocol = "postgres"
listen = "127.0.0.1:{port}"
upstream = "{upstream}"
database = "shop"
user = "{user}"
password_env = "GK_TEST_DB_PASSWORD"
upstream_tls = "require"
allow_groups = ["dev"]
roles = {{ dev = "shop_readonly" }}

[[mask]]
name = "pii"
targets = ["shop"]
detectors = ["credit_card", "email", "us_ssn"]
columns = ["ssn", "*card*"]
exempt_groups = ["dba"]

[[rule]]
name = "no-bulk-writes"
groups = ["dev"]
classes = ["bulk-write"]
action = "deny"
reason = "bulk writes are not allowed for developers"

[[rule]]
name = "vault-is-off-limits"
objects = ["vault.*"]
action = "deny"
reason = "the vault schema holds secrets"

[[rule]]
name = "risky-needs-review"
groups = ["dev"]
classes = ["ddl", "dcl", "admin", "destructive", "procedural", "unparsed"]
action = "review"
approvers = ["dba"]

[state]
url = "sqlite:state.db"
"#,
            upstream = pg.addr(),
            user = cluster::SCRAM_USER,
        ),
    );
    let child = serve_shop(&config, port);
    let mint = |groups: &[&str]| mint(&config, groups);
    let dev = mint(&["dev"]);

    let (code, out, err) = psql(port, &dev, "SELECT count(*) FROM customers");
    assert_eq!((code, out.trim()), (0, "1000"), "{err}");
    // Masked per the session's profile (the column behind the alias, catalog looked up
    // over TLS with the held account); the exempt group sees the values.
    let (code, out, err) = psql(
        port,
        &dev,
        "SELECT email, ssn AS x, card_no FROM customers WHERE id = 1",
    );
    assert_eq!(
        (code, out.trim()),
        (0, "[REDACTED:email]|[REDACTED:column]|"),
        "{err}"
    );
    assert!(err.contains("public.customers.card_no"), "{err}");
    let dba = mint(&["dev", "dba"]);
    let (code, out, err) = psql(port, &dba, "SELECT email, ssn FROM customers WHERE id = 1");
    assert_eq!(
        (code, out.trim()),
        (0, "user1@example.com|234-56-0001"),
        "{err}"
    );
    // The held role applies: the session runs as shop_readonly, as the human alice.
    let (code, out, err) = psql(
        port,
        &dev,
        "SELECT current_user, current_setting('gatekit.user')",
    );
    assert_eq!((code, out.trim()), (0, "shop_readonly|alice"), "{err}");

    let (code, _, err) = psql(port, &dev, "DELETE FROM customers");
    assert_ne!(code, 0);
    assert!(
        err.contains("no-bulk-writes") && err.contains("bulk writes are not allowed"),
        "{err}"
    );
    // A schema change waits for a DBA. The test decides through the state store, as another
    // replica's API would: denied first, then approved.
    let state = dir.path().join("state.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt
        .block_on(gatekit_bin::state::SqliteStore::open(&state))
        .unwrap();
    let dba = gatekit_core::Identity::new("bob", ["dba"]);
    let held = |sql: &'static str| {
        let dev = dev.clone();
        std::thread::spawn(move || psql(port, &dev, sql))
    };
    let next_pending = || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pending = rt
                .block_on(store.list_approvals(
                    gatekit_bin::state::ApprovalFilter::Status(
                        gatekit_core::approval::Status::Pending,
                    ),
                    10,
                ))
                .unwrap();
            if let Some(a) = pending.into_iter().next() {
                return a;
            }
            assert!(Instant::now() < deadline, "nothing was held for review");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let alter = held("/* just looking */ ALTER TABLE customers ADD COLUMN note text");
    let approval = next_pending();
    assert_eq!(approval.requester.subject, "alice");
    assert_eq!(approval.rule.as_deref(), Some("risky-needs-review"));
    assert_eq!(approval.approvers, ["dba"]);
    assert!(approval.command.contains("ALTER TABLE customers"));
    let own = gatekit_core::Identity::new("alice", ["dev", "dba"]);
    assert!(
        rt.block_on(store.decide(
            &approval.id,
            &own,
            gatekit_core::approval::Choice::Approve,
            None,
            jiff::Timestamp::now()
        ))
        .is_err(),
        "nobody approves their own statement"
    );
    rt.block_on(store.decide(
        &approval.id,
        &dba,
        gatekit_core::approval::Choice::Deny,
        Some("not during the freeze"),
        jiff::Timestamp::now(),
    ))
    .unwrap();
    let (code, _, err) = alter.join().unwrap();
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("awaiting approval {} from dba", approval.id)),
        "the client is told what it waits for: {err}"
    );
    assert!(
        err.contains("risky-needs-review") && err.contains("denied by bob: not during the freeze"),
        "{err}"
    );

    let create =
        held("CREATE TEMP TABLE scratch AS SELECT 42 AS answer; SELECT answer FROM scratch");
    let approval = next_pending();
    let decided = Instant::now();
    rt.block_on(store.decide(
        &approval.id,
        &dba,
        gatekit_core::approval::Choice::Approve,
        None,
        jiff::Timestamp::now(),
    ))
    .unwrap();
    let (code, out, err) = create.join().unwrap();
    eprintln!(
        "approval to completion, across processes: {:?}",
        decided.elapsed()
    );
    assert_eq!((code, out.lines().last()), (0, Some("42")), "{err}");
    let used = rt.block_on(store.get_approval(&approval.id)).unwrap();
    assert!(used.consumed_at.is_some(), "a once approval is used up");

    // A held batch that also sets search_path: once approved, later statements of the
    // session are qualified through the new path, so the vault rule still applies.
    let moved = {
        let dev = dev.clone();
        std::thread::spawn(move || {
            run(Command::new(cluster::bin().join("psql"))
                .env("PGPASSWORD", &dev)
                .arg(format!(
                    "host=127.0.0.1 port={port} user=alice dbname=shop sslmode=require"
                ))
                .args(["-X", "-v", "ON_ERROR_STOP=1", "-At"])
                .args([
                    "-c",
                    "CREATE TEMP TABLE moved (x int); SET search_path TO vault, public",
                ])
                .args(["-c", "SELECT count(*) FROM customers"]))
        })
    };
    let approval = next_pending();
    rt.block_on(store.decide(
        &approval.id,
        &dba,
        gatekit_core::approval::Choice::Approve,
        None,
        jiff::Timestamp::now(),
    ))
    .unwrap();
    let (code, out, err) = moved.join().unwrap();
    assert_ne!(
        code, 0,
        "the search_path set by an approved statement was not tracked: {out}"
    );
    assert!(err.contains("vault-is-off-limits"), "{err}");

    // An operator's kill ends a live session within a second or two, with a message.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !rt.block_on(store.list_sessions()).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "ended sessions stay registered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sleeper = held("SELECT pg_sleep(30)");
    let live = loop {
        let sessions = rt.block_on(store.list_sessions()).unwrap();
        if let Some(s) = sessions.into_iter().find(|s| s.identity.subject == "alice") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the session was never registered"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(live.target, "shop");
    std::thread::sleep(Duration::from_millis(300));
    let killed = Instant::now();
    rt.block_on(store.request_kill(&live.id, "carol", jiff::Timestamp::now()))
        .unwrap();
    let (code, _, err) = sleeper.join().unwrap();
    eprintln!(
        "kill to disconnect, across processes: {:?}",
        killed.elapsed()
    );
    assert_ne!(code, 0);
    assert!(err.contains("terminated by carol"), "{err}");
    assert!(killed.elapsed() < Duration::from_secs(3));
    // Nothing reached the server.
    assert_eq!(
        pg.psql_admin("shop", "SELECT count(*) FROM customers")
            .trim(),
        "1000"
    );
    assert_eq!(
        pg.psql_admin("shop", "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note' AND table_name = 'customers'").trim(),
        "0"
    );

    // The session's search_path is tracked: a later unqualified name resolves into it.
    let script = dir.path().join("script.sql");
    std::fs::write(
        &script,
        "SET search_path TO vault, public;\nSELECT * FROM customers;\n",
    )
    .unwrap();
    let (code, _, err) = run(Command::new(cluster::bin().join("psql"))
        .env("PGPASSWORD", &dev)
        .arg(format!(
            "host=127.0.0.1 port={port} user=alice dbname=shop sslmode=require"
        ))
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(&script));
    assert_ne!(code, 0);
    assert!(err.contains("vault-is-off-limits"), "{err}");

    // A COPY whose data the gateway cannot read under the column rules is refused, and the
    // trail says so (not `allow`).
    let (code, _, err) = psql(port, &dev, "COPY customers TO STDOUT (ENCODING 'LATIN1')");
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("42501") || err.contains("ENCODING"), "{err}");

    // Outside allow_groups, and a bad token: refused at login.
    let (code, _, err) = psql(port, &mint(&["marketing"]), "SELECT 1");
    assert_ne!(code, 0, "{err}");
    let (code, _, err) = psql(port, "not-a-token", "SELECT 1");
    assert_ne!(code, 0, "{err}");
    assert!(!err.contains(SECRET));

    let log = stop_serve(child);
    assert!(
        !log.contains(cluster::SCRAM_PASSWORD) && !log.contains(&dev),
        "a credential leaked into the log"
    );

    let (code, out, err) = run(gatekit().args(["audit", "verify", "--config"]).arg(&config));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(gatekit()
        .args(["audit", "search", "--json", "--verdict", "deny", "--config"])
        .arg(&config));
    assert_eq!(code, 0, "{err}");
    let denied: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        denied
            .iter()
            .any(|r| r["command"] == "DELETE FROM customers" && r["rule"] == "no-bulk-writes"),
        "{out}"
    );
    assert!(
        denied.iter().any(|r| r["command"]
            .as_str()
            .is_some_and(|c| c.contains("ENCODING 'LATIN1'"))
            && r["reason"].as_str().is_some_and(|r| r.contains("ENCODING"))),
        "{out}"
    );
    let (_, all, _) = run(gatekit()
        .args(["audit", "search", "--json", "--user", "alice", "--config"])
        .arg(&config));
    for kind in ["session_start", "session_end", "command"] {
        assert!(
            all.contains(&format!("\"event\":\"{kind}\"")),
            "no {kind} record:\n{all}"
        );
    }
}

#[test]
fn mask_masks_stdin_with_the_profile() {
    use std::io::Write;
    let mut child = gatekit()
        .args(["mask", "--config", EXAMPLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"card 4111 1111 1111 1111 for bob@example.com\nid EMP-123456, nothing else\nplain line\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "card [REDACTED:credit_card] for [REDACTED:email]\nid [REDACTED:employee_id], nothing else\nplain line\n"
    );

    let mut child = gatekit()
        .args(["mask", "--config", EXAMPLE, "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"mail bob@example.com\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\"email\"") && text.contains("5"), "{text}");
}

#[test]
fn serve_records_masked_sessions_and_replay_prints_them() {
    let pg = cluster::Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let port = cluster::free_port();
    // Ten rows per statement at most.
    let config = dev_config_audit(
        dir.path(),
        "record_rows = 10",
        &format!(
            r#"
[[target]]
name = "shop"
protocol = "postgres"
listen = "127.0.0.1:{port}"
upstream = "{upstream}"
database = "shop"
user = "{user}"
password_env = "GK_TEST_DB_PASSWORD"
upstream_tls = "require"
allow_groups = ["dev"]

[[mask]]
name = "pii"
targets = ["shop"]
detectors = ["credit_card", "email", "us_ssn"]
columns = ["ssn", "*card*"]

[[rule]]
name = "no-bulk-writes"
classes = ["bulk-write"]
action = "deny"
reason = "bulk writes are not allowed"

[state]
url = "sqlite:state.db"
"#,
            upstream = pg.addr(),
            user = cluster::SCRAM_USER,
        ),
    );
    let child = serve_shop(&config, port);
    let token = &mint(&config, &["dev"]);

    let masked = "SELECT email, ssn AS x, card_no FROM customers WHERE id = 1";
    let (code, out, err) = psql(port, token, masked);
    assert_eq!(
        (code, out.trim()),
        (0, "[REDACTED:email]|[REDACTED:column]|"),
        "{err}"
    );
    let export = "SELECT id, email FROM customers ORDER BY id";
    let (code, out, err) = psql(port, token, export);
    assert_eq!((code, out.lines().count()), (0, 1000), "{err}");
    let (code, _, _) = psql(port, token, "DELETE FROM customers");
    assert_ne!(code, 0);

    stop_serve(child);

    // One file per session, private, each a start line, commands and an end line.
    let sessions = dir.path().join("audit/sessions");
    let mut recordings = Vec::new();
    for entry in std::fs::read_dir(&sessions).unwrap() {
        let path = entry.unwrap().path();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let events: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.first().unwrap()["event"], "start", "{text}");
        assert_eq!(events.last().unwrap()["event"], "end", "{text}");
        let id = path.file_stem().unwrap().to_str().unwrap().to_owned();
        recordings.push((id, text, events));
    }
    assert_eq!(recordings.len(), 3);
    let command = |sql: &str| {
        recordings
            .iter()
            .find_map(|(id, text, events)| {
                let c = events
                    .iter()
                    .find(|e| e["event"] == "command" && e["sql"] == sql)?;
                Some((id.clone(), text.clone(), c.clone()))
            })
            .unwrap_or_else(|| panic!("no recording of {sql}"))
    };
    let (masked_id, masked_text, c) = command(masked);
    assert!(
        !masked_text.contains("user1@example.com") && !masked_text.contains("234-56-0001"),
        "a raw value was recorded: {masked_text}"
    );
    assert_eq!(
        c["results"][0]["columns"],
        serde_json::json!(["email", "x", "card_no"])
    );
    assert_eq!(
        c["results"][0]["rows"][0],
        serde_json::json!(["[REDACTED:email]", "[REDACTED:column]", null])
    );
    assert_eq!(c["results"][0]["tag"], "SELECT 1");
    let (export_id, _, c) = command(export);
    let r = &c["results"][0];
    assert_eq!(r["rows"].as_array().unwrap().len(), 10);
    assert_eq!(
        (r["row_count"].as_u64(), r["truncated"].as_bool()),
        (Some(1000), Some(true))
    );
    assert_eq!(r["rows"][0], serde_json::json!(["1", "[REDACTED:email]"]));
    let (_, _, c) = command("DELETE FROM customers");
    assert_eq!(c["verdict"], "deny");
    assert_eq!(c["error"]["code"], "42501");

    // Replay prints the transcript; --json passes the events through.
    let (code, out, err) = run(gatekit()
        .args(["replay", &masked_id, "--speed", "0", "--config"])
        .arg(&config));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("shop=> {masked};")), "{out}");
    assert!(
        out.contains("[REDACTED:email] | [REDACTED:column] |"),
        "{out}"
    );
    assert!(out.contains("(1 row)"), "{out}");
    let (code, out, err) = run(gatekit()
        .args(["replay", &export_id, "--no-wait", "--config"])
        .arg(&config));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(1000 rows; 10 recorded"), "{out}");
    let (code, out, _) = run(gatekit()
        .args(["replay", &export_id, "--json", "--config"])
        .arg(&config));
    assert_eq!(code, 0);
    let stored = std::fs::read_to_string(sessions.join(format!("{export_id}.jsonl"))).unwrap();
    assert_eq!(out, stored);
    let (code, _, err) = run(gatekit()
        .args(["replay", "0123456789abcdef", "--config"])
        .arg(&config));
    assert_eq!(code, 1);
    assert!(
        err.contains("no recording of session `0123456789abcdef`"),
        "{err}"
    );
    let (code, _, err) = run(gatekit()
        .args(["replay", "../audit", "--config"])
        .arg(&config));
    assert_eq!(code, 2, "{err}");
}

/// Every allowed command gets a `command_result` record after it ran: its rows, its
/// error, one per execution of a prepared statement; the trail still verifies.
#[test]
fn serve_records_each_commands_result() {
    let pg = cluster::Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let port = cluster::free_port();
    let config = dev_config_audit(
        dir.path(),
        r#"sync = "always""#,
        &format!(
            r#"
[[target]]
name = "shop"
protocol = "postgres"
listen = "127.0.0.1:{port}"
upstream = "{upstream}"
database = "shop"
user = "{user}"
password_env = "GK_TEST_DB_PASSWORD"
upstream_tls = "require"
allow_groups = ["dev"]
roles = {{ dev = "shop_readonly" }}
"#,
            upstream = pg.addr(),
            user = cluster::SCRAM_USER,
        ),
    );
    let child = serve_shop(&config, port);
    let token = &mint(&config, &["dev"]);

    let (code, out, err) = psql(port, token, "SELECT id FROM customers WHERE id <= 3");
    assert_eq!((code, out.trim()), (0, "1\n2\n3"), "{err}");
    let (code, _, err) = psql(
        port,
        token,
        "INSERT INTO contacts VALUES ('jane@example.com')",
    );
    assert_ne!(code, 0);
    assert!(err.contains("duplicate key"), "{err}");
    let script = dir.path().join("bench.sql");
    std::fs::write(&script, "SELECT email FROM customers WHERE id = 7;\n").unwrap();
    let (code, out, err) = run(Command::new(cluster::bin().join("pgbench"))
        .env("PGPASSWORD", token)
        .env("PGSSLMODE", "require")
        .args(["-n", "-M", "prepared", "-t", "5", "-f"])
        .arg(&script)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "alice",
            "shop",
        ]));
    assert_eq!(code, 0, "{out}{err}");

    stop_serve(child);

    let (code, out, err) = run(gatekit().args(["audit", "verify", "--config"]).arg(&config));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(gatekit()
        .args(["audit", "search", "--json", "--user", "alice", "--config"])
        .arg(&config));
    assert_eq!(code, 0, "{err}");
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Each result follows the command record it answers, matched by session and number.
    let command = |text: &str| {
        records
            .iter()
            .position(|r| r["event"] == "command" && r["command"] == text)
            .unwrap_or_else(|| panic!("no command `{text}`:\n{out}"))
    };
    let results_of = |at: usize| -> Vec<&serde_json::Value> {
        let (session, number) = (&records[at]["session"], &records[at]["number"]);
        assert!(number.as_u64().unwrap() > 0, "{}", records[at]);
        records[at..]
            .iter()
            .filter(|r| {
                r["event"] == "command_result" && r["session"] == *session && r["number"] == *number
            })
            .collect()
    };
    let select = results_of(command("SELECT id FROM customers WHERE id <= 3"));
    assert_eq!(select.len(), 1, "{out}");
    assert_eq!(select[0]["rows"], 3, "{out}");
    assert!(select[0]["bytes"].as_u64().unwrap() > 0, "{out}");
    assert!(select[0].get("duration_us").is_some(), "{out}");
    assert!(select[0].get("error").is_none(), "{out}");
    let insert = results_of(command("INSERT INTO contacts VALUES ('jane@example.com')"));
    assert_eq!(insert.len(), 1, "{out}");
    assert_eq!(insert[0]["rows"], 0, "{out}");
    let error = insert[0]["error"].as_str().unwrap();
    assert!(error.starts_with("23505: duplicate key value"), "{error}");
    let bench = results_of(command("SELECT email FROM customers WHERE id = 7;"));
    assert_eq!(bench.len(), 5, "{out}");
    assert!(
        bench
            .iter()
            .all(|r| r["rows"] == 1 && r.get("error").is_none()),
        "{out}"
    );

    let (code, out, _) = run(gatekit()
        .args(["audit", "tail", "-n", "3", "--config"])
        .arg(&config));
    assert_eq!(code, 0);
    assert!(out.contains("-> 1 rows"), "{out}");
}

#[test]
fn serve_threads_must_be_at_least_one() {
    let (code, _, err) = run(gatekit().args(["serve", "--threads", "0", "--config", "x.toml"]));
    assert_eq!(code, 2);
    assert!(err.contains("--threads"), "{err}");
}
