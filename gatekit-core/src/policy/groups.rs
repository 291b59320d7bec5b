//! Group names interned to small integers, so rule group conditions are integer comparisons.

use std::cell::OnceCell;

use rustc_hash::FxHashMap;

use crate::Identity;

/// Identity groups held without allocating; more than this spill to the heap.
const INLINE: usize = 16;

/// Every group name the rules mention, numbered.
#[derive(Debug, Default)]
pub(crate) struct GroupTable {
    ids: FxHashMap<Box<str>, u32>,
}

impl GroupTable {
    /// The number of a group name, assigning the next one when new.
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.insert(name.into(), id);
        id
    }

    /// Interns a rule's group list: sorted, without repeats.
    pub(crate) fn intern_all(&mut self, names: &[String]) -> Box<[u32]> {
        let mut ids: Vec<u32> = names.iter().map(|n| self.intern(n)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_boxed_slice()
    }

    /// The numbers of those of the identity's groups that some rule mentions.
    pub(crate) fn member_of(&self, identity: &Identity) -> MemberOf {
        let mut found = MemberOf {
            inline: [0; INLINE],
            len: 0,
            spill: Vec::new(),
        };
        for id in identity
            .groups
            .iter()
            .filter_map(|g| self.ids.get(g.as_str()))
        {
            found.push(*id);
        }
        found.finish();
        found
    }
}

/// An identity's interned groups, looked up the first time a rule asks.
pub(crate) struct Members<'a> {
    /// The policy's group names.
    table: &'a GroupTable,
    /// Whose groups.
    identity: &'a Identity,
    /// The looked-up groups.
    found: OnceCell<MemberOf>,
}

impl<'a> Members<'a> {
    /// Membership of `identity` in the groups of `table`, not yet looked up.
    pub(crate) fn new(table: &'a GroupTable, identity: &'a Identity) -> Self {
        Members {
            table,
            identity,
            found: OnceCell::new(),
        }
    }

    /// Whether the identity is in any of `groups` (sorted group numbers).
    pub(crate) fn any_of(&self, groups: &[u32]) -> bool {
        self.found
            .get_or_init(|| self.table.member_of(self.identity))
            .any_of(groups)
    }
}

/// The interned groups of one identity, sorted.
pub(crate) struct MemberOf {
    /// The first groups.
    inline: [u32; INLINE],
    /// How many of `inline` are used.
    len: usize,
    /// All groups, once there are more than `INLINE`.
    spill: Vec<u32>,
}

impl MemberOf {
    /// Adds a group number.
    fn push(&mut self, id: u32) {
        if !self.spill.is_empty() {
            self.spill.push(id);
        } else if let Some(slot) = self.inline.get_mut(self.len) {
            *slot = id;
            self.len += 1;
        } else {
            self.spill.extend_from_slice(&self.inline);
            self.spill.push(id);
        }
    }

    /// Sorts the numbers so membership tests can merge.
    fn finish(&mut self) {
        if self.spill.is_empty() {
            let used = self.inline.get_mut(..self.len).unwrap_or_default();
            used.sort_unstable();
        } else {
            self.spill.sort_unstable();
        }
    }

    /// The sorted group numbers (repeats possible).
    fn as_slice(&self) -> &[u32] {
        if self.spill.is_empty() {
            self.inline.get(..self.len).unwrap_or_default()
        } else {
            &self.spill
        }
    }

    /// Whether the identity is in any of `groups` (sorted).
    pub(crate) fn any_of(&self, groups: &[u32]) -> bool {
        let mine = self.as_slice();
        let (mut i, mut j) = (0, 0);
        while let (Some(a), Some(b)) = (mine.get(i), groups.get(j)) {
            match a.cmp(b) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_with_and_without_spilling() {
        let mut table = GroupTable::default();
        let names: Vec<String> = (0..40).map(|i| format!("g{i}")).collect();
        for n in &names {
            table.intern(n);
        }
        let few = table.intern_all(&["g3".to_owned(), "g1".to_owned()]);
        assert_eq!(&*few, &[1, 3]);

        let small = Identity::new("a", ["g9", "unknown", "g3"]);
        assert!(table.member_of(&small).any_of(&few));
        assert!(
            !table
                .member_of(&Identity::new("b", ["g2", "g4"]))
                .any_of(&few)
        );

        let many: Vec<&str> = names.iter().rev().map(String::as_str).collect();
        let big = Identity::new("c", many);
        let member = table.member_of(&big);
        assert_eq!(member.as_slice().len(), 40);
        assert!(member.any_of(&few));
        assert!(member.any_of(&[39]));
        assert!(!member.any_of(&[40]));
        assert!(!member.any_of(&[]));

        let lazy = Members::new(&table, &big);
        assert!(lazy.any_of(&few));
        assert!(!lazy.any_of(&[40]));
    }
}
