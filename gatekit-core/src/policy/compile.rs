//! Turning a [`PolicySpec`] into a [`Policy`]: validation, compilation of matchers, indexing.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};
use regex_automata::meta;
use rustc_hash::FxHashMap;

use crate::{ClassSet, Protocol};

use super::groups::{GroupTable, Members};
use super::index::{IndexBuilder, RuleIndex};
use super::verdict::parse_scope;
use super::window::parse_window;
use super::{
    ApprovalScope, MaskBinding, Policy, PolicyError, PolicySpec, Request, RuleSpec, Target,
    TimeWindow, Verdict,
};

/// The most rules, targets or masking profiles a policy holds.
pub(crate) const MAX_ENTRIES: usize = 1 << 20;

/// A rule ready to evaluate.
#[derive(Debug)]
pub(crate) struct Rule {
    /// The rule's name.
    pub(crate) name: Arc<str>,
    /// Its verdict.
    pub(crate) action: Verdict,
    /// Its class condition (empty: any).
    pub(crate) classes: ClassSet,
    /// Its group condition, interned and sorted (empty: everyone).
    groups: Box<[u32]>,
    /// Its object globs.
    objects: Option<GlobSet>,
    /// Its regex on the command text.
    pattern: Option<meta::Regex>,
    /// Its time window.
    hours: Option<TimeWindow>,
    /// The configured reason.
    pub(crate) reason: Option<Arc<str>>,
    /// The generated reason for a command carrying all of the rule's classes, made once
    /// for rules with classes and no configured reason.
    pub(crate) generated: Option<Arc<str>>,
    /// Approvers, empty unless the rule reviews.
    pub(crate) approvers: Arc<[String]>,
    /// Approval scope, `Once` unless the rule reviews.
    pub(crate) approval: ApprovalScope,
    /// Approvals needed, 0 unless the rule reviews.
    pub(crate) min_approvals: u32,
}

impl Rule {
    /// Whether the rule's conditions other than protocol, target and classes (which the
    /// index settles) hold, cheapest first.
    pub(crate) fn matches(&self, req: &Request<'_>, member: &Members<'_>) -> bool {
        (self.groups.is_empty() || member.any_of(&self.groups))
            && self.hours.as_ref().is_none_or(|w| w.contains(req.now))
            && self.objects.as_ref().is_none_or(|globs| {
                req.command
                    .objects
                    .iter()
                    .any(|o| globs.is_match_candidate(&Candidate::from_bytes(o.as_bytes())))
            })
            && self.pattern.as_ref().is_none_or(|re| re.is_match(req.text))
    }
}

/// A masking profile's binding.
#[derive(Debug)]
pub(crate) struct Mask {
    /// The profile's name.
    pub(crate) name: Box<str>,
    /// Groups that see values unmasked.
    pub(crate) exempt_groups: Box<[String]>,
}

/// Checks a count against [`MAX_ENTRIES`].
pub(super) fn check_count(kind: &'static str, count: usize) -> Result<(), PolicyError> {
    if count > MAX_ENTRIES {
        return Err(PolicyError::TooMany {
            kind,
            count,
            max: MAX_ENTRIES,
        });
    }
    Ok(())
}

