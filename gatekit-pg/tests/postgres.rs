//! The gateway against a real PostgreSQL 15 with real clients (psql, pgbench,
//! tokio-postgres). One cluster serves the whole binary; scenarios run in sequence so the
//! cluster is stopped when they are done, pass or fail.

#[path = "scenarios/masking.rs"]
mod masking;
mod support;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use gatekit_core::pg::UpstreamTls;
use gatekit_core::pg::codec::{BackendMessage, Frame, Limits, ProtocolVersion, encode};
use gatekit_pg::Workers;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::cluster::Cluster;
use support::{ALICE_TOKEN, Account, BOB_TOKEN, GwOptions, gateway, psql, psql_with};

fn plaintext() -> GwOptions {
    GwOptions {
        client_tls: false,
        plaintext: true,
        ..GwOptions::default()
    }
}

#[test]
fn postgres_end_to_end() {
    let cluster = Cluster::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        psql_over_tls_sees_role_and_identity(&cluster).await;
        psql_plaintext_only_where_allowed(&cluster).await;
        bad_and_unadmitted_tokens_are_refused(&cluster).await;
        each_upstream_account_and_tls_mode(&cluster).await;
        scram_keys_are_derived_once_and_a_wrong_password_fails(&cluster).await;
        cancel_reaches_the_backend(&cluster).await;
        pgbench_extended_through_the_gateway(&cluster).await;
        bad_input_ends_only_that_connection(&cluster).await;
        stalled_startup_times_out(&cluster).await;
        session_events_reach_the_gate(&cluster).await;
        denied_statements_fail_cleanly(&cluster).await;
        client_tls_from_pem_verified_by_psql(&cluster).await;
        copy_both_ways_and_a_client_vanishing_mid_copy(&cluster).await;
        upstream_dying_mid_query_ends_only_that_session(&cluster).await;
        masking::masking_end_to_end(&cluster).await;
        idle_sessions_stay_small(&cluster).await;
        held_statements_wait_for_review(&cluster).await;
        sessions_can_be_terminated(&cluster).await;
    });
}

