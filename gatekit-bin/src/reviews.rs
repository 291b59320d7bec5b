//! Review holds, for every protocol: a command the policy sends to review becomes a
//! pending approval in the state store, and its connection waits until a person decides,
//! the review time runs out, or the client leaves.
//!
//! Any replica may decide an approval (through its API); the waiting replica learns of the
//! change through [`StateStore::wait_change`]. Every failure of the store ends the wait
//! with [`Outcome::Failed`], which callers turn into a denial: nothing runs because a
//! lookup failed.

use std::sync::Arc;
use std::time::Duration;

use gatekit_core::approval::{Approval, ApprovalError, Choice, NewApproval, Status};
use gatekit_core::audit::{ApprovalEvent, ApprovalState, AuditEvent};
use gatekit_core::policy::{ApprovalScope, Decision};
use gatekit_core::sql::redact_secrets;
use gatekit_core::{Classification, Identity, Protocol};
use jiff::{SignedDuration, Timestamp};

use crate::audit_log::AuditLog;
use crate::notify::{Notice, Notifier};
use crate::state::{StateError, StateStore};

/// The longest single wait on the store before the deadline is checked again.
const WAIT_SLICE: Duration = Duration::from_secs(5);

/// The review queue of one `serve`.
pub struct Reviews {
    store: Arc<dyn StateStore>,
    audit: AuditLog,
    timeout: SignedDuration,
    notifier: Notifier,
}

/// A command the policy sent to review, and where it stands.
#[derive(Debug)]
pub enum Held {
    /// A window approval of this requester already covers the command: it may run now.
    Granted {
        /// The covering approval's id.
        approval: String,
    },
    /// A new pending approval; wait for it with [`Reviews::wait`].
    Pending(Box<Approval>),
}

/// How a wait for a review ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Approved (a `once` approval has been used up by this command).
    Approved {
        /// The deciders who approved.
        by: Vec<String>,
    },
    /// Denied by an approver.
    Denied {
        /// Who denied.
        by: String,
        /// Their reason.
        reason: Option<String>,
    },
    /// Not decided within `[policy] review_timeout`.
    Expired,
    /// Withdrawn (by the requester's side).
    Cancelled,
    /// The store failed; the command must not run.
    Failed(String),
}

impl Outcome {
    /// The reason a refused command gives its client; `None` when approved.
    pub fn refusal(&self, approval: &str, timeout: SignedDuration) -> Option<String> {
        match self {
            Outcome::Approved { .. } => None,
            Outcome::Denied { by, reason } => Some(match reason {
                Some(r) => format!("approval {approval} was denied by {by}: {r}"),
                None => format!("approval {approval} was denied by {by}"),
            }),
            Outcome::Expired => Some(format!(
                "approval {approval} was not decided within {timeout:#}"
            )),
            Outcome::Cancelled => Some(format!("approval {approval} was cancelled")),
            Outcome::Failed(e) => Some(format!(
                "approval {approval} could not be checked ({e}); refused to be safe"
            )),
        }
    }
}

/// Why a command could not be held for review (it is then refused).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewError {
    /// The system's secure random source failed.
    #[error("no secure randomness for an approval id")]
    Random,
    /// The command and decision do not make an approval.
    #[error("the command cannot be held for review: {0}")]
    Approval(#[from] ApprovalError),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StateError),
}

/// 32 lowercase hex digits from the system's secure random source.
pub fn random_id() -> Result<String, ReviewError> {
    let mut bytes = [0u8; 16];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| ReviewError::Random)?;
    Ok(hex::encode(bytes))
}

impl Reviews {
    /// A queue over `store`; pending approvals expire after `timeout`.
    pub fn new(store: Arc<dyn StateStore>, audit: AuditLog, timeout: SignedDuration) -> Self {
        Reviews {
            store,
            audit,
            timeout,
            notifier: Notifier::disabled(),
        }
    }

