//! Properties of `decide` over generated policies and requests, checked against a linear
//! scan that applies the rule semantics literally.

use globset::Glob;
use jiff::Timestamp;
use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use regex_automata::meta;

use crate::policy::{Policy, PolicySpec, Request, RuleSpec, TargetSpec, TimeWindow, Verdict};
use crate::{Class, Classification, Identity, Protocol};

const TARGETS: [(&str, Protocol); 4] = [
    ("pg1", Protocol::Postgres),
    ("pg2", Protocol::Postgres),
    ("ssh1", Protocol::Ssh),
    ("k1", Protocol::Kubernetes),
];
const GROUPS: [&str; 4] = ["a", "b", "c", "d"];
const CLASSES: [Class; 5] = [
    Class::Read,
    Class::Write,
    Class::Ddl,
    Class::Exec,
    Class::Secret,
];
const GLOBS: [&str; 5] = [
    "public.*",
    "public.u*",
    "kube-system/*",
    "*/secrets/*",
    "/etc/**",
];
const OBJECTS: [&str; 5] = [
    "public.users",
    "public.orders",
    "kube-system/pods/x",
    "default/secrets/y",
    "/etc/passwd",
];
const PATTERNS: [&str; 4] = ["(?i)drop", "^select", r"rm\s+-rf", "secret"];
const TEXTS: [&str; 5] = ["select 1", "DROP TABLE x", "rm -rf /", "cat secret", ""];
const WINDOWS: [&str; 3] = [
    "Mon-Fri 08:00-18:00 UTC",
    "daily 22:00-06:00 Europe/Berlin",
    "Sat,Sun 00:00-24:00 Asia/Tokyo",
];
const VERDICTS: [Verdict; 3] = [Verdict::Allow, Verdict::Review, Verdict::Deny];

fn protocol_of(target: &str) -> Protocol {
    TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, p)| *p)
        .unwrap()
}

fn rule() -> impl Strategy<Value = RuleSpec> {
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    (
        proptest::option::weighted(0.3, select(Protocol::ALL.to_vec())),
        subsequence(names, 0..=2),
        subsequence(GROUPS.to_vec(), 0..=2),
        subsequence(CLASSES.to_vec(), 0..=3),
        prop_oneof![3 => Just(Vec::new()), 1 => subsequence(GLOBS.to_vec(), 1..=2)],
        proptest::option::weighted(0.2, select(PATTERNS.to_vec())),
        proptest::option::weighted(0.2, select(WINDOWS.to_vec())),
        select(VERDICTS.to_vec()),
    )
        .prop_map(
            |(protocol, targets, groups, classes, objects, pattern, hours, action)| RuleSpec {
                name: String::new(),
                protocol,
                targets: targets
                    .into_iter()
                    .filter(|t| protocol.is_none_or(|p| protocol_of(t) == p))
                    .map(String::from)
                    .collect(),
                groups: groups.into_iter().map(String::from).collect(),
                classes,
                objects: objects.into_iter().map(String::from).collect(),
                pattern: pattern.map(String::from),
                hours: hours.map(String::from),
                action,
                approvers: if action == Verdict::Review {
                    vec!["approvers".into()]
                } else {
                    Vec::new()
                },
                ..RuleSpec::default()
            },
        )
}

fn name_rules(rules: &mut [RuleSpec], prefix: &str) {
    for (i, r) in rules.iter_mut().enumerate() {
        r.name = format!("{prefix}{i}");
    }
}

fn spec() -> impl Strategy<Value = PolicySpec> {
    (
        select(vec![Verdict::Allow, Verdict::Deny]),
        proptest::collection::vec(rule(), 0..12),
    )
        .prop_map(|(default, mut rules)| {
            name_rules(&mut rules, "r");
            PolicySpec {
                default,
                rules,
                targets: TARGETS
                    .iter()
                    .map(|(name, protocol)| TargetSpec {
                        name: (*name).into(),
                        protocol: *protocol,
                        allow_groups: vec!["a".into()],
                    })
                    .collect(),
                masks: Vec::new(),
            }
        })
}

/// A generated request, owning what `Request` borrows.
#[derive(Debug, Clone)]
struct Asked {
    identity: Identity,
    target: &'static str,
    command: Classification,
    text: &'static str,
    now: Timestamp,
}

impl Asked {
    fn request(&self) -> Request<'_> {
        Request {
            identity: &self.identity,
            target: self.target,
            protocol: protocol_of(self.target),
            command: &self.command,
            text: self.text,
            now: self.now,
        }
    }
}

fn asked() -> impl Strategy<Value = Asked> {
    let names: Vec<&'static str> = TARGETS.iter().map(|(n, _)| *n).collect();
    (
        subsequence(GROUPS.to_vec(), 0..=3),
        select(names),
        subsequence(CLASSES.to_vec(), 0..=3),
        subsequence(OBJECTS.to_vec(), 0..=2),
        select(TEXTS.to_vec()),
        1_735_689_600i64..1_767_225_600,
    )
        .prop_map(|(groups, target, classes, objects, text, secs)| {
            let mut command = Classification::of(classes);
            objects.into_iter().for_each(|o| command.add_object(o));
            Asked {
                identity: Identity::new("someone", groups),
                target,
                command,
                text,
                now: Timestamp::from_second(secs).unwrap(),
            }
        })
}

