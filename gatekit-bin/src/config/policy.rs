//! From config tables to the policy engine's input.

use gatekit_core::policy::{MaskBinding, PolicySpec, RuleSpec, TargetSpec};

use super::Config;

impl Config {
    /// The `[policy]`, `[[rule]]`, `[[target]]` and `[[mask]]` tables as the policy engine's input.
    pub fn policy_spec(&self) -> PolicySpec {
        PolicySpec {
            default: self.policy.default,
            rules: self
                .rules
                .iter()
                .map(|r| {
                    let r = r.get_ref();
                    RuleSpec {
                        name: r.name.get_ref().clone(),
                        protocol: r.protocol,
                        targets: r.targets.iter().map(|t| t.get_ref().clone()).collect(),
                        groups: r.groups.clone(),
                        classes: r.classes.clone(),
                        objects: r.objects.clone(),
                        pattern: r.pattern.clone(),
                        hours: r.hours.clone(),
                        action: r.action,
                        reason: r.reason.clone(),
                        approvers: r.approvers.clone(),
                        approval: r.approval.clone(),
                        min_approvals: r.min_approvals.unwrap_or(1),
                    }
                })
                .collect(),
            targets: self
                .targets
                .iter()
                .map(|t| {
                    let t = t.get_ref();
                    TargetSpec {
                        name: t.name.get_ref().clone(),
                        protocol: t.protocol,
                        allow_groups: t.allow_groups.clone(),
                    }
                })
                .collect(),
            masks: self
                .masks
                .iter()
                .map(|m| {
                    let m = m.get_ref();
                    MaskBinding {
                        name: m.name.get_ref().clone(),
                        targets: m.targets.iter().map(|t| t.get_ref().clone()).collect(),
                        exempt_groups: m.exempt_groups.clone(),
                    }
                })
                .collect(),
        }
    }
}
