//! Rules indexed by verdict and class, so a command only visits the rules that could match it.

use crate::{Class, ClassSet};

use super::Verdict;

/// Number of classes; slot `CLASSLESS` holds rules without a class condition.
const CLASSES: usize = Class::ALL.len();
/// The slot of rules that match any class.
pub(crate) const CLASSLESS: usize = CLASSES;
/// Class slots plus the class-less slot.
const SLOTS: usize = CLASSES + 1;
/// One tier per verdict.
const TIERS: usize = 3;
/// Number of lists in an index.
const LISTS: usize = TIERS * SLOTS;

/// The tier of a verdict: strictest first, matching [`Verdict::BY_PRECEDENCE`].
pub(crate) const fn tier(verdict: Verdict) -> usize {
    match verdict {
        Verdict::Deny => 0,
        Verdict::Review => 1,
        Verdict::Allow => 2,
    }
}

/// For each verdict tier and class slot, the ids of the candidate rules in config order,
/// stored as one flat array cut by offsets.
#[derive(Debug, Clone)]
pub(crate) struct RuleIndex {
    /// List `n` is `ids[offsets[n]..offsets[n + 1]]`.
    offsets: [u32; LISTS + 1],
    /// Rule ids.
    ids: Box<[u32]>,
}

impl Default for RuleIndex {
    fn default() -> Self {
        RuleIndex {
            offsets: [0; LISTS + 1],
            ids: Box::default(),
        }
    }
}

impl RuleIndex {
    /// The rules of `tier` filed under `slot`, in config order.
    pub(crate) fn list(&self, tier: usize, slot: usize) -> &[u32] {
        let n = tier * SLOTS + slot;
        match (self.offsets.get(n), self.offsets.get(n + 1)) {
            (Some(&a), Some(&b)) => self.ids.get(a as usize..b as usize).unwrap_or_default(),
            _ => &[],
        }
    }
}

/// Collects rules into a [`RuleIndex`].
#[derive(Debug, Default)]
pub(crate) struct IndexBuilder {
    /// One list per tier and slot; empty until the first rule arrives.
    lists: Vec<Vec<u32>>,
}

impl IndexBuilder {
    /// Files a rule; rules must arrive in config order.
    pub(crate) fn add(&mut self, id: u32, action: Verdict, classes: ClassSet) {
        if self.lists.is_empty() {
            self.lists = vec![Vec::new(); LISTS];
        }
        let base = tier(action) * SLOTS;
        let mut file = |slot: usize| {
            if let Some(list) = self.lists.get_mut(base + slot) {
                list.push(id);
            }
        };
        if classes.is_empty() {
            file(CLASSLESS);
        } else {
            for class in classes.iter() {
                file(class as usize);
            }
        }
    }

    /// Freezes the lists into one flat index.
    pub(crate) fn build(self) -> RuleIndex {
        if self.lists.is_empty() {
            return RuleIndex::default();
        }
        let mut offsets = [0; LISTS + 1];
        let mut ids = Vec::with_capacity(self.lists.iter().map(Vec::len).sum());
        for (list, end) in self.lists.iter().zip(offsets.iter_mut().skip(1)) {
            ids.extend_from_slice(list);
            *end = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        }
        RuleIndex {
            offsets,
            ids: ids.into_boxed_slice(),
        }
    }
}

/// The slots to visit for a command's classes: each of its classes, then the class-less one.
pub(crate) fn slots(classes: ClassSet) -> impl Iterator<Item = usize> {
    let mut bits = classes.bits();
    std::iter::from_fn(move || {
        let slot = bits.trailing_zeros() as usize;
        bits &= bits.wrapping_sub(1);
        (slot < CLASSES).then_some(slot)
    })
    .chain(std::iter::once(CLASSLESS))
}
