//! Connection workers: single-thread runtimes, each on its own thread, that keep every
//! connection they are given until it ends.
//!
//! On tokio's work-stealing runtime a connection's task runs on whichever worker is free
//! when its socket turns readable, so it hops between threads (and CPUs) and wakes idle
//! workers to steal work. Pinned to one thread, a connection finds its buffers in that
//! CPU's cache and costs no cross-thread wake-ups; the workers together still use every
//! CPU. A new connection goes to the worker with the fewest live connections.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! let workers = gatekit_pg::Workers::start(4)?;
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! rt.block_on(async {
//!     // PgGateway::bind(config, gate).await?.with_workers(workers.clone()).run(shutdown).await
//! });
//! drop(rt);
//! // Ends the workers' threads, dropping any connection still open.
//! workers.shutdown();
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A set of connection workers; clones share them. See the [module docs](self).
#[derive(Clone)]
pub struct Workers {
    shared: Arc<Shared>,
}

struct Shared {
    workers: Vec<Worker>,
    /// What ends the threads: their stop signals and join handles, taken once.
    threads: Mutex<Vec<(oneshot::Sender<()>, JoinHandle<()>)>>,
    /// Set by [`Workers::shutdown`]: no connection is taken after.
    closed: AtomicBool,
}

struct Worker {
    handle: Handle,
    /// Connections running on this worker.
    live: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("threads", &self.shared.workers.len())
            .field("live", &self.live())
            .finish()
    }
}

impl Workers {
    /// Starts `threads` workers (at least one), named `gatekit-conn-N`.
    pub fn start(threads: usize) -> std::io::Result<Workers> {
        let mut workers = Vec::new();
        let mut running = Vec::new();
        for i in 0..threads.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = rt.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("gatekit-conn-{i}"))
                .spawn(move || {
                    // Serves spawned connections until the stop signal (or its sender's
                    // drop); the runtime is dropped here, on its own thread.
                    let _ = rt.block_on(stopped);
                })?;
            workers.push(Worker {
                handle,
                live: Arc::new(AtomicUsize::new(0)),
            });
            running.push((stop, thread));
        }
        Ok(Workers {
            shared: Arc::new(Shared {
                workers,
                threads: Mutex::new(running),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.shared.workers.len()
    }

    /// Connections running on the workers now.
    pub fn live(&self) -> usize {
        self.shared
            .workers
            .iter()
            .map(|w| w.live.load(Ordering::Relaxed))
            .sum()
    }

    /// Runs `make()`'s future on the worker with the fewest live connections. `make` runs
    /// on that worker, so what it creates (sockets, timers) belongs to that worker's
    /// runtime. Nothing runs once the workers are shut down.
    pub(crate) fn spawn<F, Fut>(&self, make: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if self.shared.closed.load(Ordering::Acquire) {
            return;
        }
        let Some(worker) = self
            .shared
            .workers
            .iter()
            .min_by_key(|w| w.live.load(Ordering::Relaxed))
        else {
            return;
        };
        let live = Arc::clone(&worker.live);
        live.fetch_add(1, Ordering::Relaxed);
        let count = Count(live);
        // `make` runs at the task's first poll, on the worker's thread; a current-thread
        // runtime never moves the task elsewhere.
        worker.handle.spawn(async move {
            let _count = count;
            make().await;
        });
    }

    /// Stops the workers and blocks until their threads have ended; connections still open
    /// are dropped, and later ones are closed unserved. Later calls do nothing.
    pub fn shutdown(&self) {
        self.shared.closed.store(true, Ordering::Release);
        let running = std::mem::take(
            &mut *self
                .shared
                .threads
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (stop, thread) in running {
            let _ = stop.send(());
            if thread.join().is_err() {
                tracing::error!("a connection worker panicked");
            }
        }
    }
}

/// Decrements a worker's live count when its connection ends (or is dropped).
struct Count(Arc<AtomicUsize>);

impl Drop for Count {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Runs `f` on a fresh worker set of `n` threads and shuts it down after.
    fn with_workers(n: usize, f: impl FnOnce(&Workers)) {
        let workers = Workers::start(n).unwrap();
        f(&workers);
        workers.shutdown();
    }

    /// Waits (bounded) until `cond` holds.
    fn eventually(cond: impl Fn() -> bool) -> bool {
        for _ in 0..500 {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn connections_go_to_the_least_loaded_worker_and_stay_there() {
        with_workers(2, |workers| {
            let (seen_tx, seen_rx) = std::sync::mpsc::channel();
            let mut releases = Vec::new();
            for _ in 0..4 {
                let (release, released) = oneshot::channel::<()>();
                releases.push(release);
                let seen = seen_tx.clone();
                workers.spawn(move || async move {
                    let first = std::thread::current().id();
                    // Yields and sleeps: a task that could move would get the chance.
                    for _ in 0..20 {
                        tokio::task::yield_now().await;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let name = std::thread::current().name().map(str::to_owned);
                    let _ = seen.send((name, first == std::thread::current().id()));
                    let _ = released.await;
                });
            }
            let mut names = Vec::new();
            for _ in 0..4 {
                let (name, stayed) = seen_rx.recv_timeout(Duration::from_secs(5)).unwrap();
                assert!(stayed, "a connection moved between threads");
                names.push(name.unwrap_or_default());
            }
            names.sort();
            assert_eq!(
                names,
                [
                    "gatekit-conn-0",
                    "gatekit-conn-0",
                    "gatekit-conn-1",
                    "gatekit-conn-1"
                ]
            );
            assert_eq!(workers.live(), 4);
            drop(releases);
            assert!(
                eventually(|| workers.live() == 0),
                "live {}",
                workers.live()
            );
        });
    }

    #[test]
    fn a_freed_worker_takes_the_next_connection() {
        with_workers(2, |workers| {
            let (a_release, a_released) = oneshot::channel::<()>();
            let (b_release, b_released) = oneshot::channel::<()>();
            let (names_tx, names_rx) = std::sync::mpsc::channel();
            for released in [a_released, b_released] {
                let names = names_tx.clone();
                workers.spawn(move || async move {
                    let _ = names.send(std::thread::current().name().map(str::to_owned));
                    let _ = released.await;
                });
            }
            let first = names_rx.recv_timeout(Duration::from_secs(5)).unwrap();
            let second = names_rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_ne!(first, second, "two connections, two workers");
            // A (on worker 0) ends; B holds worker 1.
            drop(a_release);
            assert!(eventually(|| workers.live() == 1));
            workers.spawn(move || async move {
                let _ = names_tx.send(std::thread::current().name().map(str::to_owned));
            });
            assert_eq!(
                names_rx
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap()
                    .as_deref(),
                Some("gatekit-conn-0"),
                "the idle worker, not the one holding a connection"
            );
            drop(b_release);
        });
    }

    #[test]
    fn shutdown_drops_open_connections_and_later_ones_never_run() {
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let workers = Workers::start(1).unwrap();
        assert_eq!(workers.threads(), 1);
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = SetOnDrop(Arc::clone(&dropped));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        workers.spawn(move || async move {
            let _guard = guard;
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
        });
        started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(workers.live(), 1);
        workers.shutdown();
        assert!(dropped.load(Ordering::SeqCst));
        assert_eq!(workers.live(), 0);
        let ran = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&ran);
        workers.spawn(move || async move {
            r.store(true, Ordering::SeqCst);
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!ran.load(Ordering::SeqCst));
        assert_eq!(workers.live(), 0, "a refused connection is not counted");
        workers.shutdown();
    }
}