    /// Announces new pending approvals, expiries and withdrawals through `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// The store behind the queue.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    /// `[policy] review_timeout`.
    pub fn timeout(&self) -> SignedDuration {
        self.timeout
    }

    /// Holds a command the policy sent to review: a window approval of the requester that
    /// covers it lets it run; otherwise a new pending approval is stored and recorded.
    #[allow(clippy::too_many_arguments)]
    pub async fn hold(
        &self,
        session: &str,
        requester: &Identity,
        target: &str,
        protocol: Protocol,
        command: &str,
        classification: &Classification,
        decision: &Decision,
    ) -> Result<Held, ReviewError> {
        let now = Timestamp::now();
        if matches!(decision.approval, ApprovalScope::Window(_))
            && let Some(grant) = self
                .store
                .find_grant(requester, target, classification.classes, now)
                .await?
        {
            return Ok(Held::Granted { approval: grant.id });
        }
        let id = random_id()?;
        let approval = Approval::new(NewApproval {
            id: &id,
            requester,
            target,
            protocol,
            command,
            classification,
            decision,
            review_timeout: self.timeout,
            now,
        })?;
        self.store.create_approval(&approval).await?;
        self.record(&approval, ApprovalState::Pending, None, Some(session))
            .await;
        self.notifier
            .notify(Notice::ApprovalPending((&approval).into()));
        Ok(Held::Pending(Box::new(approval)))
    }

    /// Waits until the approval is decided, expires, or is cancelled. An approved `once`
    /// approval is used up here, for `approval.command`.
    pub async fn wait(&self, approval: &Approval, session: &str) -> Outcome {
        let mut seen = approval.version;
        loop {
            let now = Timestamp::now();
            let left = approval.expires_at.duration_since(now);
            if left <= SignedDuration::ZERO {
                return self.expire(approval, session).await;
            }
            let slice = Duration::try_from(left)
                .unwrap_or(WAIT_SLICE)
                .min(WAIT_SLICE);
            let current = match self.store.wait_change(&approval.id, seen, slice).await {
                Ok(a) => a,
                Err(e) => return Outcome::Failed(e.to_string()),
            };
            match current.status {
                Status::Pending => seen = current.version,
                Status::Approved => {
                    if current.scope == ApprovalScope::Once {
                        let used = self
                            .store
                            .consume(&current.id, &approval.command, Timestamp::now())
                            .await;
                        if let Err(e) = used {
                            return Outcome::Failed(e.to_string());
                        }
                    }
                    let by = current
                        .votes
                        .iter()
                        .filter(|v| v.choice == Choice::Approve)
                        .map(|v| v.decider.clone())
                        .collect();
                    return Outcome::Approved { by };
                }
                Status::Denied => {
                    let vote = current
                        .votes
                        .iter()
                        .rev()
                        .find(|v| v.choice == Choice::Deny);
                    return Outcome::Denied {
                        by: vote.map_or_else(|| "an approver".to_owned(), |v| v.decider.clone()),
                        reason: vote.and_then(|v| v.reason.clone()).or(current.reason),
                    };
                }
                Status::Expired => return Outcome::Expired,
                Status::Cancelled => return Outcome::Cancelled,
            }
        }
    }

    /// Withdraws a pending approval whose client went away.
    pub async fn abandon(&self, approval: &Approval, session: &str) {
        match self
            .store
            .cancel(&approval.id, "the client disconnected", Timestamp::now())
            .await
        {
            Ok(a) if a.status == Status::Cancelled => {
                self.record(&a, ApprovalState::Cancelled, None, Some(session))
                    .await;
                self.notifier.notify(Notice::ApprovalDecided((&a).into()));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(approval = %approval.id, error = %e, "cannot withdraw an approval");
            }
        }
    }

