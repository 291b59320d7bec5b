//! A per-session cache of analyses, keyed by statement text: clients repeat the same
//! statements (prepared statements above all), and a hit costs one hash lookup.

use std::collections::HashMap;
use std::sync::Arc;

use super::{SqlAnalysis, SqlClassifier, SqlContext};

/// Hit and miss counters of a [`ClassifierCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that classified.
    pub misses: u64,
}

/// A bounded cache of analyses for one session (one search path at a time, one classifier).
///
/// It holds at most `max_entries` analyses of statements up to `max_statement_bytes` long;
/// when full it starts over (prepared statements come back at once). A change of the
/// context's search path empties it, since unqualified names then mean other tables.
#[derive(Debug)]
pub struct ClassifierCache {
    map: HashMap<Box<[u8]>, Arc<SqlAnalysis>>,
    search_path: Vec<String>,
    max_entries: usize,
    max_statement_bytes: usize,
    stats: CacheStats,
}

impl Default for ClassifierCache {
    /// 256 entries of statements up to 8 KiB.
    fn default() -> Self {
        ClassifierCache::new(256, 8 << 10)
    }
}

impl ClassifierCache {
    /// A cache of at most `max_entries` analyses of statements up to `max_statement_bytes`.
    pub fn new(max_entries: usize, max_statement_bytes: usize) -> Self {
        ClassifierCache {
            map: HashMap::with_capacity(max_entries.min(1024)),
            search_path: Vec::new(),
            max_entries,
            max_statement_bytes,
            stats: CacheStats::default(),
        }
    }

    /// The analysis of `sql`, from the cache or from `classifier` (always use the same
    /// classifier with one cache).
    pub fn get_or_classify(
        &mut self,
        classifier: &SqlClassifier,
        sql: &[u8],
        ctx: &SqlContext<'_>,
    ) -> Arc<SqlAnalysis> {
        if self.search_path.as_slice() != ctx.search_path {
            self.map.clear();
            self.search_path = ctx.search_path.to_vec();
        }
        if let Some(hit) = self.map.get(sql) {
            self.stats.hits += 1;
            return Arc::clone(hit);
        }
        self.stats.misses += 1;
        let analysis = Arc::new(classifier.classify(sql, ctx));
        if sql.len() <= self.max_statement_bytes && self.max_entries > 0 {
            if self.map.len() >= self.max_entries {
                self.map.clear();
            }
            self.map.insert(Box::from(sql), Arc::clone(&analysis));
        }
        analysis
    }

    /// Number of cached analyses.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Drops every cached analysis.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Hit and miss counts so far.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }
}