async fn psql_over_tls_sees_role_and_identity(cluster: &Cluster) {
    let gw = gateway(&cluster.addr(), GwOptions::default()).await;
    let (ok, out, err) = psql(
        gw.port,
        "require",
        ALICE_TOKEN,
        "alice",
        &[
            "-c",
            "SELECT current_user, session_user, current_setting('gatekit.user'), \
             current_setting('gatekit.groups')",
        ],
    )
    .await;
    assert!(ok, "psql over TLS failed: {err}");
    // The role is the mapped one, the account the held one; RESET does not undo either.
    assert_eq!(out.trim(), "shop_readonly|app_scram|alice|dev");
    let (ok, out, err) = psql(
        gw.port,
        "require",
        ALICE_TOKEN,
        "alice@example.com",
        &[
            "-c",
            "RESET ROLE",
            "-c",
            "RESET ALL",
            "-c",
            "DISCARD ALL",
            "-c",
            "SELECT current_user, current_setting('gatekit.user')",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().last(), Some("shop_readonly|alice"), "{out}");
    // Multi-statement simple query, and an error that leaves the session usable.
    let (ok, out, err) = psql(
        gw.port,
        "require",
        ALICE_TOKEN,
        "alice",
        &[
            "-c",
            "SELECT count(*) FROM customers; SELECT 2",
            "-c",
            "SELECT 3",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["1000", "2", "3"]
    );
    let (ok, _, err) = psql(
        gw.port,
        "require",
        ALICE_TOKEN,
        "alice",
        &["-c", "SELECT * FROM nope"],
    )
    .await;
    assert!(
        !ok && err.contains("relation \"nope\" does not exist"),
        "{err}"
    );
}

async fn psql_plaintext_only_where_allowed(cluster: &Cluster) {
    let gw = gateway(&cluster.addr(), plaintext()).await;
    let (ok, out, err) = psql(
        gw.port,
        "disable",
        ALICE_TOKEN,
        "alice",
        &["-c", "SELECT 1"],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "1");

    let gw = gateway(
        &cluster.addr(),
        GwOptions {
            plaintext: false,
            ..GwOptions::default()
        },
    )
    .await;
    let (ok, _, err) = psql(
        gw.port,
        "disable",
        ALICE_TOKEN,
        "alice",
        &["-c", "SELECT 1"],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("must be sent over TLS"), "{err}");
}

async fn bad_and_unadmitted_tokens_are_refused(cluster: &Cluster) {
    let gw = gateway(&cluster.addr(), GwOptions::default()).await;
    let (ok, _, err) = psql(
        gw.port,
        "require",
        "eyJforged.token.x",
        "alice",
        &["-c", "SELECT 1"],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("invalid token"), "{err}");
    assert!(!err.contains("forged"), "the token is never echoed: {err}");
    let (ok, _, err) = psql(gw.port, "require", BOB_TOKEN, "bob", &["-c", "SELECT 1"]).await;
    assert!(!ok);
    assert!(err.contains("not admitted"), "{err}");
    let (ok, _, err) = psql(
        gw.port,
        "require",
        ALICE_TOKEN,
        "mallory",
        &["-c", "SELECT 1"],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("does not match"), "{err}");
}

/// The gateway's SCRAM logins upstream: the keys are derived at the first and reused by
/// the next (PostgreSQL keeps the salt until the password changes); a wrong held password
/// is refused by the server, and the client is told the login failed.
async fn scram_keys_are_derived_once_and_a_wrong_password_fails(cluster: &Cluster) {
    let gw = gateway(&cluster.addr(), plaintext()).await;
    for _ in 0..3 {
        let (ok, out, err) = psql(
            gw.port,
            "disable",
            ALICE_TOKEN,
            "alice",
            &["-c", "SELECT 7"],
        )
        .await;
        assert!(ok, "{err}");
        assert_eq!(out.trim(), "7");
    }
    let keys = gw.password.as_ref().unwrap().scram_keys();
    assert_eq!(keys.derivations(), 1);

    let wrong = gateway(
        &cluster.addr(),
        GwOptions {
            password: Some("not-the-password"),
            ..plaintext()
        },
    )
    .await;
    let (ok, _, err) = psql(
        wrong.port,
        "disable",
        ALICE_TOKEN,
        "alice",
        &["-c", "SELECT 7"],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("could not log in to the upstream"), "{err}");
    assert_eq!(
        wrong.password.as_ref().unwrap().scram_keys().derivations(),
        1
    );
}

async fn each_upstream_account_and_tls_mode(cluster: &Cluster) {
    for (account, upstream_tls, ca) in [
        (Account::Md5, UpstreamTls::Disable, None),
        (Account::Trust, UpstreamTls::Prefer, None),
        (Account::Scram, UpstreamTls::Require, None),
        (
            Account::Scram,
            UpstreamTls::VerifyFull,
            Some(cluster.ca_pem.clone()),
        ),
    ] {
        let gw = gateway(
            &cluster.addr(),
            GwOptions {
                account,
                upstream_tls,
                ca,
                // No SET ROLE, so pg_stat_ssl shows this backend to itself.
                roles: false,
                ..plaintext()
            },
        )
        .await;
        let (client, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=alice password={ALICE_TOKEN} dbname=shop sslmode=disable",
                gw.port
            ),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap_or_else(|e| panic!("{account:?}/{upstream_tls:?}: {e}"));
        tokio::spawn(conn);
        let row = client
            .query_one(
                "SELECT session_user::text, coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false), $1::int + 1",
                &[&41i32],
            )
            .await
            .unwrap();
        let user: String = row.get(0);
        let ssl: bool = row.get(1);
        let n: i32 = row.get(2);
        assert_eq!(n, 42);
        assert_eq!(
            ssl,
            upstream_tls != UpstreamTls::Disable,
            "{account:?}/{upstream_tls:?}"
        );
        let want = match account {
            Account::Scram => "app_scram",
            Account::Md5 => "app_md5",
            Account::Trust => "app_trust",
        };
        assert_eq!(user, want);
    }
    // verify-full against a CA that did not sign the server: refused.
    let wrong_ca = rcgen::generate_simple_self_signed(vec!["x".to_owned()])
        .unwrap()
        .cert
        .pem();
    let gw = gateway(
        &cluster.addr(),
        GwOptions {
            upstream_tls: UpstreamTls::VerifyFull,
            ca: Some(wrong_ca),
            ..plaintext()
        },
    )
    .await;
    let (ok, _, err) = psql(
        gw.port,
        "disable",
        ALICE_TOKEN,
        "alice",
        &["-c", "SELECT 1"],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("could not connect to the upstream"), "{err}");
}

async fn cancel_reaches_the_backend(cluster: &Cluster) {
    // On connection workers the cancel request's connection lands on another worker than
    // the query's (the least loaded), so the cancel key must be found across workers.
    let workers = Workers::start(2).unwrap();
    let cases = [
        (UpstreamTls::Disable, None),
        (UpstreamTls::Require, None),
        (UpstreamTls::Disable, Some(workers.clone())),
    ];
    for (upstream_tls, on_workers) in cases {
        let gw = gateway(
            &cluster.addr(),
            GwOptions {
                upstream_tls,
                workers: on_workers.clone(),
                ..plaintext()
            },
        )
        .await;
        let (client, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=alice password={ALICE_TOKEN} dbname=shop sslmode=disable",
                gw.port
            ),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let token = client.cancel_token();
        let started = Instant::now();
        let sleeper = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(10)").await });
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(w) = &on_workers {
            assert_eq!(w.live(), 1, "the session runs on a worker");
        }
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
        let err = sleeper.await.unwrap().unwrap_err();
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::QUERY_CANCELED),
            "{upstream_tls:?}, workers {}: {err}",
            on_workers.is_some()
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    workers.shutdown();
    assert_eq!(workers.live(), 0);
}

/// Runs `pgbench -S -M extended` for 3 s against a port; returns its tps.
async fn pgbench(port: u16, user: &str, clients: u32) -> f64 {
    let out = tokio::process::Command::new("pgbench")
        .args(["-S", "-M", "extended", "-n", "-T", "3", "-j", "2"])
        .args(["-c", &clients.to_string()])
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            user,
            "shop",
        ])
        .env("PGPASSWORD", ALICE_TOKEN)
        .env("PGSSLMODE", "disable")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("number of failed transactions: 0"),
        "{stdout}"
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no tps in {stdout}"))
}

