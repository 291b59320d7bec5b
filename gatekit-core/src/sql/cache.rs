//! A per-session cache of analyses, keyed by statement text: clients repeat the same
//! statements (prepared statements above all), and a hit costs one hash lookup.
//!
//! Simple-protocol clients repeat statements too, but with other literals inlined
//! (`… WHERE aid = 12345`). A plain `SELECT`, `INSERT`, `UPDATE`, `DELETE` or `WITH` made of
//! nothing but names, operators and integers is therefore keyed by its *shape*: each integer
//! literal of up to 18 digits is replaced by `0` when it is `0`, by `00` when it is another
//! spelling of zero, and by `1` otherwise. Only text with no string,
//! quoted name, dollar sign, comment or second statement qualifies, so every digit run the
//! key rewrites is an integer constant to PostgreSQL, sqlparser and the classifier alike, and
//! the classification of such a statement does not depend on which integer it holds (tests
//! check the whole corpus and random literals against uncached classification).

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
    /// The shape key of the statement looked up, reused between lookups.
    scratch: Vec<u8>,
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
            scratch: Vec::new(),
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
        let cacheable = sql.len() <= self.max_statement_bytes && self.max_entries > 0;
        // Text over the classifier's size budget is read differently: never shared.
        let shaped = cacheable
            && sql.len() <= classifier.options().max_bytes
            && literal_shape(sql, &mut self.scratch);
        let text: &[u8] = if shaped { &self.scratch } else { sql };
        let hash = sample_hash(text);
        if let Some(hit) = self
            .map
            .get(&hash)
            .and_then(|b| b.iter().find(|(k, _)| k.as_ref() == text))
        {
            self.stats.hits += 1;
            return Arc::clone(&hit.1);
        }
        self.stats.misses += 1;
        let analysis = Arc::new(classifier.classify(sql, ctx));
        if cacheable {
            if self.entries >= self.max_entries {
                self.clear();
            }
            let text: &[u8] = if shaped { &self.scratch } else { sql };
            self.map
                .entry(hash)
                .or_default()
                .push((Box::from(text), Arc::clone(&analysis)));
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

/// Statements whose first word is one of these may be keyed by their shape.
const SHAPED_VERBS: &[&[u8]] = &[b"select", b"insert", b"update", b"delete", b"with"];

/// Bytes a shaped statement may hold: names, white space, punctuation and operators that
/// start no string, quoted name, dollar quote, parameter or comment.
fn shape_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_ \t\n\r,().;*=<>!+-/%:[]".contains(&b)
}

/// Longer integers are kept as they are: every shaped one fits the 64-bit integers
/// sqlparser reads type modifiers and counts into, so none of them can fail to parse.
const MAX_SHAPED_DIGITS: usize = 18;

/// Bytes that continue a name or a number: a digit run next to one is not an integer.
fn joins_digits(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

/// Writes the shape key of `sql` into `out` (integer literals as `0`, `00` or `1`); false when the
/// statement does not qualify (see the module documentation), leaving `out` unspecified.
///
/// One pass, and `out` is never longer than `sql`.
pub(crate) fn literal_shape(sql: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let start = sql
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(sql.len());
    let rest = sql.get(start..).unwrap_or_default();
    let verb_len = rest
        .iter()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let verb = rest.get(..verb_len).unwrap_or_default();
    if !SHAPED_VERBS.iter().any(|v| verb.eq_ignore_ascii_case(v)) {
        return false;
    }
    if !sql.iter().all(|&b| shape_byte(b)) || sql.windows(2).any(|w| w == b"--" || w == b"/*") {
        return false;
    }
    // One statement: nothing but white space after the first `;`.
    if let Some(semi) = sql.iter().position(|&b| b == b';')
        && sql
            .get(semi..)
            .unwrap_or_default()
            .iter()
            .any(|&b| b != b';' && !b.is_ascii_whitespace())
    {
        return false;
    }
    let mut i = 0;
    while let Some(&b) = sql.get(i) {
        let after_join = i > 0 && sql.get(i - 1).is_some_and(|&p| joins_digits(p));
        if !b.is_ascii_digit() || after_join {
            out.push(b);
            i += 1;
            continue;
        }
        let end = sql
            .get(i..)
            .unwrap_or_default()
            .iter()
            .position(|d| !d.is_ascii_digit())
            .map_or(sql.len(), |n| i + n);
        let run = sql.get(i..end).unwrap_or_default();
        if sql.get(end).is_some_and(|&n| joins_digits(n)) || run.len() > MAX_SHAPED_DIGITS {
            out.extend_from_slice(run);
        } else if run == b"0" {
            out.push(b'0');
        } else if run.iter().all(|&d| d == b'0') {
            out.extend_from_slice(b"00");
        } else {
            out.push(b'1');
        }
        i = end;
    }
    true
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
