//! Answering requests: [`Policy::admit`], [`Policy::decide`], [`Policy::mask_profiles`].

use std::sync::Arc;

use crate::{ClassSet, Identity};

use super::compile::{Rule, generated_reason, protocol_slot};
use super::groups::Members;
use super::index::{CLASSLESS, slots, tier};
use super::{ApprovalScope, Decision, Policy, Request, Verdict};

/// Longest piece of request text (a target or subject name) quoted in a reason.
const MAX_QUOTED: usize = 128;

/// Limits untrusted text quoted in a reason.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => s.get(..end).unwrap_or(s),
        None => s,
    }
}

impl Policy {
    /// Decides whether `identity` may open a session on `target`: allowed when the target
    /// exists and the identity is in one of its `allow_groups`, denied otherwise (an empty
    /// `allow_groups` admits nobody). The reason says which group admitted or why not.
    pub fn admit(&self, identity: &Identity, target: &str) -> Decision {
        let Some(t) = self.target(target) else {
            return Decision::deny(format!("unknown target `{}`", clip(target)));
        };
        let subject = clip(&identity.subject);
        if let Some(group) = t.allow_groups().iter().find(|g| identity.in_group(g)) {
            return Decision::without_rule(
                Verdict::Allow,
                format!("`{subject}` may use target `{target}` as a member of `{group}`"),
            );
        }
        if t.allow_groups().is_empty() {
            return Decision::deny(format!(
                "target `{target}` admits nobody: its allow_groups is empty"
            ));
        }
        Decision::deny(format!(
            "`{subject}` is in none of target `{target}`'s allow_groups ({})",
            t.allow_groups().join(", ")
        ))
    }

    /// Decides on one classified command.
    ///
    /// Every rule whose conditions all hold matches. Deny beats review beats allow; among
    /// the matching rules of the winning verdict the first in config order names the
    /// decision, and its `reason` (or a generated one naming the rule and the matched classes)
    /// is the decision's reason. With no match the default verdict applies with `rule: None`.
    ///
    /// The request is expected on an admitted session: an unknown target, or a protocol the
    /// target does not speak, is denied with `rule: None` and a reason saying so.
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        let Some(target) = self.target(req.target) else {
            return Decision::deny(format!("unknown target `{}`", clip(req.target)));
        };
        if target.protocol() != req.protocol {
            return Decision::deny(format!(
                "target `{}` speaks {}, not {}",
                target.name(),
                target.protocol(),
                req.protocol
            ));
        }
        let member = Members::new(&self.groups, req.identity);
        let classes = req.command.classes;
        let bits = classes.bits();
        let indexes = [&self.global[protocol_slot(req.protocol)], &target.index];
        for verdict in Verdict::BY_PRECEDENCE {
            let tier = tier(verdict);
            // The first matching rule of this tier in config order: lists are sorted, so
            // each is scanned only up to its first match or past the best found so far.
            let mut best = u32::MAX;
            for index in indexes {
                for slot in slots(classes) {
                    for &id in index.list(tier, slot) {
                        if id >= best {
                            break;
                        }
                        let Some(rule) = self.rules.get(id as usize) else {
                            break;
                        };
                        // A rule filed under several of the command's classes is tried
                        // once, under the first of them.
                        let earlier = (1u16 << slot).wrapping_sub(1);
                        if slot != CLASSLESS && rule.classes.bits() & bits & earlier != 0 {
                            continue;
                        }
                        if rule.matches(req, &member) {
                            best = id;
                            break;
                        }
                    }
                }
            }
            if let Some(rule) = self.rules.get(best as usize) {
                return rule_decision(rule, classes);
            }
        }
        Decision {
            verdict: self.default,
            rule: None,
            reason: self.default_reason.clone(),
            approvers: self.nobody.clone(),
            approval: ApprovalScope::Once,
            min_approvals: 0,
        }
    }

    /// The names of the masking profiles that apply to `identity`'s sessions on `target`:
    /// those bound to the target (or to every target) whose `exempt_groups` do not include
    /// one of the identity's groups. For an unknown target, the profiles bound to every target.
    pub fn mask_profiles<'a>(
        &'a self,
        identity: &'a Identity,
        target: &str,
    ) -> impl Iterator<Item = &'a str> + use<'a> {
        let ids: &'a [u32] = match self.target(target) {
            Some(t) => &t.masks,
            None => &self.all_target_masks,
        };
        ids.iter()
            .filter_map(|&id| self.masks.get(id as usize))
            .filter(move |m| !identity.in_any_group(&m.exempt_groups))
            .map(|m| &*m.name)
    }
}

/// The decision a matching rule makes.
fn rule_decision(rule: &Rule, command: ClassSet) -> Decision {
    let reason = match (&rule.reason, &rule.generated) {
        (Some(reason), _) => reason.clone(),
        (None, Some(generated)) if command.is_superset(rule.classes) => generated.clone(),
        (None, _) => Arc::from(generated_reason(
            rule.action,
            &rule.name,
            matched_classes(rule.classes, command),
        )),
    };
    Decision {
        verdict: rule.action,
        rule: Some(rule.name.clone()),
        reason,
        approvers: rule.approvers.clone(),
        approval: rule.approval,
        min_approvals: rule.min_approvals,
    }
}

/// The command's classes that a rule matched: all of them for a rule without classes.
fn matched_classes(rule: ClassSet, command: ClassSet) -> ClassSet {
    if rule.is_empty() {
        command
    } else {
        rule.iter().filter(|c| command.contains(*c)).collect()
    }
}
