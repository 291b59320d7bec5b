//! Cases every backend must pass. Each takes two handles on one store ("replicas"): for
//! SQLite and PostgreSQL, two stores opened on the same database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatekit_core::approval::{Approval, ApprovalError, Choice, NewApproval, Status};
use gatekit_core::audit::ChainHead;
use gatekit_core::policy::{ApprovalScope, Decision, Verdict};
use gatekit_core::{Class, ClassSet, Classification, Identity, Protocol};
use jiff::{SignedDuration, Timestamp};

use crate::state::{ApprovalFilter, LiveSession, StateError, StateStore};

/// Two handles on one store.
pub(super) struct Replicas {
    pub(super) a: Arc<dyn StateStore>,
    pub(super) b: Arc<dyn StateStore>,
}

pub(super) fn t0() -> Timestamp {
    "2025-06-02T10:00:00Z".parse().unwrap()
}

fn at(secs: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(secs)
}

fn alice() -> Identity {
    let mut id = Identity::new("alice", ["dev"]);
    id.email = Some("alice@example.com".into());
    id
}

pub(super) fn dba(name: &str) -> Identity {
    Identity::new(name, ["dba"])
}

/// A pending `once` approval numbered `n` for alice's DDL on `shop`.
pub(super) fn pending(n: u32) -> Approval {
    approval(n, ApprovalScope::Once, 1)
}

/// A pending approval numbered `n` for alice's DDL on `shop`.
fn approval(n: u32, scope: ApprovalScope, min_approvals: u32) -> Approval {
    let mut decision = Decision::without_rule(Verdict::Review, "schema changes need a DBA");
    decision.rule = Some("risky-needs-review".into());
    decision.approvers = vec!["dba".to_owned()].into();
    decision.approval = scope;
    decision.min_approvals = min_approvals;
    let mut classification = Classification::of([Class::Ddl]);
    classification.add_object("public.customers");
    Approval::new(NewApproval {
        id: &format!("{n:032x}"),
        requester: &alice(),
        target: "shop",
        protocol: Protocol::Postgres,
        command: &format!("ALTER TABLE customers ADD note{n} text"),
        classification: &classification,
        decision: &decision,
        review_timeout: SignedDuration::from_mins(15),
        now: t0(),
    })
    .unwrap()
}

pub(super) fn session(id: &str, replica: &str) -> LiveSession {
    LiveSession {
        id: id.to_owned(),
        replica: replica.to_owned(),
        target: "shop".into(),
        protocol: Protocol::Postgres,
        identity: alice(),
        peer: "127.0.0.1:50000".into(),
        started_at: t0(),
        last_seen: t0(),
        kill_requested_at: None,
        kill_requested_by: None,
    }
}

