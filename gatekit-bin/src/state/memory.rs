//! The in-memory store: one process, nothing kept across restarts.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use gatekit_core::approval::{Approval, Choice};
use gatekit_core::audit::ChainHead;
use gatekit_core::{ClassSet, Identity};
use jiff::Timestamp;
use tokio::sync::watch;

use super::op::{self, Op};
use super::{
    ApprovalFilter, LiveSession, MAX_LIST, POLL_INTERVAL, StateError, StateStore, StoreFuture,
    check_session,
};

/// Approvals, sessions and the audit head in this process's memory (tests, `gatekit demo`).
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Ticks on every change, waking waiters.
    changes: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    approvals: HashMap<String, Approval>,
    sessions: HashMap<String, LiveSession>,
    head: Option<ChainHead>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore {
            inner: Mutex::new(Inner::default()),
            changes: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-made change: every change is
        // computed on a copy and then stored whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn update(&self, id: &str, op: Op<'_>) -> Result<Approval, StateError> {
        let mut inner = self.lock();
        let stored = inner
            .approvals
            .get_mut(id)
            .ok_or_else(|| StateError::ApprovalNotFound { id: id.to_owned() })?;
        let mut next = stored.clone();
        op.apply(&mut next)?;
        *stored = next.clone();
        drop(inner);
        self.changed();
        Ok(next)
    }

    fn approval(&self, id: &str) -> Result<Approval, StateError> {
        self.lock()
            .approvals
            .get(id)
            .cloned()
            .ok_or_else(|| StateError::ApprovalNotFound { id: id.to_owned() })
    }

    fn kills(&self, replica: &str) -> Vec<LiveSession> {
        let mut out: Vec<LiveSession> = self
            .lock()
            .sessions
            .values()
            .filter(|s| s.replica == replica && s.kill_requested_at.is_some())
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
        out.truncate(MAX_LIST);
        out
    }
}

impl StateStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    fn create_approval<'a>(&'a self, approval: &'a Approval) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut inner = self.lock();
            if inner.approvals.contains_key(&approval.id) {
                return Err(StateError::DuplicateApproval {
                    id: approval.id.clone(),
                });
            }
            inner
                .approvals
                .insert(approval.id.clone(), approval.clone());
            drop(inner);
            self.changed();
            Ok(())
        })
    }

    fn get_approval<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Approval> {
        Box::pin(async move { self.approval(id) })
    }

    fn list_approvals(
        &self,
        filter: ApprovalFilter,
        limit: usize,
    ) -> StoreFuture<'_, Vec<Approval>> {
        Box::pin(async move {
            let mut list: Vec<Approval> = self
                .lock()
                .approvals
                .values()
                .filter(|a| match filter {
                    ApprovalFilter::Status(s) => a.status == s,
                    ApprovalFilter::Decided => !a.status.is_pending(),
                    ApprovalFilter::Any => true,
                })
                .cloned()
                .collect();
            op::order(filter, &mut list, limit);
            Ok(list)
        })
    }

    fn decide<'a>(
        &'a self,
        id: &'a str,
        decider: &'a Identity,
        choice: Choice,
        reason: Option<&'a str>,
        now: Timestamp,
    ) -> StoreFuture<'a, Approval> {
        Box::pin(async move {
            self.update(
                id,
                Op::Decide {
                    decider,
                    choice,
                    reason,
                    now,
                },
            )
        })
    }

    fn cancel<'a>(
        &'a self,
        id: &'a str,
        reason: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, Approval> {
        Box::pin(async move { self.update(id, Op::Cancel { reason, now }) })
    }

    fn expire_due(&self, now: Timestamp) -> StoreFuture<'_, Vec<Approval>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let mut expired = Vec::new();
            for a in inner.approvals.values_mut().filter(|a| a.is_due(now)) {
                Op::Expire { now }.apply(a)?;
                expired.push(a.clone());
            }
            drop(inner);
            if !expired.is_empty() {
                self.changed();
            }
            Ok(expired)
        })
    }

    fn consume<'a>(
        &'a self,
        id: &'a str,
        command: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, Approval> {
        Box::pin(async move { self.update(id, Op::Consume { command, now }) })
    }

    fn find_grant<'a>(
        &'a self,
        requester: &'a Identity,
        target: &'a str,
        classes: ClassSet,
        now: Timestamp,
    ) -> StoreFuture<'a, Option<Approval>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .approvals
                .values()
                .filter(|a| a.covers(requester, target, classes, now))
                .max_by_key(|a| a.grant_until())
                .cloned())
        })
    }

    fn wait_change<'a>(
        &'a self,
        id: &'a str,
        seen_version: u64,
        timeout: Duration,
    ) -> StoreFuture<'a, Approval> {
        Box::pin(async move {
            let rx = self.changes.subscribe();
            op::wait_until(Some(rx), POLL_INTERVAL, timeout, || async move {
                let a = self.approval(id)?;
                let done = a.version != seen_version;
                Ok((a, done))
            })
            .await
        })
    }

    fn register_session<'a>(&'a self, session: &'a LiveSession) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            check_session(session)?;
            self.lock()
                .sessions
                .insert(session.id.clone(), session.clone());
            self.changed();
            Ok(())
        })
    }

    fn heartbeat_session<'a>(&'a self, id: &'a str, now: Timestamp) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match self.lock().sessions.get_mut(id) {
                Some(s) => {
                    s.last_seen = now;
                    Ok(())
                }
                None => Err(StateError::SessionNotFound { id: id.to_owned() }),
            }
        })
    }

    fn unregister_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.lock().sessions.remove(id);
            self.changed();
            Ok(())
        })
    }

    fn reap_sessions(&self, before: Timestamp) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let mut inner = self.lock();
            let n = inner.sessions.len();
            inner.sessions.retain(|_, s| s.last_seen >= before);
            Ok((n - inner.sessions.len()) as u64)
        })
    }

    fn list_sessions(&self) -> StoreFuture<'_, Vec<LiveSession>> {
        Box::pin(async move {
            let mut out: Vec<LiveSession> = self.lock().sessions.values().cloned().collect();
            out.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
            out.truncate(MAX_LIST);
            Ok(out)
        })
    }

    fn request_kill<'a>(
        &'a self,
        id: &'a str,
        by: &'a str,
        now: Timestamp,
    ) -> StoreFuture<'a, LiveSession> {
        Box::pin(async move {
            let mut inner = self.lock();
            let s = inner
                .sessions
                .get_mut(id)
                .ok_or_else(|| StateError::SessionNotFound { id: id.to_owned() })?;
            if s.kill_requested_at.is_none() {
                s.kill_requested_at = Some(now);
                s.kill_requested_by = Some(by.chars().take(super::MAX_SESSION_FIELD).collect());
            }
            let s = s.clone();
            drop(inner);
            self.changed();
            Ok(s)
        })
    }

    fn wait_kills<'a>(
        &'a self,
        replica: &'a str,
        timeout: Duration,
    ) -> StoreFuture<'a, Vec<LiveSession>> {
        Box::pin(async move {
            let rx = self.changes.subscribe();
            op::wait_until(Some(rx), POLL_INTERVAL, timeout, || async move {
                let kills = self.kills(replica);
                let done = !kills.is_empty();
                Ok((kills, done))
            })
            .await
        })
    }

    fn put_audit_head<'a>(&'a self, head: &'a ChainHead) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.lock().head = Some(*head);
            Ok(())
        })
    }

    fn get_audit_head(&self) -> StoreFuture<'_, Option<ChainHead>> {
        Box::pin(async move { Ok(self.lock().head) })
    }
}