async fn pgbench_extended_through_the_gateway(cluster: &Cluster) {
    let gw = gateway(
        &cluster.addr(),
        GwOptions {
            account: Account::Trust,
            ..plaintext()
        },
    )
    .await;
    for clients in [1, 4] {
        let through = pgbench(gw.port, "alice", clients).await;
        let direct = pgbench(cluster.port, support::cluster::TRUST_USER, clients).await;
        assert!(through > 100.0, "{through} tps");
        eprintln!(
            "pgbench -S -M extended -c {clients}: direct {direct:.0} tps, through gatekit {through:.0} tps ({:.2}x)",
            through / direct
        );
    }
}

/// Reads backend messages until EOF; returns their tags and the SQLSTATE of the first error.
async fn read_until_eof(s: &mut TcpStream) -> (Vec<u8>, Option<String>) {
    let mut buf = BytesMut::new();
    let mut tags = Vec::new();
    let mut code = None;
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("connection closed in time")
            .unwrap_or(0);
        if n == 0 {
            return (tags, code);
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(f) = Frame::decode_backend(&mut buf, &Limits::default()).unwrap() {
            if let Ok(BackendMessage::ErrorResponse(e)) = f.backend()
                && code.is_none()
            {
                code = Some(String::from_utf8_lossy(e.get(b'C').unwrap()).into_owned());
            }
            tags.push(f.tag());
        }
    }
}

/// Logs in over plaintext with the core's encoders and reads up to ReadyForQuery.
async fn raw_login(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut b = BytesMut::new();
    encode::startup_message(&mut b, ProtocolVersion::V3_0, [("user", "alice")]);
    encode::password(&mut b, ALICE_TOKEN.as_bytes());
    s.write_all(&b).await.unwrap();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed during login");
        buf.extend_from_slice(&chunk[..n]);
        while let Some(f) = Frame::decode_backend(&mut buf, &Limits::default()).unwrap() {
            if f.tag() == b'Z' {
                return s;
            }
        }
    }
}

