//! The policy module's error type.

use crate::Protocol;

/// Why a policy, a time window, a duration or a verdict did not compile or parse.
///
/// Rule errors name the rule by its position in config order (`#0` is the first `[[rule]]`)
/// and by name, and say which field is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A rule, target or masking profile has an empty `name`.
    #[error("{kind} #{index} has an empty `name`")]
    EmptyName {
        /// `rule`, `target` or `mask`.
        kind: &'static str,
        /// Position of the entry in config order.
        index: usize,
    },
    /// More rules, targets or masking profiles than the engine indexes.
    #[error("{count} {kind}s is more than the {max} supported")]
    TooMany {
        /// `rule`, `target` or `mask`.
        kind: &'static str,
        /// How many were given.
        count: usize,
        /// The most supported.
        max: usize,
    },
    /// `default = "review"`: a default cannot name approvers, so its reviews could never pass.
    #[error(
        "`default = \"review\"` cannot name approvers; use a catch-all rule with `action = \"review\"` and `approvers` instead"
    )]
    ReviewDefault,
    /// Two rules share a name; decisions and audit records name rules, so names are unique.
    #[error("rules #{first} and #{second} are both named `{name}`; rule names must be unique")]
    DuplicateRule {
        /// The shared name.
        name: String,
        /// Position of the first rule with that name.
        first: usize,
        /// Position of the second one.
        second: usize,
    },
    /// Two targets share a name.
    #[error("targets #{first} and #{second} are both named `{name}`; target names must be unique")]
    DuplicateTarget {
        /// The shared name.
        name: String,
        /// Position of the first target with that name.
        first: usize,
        /// Position of the second one.
        second: usize,
    },
    /// Two masking profiles share a name.
    #[error("masks #{first} and #{second} are both named `{name}`; mask names must be unique")]
    DuplicateMask {
        /// The shared name.
        name: String,
        /// Position of the first profile with that name.
        first: usize,
        /// Position of the second one.
        second: usize,
    },
    /// A rule's `targets` names a target that is not configured.
    #[error("rule #{index} `{rule}`: `targets` names unknown target `{target}`")]
    UnknownRuleTarget {
        /// Position of the rule.
        index: usize,
        /// Name of the rule.
        rule: String,
        /// The unknown target name.
        target: String,
    },
    /// A rule's `protocol` differs from the protocol of a target it names, so it could never match.
    #[error(
        "rule #{index} `{rule}`: `protocol` is {protocol} but target `{target}` in `targets` speaks {target_protocol}"
    )]
    ProtocolMismatch {
        /// Position of the rule.
        index: usize,
        /// Name of the rule.
        rule: String,
        /// The rule's protocol.
        protocol: Protocol,
        /// The target named by the rule.
        target: String,
        /// The protocol that target speaks.
        target_protocol: Protocol,
    },
    /// A masking profile's `targets` names a target that is not configured.
    #[error("mask #{index} `{mask}`: `targets` names unknown target `{target}`")]
    UnknownMaskTarget {
        /// Position of the masking profile.
        index: usize,
        /// Name of the masking profile.
        mask: String,
        /// The unknown target name.
        target: String,
    },
    /// A rule's `pattern` is not a valid regular expression.
    #[error("rule #{index} `{rule}`: `pattern` {pattern:?} is not a valid regex: {reason}")]
    InvalidPattern {
        /// Position of the rule.
        index: usize,
        /// Name of the rule.
        rule: String,
        /// The pattern as written.
        pattern: String,
        /// What the regex compiler reported.
        reason: String,
    },
    /// A rule's `hours` is not a valid time window.
    #[error("rule #{index} `{rule}`: `hours` {hours:?} is invalid: {reason}")]
    InvalidHours {
        /// Position of the rule.
        index: usize,
        /// Name of the rule.
        rule: String,
        /// The window as written.
        hours: String,
        /// What is wrong with it.
        reason: String,
    },
    /// One of a rule's `objects` is not a valid glob.
    #[error("rule #{index} `{rule}`: `objects` glob {glob:?} is invalid: {reason}")]
    InvalidObjectGlob {
        /// Position of the rule.
        index: usize,
        /// Name of the rule.
        rule: String,
        /// The glob as written.
        glob: String,
        /// What the glob compiler reported.
        reason: String,
    },
    /// A rule with `action = "review"` has no `approvers`, so nobody could approve its commands.
    #[error(
        "rule #{index} `{rule}`: `action = \"review\"` needs at least one entry in `approvers`"
    )]
    ReviewWithoutApprovers {
        /// Position of the rule.
        index: usize,
        /// Name of the rule.
        rule: String,
    },
    /// A rule's `approval` is neither `once` nor `window:<duration>`.
    #[error("rule #{index} `{rule}`: `approval` {approval:?} is invalid: {reason}")]
    InvalidApproval {
        /// Position of the rule.
        index: usize,
        /// Name of the rule.
        rule: String,
        /// The scope as written.
        approval: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A rule's `min_approvals` is 0, which would let a review pass with no approval.
    #[error("rule #{index} `{rule}`: `min_approvals` must be at least 1")]
    ZeroMinApprovals {
        /// Position of the rule.
        index: usize,
        /// Name of the rule.
        rule: String,
    },
    /// A time window (`Mon-Fri 08:00-18:00 UTC`) did not parse.
    #[error("invalid time window {input:?}: {reason}")]
    InvalidTimeWindow {
        /// The window as written.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A duration (`15m`, `1h30m`) did not parse.
    #[error("invalid duration {input:?}: {reason}")]
    InvalidDuration {
        /// The duration as written.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An approval scope (`once`, `window:30m`) did not parse.
    #[error("invalid approval scope {input:?}: {reason}")]
    InvalidApprovalScope {
        /// The scope as written.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A verdict is not one of `allow`, `deny`, `review`.
    #[error("invalid verdict {input:?} (expected allow, deny or review)")]
    InvalidVerdict {
        /// The verdict as written.
        input: String,
    },
}

impl PolicyError {
    /// The position of the `[[rule]]` the error is about, when it is about one rule.
    pub fn rule_index(&self) -> Option<usize> {
        match self {
            PolicyError::EmptyName {
                kind: "rule",
                index,
            } => Some(*index),
            PolicyError::DuplicateRule { second, .. } => Some(*second),
            PolicyError::UnknownRuleTarget { index, .. }
            | PolicyError::ProtocolMismatch { index, .. }
            | PolicyError::InvalidPattern { index, .. }
            | PolicyError::InvalidHours { index, .. }
            | PolicyError::InvalidObjectGlob { index, .. }
            | PolicyError::ReviewWithoutApprovers { index, .. }
            | PolicyError::InvalidApproval { index, .. }
            | PolicyError::ZeroMinApprovals { index, .. } => Some(*index),
            _ => None,
        }
    }
}
