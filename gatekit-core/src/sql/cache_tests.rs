//! The classifier cache's shape keys: statements that differ only in integer literals share
//! an entry, and a shared entry always classifies exactly as the statement itself would.

use proptest::prelude::*;

use super::cache::literal_shape;
use super::*;

fn classifier() -> SqlClassifier {
    SqlClassifier::new(SqlOptions::default())
}

fn shape(sql: &str) -> Option<String> {
    let mut out = Vec::new();
    literal_shape(sql.as_bytes(), &mut out).then(|| String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn integers_are_keyed_as_zero_or_one() {
    assert_eq!(
        shape("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;").as_deref(),
        Some("SELECT abalance FROM pgbench_accounts WHERE aid = 1;")
    );
    assert_eq!(
        shape("update t set a = a + 0 where id = 007 and b = 000").as_deref(),
        Some("update t set a = a + 0 where id = 1 and b = 00")
    );
    // Digits that belong to a name, a decimal, an exponent or a hex constant stay.
    assert_eq!(
        shape("SELECT c1, 1.5, .5, 1e5, 0x1F, 1_000, 1234567890123456789 FROM t2").as_deref(),
        Some("SELECT c1, 1.5, .5, 1e5, 0x1F, 1_000, 1234567890123456789 FROM t2")
    );
    assert_eq!(
        shape("  WITH x AS (SELECT 3) SELECT * FROM x").as_deref(),
        Some("  WITH x AS (SELECT 1) SELECT * FROM x")
    );
}

#[test]
fn only_plain_single_statements_are_shaped() {
    for sql in [
        "SET search_path = 5",
        "EXPLAIN (ANALYZE 0) DELETE FROM t",
        "SELECT 1; SET search_path = 5",
        "SELECT * FROM t WHERE a = 'x1'",
        "SELECT * FROM \"t1\" WHERE a = 1",
        "SELECT $1, 2",
        "SELECT $$ 1 $$",
        "SELECT 1 -- 2",
        "SELECT 1 /* 2 */",
        "SELECT e'\\x31'",
        "SELECT 1 \u{e9}",
        "SELECT 1\0",
        "SELECTX 1",
        "",
    ] {
        assert_eq!(shape(sql), None, "{sql}");
    }
    assert!(shape("select 1;;  \n").is_some());
}

#[test]
fn pgbench_simple_mode_hits_after_the_first_statement() {
    let k = classifier();
    let mut cache = ClassifierCache::default();
    let ctx = SqlContext::default();
    for aid in 1..=500 {
        let sql = format!("SELECT abalance FROM pgbench_accounts WHERE aid = {aid};");
        let got = cache.get_or_classify(&k, sql.as_bytes(), &ctx);
        assert_eq!(*got, k.classify(sql.as_bytes(), &ctx));
    }
    assert_eq!(
        cache.stats(),
        CacheStats {
            hits: 499,
            misses: 1
        }
    );
    assert_eq!(cache.len(), 1);
}

#[test]
fn statements_over_the_size_budget_are_not_shared() {
    let k = SqlClassifier::new(SqlOptions {
        max_bytes: 40,
        ..SqlOptions::default()
    });
    let mut cache = ClassifierCache::default();
    let ctx = SqlContext::default();
    let short = "SELECT a FROM t WHERE b = 1";
    let long = "SELECT a FROM t WHERE b = 1000000000000000000000";
    cache.get_or_classify(&k, short.as_bytes(), &ctx);
    let got = cache.get_or_classify(&k, long.as_bytes(), &ctx);
    assert_eq!(*got, k.classify(long.as_bytes(), &ctx));
    assert!(got.budget_exceeded);
    assert_eq!(cache.stats().misses, 2);
}

/// Statements with integer slots (`#`), shaped or not, in every position a literal takes.
const TEMPLATES: &[&str] = &[
    "SELECT abalance FROM pgbench_accounts WHERE aid = #;",
    "UPDATE pgbench_accounts SET abalance = abalance + # WHERE aid = #;",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (#, #, #, #, CURRENT_TIMESTAMP);",
    "SELECT * FROM t LIMIT # OFFSET #",
    "DELETE FROM t WHERE # = #",
    "DELETE FROM t WHERE id = -#",
    "UPDATE t SET a = # WHERE #",
    "UPDATE t SET a = # WHERE b IN (#, #)",
    "SELECT #",
    "SELECT * FROM t# WHERE c# = #",
    "SELECT #.# FROM t",
    "SELECT #e# FROM t",
    "SELECT 0x# FROM t",
    "select * from t where a = #::int and b[#] > #",
    "SELECT a::numeric(#, #), b::varchar(#), c::timestamp(#) FROM t",
    "SELECT * FROM t FETCH FIRST # ROWS ONLY",
    "WITH x AS (SELECT # AS n) DELETE FROM t WHERE id = (SELECT n FROM x)",
    "WITH x AS (DELETE FROM t WHERE a > # RETURNING *) SELECT * FROM x",
    "SELECT pg_terminate_backend(#)",
    "SELECT pg_sleep(#), lo_unlink(#)",
    "SELECT * FROM t WHERE a = # FOR UPDATE",
    "SELECT count(*) FROM t GROUP BY # ORDER BY # DESC",
    "EXPLAIN (ANALYZE #) DELETE FROM t",
    "SET search_path = #",
    "SET statement_timeout = #",
    "SELECT #; SET search_path = #",
    "SELECT * FROM t WHERE a = '#'",
    "SELECT * FROM t WHERE a = # -- #",
    "DELETE FROM t WHERE a = # OR true",
];

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "0",
            "00",
            "1",
            "7",
            "42",
            "12345",
            "0001",
            "000",
            "999999999999999999",
            "9223372036854775808",
            "99999999999999999999999"
        ])
        .prop_map(str::to_owned),
        any::<u64>().prop_map(|n| n.to_string()),
    ]
}

fn fill(template: &str, literals: &[String]) -> String {
    let mut out = String::new();
    let mut lits = literals.iter().cycle();
    for (i, part) in template.split('#').enumerate() {
        if i > 0 {
            out.push_str(lits.next().map_or("0", String::as_str));
        }
        out.push_str(part);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cached_lookups_classify_exactly_as_uncached(
        lookups in prop::collection::vec(
            (prop::sample::select(TEMPLATES), prop::collection::vec(literal(), 1..5), any::<bool>()),
            1..24,
        ),
    ) {
        let k = classifier();
        let mut cache = ClassifierCache::new(8, 1024);
        let app = vec!["app".to_owned()];
        for (template, literals, in_app) in &lookups {
            let sql = fill(template, literals);
            let ctx = SqlContext { search_path: if *in_app { &app } else { &[] } };
            let cached = cache.get_or_classify(&k, sql.as_bytes(), &ctx);
            let fresh = k.classify(sql.as_bytes(), &ctx);
            prop_assert_eq!(&*cached, &fresh, "{}", sql);
        }
    }
}
