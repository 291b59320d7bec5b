//! Column lineage: the real `schema.table.column` behind a result column, and a bounded
//! cache of the catalog's answers shared by a target's sessions.

use foldhash::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use jiff::{SignedDuration, Timestamp};

use crate::mask::ColumnRef;

/// A table column as a RowDescription names it: the table's OID and the attribute number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ColumnKey {
    /// `pg_class.oid` of the table (or view).
    pub table_oid: u32,
    /// `pg_attribute.attnum` of the column.
    pub column: i16,
}

/// The catalog's name for a [`ColumnKey`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QualifiedColumn {
    /// `pg_namespace.nspname`.
    pub schema: Box<str>,
    /// `pg_class.relname`.
    pub table: Box<str>,
    /// `pg_attribute.attname`.
    pub column: Box<str>,
}

impl QualifiedColumn {
    /// A column of `schema.table`.
    pub fn new(schema: &str, table: &str, column: &str) -> Self {
        QualifiedColumn {
            schema: schema.into(),
            table: table.into(),
            column: column.into(),
        }
    }

    /// The form column rules match on.
    pub fn column_ref(&self) -> ColumnRef<'_> {
        ColumnRef::of_table(Some(&self.schema), &self.table, &self.column)
    }
}

impl std::fmt::Display for QualifiedColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.schema, self.table, self.column)
    }
}

struct Entry {
    name: Arc<QualifiedColumn>,
    stored: Timestamp,
    used: u64,
}

#[derive(Default)]
struct Map {
    entries: HashMap<ColumnKey, Entry>,
    tick: u64,
}

/// Catalog answers for one database, shared read-mostly by its sessions: bounded (the least
/// recently used entry goes first) and aged (an entry older than the TTL is asked again).
///
/// Sessions read it themselves, so a result whose columns are all known costs no event and
/// no round trip; they store what the driver looked up for them
/// ([`Session::handle_columns`](super::Session::handle_columns)). A masked session clears
/// it when a DDL statement (`ALTER`, `DROP`, `CREATE`, `COMMENT` excluded) completes
/// through it; DDL run elsewhere is seen once the TTL runs out.
pub struct ColumnCache {
    capacity: usize,
    ttl: SignedDuration,
    map: Mutex<Map>,
}

impl std::fmt::Debug for ColumnCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnCache")
            .field("capacity", &self.capacity)
            .field("ttl", &self.ttl)
            .field("len", &self.len())
            .finish()
    }
}

impl ColumnCache {
    /// Default number of entries.
    pub const DEFAULT_CAPACITY: usize = 16 * 1024;
    /// Default age after which an entry is looked up again.
    pub const DEFAULT_TTL: SignedDuration = SignedDuration::from_secs(60);

    /// A cache holding at most `capacity` entries (at least 1), each for at most `ttl`.
    pub fn new(capacity: usize, ttl: SignedDuration) -> Self {
        ColumnCache {
            capacity: capacity.max(1),
            ttl,
            map: Mutex::new(Map::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The name for `key`, if known and younger than the TTL at `now`.
    pub fn get(&self, now: Timestamp, key: ColumnKey) -> Option<Arc<QualifiedColumn>> {
        let mut map = self.lock();
        map.tick += 1;
        let tick = map.tick;
        let ttl = self.ttl;
        let entry = map.entries.get_mut(&key)?;
        if now.duration_since(entry.stored) > ttl {
            map.entries.remove(&key);
            return None;
        }
        entry.used = tick;
        Some(Arc::clone(&entry.name))
    }

    /// Stores the name of `key` as of `now`, evicting the least recently used entry when
    /// full.
    pub fn insert(&self, now: Timestamp, key: ColumnKey, name: Arc<QualifiedColumn>) {
        let mut map = self.lock();
        map.tick += 1;
        let used = map.tick;
        if !map.entries.contains_key(&key) && map.entries.len() >= self.capacity {
            let ttl = self.ttl;
            map.entries
                .retain(|_, e| now.duration_since(e.stored) <= ttl);
            if map.entries.len() >= self.capacity
                && let Some(old) = map
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.used)
                    .map(|(k, _)| *k)
            {
                map.entries.remove(&old);
            }
        }
        map.entries.insert(
            key,
            Entry {
                name,
                stored: now,
                used,
            },
        );
    }

    /// Forgets every entry (after DDL).
    pub fn clear(&self) {
        self.lock().entries.clear();
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for ColumnCache {
    fn default() -> Self {
        ColumnCache::new(Self::DEFAULT_CAPACITY, Self::DEFAULT_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(oid: u32) -> ColumnKey {
        ColumnKey {
            table_oid: oid,
            column: 1,
        }
    }

    #[test]
    fn bounded_lru_with_ttl() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let cache = ColumnCache::new(2, SignedDuration::from_secs(10));
        let name = Arc::new(QualifiedColumn::new("public", "t", "ssn"));
        cache.insert(t0, key(1), Arc::clone(&name));
        cache.insert(t0, key(2), Arc::clone(&name));
        assert!(cache.get(t0, key(1)).is_some());
        cache.insert(t0, key(3), Arc::clone(&name));
        assert_eq!(cache.len(), 2);
        assert!(
            cache.get(t0, key(2)).is_none(),
            "least recently used goes first"
        );
        assert!(cache.get(t0, key(1)).is_some());
        let later = t0 + SignedDuration::from_secs(11);
        assert!(cache.get(later, key(1)).is_none(), "aged out");
        cache.clear();
        assert!(cache.is_empty());
    }
}
