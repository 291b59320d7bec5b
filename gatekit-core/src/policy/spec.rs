//! The plain-data input of [`Policy::compile`](super::Policy::compile).

use crate::{Class, Protocol};

use super::Verdict;

/// Everything the policy engine is compiled from: the `[policy] default`, the `[[rule]]`
/// tables, the targets' `allow_groups` and the masking profiles' bindings.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySpec {
    /// The verdict when no rule matches a command.
    pub default: Verdict,
    /// The rules, in config order.
    pub rules: Vec<RuleSpec>,
    /// The targets sessions may open.
    pub targets: Vec<TargetSpec>,
    /// Which masking profiles apply where.
    pub masks: Vec<MaskBinding>,
}

/// A target as far as policy is concerned. Other keys are ignored, so a whole `[[target]]`
/// table deserializes into one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct TargetSpec {
    /// The target's unique name.
    pub name: String,
    /// The protocol it speaks.
    pub protocol: Protocol,
    /// Groups admitted to sessions on it; empty admits nobody.
    #[serde(default)]
    pub allow_groups: Vec<String>,
}

/// One `[[rule]]`. Its conditions are ANDed; within a list, any element matches; an empty
/// list or `None` places no condition. Deserializes from a `[[rule]]` table, refusing
/// unknown keys.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// The rule's unique name, reported in decisions and audit records.
    pub name: String,
    /// Only commands on this protocol.
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// Only commands on these targets (empty: every target).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Only identities in one of these groups (empty: everyone).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Only commands carrying one of these classes (empty: any command).
    #[serde(default)]
    pub classes: Vec<Class>,
    /// Only commands touching an object matching one of these globs (empty: any). `*` also
    /// matches `/` and `.`: `kube-system/*`, `public.cust*`, `/etc/**`.
    #[serde(default)]
    pub objects: Vec<String>,
    /// Only commands whose text this regex matches somewhere (unanchored).
    #[serde(default)]
    pub pattern: Option<String>,
    /// Only inside this weekly window, see [`TimeWindow`](super::TimeWindow).
    #[serde(default)]
    pub hours: Option<String>,
    /// The verdict when the rule matches.
    pub action: Verdict,
    /// Why, as shown to the user; generated from the rule's name and classes when absent.
    #[serde(default)]
    pub reason: Option<String>,
    /// Who may approve a held command (required for `review`).
    #[serde(default)]
    pub approvers: Vec<String>,
    /// `once` (the default) or `window:<duration>`, see [`ApprovalScope`](super::ApprovalScope).
    #[serde(default)]
    pub approval: Option<String>,
    /// Approvals a held command needs (at least 1).
    #[serde(default = "one")]
    pub min_approvals: u32,
}

/// The serde default of [`RuleSpec::min_approvals`].
fn one() -> u32 {
    1
}

/// An unnamed rule that matches everything and denies; set the fields you need.
impl Default for RuleSpec {
    fn default() -> Self {
        RuleSpec {
            name: String::new(),
            protocol: None,
            targets: Vec::new(),
            groups: Vec::new(),
            classes: Vec::new(),
            objects: Vec::new(),
            pattern: None,
            hours: None,
            action: Verdict::Deny,
            reason: None,
            approvers: Vec::new(),
            approval: None,
            min_approvals: 1,
        }
    }
}

/// Where a masking profile (`[[mask]]`) applies. Other keys (detectors, strategy) are
/// ignored, so a whole `[[mask]]` table deserializes into one.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct MaskBinding {
    /// The profile's unique name.
    pub name: String,
    /// Targets whose responses it masks (empty: every target).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Groups that see values unmasked.
    #[serde(default)]
    pub exempt_groups: Vec<String>,
}
