//! Tests of the approval state machine: the transition table in
//! `tests/data/approval/transitions.toml`, window grants, JSON, and properties.

mod props;

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::policy::{Decision, Verdict};
use crate::{Class, Classification};

pub(super) const COMMAND: &str = "ALTER TABLE customers ADD note text";

pub(super) fn t0() -> Timestamp {
    "2025-06-02T10:00:00Z".parse().unwrap()
}

pub(super) fn at(secs: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(secs)
}

pub(super) fn alice() -> Identity {
    let mut id = Identity::new("alice", ["dev"]);
    id.email = Some("alice@example.com".into());
    id
}

/// Alice's pending DDL on `shop`, approvers `dba`.
pub(super) fn held(scope: ApprovalScope, min_approvals: u32) -> Approval {
    let mut decision = Decision::without_rule(Verdict::Review, "schema changes need a DBA");
    decision.rule = Some("risky-needs-review".into());
    decision.approvers = vec!["dba".to_owned()].into();
    decision.approval = scope;
    decision.min_approvals = min_approvals;
    let mut classification = Classification::of([Class::Ddl]);
    classification.add_object("public.customers");
    Approval::new(NewApproval {
        id: "0123456789abcdef0123456789abcdef",
        requester: &alice(),
        target: "shop",
        protocol: Protocol::Postgres,
        command: COMMAND,
        classification: &classification,
        decision: &decision,
        review_timeout: SignedDuration::from_mins(15),
        now: t0(),
    })
    .unwrap()
}

/// The variant name of an error, as the data file spells it.
pub(super) fn variant(e: &ApprovalError) -> &'static str {
    match e {
        ApprovalError::InvalidId { .. } => "InvalidId",
        ApprovalError::NotReview { .. } => "NotReview",
        ApprovalError::NoApprovers { .. } => "NoApprovers",
        ApprovalError::TooLong { .. } => "TooLong",
        ApprovalError::NotPending { .. } => "NotPending",
        ApprovalError::Expired { .. } => "Expired",
        ApprovalError::NotDue { .. } => "NotDue",
        ApprovalError::SelfDecision { .. } => "SelfDecision",
        ApprovalError::NotAnApprover { .. } => "NotAnApprover",
        ApprovalError::AlreadyVoted { .. } => "AlreadyVoted",
        ApprovalError::NotApproved { .. } => "NotApproved",
        ApprovalError::NotOnce { .. } => "NotOnce",
        ApprovalError::AlreadyConsumed { .. } => "AlreadyConsumed",
        ApprovalError::CommandMismatch { .. } => "CommandMismatch",
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    case: Vec<Case>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default = "one")]
    min_approvals: u32,
    #[serde(default)]
    scope: Option<String>,
    steps: Vec<Step>,
}

fn one() -> u32 {
    1
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    op: String,
    #[serde(default)]
    who: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    at: i64,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    error: Option<String>,
}

#[test]
fn transitions_table() {
    let table: Table = toml::from_str(include_str!(
        "../../../tests/data/approval/transitions.toml"
    ))
    .unwrap();
    assert!(table.case.len() >= 10);
    for case in &table.case {
        let scope = case
            .scope
            .as_deref()
            .map_or(ApprovalScope::Once, |s| s.parse().unwrap());
        let mut a = held(scope, case.min_approvals);
        for (i, step) in case.steps.iter().enumerate() {
            let label = format!("{} / step {i} ({})", case.name, step.op);
            let mut decider = Identity::new(step.who.clone().unwrap_or_default(), &step.groups);
            decider.email = step.email.clone();
            let now = at(step.at);
            let before = a.clone();
            let result = match step.op.as_str() {
                "approve" => a.approve(&decider, None, now).map(drop),
                "deny" => a.deny(&decider, Some("not today"), now).map(drop),
                "expire" => a.expire(now),
                "cancel" => a.cancel("client disconnected", now),
                "consume" => a.consume(step.command.as_deref().unwrap_or(COMMAND), now),
                other => panic!("{label}: unknown op {other}"),
            };
            match (&step.error, step.status, result) {
                (Some(want), None, Err(e)) => {
                    assert_eq!(variant(&e), want, "{label}: {e}");
                    assert_eq!(a, before, "{label}: a refusal changes nothing");
                    assert!(e.to_string().contains(&a.id), "{label}: {e}");
                }
                (None, Some(want), Ok(())) => {
                    assert_eq!(a.status, want, "{label}");
                    assert!(a.version > before.version, "{label}: version bumped");
                }
                (_, _, r) => panic!("{label}: unexpected {r:?}"),
            }
        }
    }
}

