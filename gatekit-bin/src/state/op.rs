//! What every backend shares: the transitions it applies under compare-and-set, list
//! ordering and the wait loop.

use std::future::Future;
use std::time::Duration;

use gatekit_core::Identity;
use gatekit_core::approval::{Approval, ApprovalError, Choice};
use jiff::Timestamp;
use tokio::sync::watch;

use super::{ApprovalFilter, MAX_LIST, StateError};

/// How often a backend retries a compare-and-set that lost to another writer.
pub(crate) const MAX_ATTEMPTS: u32 = 16;

/// A transition of one approval.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op<'a> {
    /// A vote.
    Decide {
        decider: &'a Identity,
        choice: Choice,
        reason: Option<&'a str>,
        now: Timestamp,
    },
    /// The client went away.
    Cancel { reason: &'a str, now: Timestamp },
    /// Review time is up.
    Expire { now: Timestamp },
    /// A `once` approval's command runs.
    Consume { command: &'a str, now: Timestamp },
}

impl Op<'_> {
    /// Applies the transition; on error the approval is unchanged.
    pub(crate) fn apply(&self, a: &mut Approval) -> Result<(), ApprovalError> {
        match *self {
            Op::Decide {
                decider,
                choice,
                reason,
                now,
            } => a.decide(decider, choice, reason, now).map(drop),
            Op::Cancel { reason, now } => a.cancel(reason, now),
            Op::Expire { now } => a.expire(now),
            Op::Consume { command, now } => a.consume(command, now),
        }
    }
}

/// The list limit actually used.
pub(crate) fn cap(limit: usize) -> usize {
    limit.min(MAX_LIST)
}

/// Sorts and truncates approvals as `filter` orders them (for backends without SQL).
pub(crate) fn order(filter: ApprovalFilter, list: &mut Vec<Approval>, limit: usize) {
    let decided = |a: &Approval| (a.decided_at.unwrap_or(a.created_at), a.created_at);
    match filter {
        ApprovalFilter::Status(s) if s.is_pending() => {
            list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        }
        ApprovalFilter::Status(_) | ApprovalFilter::Decided => {
            list.sort_by(|a, b| decided(b).cmp(&decided(a)).then_with(|| b.id.cmp(&a.id)));
        }
        ApprovalFilter::Any => {
            list.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        }
    }
    list.truncate(cap(limit));
}

/// Runs `check` until it reports done or `timeout` passes, re-running it whenever
/// `changes` ticks and at least every `poll`; returns the last value `check` gave.
pub(crate) async fn wait_until<T, F, Fut>(
    mut changes: Option<watch::Receiver<u64>>,
    poll: Duration,
    timeout: Duration,
    mut check: F,
) -> Result<T, StateError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(T, bool), StateError>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(rx) = changes.as_mut() {
            rx.borrow_and_update();
        }
        let (value, done) = check().await?;
        let now = tokio::time::Instant::now();
        if done || now >= deadline {
            return Ok(value);
        }
        let nap = tokio::time::sleep(poll.min(deadline - now));
        match changes.as_mut() {
            Some(rx) => {
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() {
                        // The notifier is gone: polling alone from now on.
                        changes = None;
                    },
                    () = nap => {}
                }
            }
            None => nap.await,
        }
    }
}

/// Expires each of the `due` approvals through `expire` (given its id), skipping those
/// another replica decided or expired meanwhile; returns the ones this call expired.
pub(crate) async fn expire_each<F, Fut>(
    due: Vec<Approval>,
    mut expire: F,
) -> Result<Vec<Approval>, StateError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<Approval, StateError>>,
{
    let mut expired = Vec::new();
    for a in due {
        match expire(a.id).await {
            Ok(a) => expired.push(a),
            Err(StateError::Transition(
                ApprovalError::NotPending { .. } | ApprovalError::NotDue { .. },
            )) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(expired)
}

/// Applies `op` to the approval `load` reads and stores the result with `write`, which
/// must store it only if the stored version is still the one read (compare-and-set) and
/// say whether it did. Retries when another writer came first.
pub(crate) async fn update_cas<L, LF, W, WF>(
    id: &str,
    op: Op<'_>,
    mut load: L,
    mut write: W,
) -> Result<Approval, StateError>
where
    L: FnMut() -> LF,
    LF: Future<Output = Result<Approval, StateError>>,
    W: FnMut(Approval, u64) -> WF,
    WF: Future<Output = Result<bool, StateError>>,
{
    for _ in 0..MAX_ATTEMPTS {
        let current = load().await?;
        let mut next = current.clone();
        op.apply(&mut next)?;
        if write(next.clone(), current.version).await? {
            return Ok(next);
        }
    }
    Err(StateError::Contended {
        id: id.to_owned(),
        attempts: MAX_ATTEMPTS,
    })
}
