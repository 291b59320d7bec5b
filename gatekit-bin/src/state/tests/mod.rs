//! The store suite: every case in [`cases`] runs against every backend, with two handles
//! on one store standing for two replicas.

mod cases;
mod open;

#[path = "../../../../gatekit-pg/tests/support/cluster.rs"]
#[allow(dead_code)]
mod cluster;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cases::Replicas;
use gatekit_core::approval::{Choice, Status};

use super::{MemoryStore, PostgresStore, SqliteStore};
use crate::config::Secret;

type Case = fn(Replicas) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Declares the suite once: a list for the backends that run every case in one test, and
/// one test per case for each backend given.
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        const CASES: &[(&str, Case)] = &[$((stringify!($case), |r| Box::pin(cases::$case(r)))),*];

        mod memory {
            $(#[tokio::test] async fn $case() { super::cases::$case(super::memory()).await; })*
        }

        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() {
                let (_dir, replicas) = super::sqlite().await;
                super::cases::$case(replicas).await;
            })*
        }
    };
}

suite!(
    create_get_list,
    decisions_follow_the_rules,
    expire_and_cancel,
    window_grants,
    wait_sees_other_replica,
    concurrent_deciders_both_count,
    same_decider_twice_counts_once,
    sessions_and_kills,
    audit_head,
);

fn memory() -> Replicas {
    let store: Arc<MemoryStore> = Arc::new(MemoryStore::new());
    Replicas {
        a: store.clone(),
        b: store,
    }
}

/// Two stores on one SQLite file.
async fn sqlite() -> (tempfile::TempDir, Replicas) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("gatekit.db");
    let a = SqliteStore::open(&path).await.unwrap();
    let b = SqliteStore::open(&path).await.unwrap();
    (
        dir,
        Replicas {
            a: Arc::new(a),
            b: Arc::new(b),
        },
    )
}

/// Every case against PostgreSQL: one throwaway cluster, a fresh database per case owned
/// by a password (SCRAM) account, two stores connected to it.
#[test]
fn postgres_suite() {
    let pg = cluster::Cluster::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for (n, (name, case)) in CASES.iter().enumerate() {
        let db = format!("gatekit_{n}");
        pg.psql_admin(
            "postgres",
            &format!("CREATE DATABASE {db} OWNER {}", cluster::SCRAM_USER),
        );
        rt.block_on(async {
            let replicas = postgres(&pg, &db).await;
            eprintln!("postgres: {name}");
            case(replicas).await;
        });
    }

    // A restart keeps pending and decided approvals.
    pg.psql_admin(
        "postgres",
        &format!(
            "CREATE DATABASE gatekit_restart OWNER {}",
            cluster::SCRAM_USER
        ),
    );
    rt.block_on(async {
        let pending = cases::pending(21);
        let decided = {
            let r = postgres(&pg, "gatekit_restart").await;
            r.a.create_approval(&pending).await.unwrap();
            r.a.create_approval(&cases::pending(22)).await.unwrap();
            let id = format!("{:032x}", 22);
            r.b.decide(&id, &cases::dba("bob"), Choice::Approve, None, cases::t0())
                .await
                .unwrap()
        };
        let r = postgres(&pg, "gatekit_restart").await;
        assert_eq!(r.a.get_approval(&pending.id).await.unwrap(), pending);
        let back = r.a.get_approval(&decided.id).await.unwrap();
        assert_eq!(back.status, Status::Approved);
        assert_eq!(back, decided);
    });
}

/// The URL of database `db` in the cluster, without the password.
fn postgres_url(pg: &cluster::Cluster, db: &str) -> String {
    format!("postgres://{}@{}/{db}", cluster::SCRAM_USER, pg.addr())
}

async fn postgres(pg: &cluster::Cluster, db: &str) -> Replicas {
    let url = postgres_url(pg, db);
    let password = Secret::new(cluster::SCRAM_PASSWORD);
    let a = PostgresStore::connect(&url, Some(&password)).await.unwrap();
    let b = PostgresStore::connect(&url, Some(&password)).await.unwrap();
    Replicas {
        a: Arc::new(a),
        b: Arc::new(b),
    }
}
