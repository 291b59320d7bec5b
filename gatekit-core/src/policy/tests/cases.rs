//! Table tests: each data file holds a policy and the decisions it must make.

use jiff::Timestamp;

use crate::policy::{
    ApprovalScope, MaskBinding, Policy, PolicySpec, Request, RuleSpec, TargetSpec, Verdict,
};
use crate::{Class, Classification, Identity, Protocol};

/// A case file: a policy (unless given separately) and cases for each question.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[serde(default)]
    policy: Option<PolicySpec>,
    #[serde(default)]
    case: Vec<DecideCase>,
    #[serde(default)]
    admit: Vec<AdmitCase>,
    #[serde(default)]
    masks: Vec<MaskCase>,
}

/// A command and the decision it must get. Fields left out of the expectation are not checked.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideCase {
    name: String,
    #[serde(default)]
    groups: Vec<String>,
    target: String,
    #[serde(default)]
    protocol: Option<Protocol>,
    #[serde(default)]
    classes: Vec<Class>,
    #[serde(default)]
    objects: Vec<String>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    now: Option<Timestamp>,
    verdict: Verdict,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    approvers: Option<Vec<String>>,
    #[serde(default)]
    approval: Option<String>,
    #[serde(default)]
    min_approvals: Option<u32>,
}

/// A session start and its verdict.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AdmitCase {
    name: String,
    #[serde(default)]
    groups: Vec<String>,
    target: String,
    verdict: Verdict,
    #[serde(default)]
    reason: Option<String>,
}

/// A session and the masking profiles that apply to it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MaskCase {
    name: String,
    #[serde(default)]
    groups: Vec<String>,
    target: String,
    profiles: Vec<String>,
}

/// Monday 2025-06-02 10:00 UTC, when a case gives no time.
fn monday_morning() -> Timestamp {
    Timestamp::from_second(1_748_858_400).unwrap()
}

/// Runs every case of a file against a policy; returns how many ran.
fn run(file: &str, policy: &Policy, cases: &CaseFile) -> usize {
    for c in &cases.case {
        let identity = Identity::new("alice", c.groups.iter().cloned());
        let mut command = Classification::of(c.classes.iter().copied());
        c.objects
            .iter()
            .for_each(|o| command.add_object(o.as_str()));
        let protocol = c.protocol.unwrap_or_else(|| {
            policy
                .target(&c.target)
                .map(|t| t.protocol())
                .unwrap_or_else(|| panic!("{file}: {}: give a protocol", c.name))
        });
        let req = Request {
            identity: &identity,
            target: &c.target,
            protocol,
            command: &command,
            text: &c.text,
            now: c.now.unwrap_or_else(monday_morning),
        };
        let d = policy.decide(&req);
        let at = format!("{file}: {}: {d:?}", c.name);
        assert_eq!(d.verdict, c.verdict, "{at}");
        assert_eq!(d.rule.as_deref(), c.rule.as_deref(), "{at}");
        if let Some(reason) = &c.reason {
            assert_eq!(&*d.reason, reason, "{at}");
        }
        if let Some(approvers) = &c.approvers {
            assert_eq!(&*d.approvers, approvers.as_slice(), "{at}");
        }
        if let Some(approval) = &c.approval {
            let want: ApprovalScope = approval.parse().unwrap();
            assert_eq!(d.approval, want, "{at}");
        }
        if let Some(n) = c.min_approvals {
            assert_eq!(d.min_approvals, n, "{at}");
        }
    }
    for c in &cases.admit {
        let identity = Identity::new("alice", c.groups.iter().cloned());
        let d = policy.admit(&identity, &c.target);
        let at = format!("{file}: admit {}: {d:?}", c.name);
        assert_eq!(d.verdict, c.verdict, "{at}");
        assert_eq!(d.rule, None, "{at}");
        if let Some(reason) = &c.reason {
            assert_eq!(&*d.reason, reason, "{at}");
        }
    }
    for c in &cases.masks {
        let identity = Identity::new("alice", c.groups.iter().cloned());
        let got: Vec<&str> = policy.mask_profiles(&identity, &c.target).collect();
        assert_eq!(got, c.profiles, "{file}: masks {}", c.name);
    }
    cases.case.len() + cases.admit.len() + cases.masks.len()
}