pub(super) async fn create_get_list(r: Replicas) {
    let first = approval(1, ApprovalScope::Once, 1);
    r.a.create_approval(&first).await.unwrap();
    assert_eq!(r.b.get_approval(&first.id).await.unwrap(), first);
    let dup = r.b.create_approval(&first).await.unwrap_err();
    assert!(matches!(dup, StateError::DuplicateApproval { .. }), "{dup}");
    let missing = r.a.get_approval(&format!("{:032x}", 99)).await.unwrap_err();
    assert!(
        matches!(missing, StateError::ApprovalNotFound { .. }),
        "{missing}"
    );

    let mut second = approval(2, ApprovalScope::Once, 1);
    second.created_at = at(1);
    r.a.create_approval(&second).await.unwrap();
    let pending =
        r.b.list_approvals(ApprovalFilter::Status(Status::Pending), 10)
            .await
            .unwrap();
    assert_eq!(
        ids(&pending),
        [first.id.clone(), second.id.clone()],
        "oldest first"
    );
    let limited = r.b.list_approvals(ApprovalFilter::Any, 1).await.unwrap();
    assert_eq!(ids(&limited), [second.id.clone()], "newest first");

    r.a.decide(
        &second.id,
        &dba("bob"),
        Choice::Deny,
        Some("not now"),
        at(5),
    )
    .await
    .unwrap();
    r.a.decide(&first.id, &dba("bob"), Choice::Approve, None, at(6))
        .await
        .unwrap();
    let decided =
        r.b.list_approvals(ApprovalFilter::Decided, 10)
            .await
            .unwrap();
    assert_eq!(
        ids(&decided),
        [first.id.clone(), second.id.clone()],
        "newest decided first"
    );
    let denied =
        r.b.list_approvals(ApprovalFilter::Status(Status::Denied), 10)
            .await
            .unwrap();
    assert_eq!(ids(&denied), [second.id.clone()]);
    assert_eq!(denied[0].reason.as_deref(), Some("not now"));
    assert!(
        r.b.list_approvals(ApprovalFilter::Status(Status::Pending), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

fn ids(list: &[Approval]) -> Vec<String> {
    list.iter().map(|a| a.id.clone()).collect()
}

pub(super) async fn decisions_follow_the_rules(r: Replicas) {
    let a = approval(3, ApprovalScope::Once, 1);
    r.a.create_approval(&a).await.unwrap();
    let own =
        r.b.decide(&a.id, &alice(), Choice::Approve, None, at(1))
            .await
            .unwrap_err();
    assert!(
        matches!(
            own,
            StateError::Transition(ApprovalError::SelfDecision { .. })
        ),
        "{own}"
    );
    let outsider = Identity::new("mallory", ["dev"]);
    let no =
        r.b.decide(&a.id, &outsider, Choice::Approve, None, at(1))
            .await
            .unwrap_err();
    assert!(
        matches!(
            no,
            StateError::Transition(ApprovalError::NotAnApprover { .. })
        ),
        "{no}"
    );
    let late =
        r.b.decide(&a.id, &dba("bob"), Choice::Approve, None, at(15 * 60))
            .await
            .unwrap_err();
    assert!(
        matches!(late, StateError::Transition(ApprovalError::Expired { .. })),
        "{late}"
    );
    assert_eq!(
        r.a.get_approval(&a.id).await.unwrap(),
        a,
        "refusals change nothing"
    );

    let ok =
        r.b.decide(&a.id, &dba("bob"), Choice::Approve, None, at(2))
            .await
            .unwrap();
    assert_eq!(ok.status, Status::Approved);
    let again =
        r.a.decide(&a.id, &dba("carol"), Choice::Deny, None, at(3))
            .await
            .unwrap_err();
    assert!(
        matches!(
            again,
            StateError::Transition(ApprovalError::NotPending { .. })
        ),
        "{again}"
    );

    let cmd = a.command.clone();
    let wrong =
        r.a.consume(&a.id, "DROP TABLE customers", at(3))
            .await
            .unwrap_err();
    assert!(
        matches!(
            wrong,
            StateError::Transition(ApprovalError::CommandMismatch { .. })
        ),
        "{wrong}"
    );
    r.a.consume(&a.id, &cmd, at(3)).await.unwrap();
    let twice = r.b.consume(&a.id, &cmd, at(4)).await.unwrap_err();
    assert!(
        matches!(
            twice,
            StateError::Transition(ApprovalError::AlreadyConsumed { .. })
        ),
        "{twice}"
    );
}

pub(super) async fn expire_and_cancel(r: Replicas) {
    let a = approval(4, ApprovalScope::Once, 1);
    let b = approval(5, ApprovalScope::Once, 1);
    r.a.create_approval(&a).await.unwrap();
    r.a.create_approval(&b).await.unwrap();
    assert!(r.b.expire_due(at(60)).await.unwrap().is_empty());
    let c =
        r.b.cancel(&b.id, "client disconnected", at(30))
            .await
            .unwrap();
    assert_eq!(c.status, Status::Cancelled);
    let expired = r.b.expire_due(at(15 * 60)).await.unwrap();
    assert_eq!(ids(&expired), std::slice::from_ref(&a.id));
    assert_eq!(
        r.a.get_approval(&a.id).await.unwrap().status,
        Status::Expired
    );
    assert_eq!(
        r.a.get_approval(&b.id).await.unwrap().status,
        Status::Cancelled
    );
    assert!(r.a.expire_due(at(3600)).await.unwrap().is_empty());
}

pub(super) async fn window_grants(r: Replicas) {
    let w = approval(6, ApprovalScope::Window(SignedDuration::from_mins(30)), 1);
    r.a.create_approval(&w).await.unwrap();
    let ddl = ClassSet::of(Class::Ddl);
    assert!(
        r.b.find_grant(&alice(), "shop", ddl, at(1))
            .await
            .unwrap()
            .is_none(),
        "pending grants nothing"
    );
    r.b.decide(&w.id, &dba("bob"), Choice::Approve, None, at(60))
        .await
        .unwrap();
    let g =
        r.a.find_grant(&alice(), "shop", ddl, at(120))
            .await
            .unwrap();
    assert_eq!(g.map(|g| g.id), Some(w.id.clone()));
    assert!(
        r.a.find_grant(&alice(), "shop", ddl, at(60 + 30 * 60))
            .await
            .unwrap()
            .is_none(),
        "window over"
    );
    assert!(
        r.a.find_grant(&alice(), "other", ddl, at(120))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        r.a.find_grant(&dba("bob"), "shop", ddl, at(120))
            .await
            .unwrap()
            .is_none()
    );
    let more = ddl | ClassSet::of(Class::Destructive);
    assert!(
        r.a.find_grant(&alice(), "shop", more, at(120))
            .await
            .unwrap()
            .is_none()
    );
    let once = r.a.consume(&w.id, &w.command, at(120)).await.unwrap_err();
    assert!(
        matches!(once, StateError::Transition(ApprovalError::NotOnce { .. })),
        "{once}"
    );
}

pub(super) async fn wait_sees_other_replica(r: Replicas) {
    let a = approval(7, ApprovalScope::Once, 1);
    r.a.create_approval(&a).await.unwrap();
    let unchanged =
        r.a.wait_change(&a.id, a.version, Duration::from_millis(150))
            .await
            .unwrap();
    assert_eq!(unchanged.status, Status::Pending, "times out unchanged");
    let b = r.b.clone();
    let id = a.id.clone();
    let decider = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        b.decide(&id, &dba("bob"), Choice::Approve, None, at(10))
            .await
            .unwrap();
        started
    });
    let waited =
        r.a.wait_change(&a.id, a.version, Duration::from_secs(5))
            .await
            .unwrap();
    let released = Instant::now();
    let decided = decider.await.unwrap();
    assert_eq!(waited.status, Status::Approved);
    let latency = released.saturating_duration_since(decided);
    eprintln!(
        "{}: wait released {latency:?} after a decision through the other replica",
        r.a.backend()
    );
    assert!(latency < Duration::from_secs(1), "{latency:?}");
}

pub(super) async fn concurrent_deciders_both_count(r: Replicas) {
    let a = approval(8, ApprovalScope::Once, 2);
    r.a.create_approval(&a).await.unwrap();
    let (ra, rb) = (r.a.clone(), r.b.clone());
    let (ia, ib) = (a.id.clone(), a.id.clone());
    let one = tokio::spawn(async move {
        ra.decide(&ia, &dba("bob"), Choice::Approve, None, at(5))
            .await
    });
    let two = tokio::spawn(async move {
        rb.decide(&ib, &dba("carol"), Choice::Approve, None, at(5))
            .await
    });
    one.await.unwrap().unwrap();
    two.await.unwrap().unwrap();
    let done = r.a.get_approval(&a.id).await.unwrap();
    assert_eq!(done.status, Status::Approved);
    assert_eq!(done.approving_deciders(), 2);
    assert_eq!(done.votes.len(), 2);
}

pub(super) async fn same_decider_twice_counts_once(r: Replicas) {
    let a = approval(9, ApprovalScope::Once, 2);
    r.a.create_approval(&a).await.unwrap();
    let (ra, rb) = (r.a.clone(), r.b.clone());
    let (ia, ib) = (a.id.clone(), a.id.clone());
    let one = tokio::spawn(async move {
        ra.decide(&ia, &dba("bob"), Choice::Approve, None, at(5))
            .await
    });
    let two = tokio::spawn(async move {
        rb.decide(&ib, &dba("bob"), Choice::Approve, None, at(5))
            .await
    });
    let results = [one.await.unwrap(), two.await.unwrap()];
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results.iter().any(|r| matches!(
        r,
        Err(StateError::Transition(ApprovalError::AlreadyVoted { .. }))
    )));
    let now = r.b.get_approval(&a.id).await.unwrap();
    assert_eq!(now.status, Status::Pending);
    assert_eq!(now.approving_deciders(), 1);
    let done =
        r.b.decide(&a.id, &dba("carol"), Choice::Approve, None, at(6))
            .await
            .unwrap();
    assert_eq!(done.status, Status::Approved);
}

