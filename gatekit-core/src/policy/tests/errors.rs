//! Every compile error, from `errors.toml`.

use std::collections::BTreeSet;

use crate::policy::compile::{MAX_ENTRIES, check_count};
use crate::policy::{MaskBinding, Policy, PolicyError, PolicySpec, RuleSpec, TargetSpec, Verdict};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorFile {
    base: PolicySpec,
    case: Vec<ErrorCase>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorCase {
    name: String,
    #[serde(default)]
    default: Option<Verdict>,
    error: String,
    contains: Vec<String>,
    #[serde(default)]
    targets: Vec<TargetSpec>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
    #[serde(default)]
    masks: Vec<MaskBinding>,
}

/// The variant's name. Adding a variant breaks this match: add it here, and to
/// `COMPILE_ERRORS` with a case in `errors.toml` when `Policy::compile` can return it.
fn variant(e: &PolicyError) -> &'static str {
    match e {
        PolicyError::EmptyName { .. } => "EmptyName",
        PolicyError::TooMany { .. } => "TooMany",
        PolicyError::ReviewDefault => "ReviewDefault",
        PolicyError::DuplicateRule { .. } => "DuplicateRule",
        PolicyError::DuplicateTarget { .. } => "DuplicateTarget",
        PolicyError::DuplicateMask { .. } => "DuplicateMask",
        PolicyError::UnknownRuleTarget { .. } => "UnknownRuleTarget",
        PolicyError::ProtocolMismatch { .. } => "ProtocolMismatch",
        PolicyError::UnknownMaskTarget { .. } => "UnknownMaskTarget",
        PolicyError::InvalidPattern { .. } => "InvalidPattern",
        PolicyError::InvalidHours { .. } => "InvalidHours",
        PolicyError::InvalidObjectGlob { .. } => "InvalidObjectGlob",
        PolicyError::ReviewWithoutApprovers { .. } => "ReviewWithoutApprovers",
        PolicyError::InvalidApproval { .. } => "InvalidApproval",
        PolicyError::ZeroMinApprovals { .. } => "ZeroMinApprovals",
        PolicyError::InvalidTimeWindow { .. } => "InvalidTimeWindow",
        PolicyError::InvalidDuration { .. } => "InvalidDuration",
        PolicyError::InvalidApprovalScope { .. } => "InvalidApprovalScope",
        PolicyError::InvalidVerdict { .. } => "InvalidVerdict",
    }
}

/// The errors `Policy::compile` returns for a spec of realistic size.
const COMPILE_ERRORS: [&str; 14] = [
    "EmptyName",
    "ReviewDefault",
    "DuplicateRule",
    "DuplicateTarget",
    "DuplicateMask",
    "UnknownRuleTarget",
    "ProtocolMismatch",
    "UnknownMaskTarget",
    "InvalidPattern",
    "InvalidHours",
    "InvalidObjectGlob",
    "ReviewWithoutApprovers",
    "InvalidApproval",
    "ZeroMinApprovals",
];

#[test]
fn every_compile_error_names_its_cause() {
    let file: ErrorFile =
        toml::from_str(include_str!("../../../tests/data/policy/errors.toml")).unwrap();
    Policy::compile(file.base.clone()).expect("the base spec compiles");
    let mut seen = BTreeSet::new();
    for c in file.case {
        let mut spec = file.base.clone();
        spec.default = c.default.unwrap_or(spec.default);
        spec.targets.extend(c.targets);
        spec.rules.extend(c.rules);
        spec.masks.extend(c.masks);
        let err = Policy::compile(spec).expect_err(&c.name);
        assert_eq!(variant(&err), c.error, "{}: {err}", c.name);
        let message = err.to_string();
        for part in &c.contains {
            assert!(
                message.contains(part),
                "{}: {message:?} lacks {part:?}",
                c.name
            );
        }
        seen.insert(variant(&err));
    }
    for name in COMPILE_ERRORS {
        assert!(seen.contains(name), "no case in errors.toml for {name}");
    }
}

#[test]
fn counts_are_bounded() {
    assert!(check_count("rule", MAX_ENTRIES).is_ok());
    let err = check_count("rule", MAX_ENTRIES + 1).unwrap_err();
    assert_eq!(variant(&err), "TooMany");
    assert!(err.to_string().contains("rules"), "{err}");
}

#[test]
fn a_rule_error_does_not_hide_behind_a_valid_policy() {
    // The first bad field in config order is reported, with the rule's position.
    let spec = PolicySpec {
        default: Verdict::Allow,
        rules: vec![
            RuleSpec {
                name: "ok".into(),
                ..RuleSpec::default()
            },
            RuleSpec {
                name: "two-problems".into(),
                pattern: Some("(".into()),
                min_approvals: 0,
                ..RuleSpec::default()
            },
        ],
        ..PolicySpec::default()
    };
    let err = Policy::compile(spec).unwrap_err();
    assert!(
        matches!(&err, PolicyError::InvalidPattern { index: 1, rule, .. } if rule == "two-problems"),
        "{err}"
    );
}
