//! Properties over random sequences of operations by random deciders at random times.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::{COMMAND, alice, at, held, variant};
use crate::Identity;
use crate::approval::{Approval, ApprovalScope, Choice, Status};

/// The people who try to decide: the requester, the requester under another subject with
/// the same e-mail, non-approvers, and approvers (one sharing an e-mail with another).
fn people() -> Vec<Identity> {
    let mut alias = Identity::new("alice-2", ["dba"]);
    alias.email = Some("Alice@Example.com".into());
    let mut alice_dba = alice();
    alice_dba.groups.push("dba".into());
    let mut carol = Identity::new("carol", ["dba", "ops"]);
    carol.email = Some("carol@example.com".into());
    let mut carol2 = Identity::new("carol-alt", ["dba"]);
    carol2.email = Some("carol@example.com".into());
    vec![
        alice_dba,
        alias,
        Identity::new("mallory", ["dev"]),
        Identity::new("eve", Vec::<String>::new()),
        Identity::new("bob", ["dba"]),
        carol,
        carol2,
        Identity::new("dave", ["x", "dba"]),
    ]
}

#[derive(Clone, Debug)]
enum Action {
    Vote(usize, Choice),
    Expire,
    Cancel,
    Consume,
}

fn action() -> impl Strategy<Value = (Action, i64)> {
    let act = prop_oneof![
        6 => (0..8usize, prop_oneof![4 => Just(Choice::Approve), 1 => Just(Choice::Deny)])
            .prop_map(|(p, c)| Action::Vote(p, c)),
        1 => Just(Action::Expire),
        1 => Just(Action::Cancel),
        1 => Just(Action::Consume),
    ];
    (act, 0..1200i64)
}

fn same_person(a: &Identity, requester: &Approval) -> bool {
    a.subject == requester.requester.subject
        || matches!((&a.email, &requester.requester.email), (Some(x), Some(y)) if x.eq_ignore_ascii_case(y))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_sequence_breaks_the_rules(
        min in 1u32..4,
        window in any::<bool>(),
        steps in proptest::collection::vec(action(), 0..24),
    ) {
        let people = people();
        let scope = if window {
            ApprovalScope::Window(jiff::SignedDuration::from_mins(30))
        } else {
            ApprovalScope::Once
        };
        let mut a = held(scope, min);
        let mut elapsed = 0i64;
        for (act, dt) in steps {
            // Time only moves forward.
            elapsed += dt / 4;
            let now = at(elapsed);
            let before = a.clone();
            let result = match &act {
                Action::Vote(p, choice) => a.decide(&people[*p], *choice, None, now).map(drop),
                Action::Expire => a.expire(now),
                Action::Cancel => a.cancel("gone", now),
                Action::Consume => a.consume(COMMAND, now),
            };
            match result {
                Err(e) => prop_assert_eq!(&a, &before, "refusal {} changed the approval", variant(&e)),
                Ok(()) => {
                    prop_assert!(a.version > before.version);
                    match &act {
                        Action::Vote(p, _) => {
                            let who = &people[*p];
                            prop_assert!(before.status.is_pending(), "a decided approval changed");
                            prop_assert!(now < before.expires_at, "an expired approval changed");
                            prop_assert!(!same_person(who, &before), "the requester decided");
                            prop_assert!(who.in_group("dba"), "a non-approver decided");
                        }
                        Action::Expire | Action::Cancel => {
                            prop_assert!(before.status.is_pending(), "a decided approval changed");
                        }
                        Action::Consume => {
                            prop_assert_eq!(before.status, Status::Approved);
                            prop_assert!(before.consumed_at.is_none(), "consumed twice");
                            prop_assert_eq!(before.scope, ApprovalScope::Once);
                        }
                    }
                }
            }
            // Deciders are distinct people; approval needs min distinct approvers.
            let subjects: BTreeSet<&str> = a.votes.iter().map(|v| v.decider.as_str()).collect();
            prop_assert_eq!(subjects.len(), a.votes.len(), "a decider voted twice");
            let emails: Vec<String> = a.votes.iter().filter_map(|v| v.email.as_ref()).map(|e| e.to_ascii_lowercase()).collect();
            let distinct_emails: BTreeSet<&String> = emails.iter().collect();
            prop_assert_eq!(distinct_emails.len(), emails.len(), "one e-mail voted twice");
            let approvers = a.votes.iter().filter(|v| v.choice == Choice::Approve).count();
            prop_assert_eq!(a.approving_deciders(), approvers);
            if a.status == Status::Approved {
                prop_assert!(approvers >= min as usize);
                prop_assert!(a.votes.iter().all(|v| v.choice == Choice::Approve));
            }
            if a.status == Status::Pending {
                prop_assert!(approvers < min as usize);
                prop_assert!(a.decided_at.is_none());
            } else {
                prop_assert!(a.decided_at.is_some());
            }
            prop_assert!(a.votes.iter().all(|v| v.decider != "alice" && v.groups.iter().any(|g| g == "dba")));
        }
    }
}