/// Compiles a spec; see [`Policy::compile`].
pub(crate) fn compile(spec: PolicySpec) -> Result<Policy, PolicyError> {
    if spec.default == Verdict::Review {
        return Err(PolicyError::ReviewDefault);
    }
    check_count("rule", spec.rules.len())?;
    check_count("target", spec.targets.len())?;
    check_count("mask", spec.masks.len())?;

    let mut targets = Vec::with_capacity(spec.targets.len());
    let mut target_ids: FxHashMap<Box<str>, u32> = FxHashMap::default();
    for (index, t) in spec.targets.into_iter().enumerate() {
        if t.name.is_empty() {
            return Err(PolicyError::EmptyName {
                kind: "target",
                index,
            });
        }
        let id = u32::try_from(index).unwrap_or(u32::MAX);
        match target_ids.entry(t.name.as_str().into()) {
            Entry::Occupied(first) => {
                return Err(PolicyError::DuplicateTarget {
                    name: t.name,
                    first: *first.get() as usize,
                    second: index,
                });
            }
            Entry::Vacant(slot) => slot.insert(id),
        };
        targets.push(Target {
            name: t.name.into(),
            protocol: t.protocol,
            allow_groups: t.allow_groups,
            index: RuleIndex::default(),
            masks: Box::default(),
        });
    }

    let (masks, target_masks, all_target_masks) = compile_masks(spec.masks, &target_ids)?;
    for (target, ids) in targets.iter_mut().zip(target_masks) {
        target.masks = ids.into_boxed_slice();
    }

    let nobody: Arc<[String]> = Arc::from([]);
    let mut groups = GroupTable::default();
    let mut rules = Vec::with_capacity(spec.rules.len());
    let mut rule_ids: HashMap<String, usize> = HashMap::with_capacity(spec.rules.len());
    let mut global: [IndexBuilder; 3] = Default::default();
    let mut per_target: Vec<IndexBuilder> =
        targets.iter().map(|_| IndexBuilder::default()).collect();
    for (index, spec) in spec.rules.into_iter().enumerate() {
        if spec.name.is_empty() {
            return Err(PolicyError::EmptyName {
                kind: "rule",
                index,
            });
        }
        if let Some(&first) = rule_ids.get(&spec.name) {
            return Err(PolicyError::DuplicateRule {
                name: spec.name,
                first,
                second: index,
            });
        }
        let id = u32::try_from(index).unwrap_or(u32::MAX);
        let scope = RuleScope::resolve(index, &spec, &target_ids, &targets)?;
        let rule = compile_rule(index, &spec, &mut groups, &nobody)?;
        match scope {
            RuleScope::Everywhere(protocols) => {
                for p in protocols {
                    if let Some(b) = global.get_mut(protocol_slot(p)) {
                        b.add(id, rule.action, rule.classes);
                    }
                }
            }
            RuleScope::Targets(ids) => {
                for t in ids {
                    if let Some(b) = per_target.get_mut(t as usize) {
                        b.add(id, rule.action, rule.classes);
                    }
                }
            }
        }
        rule_ids.insert(spec.name, index);
        rules.push(rule);
    }
    for (target, builder) in targets.iter_mut().zip(per_target) {
        target.index = builder.build();
    }

    Ok(Policy {
        default_reason: format!("no rule matched; the default verdict is {}", spec.default).into(),
        default: spec.default,
        nobody,
        rules: rules.into_boxed_slice(),
        targets: targets.into_boxed_slice(),
        target_ids,
        groups,
        global: global.map(IndexBuilder::build),
        masks,
        all_target_masks,
    })
}

/// The index slot of a protocol's rules that apply to all its targets.
pub(crate) const fn protocol_slot(p: Protocol) -> usize {
    match p {
        Protocol::Postgres => 0,
        Protocol::Ssh => 1,
        Protocol::Kubernetes => 2,
    }
}

/// Where a rule is filed.
enum RuleScope {
    /// On every target of these protocols.
    Everywhere(Vec<Protocol>),
    /// On these targets only.
    Targets(Vec<u32>),
}

