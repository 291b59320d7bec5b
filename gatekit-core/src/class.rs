//! The protocol-neutral command classes and what a classifier hands the policy engine.
//!
//! Every protocol's classifier (SQL, shell command lines, Kubernetes API requests) turns a
//! command into a [`Classification`]: a set of [`Class`]es and the objects it touches. The
//! policy engine decides on that alone, so one rule language serves every protocol.

use std::fmt;
use std::str::FromStr;

/// One class of the shared vocabulary. A command may carry several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Class {
    /// Transaction control and ordinary session settings (`BEGIN`, `SET search_path`).
    Session = 0,
    /// Reads data.
    Read,
    /// Writes data with a narrowing condition.
    Write,
    /// Writes without a narrowing condition (`DELETE` with no `WHERE`, `TRUNCATE`, `delete --all`).
    BulkWrite,
    /// Schema changes.
    Ddl,
    /// Privilege changes (`GRANT`, `REVOKE`, roles).
    Dcl,
    /// System or security settings, server-side file access, killing backends, `sudo`.
    Admin,
    /// Irreversible destruction (`DROP`, `rm -rf`, namespace deletion).
    Destructive,
    /// Interactive shells and streams (`kubectl exec`, attach, port-forward).
    Exec,
    /// Reading secrets (Kubernetes Secrets, private key files).
    Secret,
    /// Code the gateway cannot see into (`DO` blocks, dynamic SQL, `python -c`, `| sh`).
    Procedural,
    /// Anything the classifier could not understand; never silently `read`.
    Unparsed,
}

impl Class {
    /// Every class, in declaration order.
    pub const ALL: [Class; 12] = [
        Class::Session,
        Class::Read,
        Class::Write,
        Class::BulkWrite,
        Class::Ddl,
        Class::Dcl,
        Class::Admin,
        Class::Destructive,
        Class::Exec,
        Class::Secret,
        Class::Procedural,
        Class::Unparsed,
    ];

    /// The class's name as written in config, rules and records (`bulk-write`, `ddl`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Class::Session => "session",
            Class::Read => "read",
            Class::Write => "write",
            Class::BulkWrite => "bulk-write",
            Class::Ddl => "ddl",
            Class::Dcl => "dcl",
            Class::Admin => "admin",
            Class::Destructive => "destructive",
            Class::Exec => "exec",
            Class::Secret => "secret",
            Class::Procedural => "procedural",
            Class::Unparsed => "unparsed",
        }
    }

    const fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A class name that is not in the vocabulary.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown command class `{name}` (known: session, read, write, bulk-write, ddl, dcl, admin, destructive, exec, secret, procedural, unparsed)"
)]
pub struct UnknownClass {
    /// The name that was given.
    pub name: String,
}

impl FromStr for Class {
    type Err = UnknownClass;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Class::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownClass { name: s.to_owned() })
    }
}

impl serde::Serialize for Class {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Class {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A set of classes, stored as a bit set: union and intersection are one instruction.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ClassSet(u16);

impl ClassSet {
    /// The empty set.
    pub const EMPTY: ClassSet = ClassSet(0);

    /// A set of one class.
    pub const fn of(class: Class) -> Self {
        ClassSet(class.bit())
    }

    /// Adds a class.
    pub fn insert(&mut self, class: Class) {
        self.0 |= class.bit();
    }

    /// Removes a class.
    pub fn remove(&mut self, class: Class) {
        self.0 &= !class.bit();
    }

    /// Whether the set holds `class`.
    pub const fn contains(self, class: Class) -> bool {
        self.0 & class.bit() != 0
    }

