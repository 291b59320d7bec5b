//! `gatekit demo`, run as a user would: connect through it with psql, then Ctrl-C, after
//! which neither PostgreSQL nor the demo's directory is left behind.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Stops the demo if a check fails half-way, so no server outlives the test.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            signal(&self.0, "-INT");
            let _ = wait_exit(&mut self.0, Duration::from_secs(30));
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .arg(sig)
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Whether process `pid` exists and is not a zombie waiting for whoever adopted it.
fn running(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `PID (COMM) STATE ...`; COMM may hold spaces and parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn psql(info: &serde_json::Value, sql: &str) -> (bool, String, String) {
    let out = Command::new("psql")
        .env("PGPASSWORD", info["token"].as_str().unwrap())
        .env("PGCONNECT_TIMEOUT", "10")
        .arg(format!(
            "host={} port={} user={} dbname={} sslmode=disable",
            info["host"].as_str().unwrap(),
            info["port"],
            info["user"].as_str().unwrap(),
            info["dbname"].as_str().unwrap(),
        ))
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-Atc", sql])
        .output()
        .expect("psql runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn demo_serves_the_shop_and_cleans_up_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatekit"))
        .args(["--log-format", "json", "demo", "--json"])
        .env_remove("GATEKIT_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("gatekit runs");
    let stdout = child.stdout.take().unwrap();
    let mut demo = Demo(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(180))
        .expect("gatekit demo printed its connection details");
    let info: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let dir = PathBuf::from(info["dir"].as_str().unwrap());
    let pg_pid = info["postgres_pid"].as_u64().expect("postmaster pid");
    let pg_port = info["postgres_port"].as_u64().unwrap();
    assert!(dir.join("gatekit.toml").is_file());
    assert!(running(pg_pid));
    assert!(
        info["psql"]
            .as_str()
            .unwrap()
            .contains(&format!("port={} user=dev dbname=shop", info["port"]))
    );

    // The seeded shop answers through the gateway.
    let (ok, out, err) = psql(
        &info,
        "SELECT count(*) FROM customers WHERE ssn IS NOT NULL",
    );
    assert!(ok, "{err}");
    let customers: u32 = out.trim().parse().unwrap();
    assert!(customers >= 20, "{out}");
    let (ok, out, err) = psql(&info, "SELECT count(*) FROM orders");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), (customers * 3).to_string());

    // A bulk delete is refused, naming the rule, and reaches nothing.
    let (ok, _, err) = psql(&info, "DELETE FROM customers");
    assert!(!ok);
    assert!(err.contains("no-bulk-writes"), "{err}");
    let (_, out, _) = psql(&info, "SELECT count(*) FROM customers");
    assert_eq!(out.trim(), customers.to_string());

    // Ctrl-C: the gateway and PostgreSQL stop, and the directory goes.
    signal(&demo.0, "-INT");
    let status = wait_exit(&mut demo.0, Duration::from_secs(60)).expect("demo stops on SIGINT");
    assert!(status.success(), "{status}");
    assert!(!dir.exists(), "{} is left behind", dir.display());
    assert!(!running(pg_pid), "postgres {pg_pid} still runs");
    assert!(std::net::TcpStream::connect(("127.0.0.1", pg_port as u16)).is_err());
}