#[test]
fn new_checks_its_inputs() {
    let mut decision = Decision::without_rule(Verdict::Review, "r");
    decision.approvers = vec!["dba".to_owned()].into();
    let classification = Classification::of([Class::Ddl]);
    let base = NewApproval {
        id: "0123456789abcdef0123456789abcdef",
        requester: &alice(),
        target: "shop",
        protocol: Protocol::Postgres,
        command: COMMAND,
        classification: &classification,
        decision: &decision,
        review_timeout: SignedDuration::from_mins(15),
        now: t0(),
    };
    let a = Approval::new(base).unwrap();
    assert_eq!(a.min_approvals, 1, "at least one approval");
    assert_eq!(a.expires_at, at(900));
    assert_eq!(a.command_sha256, command_sha256(COMMAND));
    assert_eq!(a.command_sha256.len(), 64);
    for bad in [
        "",
        "0123",
        "0123456789ABCDEF0123456789ABCDEF",
        "g123456789abcdef0123456789abcdef",
    ] {
        let e = Approval::new(NewApproval { id: bad, ..base }).unwrap_err();
        assert_eq!(variant(&e), "InvalidId", "{bad}");
    }
    let long = "x".repeat(MAX_COMMAND_BYTES + 1);
    let e = Approval::new(NewApproval {
        command: &long,
        ..base
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            ApprovalError::TooLong {
                field: "command",
                ..
            }
        ),
        "{e}"
    );
    let deny = Decision::deny("no");
    let e = Approval::new(NewApproval {
        decision: &deny,
        ..base
    })
    .unwrap_err();
    assert_eq!(variant(&e), "NotReview");
    let nobody = Decision::without_rule(Verdict::Review, "r");
    let e = Approval::new(NewApproval {
        decision: &nobody,
        ..base
    })
    .unwrap_err();
    assert_eq!(variant(&e), "NoApprovers");
    let mut a = a;
    let bob = Identity::new("bob", ["dba"]);
    let e = a
        .approve(&bob, Some(&"r".repeat(MAX_REASON_BYTES + 1)), at(1))
        .unwrap_err();
    assert!(
        matches!(
            e,
            ApprovalError::TooLong {
                field: "reason",
                ..
            }
        ),
        "{e}"
    );
    assert!(a.status.is_pending());
}

#[test]
fn window_grant_covers_same_requester_target_and_fewer_classes() {
    let mut a = held(ApprovalScope::Window(SignedDuration::from_mins(30)), 1);
    let ddl = ClassSet::of(Class::Ddl);
    assert!(
        !a.covers(&alice(), "shop", ddl, at(1)),
        "pending grants nothing"
    );
    a.approve(&Identity::new("bob", ["dba"]), None, at(60))
        .unwrap();
    assert_eq!(a.grant_until(), Some(at(60 + 1800)));
    assert!(a.covers(&alice(), "shop", ddl, at(61)));
    assert!(a.covers(&alice(), "shop", ClassSet::EMPTY, at(61)));
    assert!(a.covers(&alice(), "shop", ddl, at(60 + 1799)));
    assert!(
        !a.covers(&alice(), "shop", ddl, at(60 + 1800)),
        "window over"
    );
    assert!(!a.covers(&alice(), "other", ddl, at(61)), "other target");
    assert!(
        !a.covers(&Identity::new("bob", ["dev"]), "shop", ddl, at(61)),
        "other requester"
    );
    let more = ddl | ClassSet::of(Class::Destructive);
    assert!(!a.covers(&alice(), "shop", more, at(61)), "more classes");

    let mut once = held(ApprovalScope::Once, 1);
    once.approve(&Identity::new("bob", ["dba"]), None, at(60))
        .unwrap();
    assert_eq!(once.grant_until(), None);
    assert!(
        !once.covers(&alice(), "shop", ddl, at(61)),
        "once is no grant"
    );
}

#[test]
fn json_has_stable_field_names_and_round_trips() {
    let mut a = held(ApprovalScope::Window(SignedDuration::from_mins(30)), 2);
    let mut bob = Identity::new("bob", ["dba"]);
    bob.email = Some("bob@example.com".into());
    a.approve(&bob, Some("ok"), at(5)).unwrap();
    let json = serde_json::to_value(&a).unwrap();
    for key in [
        "id",
        "requester",
        "target",
        "protocol",
        "command",
        "command_sha256",
        "classes",
        "objects",
        "rule",
        "rule_reason",
        "approvers",
        "min_approvals",
        "scope",
        "created_at",
        "expires_at",
        "status",
        "votes",
        "decided_at",
        "reason",
        "consumed_at",
        "version",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    assert_eq!(json["scope"], "window:30m");
    assert_eq!(json["status"], "pending");
    assert_eq!(json["protocol"], "postgres");
    assert_eq!(json["classes"], serde_json::json!(["ddl"]));
    assert_eq!(json["requester"]["subject"], "alice");
    assert_eq!(json["votes"][0]["decider"], "bob");
    assert_eq!(json["votes"][0]["choice"], "approve");
    assert_eq!(json["votes"][0]["groups"], serde_json::json!(["dba"]));
    let back: Approval = serde_json::from_value(json).unwrap();
    assert_eq!(back, a);
    assert!(
        serde_json::from_str::<Approval>(
            &serde_json::to_string(&a)
                .unwrap()
                .replace("window:30m", "forever")
        )
        .is_err()
    );
}

#[test]
fn status_names() {
    for s in Status::ALL {
        assert_eq!(s.name().parse::<Status>().unwrap(), s);
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
    }
    assert!("Pending".parse::<Status>().is_err());
}
