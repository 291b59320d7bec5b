//! The store suite: every case in [`cases`] runs against every backend, with two handles
//! on one store standing for two replicas.

mod cases;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cases::Replicas;

use super::{MemoryStore, SqliteStore};

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
