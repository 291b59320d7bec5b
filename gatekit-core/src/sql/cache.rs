//! A per-session cache of analyses, keyed by statement text: clients repeat the same
//! statements (prepared statements above all), and a hit costs one hash lookup.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use super::{SqlAnalysis, SqlClassifier, SqlContext};

/// Cached statements whose sampled hashes are equal.
type Bucket = Vec<(Box<[u8]>, Arc<SqlAnalysis>)>;

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
    /// By [`sample_hash`]; entries whose samples collide share a bucket.
    map: HashMap<u64, Bucket, BuildHasherDefault<PassThrough>>,
    entries: usize,
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
            map: HashMap::with_capacity_and_hasher(
                max_entries.min(1024),
                BuildHasherDefault::default(),
            ),
            entries: 0,
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
            self.clear();
            self.search_path = ctx.search_path.to_vec();
        }
        let key = sample_hash(sql);
        if let Some(hit) = self
            .map
            .get(&key)
            .and_then(|b| b.iter().find(|(k, _)| k.as_ref() == sql))
        {
            self.stats.hits += 1;
            return Arc::clone(&hit.1);
        }
        self.stats.misses += 1;
        let analysis = Arc::new(classifier.classify(sql, ctx));
        if sql.len() <= self.max_statement_bytes && self.max_entries > 0 {
            if self.entries >= self.max_entries {
                self.clear();
            }
            self.map
                .entry(key)
                .or_default()
                .push((Box::from(sql), Arc::clone(&analysis)));
            self.entries += 1;
        }
        analysis
    }

    /// Number of cached analyses.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Drops every cached analysis.
    pub fn clear(&mut self) {
        self.map.clear();
        self.entries = 0;
    }

    /// Hit and miss counts so far.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }
}

/// Bytes sampled from each end of a statement for its hash.
const SAMPLE: usize = 48;

/// A hash of the statement's length, its first and last bytes and a stride through the
/// middle: statements that share all of them are told apart by comparing them whole, so a
/// hit costs a short hash and one comparison however long the statement is.
fn sample_hash(sql: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    sql.len().hash(&mut h);
    if sql.len() <= 3 * SAMPLE {
        h.write(sql);
    } else {
        h.write(&sql[..SAMPLE]);
        h.write(&sql[sql.len() - SAMPLE..]);
        let step = sql.len() / SAMPLE;
        let mut stride = [0u8; SAMPLE];
        for (d, b) in stride.iter_mut().zip(sql.iter().step_by(step)) {
            *d = *b;
        }
        h.write(&stride);
    }
    h.finish()
}

/// The map's keys are already hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}