async fn bad_input_ends_only_that_connection(cluster: &Cluster) {
    let gw = gateway(&cluster.addr(), plaintext()).await;
    // A bystander session stays usable throughout.
    let (bystander, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=alice password={ALICE_TOKEN} dbname=shop sslmode=disable",
            gw.port
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);

    let attacks: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\n\r\n",
        &[0x80, 0, 0, 0],
        &[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01],
    ];
    for attack in attacks {
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
        s.write_all(attack).await.unwrap();
        let (tags, code) = read_until_eof(&mut s).await;
        assert_eq!(tags, b"E", "{attack:?}");
        assert_eq!(code.as_deref(), Some("08P01"));
    }
    for (bytes, want) in [
        (&[b'Q', 0x80, 0, 0, 0][..], "08P01"),
        (&[b'~', 0, 0, 0, 4][..], "08P01"),
    ] {
        let mut s = raw_login(gw.port).await;
        s.write_all(bytes).await.unwrap();
        let (tags, code) = read_until_eof(&mut s).await;
        assert_eq!(tags.last(), Some(&b'E'));
        assert_eq!(code.as_deref(), Some(want));
    }
    // A truncated message followed by a hang-up.
    let mut s = raw_login(gw.port).await;
    s.write_all(&[b'Q', 0, 0, 0, 100, b'S']).await.unwrap();
    drop(s);
    let row = bystander.query_one("SELECT 7", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 7);
}

async fn stalled_startup_times_out(cluster: &Cluster) {
    let gw = gateway(
        &cluster.addr(),
        GwOptions {
            startup_timeout: Duration::from_secs(1),
            ..plaintext()
        },
    )
    .await;
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    let mut b = BytesMut::new();
    encode::startup_message(&mut b, ProtocolVersion::V3_0, [("user", "alice")]);
    s.write_all(&b).await.unwrap();
    // Asked for the token, the client stalls.
    let started = Instant::now();
    let (tags, code) = read_until_eof(&mut s).await;
    assert_eq!(tags, b"RE");
    assert_eq!(code.as_deref(), Some("08006"));
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(started.elapsed() < Duration::from_secs(5));
}

async fn session_events_reach_the_gate(cluster: &Cluster) {
    let gw = gateway(&cluster.addr(), plaintext()).await;
    let (ok, _, err) = psql(
        gw.port,
        "disable",
        ALICE_TOKEN,
        "alice",
        &["-c", "SELECT 1"],
    )
    .await;
    assert!(ok, "{err}");
    // session_ended runs after the connection is torn down.
    for _ in 0..50 {
        if !gw.gate.ended.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = gw.gate.started.lock().unwrap().clone();
    let ended = gw.gate.ended.lock().unwrap().clone();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].identity.subject, "alice");
    assert_eq!(started[0].target, "shop");
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].0.id, started[0].id);
    assert_eq!(ended[0].1.error, None);
}

async fn denied_statements_fail_cleanly(cluster: &Cluster) {
    let gw = gateway(&cluster.addr(), plaintext()).await;
    // psql, simple protocol: the denial is an ordinary error and the session goes on.
    let (ok, out, err) = psql(
        gw.port,
        "disable",
        ALICE_TOKEN,
        "alice",
        &[
            "-v",
            "ON_ERROR_STOP=0",
            "-c",
            "DELETE FROM customers",
            "-c",
            "SELECT count(*) FROM customers",
        ],
    )
    .await;
    assert!(
        err.contains("ERROR:  gatekit denied this statement (rule `no-bulk-writes`)"),
        "{err}"
    );
    assert_eq!(out.trim(), "1000", "{ok} {err}");

    // tokio-postgres, extended protocol with a named statement, inside a transaction.
    let (mut client, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=alice password={ALICE_TOKEN} dbname=shop sslmode=disable",
            gw.port
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let err = client
        .prepare("DELETE FROM customers WHERE id = $1")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    let tx = client.transaction().await.unwrap();
    let err = tx.execute("DELETE FROM customers", &[]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    // The transaction failed on the server too, as after any error.
    let err = tx.query_one("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::IN_FAILED_SQL_TRANSACTION)
    );
    tx.rollback().await.unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM customers", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1000);
    let seen = gw.gate.statements.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|s| s == "DELETE FROM customers WHERE id = $1"),
        "{seen:?}"
    );
}