/// Compiles a self-contained case file and runs its cases.
fn run_file(file: &str, text: &str) {
    let cases: CaseFile = toml::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let spec = cases.policy.clone().expect("case file without [policy]");
    let policy = Policy::compile(spec).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(run(file, &policy, &cases) > 0, "{file} has no cases");
}

macro_rules! case_file {
    ($test:ident, $file:literal) => {
        #[test]
        fn $test() {
            run_file(
                $file,
                include_str!(concat!("../../../tests/data/policy/", $file)),
            );
        }
    };
}

case_file!(protocol, "protocol.toml");
case_file!(targets, "targets.toml");
case_file!(groups, "groups.toml");
case_file!(classes, "classes.toml");
case_file!(objects, "objects.toml");
case_file!(pattern, "pattern.toml");
case_file!(hours, "hours.toml");
case_file!(precedence, "precedence.toml");
case_file!(admit, "admit.toml");
case_file!(masks, "masks.toml");

/// The policy tables of the example configuration.
#[derive(serde::Deserialize)]
struct ExampleConfig {
    policy: ExamplePolicy,
    target: Vec<TargetSpec>,
    rule: Vec<RuleSpec>,
    mask: Vec<MaskBinding>,
}

/// The example's `[policy]` table; `review_timeout` belongs to the approval flow.
#[derive(serde::Deserialize)]
struct ExamplePolicy {
    default: Verdict,
}

/// Compiles the example configuration's policy.
pub(super) fn example_policy() -> Policy {
    let config: ExampleConfig =
        toml::from_str(include_str!("../../../tests/data/policy/example.toml")).unwrap();
    assert_eq!(config.rule.len(), 5);
    Policy::compile(PolicySpec {
        default: config.policy.default,
        rules: config.rule,
        targets: config.target,
        masks: config.mask,
    })
    .unwrap()
}

#[test]
fn example_config() {
    let policy = example_policy();
    assert_eq!(policy.default_verdict(), Verdict::Allow);
    assert_eq!(policy.rule_count(), 5);
    assert_eq!(
        policy.rule_names().collect::<Vec<_>>(),
        [
            "no-bulk-writes",
            "risky-needs-review",
            "no-secrets-for-dev",
            "kube-system-is-read-only",
            "prod-shell-needs-review",
        ]
    );
    let targets: Vec<(&str, Protocol)> =
        policy.targets().map(|t| (t.name(), t.protocol())).collect();
    assert_eq!(
        targets,
        [
            ("shop", Protocol::Postgres),
            ("bastion", Protocol::Ssh),
            ("prod-cluster", Protocol::Kubernetes),
        ]
    );
    assert_eq!(
        policy.target("shop").unwrap().allow_groups(),
        ["dev", "dba"]
    );
    assert_eq!(policy.mask_names().collect::<Vec<_>>(), ["pii"]);

    let file = "example_cases.toml";
    let cases: CaseFile = toml::from_str(include_str!(
        "../../../tests/data/policy/example_cases.toml"
    ))
    .unwrap();
    assert!(run(file, &policy, &cases) > 0);
}

#[test]
fn decisions_serialize_for_check_json() {
    let policy = example_policy();
    let identity = Identity::new("alice", ["dev"]);
    let command = Classification::of([Class::Ddl]);
    let req = Request {
        identity: &identity,
        target: "shop",
        protocol: Protocol::Postgres,
        command: &command,
        text: "DROP INDEX i",
        now: monday_morning(),
    };
    let json = serde_json::to_value(policy.decide(&req)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "verdict": "review",
            "rule": "risky-needs-review",
            "reason": "schema, privilege and opaque changes need a DBA",
            "approvers": ["dba"],
            "approval": "once",
            "min_approvals": 1,
        })
    );
    let read = Classification::of([Class::Read]);
    let default = policy.decide(&Request {
        command: &read,
        text: "SELECT 1",
        ..req
    });
    let json = serde_json::to_value(&default).unwrap();
    assert_eq!(json["rule"], serde_json::Value::Null);
    assert_eq!(json["verdict"], "allow");
}

#[test]
fn long_untrusted_names_are_clipped_in_reasons() {
    let policy = example_policy();
    let name = "x".repeat(10_000);
    let d = policy.admit(&Identity::new("alice", ["dev"]), &name);
    assert_eq!(d.verdict, Verdict::Deny);
    assert!(d.reason.len() < 200, "{}", d.reason.len());
}
