//! Opening stores: URLs, restarts, migrations and unreachable stores.

use std::path::Path;

use gatekit_core::approval::Status;

use crate::config::Secret;
use crate::state::{Location, StateError, StateStore as _, open};

#[test]
fn urls_pick_the_backend() {
    let base = Path::new("/etc/gatekit");
    assert!(matches!(
        Location::parse("sqlite:var/gatekit.db", base, None).unwrap(),
        Location::Sqlite(p) if p == Path::new("/etc/gatekit/var/gatekit.db")
    ));
    assert!(matches!(
        Location::parse("sqlite:/srv/state.db", base, None).unwrap(),
        Location::Sqlite(p) if p == Path::new("/srv/state.db")
    ));
    assert!(matches!(
        Location::parse("memory:", base, None).unwrap(),
        Location::Memory
    ));
    let pw = Some(Secret::new("pw"));
    assert!(matches!(
        Location::parse("postgres://gatekit@db.internal/gatekit", base, pw).unwrap(),
        Location::Postgres {
            password: Some(_),
            ..
        }
    ));
    for (url, needle) in [
        ("sqlite:", "no file path"),
        ("mysql://x/y", "expected `sqlite:PATH`"),
        ("postgres://u@h:notaport/db", "invalid"),
        ("postgres://u@h/db?sslmode=require", "TLS"),
        ("postgres://u@h", "no database name"),
    ] {
        let err = Location::parse(url, base, None).unwrap_err();
        assert!(matches!(err, StateError::BadUrl { .. }), "{url}: {err}");
        assert!(err.to_string().contains(needle), "{url}: {err}");
    }
    let err = Location::parse("mysql://root:hunter2@h/db", base, None).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn sqlite_restart_keeps_approvals_and_schema_is_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::Sqlite(dir.path().join("gatekit.db"));
    let pending = super::cases::pending(11);
    let mut decided = super::cases::pending(12);
    {
        let store = open(&location).await.unwrap();
        store.create_approval(&pending).await.unwrap();
        store.create_approval(&decided).await.unwrap();
        decided = store
            .decide(
                &decided.id,
                &super::cases::dba("bob"),
                gatekit_core::approval::Choice::Deny,
                Some("no"),
                super::cases::t0(),
            )
            .await
            .unwrap();
    }
    let store = open(&location).await.unwrap();
    assert_eq!(store.get_approval(&pending.id).await.unwrap(), pending);
    let back = store.get_approval(&decided.id).await.unwrap();
    assert_eq!(back, decided);
    assert_eq!(back.status, Status::Denied);
    let conn = rusqlite::Connection::open(dir.path().join("gatekit.db")).unwrap();
    let versions: i64 = conn
        .query_row("SELECT count(*) FROM gatekit_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(versions, 1);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn sqlite_live_session_writes_leave_approvals_durable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatekit.db");
    let store = crate::state::SqliteStore::open(&path).await.unwrap();
    // Approvals on FULL, live sessions on NORMAL.
    assert_eq!(store.synchronous().await, (2, 1));
    let live = super::cases::session("s-1", "r-1");
    store.register_session(&live).await.unwrap();
    store
        .heartbeat_session("s-1", super::cases::t0())
        .await
        .unwrap();
    // Written on one connection, read on the other.
    assert_eq!(store.list_sessions().await.unwrap(), vec![live]);
    store.unregister_session("s-1").await.unwrap();
    assert!(
        store
            .heartbeat_session("s-1", super::cases::t0())
            .await
            .is_err()
    );
    assert_eq!(store.synchronous().await, (2, 1));
    let pending = super::cases::pending(13);
    store.create_approval(&pending).await.unwrap();
    drop(store);
    let store = crate::state::SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.get_approval(&pending.id).await.unwrap(), pending);
    assert!(store.list_sessions().await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_schema_from_the_future_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatekit.db");
    drop(open(&Location::Sqlite(path.clone())).await.unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("INSERT INTO gatekit_schema (version) VALUES (99)", [])
        .unwrap();
    let err = open(&Location::Sqlite(path)).await.err().unwrap();
    assert!(
        matches!(err, StateError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_stores_fail_with_where_and_why() {
    let err = open(&Location::Sqlite("/proc/gatekit-nope/state.db".into()))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StateError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("/proc/gatekit-nope"), "{err}");

    let port = super::cluster::free_port();
    let url = format!("postgres://gatekit:secret-in-url@127.0.0.1:{port}/gatekit");
    let err = open(&Location::Postgres {
        url,
        password: None,
    })
    .await
    .err()
    .unwrap();
    assert!(matches!(err, StateError::Unreachable { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}/gatekit")), "{msg}");
    assert!(!msg.contains("secret-in-url"), "{msg}");
}