pub(super) async fn sessions_and_kills(r: Replicas) {
    let s1 = session("s-1", "replica-a");
    let s2 = session("s-2", "replica-b");
    r.a.register_session(&s1).await.unwrap();
    r.b.register_session(&s2).await.unwrap();
    let all = r.b.list_sessions().await.unwrap();
    assert_eq!(
        all.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["s-1", "s-2"]
    );
    r.a.heartbeat_session("s-1", at(30)).await.unwrap();
    let missing = r.a.heartbeat_session("nope", at(30)).await.unwrap_err();
    assert!(
        matches!(missing, StateError::SessionNotFound { .. }),
        "{missing}"
    );
    assert!(
        r.a.wait_kills("replica-a", Duration::from_millis(150))
            .await
            .unwrap()
            .is_empty()
    );

    let b = r.b.clone();
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        b.request_kill("s-1", "security-lead", at(40))
            .await
            .unwrap();
        started
    });
    let kills =
        r.a.wait_kills("replica-a", Duration::from_secs(5))
            .await
            .unwrap();
    let seen = Instant::now();
    let asked = killer.await.unwrap();
    assert_eq!(kills.len(), 1);
    assert_eq!(kills[0].id, "s-1");
    assert_eq!(kills[0].kill_requested_by.as_deref(), Some("security-lead"));
    let latency = seen.saturating_duration_since(asked);
    eprintln!(
        "{}: kill seen {latency:?} after the request through the other replica",
        r.a.backend()
    );
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    assert!(
        r.b.wait_kills("replica-b", Duration::from_millis(50))
            .await
            .unwrap()
            .is_empty()
    );

    r.a.unregister_session("s-1").await.unwrap();
    r.a.unregister_session("s-1").await.unwrap();
    assert_eq!(
        r.a.reap_sessions(at(1)).await.unwrap(),
        1,
        "s-2 last seen at t0"
    );
    assert!(r.b.list_sessions().await.unwrap().is_empty());
    let gone = r.b.request_kill("s-2", "x", at(50)).await.unwrap_err();
    assert!(matches!(gone, StateError::SessionNotFound { .. }), "{gone}");
}

pub(super) async fn audit_head(r: Replicas) {
    assert_eq!(r.a.get_audit_head().await.unwrap(), None);
    let head = ChainHead {
        seq: 42,
        hash: [7; 32],
    };
    r.a.put_audit_head(&head).await.unwrap();
    assert_eq!(r.b.get_audit_head().await.unwrap(), Some(head));
    let next = ChainHead {
        seq: 43,
        hash: [9; 32],
    };
    r.b.put_audit_head(&next).await.unwrap();
    assert_eq!(r.a.get_audit_head().await.unwrap(), Some(next));
}
