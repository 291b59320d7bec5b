//! A running `gatekit serve` changed without a restart: `SIGHUP` reloads the rules (and
//! refuses a broken config), and a change of the revoked-tokens file ends the revoked
//! token's sessions at once.

#[path = "../../gatekit-pg/tests/support/cluster.rs"]
#[allow(dead_code)]
mod cluster;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

fn gatekit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatekit"));
    c.env_remove("GATEKIT_LOG")
        .env("NO_COLOR", "1")
        .env("GK_TEST_SECRET", SECRET)
        .env("GK_TEST_DB_PASSWORD", cluster::SCRAM_PASSWORD);
    c
}

fn write_config(path: &Path, port: u16, upstream: &str, rules: &str) {
    std::fs::write(
        path,
        format!(
            r#"
[identity]
issuer = "https://idp.test/"
audience = "gatekit"
hs256_secret_env = "GK_TEST_SECRET"
revoked_file = "revoked.txt"

[audit]
dir = "audit"

[state]
url = "sqlite:state.db"

[policy]
default = "allow"

[[target]]
name = "shop"
protocol = "postgres"
listen = "127.0.0.1:{port}"
upstream = "{upstream}"
database = "shop"
user = "{user}"
password_env = "GK_TEST_DB_PASSWORD"
upstream_tls = "disable"
allow_plaintext_auth = true
allow_groups = ["dev"]
roles = {{ dev = "shop_readonly" }}
{rules}
"#,
            user = cluster::SCRAM_USER,
        ),
    )
    .unwrap();
}

fn token(config: &Path, sub: &str, jti: &str) -> String {
    let out = gatekit()
        .args(["token", "--config"])
        .arg(config)
        .args(["--sub", sub, "--group", "dev", "--jti", jti])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn psql(port: u16, user: &str, token: &str, sql: &str) -> (bool, String, String) {
    let out = Command::new(cluster::bin().join("psql"))
        .env("PGPASSWORD", token)
        .env("PGCONNECT_TIMEOUT", "10")
        .arg(format!(
            "host=127.0.0.1 port={port} user={user} dbname=shop sslmode=disable"
        ))
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-Atc", sql])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn hangup(child: &std::process::Child) {
    assert!(
        Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
}

/// Retries `f` for up to 10 s until it returns `Some`.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sighup_reloads_rules_and_revocations_end_sessions_at_once() {
    let pg = cluster::Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let port = cluster::free_port();
    let config = dir.path().join("gatekit.toml");
    std::fs::write(dir.path().join("revoked.txt"), "# nobody yet\n").unwrap();
    write_config(&config, port, &pg.addr(), "");
    let mut child = gatekit()
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        assert!(Instant::now() < deadline, "serve never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let alice = token(&config, "alice", "alice-1");
    let bob = token(&config, "bob", "bob-1");
    let (ok, out, err) = psql(port, "bob", &bob, "SELECT count(*) FROM customers");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "1000");

    // A new rule, by SIGHUP: the next statement is judged by it; the listener stays up.
    write_config(
        &config,
        port,
        &pg.addr(),
        r#"
[[rule]]
name = "customers-are-closed"
objects = ["public.customers"]
action = "deny"
reason = "closed for the audit"
"#,
    );
    hangup(&child);
    let err = eventually("the reloaded rule", || {
        let (ok, _, err) = psql(port, "bob", &bob, "SELECT count(*) FROM customers");
        (!ok && err.contains("customers-are-closed")).then_some(err)
    });
    assert!(err.contains("closed for the audit"), "{err}");

    // A broken config is refused; the running rules stay.
    std::fs::write(&config, "[identity]\nissuer = 42\n").unwrap();
    hangup(&child);
    std::thread::sleep(Duration::from_millis(500));
    let (ok, _, err) = psql(port, "bob", &bob, "SELECT count(*) FROM customers");
    assert!(!ok && err.contains("customers-are-closed"), "{err}");
    let (ok, out, err) = psql(port, "bob", &bob, "SELECT 1");
    assert_eq!((ok, out.trim()), (true, "1"), "{err}");

    // A changed [[target]] restarts its listener: here it moves to another port.
    let moved = cluster::free_port();
    write_config(
        &config,
        moved,
        &pg.addr(),
        r#"
[[rule]]
name = "customers-are-closed"
objects = ["public.customers"]
action = "deny"
reason = "closed for the audit"
"#,
    );
    hangup(&child);
    eventually("the listener on its new port", || {
        let (ok, out, _) = psql(moved, "bob", &bob, "SELECT 2");
        (ok && out.trim() == "2").then_some(())
    });
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the old listener stopped"
    );
    let port = moved;

    // Revoking alice's token ends her open session within a couple of seconds, and her
    // next login is refused; bob is untouched.
    let sleeper = {
        let alice = alice.clone();
        std::thread::spawn(move || psql(port, "alice", &alice, "SELECT pg_sleep(30)"))
    };
    std::thread::sleep(Duration::from_millis(500));
    let revoked_at = Instant::now();
    std::fs::write(dir.path().join("revoked.txt"), "jti:alice-1\n").unwrap();
    let (ok, _, err) = sleeper.join().unwrap();
    let took = revoked_at.elapsed();
    eprintln!("revocation to disconnect: {took:?}");
    assert!(!ok);
    assert!(err.contains("revoked"), "{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let (ok, _, err) = psql(port, "alice", &alice, "SELECT 1");
    assert!(!ok && err.contains("revoked"), "{err}");
    let (ok, _, err) = psql(port, "bob", &bob, "SELECT 1");
    assert!(ok, "{err}");

    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("config refused"), "{log}");
    // Both reloads are in the audit trail, the refused one with its error.
    let trail = std::fs::read_to_string(dir.path().join("audit/audit.jsonl")).unwrap();
    let reloads: Vec<serde_json::Value> = trail
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["event"] == "config_reload")
        .collect();
    assert_eq!(reloads.len(), 4, "{trail}");
    assert!(reloads[1]["error"].is_null());
    assert!(
        reloads[2]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{trail}"
    );
}
