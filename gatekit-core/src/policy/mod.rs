//! The policy engine: rules compiled into a [`Policy`] that decides allow, deny or review.
//!
//! A [`PolicySpec`] (the `[policy] default`, the `[[rule]]` tables, the targets'
//! `allow_groups` and the masking profiles' bindings) compiles once into a [`Policy`], which
//! then answers three questions, all without I/O:
//!
//! - [`Policy::admit`]: may this identity open a session on this target?
//! - [`Policy::decide`]: what happens to this classified command? Every matching rule
//!   counts; deny beats review beats allow; among rules of the winning verdict the first in
//!   config order names the decision; with no match the default verdict applies.
//! - [`Policy::mask_profiles`]: which masking profiles apply to this identity's session?
//!
//! Rules are indexed by protocol, target, verdict and class when compiled, so a command only
//! visits the rules that could match it and the cost of a decision does not grow with the
//! size of the rule set in the common case.
//!
//! ```
//! use gatekit_core::policy::{Policy, PolicySpec, Request, RuleSpec, TargetSpec, Verdict};
//! use gatekit_core::{Class, Classification, Identity, Protocol};
//!
//! let policy = Policy::compile(PolicySpec {
//!     default: Verdict::Allow,
//!     targets: vec![TargetSpec {
//!         name: "shop".into(),
//!         protocol: Protocol::Postgres,
//!         allow_groups: vec!["dev".into()],
//!     }],
//!     rules: vec![RuleSpec {
//!         name: "no-bulk-writes".into(),
//!         groups: vec!["dev".into()],
//!         classes: vec![Class::BulkWrite],
//!         action: Verdict::Deny,
//!         ..RuleSpec::default()
//!     }],
//!     masks: vec![],
//! })?;
//!
//! let alice = Identity::new("alice", ["dev"]);
//! assert_eq!(policy.admit(&alice, "shop").verdict, Verdict::Allow);
//!
//! let command = Classification::of([Class::Write, Class::BulkWrite]);
//! let decision = policy.decide(&Request {
//!     identity: &alice,
//!     target: "shop",
//!     protocol: Protocol::Postgres,
//!     command: &command,
//!     text: "DELETE FROM orders",
//!     now: "2025-06-02T10:00:00Z".parse().unwrap(),
//! });
//! assert_eq!(decision.verdict, Verdict::Deny);
//! assert_eq!(decision.rule.as_deref(), Some("no-bulk-writes"));
//! # Ok::<(), gatekit_core::policy::PolicyError>(())
//! ```

mod compile;
mod decision;
mod duration;
mod error;
mod eval;
mod groups;
mod index;
mod spec;
mod verdict;
mod window;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::Protocol;

pub use decision::{Decision, Request};
pub use duration::parse_duration;
pub use error::PolicyError;
pub use spec::{MaskBinding, PolicySpec, RuleSpec, TargetSpec};
pub use verdict::{ApprovalScope, Verdict};
pub use window::TimeWindow;

/// A compiled policy: immutable, cheap to share between sessions (`Arc<Policy>`).
#[derive(Debug)]
pub struct Policy {
    /// The verdict when no rule matches.
    default: Verdict,
    /// The reason given with the default verdict.
    default_reason: Arc<str>,
    /// The empty approver list, shared by every decision without approvers.
    nobody: Arc<[String]>,
    /// The rules, in config order; their position is their id.
    rules: Box<[compile::Rule]>,
    /// The targets, in config order.
    targets: Box<[Target]>,
    /// Target ids by name.
    target_ids: FxHashMap<Box<str>, u32>,
    /// The group names rules mention.
    groups: groups::GroupTable,
    /// Per protocol, the rules that name no target.
    global: [index::RuleIndex; 3],
    /// The masking profiles, in config order.
    masks: Box<[compile::Mask]>,
    /// The masking profiles that bind every target.
    all_target_masks: Box<[u32]>,
}

/// A configured target as the policy knows it.
#[derive(Debug)]
pub struct Target {
    /// The target's name.
    name: Box<str>,
    /// The protocol it speaks.
    protocol: Protocol,
    /// Groups admitted to sessions.
    allow_groups: Vec<String>,
    /// The rules that name this target.
    index: index::RuleIndex,
    /// The masking profiles bound to it.
    masks: Box<[u32]>,
}

impl Target {
    /// The target's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The protocol it speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The groups admitted to sessions on it.
    pub fn allow_groups(&self) -> &[String] {
        &self.allow_groups
    }
}

impl Policy {
    /// Validates and compiles a spec.
    ///
    /// Fails on the first problem found, naming the rule (position and name) or the target
    /// or masking profile, and the field: empty or duplicate names, targets that do not exist
    /// or speak another protocol than the rule, invalid `pattern`, `hours`, `objects` or
    /// `approval`, `min_approvals = 0`, a `review` rule without `approvers`.
    pub fn compile(spec: PolicySpec) -> Result<Policy, PolicyError> {
        compile::compile(spec)
    }

    /// The verdict when no rule matches.
    pub fn default_verdict(&self) -> Verdict {
        self.default
    }

    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The rule names, in config order.
    pub fn rule_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.rules.iter().map(|r| &*r.name)
    }

    /// The targets, in config order.
    pub fn targets(&self) -> impl ExactSizeIterator<Item = &Target> {
        self.targets.iter()
    }

    /// The target of this name.
    pub fn target(&self, name: &str) -> Option<&Target> {
        let id = *self.target_ids.get(name)?;
        self.targets.get(id as usize)
    }

    /// The masking profile names, in config order.
    pub fn mask_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.masks.iter().map(|m| &*m.name)
    }
}

/// Compiled policies are shared across sessions and threads.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Policy>();
    shareable::<Decision>();
};
