//! Two `gatekit serve` replicas sharing one PostgreSQL state store: a statement held on
//! one is released by an approval made through the other's API, and a session on one is
//! killed through the other. Latencies are printed.

#[path = "../../gatekit-pg/tests/support/cluster.rs"]
#[allow(dead_code)]
mod cluster;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

fn gatekit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatekit"));
    c.env_remove("GATEKIT_LOG")
        .env_remove("GATEKIT_TOKEN")
        .env("NO_COLOR", "1")
        .env("GK_TEST_SECRET", SECRET)
        .env("GK_TEST_DB_PASSWORD", cluster::SCRAM_PASSWORD);
    c
}

struct Replica {
    child: Child,
    port: u16,
    api: String,
    config: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A replica serving with `threads` threads (`serve --threads`).
fn replica(dir: &Path, upstream: &str, state_url: &str, threads: &str) -> Replica {
    std::fs::create_dir_all(dir).unwrap();
    let port = cluster::free_port();
    let api_port = cluster::free_port();
    let config = dir.join("gatekit.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[identity]
issuer = "https://idp.test/"
audience = "gatekit"
hs256_secret_env = "GK_TEST_SECRET"

[audit]
dir = "audit"

[state]
url = "{state_url}"
password_env = "GK_TEST_DB_PASSWORD"

[api]
listen = "127.0.0.1:{api_port}"
admin_groups = ["security"]

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

[[rule]]
name = "risky-needs-review"
groups = ["dev"]
classes = ["ddl", "destructive"]
action = "review"
approvers = ["dba"]
"#,
            user = cluster::SCRAM_USER,
        ),
    )
    .unwrap();
    let mut child = gatekit()
        .args(["serve", "--threads", threads, "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    for p in [port, api_port] {
        while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "serve exited early");
            assert!(Instant::now() < deadline, "serve never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Replica {
        child,
        port,
        api: format!("http://127.0.0.1:{api_port}"),
        config,
    }
}

fn token(config: &Path, sub: &str, groups: &[&str]) -> String {
    let mut c = gatekit();
    c.args(["token", "--config"])
        .arg(config)
        .args(["--sub", sub]);
    for g in groups {
        c.args(["--group", g]);
    }
    let out = c.output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn cli(api: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = gatekit()
        .args(args)
        .args(["--api", api, "--token", token])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn psql_bg(
    port: u16,
    token: &str,
    sql: &'static str,
) -> std::thread::JoinHandle<(bool, String, String)> {
    let token = token.to_owned();
    std::thread::spawn(move || {
        let out = Command::new(cluster::bin().join("psql"))
            .env("PGPASSWORD", token)
            .env("PGCONNECT_TIMEOUT", "10")
            .arg(format!(
                "host=127.0.0.1 port={port} user=alice dbname=shop sslmode=disable"
            ))
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-Atc", sql])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
}

/// Polls `f` for up to 10 s.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn replicas_share_approvals_and_sessions_through_postgres() {
    let pg = cluster::Cluster::start();
    pg.psql_admin(
        "postgres",
        &format!(
            "CREATE DATABASE gatekit_state OWNER {}",
            cluster::SCRAM_USER
        ),
    );
    let state_url = format!(
        "postgres://{}@{}/gatekit_state",
        cluster::SCRAM_USER,
        pg.addr()
    );
    let dir = tempfile::tempdir().unwrap();
    // One replica runs everything on one thread, the other on a pool: approvals, holds and
    // kills must work on both runtimes.
    let a = replica(&dir.path().join("a"), &pg.addr(), &state_url, "1");
    let b = replica(&dir.path().join("b"), &pg.addr(), &state_url, "2");
    let alice = token(&a.config, "alice", &["dev"]);
    let bob = token(&b.config, "bob", &["dba", "security"]);

    // Held on A, approved through B.
    let held = psql_bg(
        a.port,
        &alice,
        "CREATE TEMP TABLE t AS SELECT 42 AS x; SELECT x FROM t",
    );
    let id = eventually("a pending approval, seen through B", || {
        let (ok, out, _) = cli(&b.api, &bob, &["approvals", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        let first = v["approvals"].as_array()?.first()?;
        (ok && first["status"] == "pending").then(|| first["id"].as_str().unwrap().to_owned())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!held.is_finished(), "the statement waits for its approval");
    let asked = Instant::now();
    let (ok, _, err) = cli(&b.api, &bob, &["approvals", "approve", &id]);
    assert!(ok, "{err}");
    let (ok, out, err) = held.join().unwrap();
    let released = asked.elapsed();
    eprintln!("approval through replica B -> statement done on replica A: {released:?}");
    assert!(ok, "{err}");
    assert_eq!(out.lines().last(), Some("42"));
    assert!(released < Duration::from_secs(2), "{released:?}");

    // A session on A, killed through B (once the sessions before it are gone).
    let alice_sessions = || {
        let (_, out, _) = cli(&b.api, &bob, &["sessions", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        v["sessions"]
            .as_array()
            .map(|ss| {
                ss.iter()
                    .filter(|s| s["identity"]["subject"] == "alice")
                    .filter_map(|s| s["id"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    eventually("the earlier sessions to end", || {
        alice_sessions().is_empty().then_some(())
    });
    let sleeper = psql_bg(a.port, &alice, "SELECT pg_sleep(30)");
    let session = eventually("the session, listed through B", || {
        alice_sessions().into_iter().next()
    });
    let asked = Instant::now();
    let (ok, _, err) = cli(&b.api, &bob, &["sessions", "kill", &session]);
    assert!(ok, "{err}");
    let (ok, _, err) = sleeper.join().unwrap();
    let killed = asked.elapsed();
    eprintln!("kill through replica B -> client disconnected on replica A: {killed:?}");
    assert!(!ok);
    assert!(err.contains("terminated by bob"), "{err}");
    assert!(killed < Duration::from_secs(2), "{killed:?}");
}