    /// Whether the two sets share a class.
    pub const fn intersects(self, other: ClassSet) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether every class of `other` is in `self`.
    pub const fn is_superset(self, other: ClassSet) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two sets.
    pub const fn union(self, other: ClassSet) -> ClassSet {
        ClassSet(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of classes in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The raw bits (bit `n` is the class with discriminant `n`).
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// The classes in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Class> {
        Class::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    /// The class names, in declaration order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Class::name).collect()
    }
}

impl fmt::Debug for ClassSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Class> for ClassSet {
    fn from_iter<I: IntoIterator<Item = Class>>(iter: I) -> Self {
        let mut set = ClassSet::EMPTY;
        for c in iter {
            set.insert(c);
        }
        set
    }
}

impl Extend<Class> for ClassSet {
    fn extend<I: IntoIterator<Item = Class>>(&mut self, iter: I) {
        for c in iter {
            self.insert(c);
        }
    }
}

impl std::ops::BitOr for ClassSet {
    type Output = ClassSet;
    fn bitor(self, rhs: ClassSet) -> ClassSet {
        self.union(rhs)
    }
}

impl std::ops::BitOrAssign for ClassSet {
    fn bitor_assign(&mut self, rhs: ClassSet) {
        self.0 |= rhs.0;
    }
}

impl serde::Serialize for ClassSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for ClassSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Class>::deserialize(d)?.into_iter().collect())
    }
}

/// The protocol a command arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// PostgreSQL wire protocol.
    Postgres,
    /// SSH sessions and commands.
    Ssh,
    /// The Kubernetes API.
    Kubernetes,
}

impl Protocol {
    /// Every protocol.
    pub const ALL: [Protocol; 3] = [Protocol::Postgres, Protocol::Ssh, Protocol::Kubernetes];

    /// The protocol's name as written in config (`postgres`, `ssh`, `kubernetes`).
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Postgres => "postgres",
            Protocol::Ssh => "ssh",
            Protocol::Kubernetes => "kubernetes",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A protocol name that gatekit does not speak.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol `{name}` (known: postgres, ssh, kubernetes)")]
pub struct UnknownProtocol {
    /// The name that was given.
    pub name: String,
}

impl FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownProtocol { name: s.to_owned() })
    }
}

/// What a protocol classifier found in one command: the interface between classifiers and
/// the policy engine.
///
/// Objects are strings in one form per kind, which rules glob on: `schema.table`, absolute
/// paths, `namespace/resource/name` (`-/resource/name` when cluster-scoped), `host:port`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Classification {
    /// The classes the command carries; rules match any of them.
    pub classes: ClassSet,
    /// The objects the command touches, deduplicated, in first-seen order.
    pub objects: Vec<String>,
}

impl Classification {
    /// A classification of the given classes and no objects.
    pub fn of(classes: impl IntoIterator<Item = Class>) -> Self {
        Classification {
            classes: classes.into_iter().collect(),
            objects: Vec::new(),
        }
    }

    /// Adds an object unless it is already there.
    pub fn add_object(&mut self, object: impl Into<String>) {
        let object = object.into();
        if !self.objects.contains(&object) {
            self.objects.push(object);
        }
    }

    /// Merges another classification into this one (a script carries the union of its parts).
    pub fn merge(&mut self, other: Classification) {
        self.classes |= other.classes;
        for o in other.objects {
            self.add_object(o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Class::ALL {
            assert_eq!(c.name().parse::<Class>().unwrap(), c);
        }
        assert!("drop".parse::<Class>().is_err());
        for p in Protocol::ALL {
            assert_eq!(p.name().parse::<Protocol>().unwrap(), p);
        }
    }

    #[test]
    fn set_operations() {
        let a: ClassSet = [Class::Read, Class::Ddl].into_iter().collect();
        let b = ClassSet::of(Class::Ddl);
        assert!(a.intersects(b));
        assert!(a.is_superset(b));
        assert!(!b.is_superset(a));
        assert_eq!(a.len(), 2);
        assert_eq!(a.names(), ["read", "ddl"]);
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"["read","ddl"]"#);
        let back: ClassSet = serde_json::from_str(r#"["ddl","read"]"#).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn merge_dedups_objects() {
        let mut a = Classification::of([Class::Read]);
        a.add_object("public.t");
        let mut b = Classification::of([Class::Write]);
        b.add_object("public.t");
        b.add_object("public.u");
        a.merge(b);
        assert_eq!(a.objects, ["public.t", "public.u"]);
        assert!(a.classes.contains(Class::Write));
    }
}