/// Whether a rule matches, read straight off the spec.
fn literally_matches(rule: &RuleSpec, req: &Request<'_>) -> bool {
    rule.protocol.is_none_or(|p| p == req.protocol)
        && (rule.targets.is_empty() || rule.targets.iter().any(|t| t == req.target))
        && (rule.groups.is_empty() || req.identity.in_any_group(&rule.groups))
        && (rule.classes.is_empty()
            || rule
                .classes
                .iter()
                .any(|c| req.command.classes.contains(*c)))
        && (rule.objects.is_empty()
            || rule.objects.iter().any(|g| {
                let glob = Glob::new(g).unwrap().compile_matcher();
                req.command.objects.iter().any(|o| glob.is_match(o))
            }))
        && rule
            .pattern
            .as_ref()
            .is_none_or(|p| meta::Regex::new(p).unwrap().is_match(req.text))
        && rule
            .hours
            .as_ref()
            .is_none_or(|h| h.parse::<TimeWindow>().unwrap().contains(req.now))
}

/// The strictest verdict of the matching rules and the first rule giving it.
fn linear_scan(spec: &PolicySpec, req: &Request<'_>) -> Option<(Verdict, usize)> {
    let mut best: Option<(Verdict, usize)> = None;
    for (i, rule) in spec.rules.iter().enumerate() {
        if literally_matches(rule, req) && best.is_none_or(|(v, _)| rule.action > v) {
            best = Some((rule.action, i));
        }
    }
    best
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_index_agrees_with_a_linear_scan(
        spec in spec(),
        asks in proptest::collection::vec(asked(), 1..6),
    ) {
        let policy = Policy::compile(spec.clone()).unwrap();
        for a in &asks {
            let req = a.request();
            let d = policy.decide(&req);
            match linear_scan(&spec, &req) {
                Some((verdict, i)) => {
                    prop_assert_eq!(d.verdict, verdict);
                    prop_assert_eq!(d.rule.as_deref(), Some(spec.rules[i].name.as_str()));
                }
                None => {
                    prop_assert_eq!(d.verdict, spec.default);
                    prop_assert_eq!(d.rule, None);
                }
            }
        }
    }

    #[test]
    fn adding_a_deny_rule_never_loosens(
        spec in spec(),
        extra in rule(),
        at in any::<Index>(),
        asks in proptest::collection::vec(asked(), 1..6),
    ) {
        let before = Policy::compile(spec.clone()).unwrap();
        let mut stricter = spec.clone();
        let deny = RuleSpec { name: "extra-deny".into(), action: Verdict::Deny, approvers: Vec::new(), ..extra };
        stricter.rules.insert(at.index(spec.rules.len() + 1), deny);
        let after = Policy::compile(stricter).unwrap();
        for a in &asks {
            let (old, new) = (before.decide(&a.request()), after.decide(&a.request()));
            prop_assert!(new.verdict >= old.verdict, "{:?} became {:?}", old, new);
        }
    }

    #[test]
    fn rule_order_does_not_change_verdicts(
        (spec, shuffled) in spec().prop_flat_map(|s| {
            let rules = s.rules.clone();
            (Just(s), Just(rules).prop_shuffle())
        }),
        asks in proptest::collection::vec(asked(), 1..6),
    ) {
        let original = Policy::compile(spec.clone()).unwrap();
        let permuted = Policy::compile(PolicySpec { rules: shuffled, ..spec }).unwrap();
        for a in &asks {
            prop_assert_eq!(
                original.decide(&a.request()).verdict,
                permuted.decide(&a.request()).verdict
            );
        }
    }

    #[test]
    fn a_decision_names_a_rule_that_matched(
        spec in spec(),
        asks in proptest::collection::vec(asked(), 1..6),
    ) {
        let policy = Policy::compile(spec.clone()).unwrap();
        for a in &asks {
            let req = a.request();
            let d = policy.decide(&req);
            match d.rule.as_deref() {
                Some(name) => {
                    let rule = spec.rules.iter().find(|r| r.name == name);
                    prop_assert!(rule.is_some(), "no rule named {}", name);
                    let alone = Policy::compile(PolicySpec {
                        rules: rule.into_iter().cloned().collect(),
                        ..spec.clone()
                    })
                    .unwrap();
                    let by_itself = alone.decide(&req);
                    prop_assert_eq!(by_itself.verdict, d.verdict);
                    prop_assert_eq!(by_itself.rule.as_deref(), Some(name));
                }
                None => {
                    prop_assert_eq!(d.verdict, spec.default);
                    prop_assert!(
                        spec.rules.iter().all(|r| !literally_matches(r, &req)),
                        "the default applied although a rule matches"
                    );
                }
            }
        }
    }
}

#[test]
fn generated_rules_compile_with_every_feature() {
    // The generators above exercise every condition; make sure none is silently rejected.
    let mut rules: Vec<RuleSpec> = WINDOWS
        .iter()
        .zip(PATTERNS)
        .map(|(w, p)| RuleSpec {
            hours: Some((*w).into()),
            pattern: Some(p.into()),
            objects: GLOBS.iter().map(|g| (*g).into()).collect(),
            ..RuleSpec::default()
        })
        .collect();
    name_rules(&mut rules, "f");
    let policy = Policy::compile(PolicySpec {
        rules,
        ..PolicySpec::default()
    })
    .unwrap();
    assert_eq!(policy.rule_count(), WINDOWS.len());
}
