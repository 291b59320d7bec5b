//! The checkpointer thread: stores the newest fsynced head beside the writer, so a record's
//! fsync and the previous record's checkpoint do not wait for each other.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use gatekit_core::audit::ChainHead;

use super::{AuditError, HeadStore};

struct State {
    /// The newest head asked for.
    want: ChainHead,
    /// Requests made / requests the thread has finished with.
    asked: u64,
    done: u64,
    /// The head last stored.
    stored: ChainHead,
    /// Why the last store failed; cleared by the next success.
    error: Option<Arc<AuditError>>,
    stop: bool,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // The lock guards plain data that every step leaves consistent.
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Stores heads on its own thread; the newest request wins, and a failure is kept until a
/// later store succeeds.
pub(super) struct Checkpointer {
    shared: Shared,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread; `stored` is the head the store holds now.
    pub(super) fn start(
        mut store: Box<dyn HeadStore>,
        stored: ChainHead,
    ) -> std::io::Result<Checkpointer> {
        let shared: Shared = Arc::new((
            Mutex::new(State {
                want: stored,
                asked: 0,
                done: 0,
                stored,
                error: None,
                stop: false,
            }),
            Condvar::new(),
        ));
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("gatekit-audit-head".into())
            .spawn(move || {
                loop {
                    let (head, asked) = {
                        let mut st = lock(&theirs);
                        while st.done == st.asked && !st.stop {
                            st = theirs.1.wait(st).unwrap_or_else(PoisonError::into_inner);
                        }
                        if st.done == st.asked {
                            return;
                        }
                        (st.want, st.asked)
                    };
                    let result = store.store(&head);
                    let mut st = lock(&theirs);
                    match result {
                        Ok(()) => {
                            st.stored = head;
                            st.error = None;
                        }
                        Err(e) => st.error = Some(Arc::new(e)),
                    }
                    st.done = asked;
                    theirs.1.notify_all();
                }
            })?;
        Ok(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// Asks for `head` to be stored (unless it already is); returns the request's number.
    pub(super) fn request(&self, head: ChainHead) -> u64 {
        let mut st = lock(&self.shared);
        if st.stored == head && st.error.is_none() {
            return st.done;
        }
        // Heads only move forward: an older one (from an fsync that finished after a
        // newer flush) is already covered by what is stored or on its way.
        if head.seq < st.want.seq && st.error.is_none() {
            return st.asked;
        }
        st.want = head;
        st.asked += 1;
        self.shared.1.notify_all();
        st.asked
    }

    /// Stores `head` and waits for the outcome.
    pub(super) fn store(&self, head: ChainHead) -> Result<(), Arc<AuditError>> {
        let ticket = self.request(head);
        let mut st = lock(&self.shared);
        while st.done < ticket {
            st = self
                .shared
                .1
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // Heads only move forward: a request served at or after ours stored ours or a newer one.
        match &st.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// The last store's failure, if it failed.
    pub(super) fn failed(&self) -> bool {
        lock(&self.shared).error.is_some()
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        lock(&self.shared).stop = true;
        self.shared.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