async fn client_tls_from_pem_verified_by_psql(cluster: &Cluster) {
    let (ca, cert, key) = support::cluster::certificates();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca).unwrap();
    let gw = gateway(
        &cluster.addr(),
        GwOptions {
            client_pem: Some((cert, key)),
            ..GwOptions::default()
        },
    )
    .await;
    let extra = format!("sslmode=verify-full sslrootcert={}", ca_path.display());
    let (ok, out, err) = psql_with(
        &extra,
        gw.port,
        ALICE_TOKEN,
        "alice",
        &["-c", "SELECT 1"],
        "",
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "1");
}

async fn copy_both_ways_and_a_client_vanishing_mid_copy(cluster: &Cluster) {
    let gw = gateway(&cluster.addr(), plaintext()).await;
    let (ok, _, err) = psql_with(
        "sslmode=disable",
        gw.port,
        ALICE_TOKEN,
        "alice",
        &["-c", "\\copy imports FROM STDIN WITH (FORMAT csv)"],
        "1,one\n2,two\n3,\"three, with a comma\"\n",
    )
    .await;
    assert!(ok, "{err}");
    let (ok, out, err) = psql(
        gw.port,
        "disable",
        ALICE_TOKEN,
        "alice",
        &[
            "-c",
            "COPY (SELECT id, note FROM imports ORDER BY id) TO STDOUT WITH (FORMAT csv)",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "1,one\n2,two\n3,\"three, with a comma\"\n");

    // A client that starts COPY FROM STDIN, sends half a row and vanishes: the server
    // aborts the COPY, nothing is imported, the gateway carries on.
    let mut s = raw_login(gw.port).await;
    let mut b = BytesMut::new();
    encode::query(&mut b, "COPY imports FROM STDIN");
    s.write_all(&b).await.unwrap();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 1024];
    'wait: loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
        while let Some(f) = Frame::decode_backend(&mut buf, &Limits::default()).unwrap() {
            if f.tag() == b'G' {
                break 'wait;
            }
        }
    }
    s.write_all(&[b'd', 0, 0, 0, 9, b'4', b'\t', b'l', b'o', b's'])
        .await
        .unwrap();
    drop(s);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, out, err) = psql(
        gw.port,
        "disable",
        ALICE_TOKEN,
        "alice",
        &["-c", "SELECT count(*) FROM imports"],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "3");
}