    /// Expires every pending approval that is due (waiters on a replica that died leave
    /// theirs behind); records each.
    pub async fn expire_due(&self) -> Result<usize, StateError> {
        let expired = self.store.expire_due(Timestamp::now()).await?;
        for a in &expired {
            self.record(a, ApprovalState::Expired, None, None).await;
            self.notifier.notify(Notice::ApprovalDecided(a.into()));
        }
        Ok(expired.len())
    }

    async fn expire(&self, approval: &Approval, session: &str) -> Outcome {
        match self.store.expire_due(Timestamp::now()).await {
            Ok(expired) => {
                for a in &expired {
                    let s = (a.id == approval.id).then_some(session);
                    self.record(a, ApprovalState::Expired, None, s).await;
                    self.notifier.notify(Notice::ApprovalDecided(a.into()));
                }
            }
            Err(e) => return Outcome::Failed(e.to_string()),
        }
        // Someone may have decided it in the last moment; the store has the last word.
        match self.store.get_approval(&approval.id).await {
            Ok(a) if a.status == Status::Pending => Outcome::Expired,
            Ok(a) if a.status != Status::Expired => Box::pin(self.wait(&a, session)).await,
            Ok(_) => Outcome::Expired,
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    async fn record(
        &self,
        a: &Approval,
        state: ApprovalState,
        decider: Option<String>,
        session: Option<&str>,
    ) {
        let event = AuditEvent::Approval(ApprovalEvent {
            id: a.id.clone(),
            state,
            requester: a.requester.subject.clone(),
            decider,
            reason: a.reason.clone().or_else(|| Some(a.rule_reason.clone())),
            session: session.map(Into::into),
            target: Some(a.target.as_str().into()),
            command: Some(redact_secrets(&a.command).into_owned()),
        });
        if let Err(e) = self.audit.append(event).await {
            tracing::error!(approval = %a.id, error = %e, "cannot record an approval event");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use gatekit_core::approval::{Choice, Status};
    use gatekit_core::policy::{ApprovalScope, Decision, Verdict};
    use gatekit_core::{Class, ClassSet, Classification, Identity, Protocol};
    use jiff::{SignedDuration, Timestamp};

    use super::{Held, Outcome, Reviews};
    use crate::audit_log::{AuditLog, AuditLogConfig};
    use crate::state::{MemoryStore, StateStore};

    fn review(scope: ApprovalScope) -> Decision {
        Decision {
            verdict: Verdict::Review,
            rule: Some("risky-needs-review".into()),
            reason: "schema changes need a DBA".into(),
            approvers: vec!["dba".to_owned()].into(),
            approval: scope,
            min_approvals: 1,
        }
    }

    fn ddl() -> Classification {
        Classification {
            classes: ClassSet::of(Class::Ddl),
            objects: vec!["public.t".into()],
        }
    }

    fn queue(dir: &std::path::Path, timeout: SignedDuration) -> (Reviews, Arc<dyn StateStore>) {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        let audit = AuditLog::open(AuditLogConfig::new(dir)).unwrap();
        (Reviews::new(Arc::clone(&store), audit, timeout), store)
    }

    async fn hold(reviews: &Reviews, scope: ApprovalScope, sql: &str) -> Held {
        let alice = Identity::new("alice", ["dev"]);
        reviews
            .hold(
                "s1",
                &alice,
                "shop",
                Protocol::Postgres,
                sql,
                &ddl(),
                &review(scope),
            )
            .await
            .unwrap()
    }

    fn pending(h: Held) -> gatekit_core::approval::Approval {
        match h {
            Held::Pending(a) => *a,
            other => panic!("not pending: {other:?}"),
        }
    }

    #[tokio::test]
    async fn approved_once_runs_once_and_denied_carries_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (reviews, store) = queue(dir.path(), SignedDuration::from_mins(15));
        let bob = Identity::new("bob", ["dba"]);
        let a = pending(hold(&reviews, ApprovalScope::Once, "ALTER TABLE t ADD c int").await);
        assert_eq!(a.status, Status::Pending);
        let (outcome, _) = tokio::join!(reviews.wait(&a, "s1"), async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            store
                .decide(&a.id, &bob, Choice::Approve, None, Timestamp::now())
                .await
                .unwrap()
        });
        assert_eq!(
            outcome,
            Outcome::Approved {
                by: vec!["bob".into()]
            }
        );
        let used = store.get_approval(&a.id).await.unwrap();
        assert!(used.consumed_at.is_some());
        // A once approval does not cover the next command.
        let b = pending(hold(&reviews, ApprovalScope::Once, "ALTER TABLE t ADD c int").await);
        assert_ne!(a.id, b.id);
        store
            .decide(&b.id, &bob, Choice::Deny, Some("freeze"), Timestamp::now())
            .await
            .unwrap();
        let outcome = reviews.wait(&b, "s1").await;
        assert_eq!(
            outcome,
            Outcome::Denied {
                by: "bob".into(),
                reason: Some("freeze".into())
            }
        );
        let text = outcome.refusal(&b.id, reviews.timeout()).unwrap();
        assert!(text.contains("denied by bob: freeze"), "{text}");
    }

    #[tokio::test]
    async fn a_window_approval_covers_later_commands_of_its_classes() {
        let dir = tempfile::tempdir().unwrap();
        let (reviews, store) = queue(dir.path(), SignedDuration::from_mins(15));
        let scope = ApprovalScope::Window(SignedDuration::from_mins(30));
        let a = pending(hold(&reviews, scope, "CREATE INDEX i ON t (c)").await);
        store
            .decide(
                &a.id,
                &Identity::new("bob", ["dba"]),
                Choice::Approve,
                None,
                Timestamp::now(),
            )
            .await
            .unwrap();
        assert!(matches!(
            reviews.wait(&a, "s1").await,
            Outcome::Approved { .. }
        ));
        match hold(&reviews, scope, "DROP INDEX i").await {
            Held::Granted { approval } => assert_eq!(approval, a.id),
            other => panic!("not covered: {other:?}"),
        }
    }

    #[tokio::test]
    async fn undecided_approvals_expire_and_abandoned_ones_are_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let (reviews, store) = queue(dir.path(), SignedDuration::from_millis(150));
        let a = pending(hold(&reviews, ApprovalScope::Once, "TRUNCATE t").await);
        let started = std::time::Instant::now();
        assert_eq!(reviews.wait(&a, "s1").await, Outcome::Expired);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            store.get_approval(&a.id).await.unwrap().status,
            Status::Expired
        );
        let text = Outcome::Expired.refusal(&a.id, reviews.timeout()).unwrap();
        assert!(text.contains("not decided within"), "{text}");

        let other = tempfile::tempdir().unwrap();
        let (reviews, store) = queue(other.path(), SignedDuration::from_mins(15));
        let b = pending(hold(&reviews, ApprovalScope::Once, "TRUNCATE t").await);
        reviews.abandon(&b, "s1").await;
        assert_eq!(
            store.get_approval(&b.id).await.unwrap().status,
            Status::Cancelled
        );
        assert_eq!(reviews.wait(&b, "s1").await, Outcome::Cancelled);
    }

    #[tokio::test]
    async fn a_store_that_fails_refuses_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let (reviews, _) = queue(dir.path(), SignedDuration::from_mins(15));
        let a = pending(hold(&reviews, ApprovalScope::Once, "DROP TABLE t").await);
        // Another store (as if the one the approval lives in were lost): the lookup fails.
        let other = tempfile::tempdir().unwrap();
        let (lost, _) = queue(other.path(), SignedDuration::from_mins(15));
        let outcome = lost.wait(&a, "s1").await;
        assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
        let text = outcome.refusal(&a.id, lost.timeout()).unwrap();
        assert!(text.contains("refused to be safe"), "{text}");
    }
}