impl RuleScope {
    /// Resolves a rule's `protocol` and `targets`.
    fn resolve(
        index: usize,
        spec: &RuleSpec,
        target_ids: &FxHashMap<Box<str>, u32>,
        targets: &[Target],
    ) -> Result<RuleScope, PolicyError> {
        if spec.targets.is_empty() {
            return Ok(RuleScope::Everywhere(match spec.protocol {
                Some(p) => vec![p],
                None => Protocol::ALL.to_vec(),
            }));
        }
        let mut ids = Vec::with_capacity(spec.targets.len());
        for name in &spec.targets {
            let Some(&id) = target_ids.get(name.as_str()) else {
                return Err(PolicyError::UnknownRuleTarget {
                    index,
                    rule: spec.name.clone(),
                    target: name.clone(),
                });
            };
            let target_protocol = targets.get(id as usize).map(|t| t.protocol);
            if let (Some(protocol), Some(target_protocol)) = (spec.protocol, target_protocol)
                && protocol != target_protocol
            {
                return Err(PolicyError::ProtocolMismatch {
                    index,
                    rule: spec.name.clone(),
                    protocol,
                    target: name.clone(),
                    target_protocol,
                });
            }
            ids.push(id);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(RuleScope::Targets(ids))
    }
}

/// Compiles one rule's matchers and checks its approval settings; `nobody` is the shared
/// empty approver list.
fn compile_rule(
    index: usize,
    spec: &RuleSpec,
    groups: &mut GroupTable,
    nobody: &Arc<[String]>,
) -> Result<Rule, PolicyError> {
    let rule = || spec.name.clone();
    let pattern = match &spec.pattern {
        None => None,
        Some(p) => Some(
            meta::Regex::new(p).map_err(|e| PolicyError::InvalidPattern {
                index,
                rule: rule(),
                pattern: p.clone(),
                reason: e.to_string(),
            })?,
        ),
    };
    let hours = match &spec.hours {
        None => None,
        Some(h) => Some(parse_window(h).map_err(|reason| PolicyError::InvalidHours {
            index,
            rule: rule(),
            hours: h.clone(),
            reason,
        })?),
    };
    let objects = compile_globs(index, spec)?;
    let approval = match &spec.approval {
        None => ApprovalScope::Once,
        Some(a) => parse_scope(a).map_err(|reason| PolicyError::InvalidApproval {
            index,
            rule: rule(),
            approval: a.clone(),
            reason,
        })?,
    };
    if spec.min_approvals == 0 {
        return Err(PolicyError::ZeroMinApprovals {
            index,
            rule: rule(),
        });
    }
    let reviews = spec.action == Verdict::Review;
    if reviews && spec.approvers.is_empty() {
        return Err(PolicyError::ReviewWithoutApprovers {
            index,
            rule: rule(),
        });
    }
    let classes: ClassSet = spec.classes.iter().copied().collect();
    Ok(Rule {
        name: spec.name.as_str().into(),
        action: spec.action,
        classes,
        groups: groups.intern_all(&spec.groups),
        objects,
        pattern,
        hours,
        reason: spec.reason.as_deref().map(Arc::from),
        generated: (spec.reason.is_none() && !classes.is_empty())
            .then(|| generated_reason(spec.action, &spec.name, classes).into()),
        approvers: if reviews {
            spec.approvers.as_slice().into()
        } else {
            nobody.clone()
        },
        approval: if reviews {
            approval
        } else {
            ApprovalScope::Once
        },
        min_approvals: if reviews { spec.min_approvals } else { 0 },
    })
}

/// The reason of a rule without one: `deny by rule `name`, which matched class ddl`
/// (`… classes ddl, admin`, `… a command with no class`).
pub(crate) fn generated_reason(action: Verdict, name: &str, matched: ClassSet) -> String {
    let mut reason = format!("{action} by rule `{name}`, which matched ");
    reason.push_str(match matched.len() {
        0 => "a command with no class",
        1 => "class ",
        _ => "classes ",
    });
    for (i, class) in matched.iter().enumerate() {
        if i > 0 {
            reason.push_str(", ");
        }
        reason.push_str(class.name());
    }
    reason
}

/// Compiles a rule's object globs into one set; `*` matches across `/` and `.`.
fn compile_globs(index: usize, spec: &RuleSpec) -> Result<Option<GlobSet>, PolicyError> {
    if spec.objects.is_empty() {
        return Ok(None);
    }
    let fail = |glob: &str, e: globset::Error| PolicyError::InvalidObjectGlob {
        index,
        rule: spec.name.clone(),
        glob: glob.to_owned(),
        reason: e.kind().to_string(),
    };
    let mut set = GlobSetBuilder::new();
    for glob in &spec.objects {
        let built = GlobBuilder::new(glob)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| fail(glob, e))?;
        set.add(built);
    }
    set.build()
        .map(Some)
        .map_err(|e| fail(&spec.objects.join(", "), e))
}

/// Masks by name, the masks of each target (in target order), and the masks of every target.
type CompiledMasks = (Box<[Mask]>, Vec<Vec<u32>>, Box<[u32]>);

/// Checks the masking profiles' bindings and files them per target.
fn compile_masks(
    specs: Vec<MaskBinding>,
    target_ids: &FxHashMap<Box<str>, u32>,
) -> Result<CompiledMasks, PolicyError> {
    let mut masks = Vec::with_capacity(specs.len());
    let mut per_target = vec![Vec::new(); target_ids.len()];
    let mut everywhere = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::with_capacity(specs.len());
    for (index, m) in specs.into_iter().enumerate() {
        if m.name.is_empty() {
            return Err(PolicyError::EmptyName {
                kind: "mask",
                index,
            });
        }
        if let Some(&first) = names.get(&m.name) {
            return Err(PolicyError::DuplicateMask {
                name: m.name,
                first,
                second: index,
            });
        }
        let id = u32::try_from(index).unwrap_or(u32::MAX);
        if m.targets.is_empty() {
            everywhere.push(id);
            per_target.iter_mut().for_each(|list| list.push(id));
        }
        for name in &m.targets {
            let Some(&t) = target_ids.get(name.as_str()) else {
                return Err(PolicyError::UnknownMaskTarget {
                    index,
                    mask: m.name,
                    target: name.clone(),
                });
            };
            if let Some(list) = per_target.get_mut(t as usize)
                && list.last() != Some(&id)
            {
                list.push(id);
            }
        }
        names.insert(m.name.clone(), index);
        masks.push(Mask {
            name: m.name.into(),
            exempt_groups: m.exempt_groups.into_boxed_slice(),
        });
    }
    Ok((
        masks.into_boxed_slice(),
        per_target,
        everywhere.into_boxed_slice(),
    ))
}