async fn upstream_dying_mid_query_ends_only_that_session(cluster: &Cluster) {
    let gw = gateway(&cluster.addr(), plaintext()).await;
    let connect = || async {
        let (client, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=alice password={ALICE_TOKEN} dbname=shop sslmode=disable",
                gw.port
            ),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        client
    };
    let victim = connect().await;
    let bystander = connect().await;
    let pid: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let running = tokio::spawn(async move {
        victim
            .simple_query("SELECT pg_sleep(10) FROM generate_series(1, 3)")
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.psql_admin("postgres", &format!("SELECT pg_terminate_backend({pid})"));
    let err = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the victim hears of it at once")
        .unwrap()
        .unwrap_err();
    assert!(
        err.code() == Some(&tokio_postgres::error::SqlState::ADMIN_SHUTDOWN) || err.is_closed(),
        "{err}"
    );
    let row = bystander.query_one("SELECT 8", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 8);
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

async fn idle_sessions_stay_small(cluster: &Cluster) {
    const SESSIONS: u64 = 120;
    let gw = gateway(
        &cluster.addr(),
        GwOptions {
            account: Account::Trust,
            ..plaintext()
        },
    )
    .await;
    // Warm up allocator pools and the runtime with a few sessions first.
    let mut warm = Vec::new();
    for _ in 0..10 {
        warm.push(raw_login(gw.port).await);
    }
    let before = rss_kib();
    let mut idle = Vec::new();
    for _ in 0..SESSIONS {
        idle.push(raw_login(gw.port).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let per = (rss_kib().saturating_sub(before)) / SESSIONS;
    eprintln!("idle logged-in session: {per} KiB of gateway memory each ({SESSIONS} sessions)");
    assert!(per <= 64, "{per} KiB per idle session");
    drop(idle);
    drop(warm);
}

/// Runs psql on a script from standard input, in the background.
fn psql_script(port: u16, script: &str) -> tokio::task::JoinHandle<(bool, String, String)> {
    let script = script.to_owned();
    tokio::spawn(async move {
        psql_with(
            "sslmode=disable",
            port,
            ALICE_TOKEN,
            "alice",
            &["-v", "ON_ERROR_STOP=0"],
            &script,
        )
        .await
    })
}

async fn held_statements_wait_for_review(cluster: &Cluster) {
    use gatekit_pg::Decision;
    let gw = gateway(&cluster.addr(), plaintext()).await;

    // Approved: the held statement runs inside the still-open transaction, then the rest.
    let run = psql_script(
        gw.port,
        "BEGIN;\nSELECT 'tx:' || txid_current();\nSELECT 'held:' || txid_current() AS needs_review;\nCOMMIT;\nSELECT 'after';\n",
    );
    let approval = gw.gate.nth_held(0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!run.is_finished(), "the statement waits for its review");
    let waited = Instant::now();
    gw.gate.review(&approval, Decision::Allow);
    let (ok, out, err) = run.await.unwrap();
    println!("approved statement released in {:?}", waited.elapsed());
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!("NOTICE:  awaiting approval {approval} from dba")),
        "{err}"
    );
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| !matches!(*l, "BEGIN" | "COMMIT"))
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    let tx = lines[0].strip_prefix("tx:").unwrap();
    assert_eq!(
        lines[1],
        format!("held:{tx}"),
        "same transaction before and after the hold"
    );
    assert_eq!(lines[2], "after");

    // Denied by the reviewer: an error with the reviewer's reason, the session goes on.
    let run = psql_script(gw.port, "SELECT 1 AS needs_review;\nSELECT 'still here';\n");
    let approval = gw.gate.nth_held(1).await;
    gw.gate.review(
        &approval,
        Decision::Deny {
            rule: Some("risky-needs-review".into()),
            reason: format!("approval {approval} denied by bob: not during the freeze"),
        },
    );
    let (_, out, err) = run.await.unwrap();
    assert!(
        err.contains("ERROR:  gatekit denied this statement (rule `risky-needs-review`)"),
        "{err}"
    );
    assert!(err.contains("not during the freeze"), "{err}");
    assert_eq!(out.trim(), "still here");

    // The client gives up while held: the approval is withdrawn, nothing ran.
    let mut child = tokio::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} dbname=shop user=alice sslmode=disable",
            gw.port
        ))
        .args(["-X", "-c", "INSERT INTO imports VALUES (7, 'needs_review')"])
        .env("PGPASSWORD", ALICE_TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let approval = gw.gate.nth_held(2).await;
    child.kill().await.unwrap();
    let gone = Instant::now();
    while !gw.gate.abandoned.lock().unwrap().contains(&approval) {
        assert!(
            gone.elapsed() < Duration::from_secs(5),
            "the hold was never withdrawn"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.gate.review(&approval, Decision::Allow);
    let (_, out, _) = psql(
        gw.port,
        "disable",
        ALICE_TOKEN,
        "alice",
        &["-c", "SELECT count(*) FROM imports WHERE id = 7"],
    )
    .await;
    assert_eq!(out.trim(), "0", "an abandoned statement never runs");
}

async fn sessions_can_be_terminated(cluster: &Cluster) {
    let gw = gateway(&cluster.addr(), plaintext()).await;
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=alice password={ALICE_TOKEN} dbname=shop sslmode=disable",
            gw.port
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    client.simple_query("SELECT 1").await.unwrap();
    let session = gw.gate.started.lock().unwrap().last().unwrap().id.clone();
    let asked = Instant::now();
    gw.gate.kill(&session, "killed by carol");
    let ended = tokio::time::timeout(Duration::from_secs(1), conn)
        .await
        .expect("the connection ends within 1 s of the kill")
        .unwrap();
    println!("killed session ended in {:?}", asked.elapsed());
    let err = ended.unwrap_err();
    let db = err.as_db_error().expect("a FATAL from the gateway");
    assert_eq!(db.code(), &tokio_postgres::error::SqlState::ADMIN_SHUTDOWN);
    assert!(db.message().contains("killed by carol"), "{db:?}");
    assert!(client.simple_query("SELECT 1").await.is_err());
}
