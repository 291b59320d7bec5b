//! SQL classification: typical OLTP statements, a reporting query and psql's `\d`, uncached
//! and through the per-session cache; simple-protocol statements with changing literals.
//!
//! `cargo bench -p gatekit-benches --bench sql -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatekit_core::sql::{ClassifierCache, SqlClassifier, SqlContext, SqlOptions};

/// pgbench's tpcb-like and select-only statements, as sent in extended mode.
const PGBENCH: &[&str] = &[
    "BEGIN;",
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
    "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
    "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;",
    "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);",
    "END;",
];

const POINT_SELECT: &str = "SELECT id, name, email FROM customers WHERE id = $1";

const REPORT: &str = "SELECT r.name AS region, c.name, p.title, sum(oi.qty * oi.price) AS revenue, count(DISTINCT o.id) AS orders \
FROM orders o JOIN customers c ON c.id = o.customer_id JOIN order_items oi ON oi.order_id = o.id \
JOIN products p ON p.id = oi.product_id JOIN categories cat ON cat.id = p.category_id \
JOIN suppliers s ON s.id = p.supplier_id JOIN addresses a ON a.id = o.shipping_address_id \
JOIN regions r ON r.id = a.region_id LEFT JOIN promotions pr ON pr.id = o.promotion_id \
LEFT JOIN returns rt ON rt.order_item_id = oi.id JOIN warehouses w ON w.id = oi.warehouse_id \
WHERE o.placed_at >= $1 AND o.placed_at < $2 AND rt.id IS NULL AND cat.active \
GROUP BY r.name, c.name, p.title HAVING sum(oi.qty * oi.price) > 100 ORDER BY revenue DESC LIMIT 50";

/// The catalog query psql 15 sends for `\d`.
const PSQL_D: &str = r#"SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','v','m','S','f','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;"#;

fn classify(c: &mut Criterion) {
    let classifier = SqlClassifier::new(SqlOptions::default());
    let ctx = SqlContext::default();
    let cases: [(&str, &[&str]); 4] = [
        ("pgbench_tpcb", PGBENCH),
        ("point_select", &[POINT_SELECT]),
        ("report_10_joins", &[REPORT]),
        ("psql_d", &[PSQL_D]),
    ];

    let mut group = c.benchmark_group("sql_classify_uncached");
    for (name, stmts) in cases {
        group.throughput(Throughput::Elements(stmts.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                for s in stmts {
                    black_box(classifier.classify(black_box(s.as_bytes()), &ctx));
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("sql_classify_cached");
    for (name, stmts) in cases {
        let mut cache = ClassifierCache::default();
        for s in stmts {
            cache.get_or_classify(&classifier, s.as_bytes(), &ctx);
        }
        group.throughput(Throughput::Elements(stmts.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                for s in stmts {
                    black_box(cache.get_or_classify(&classifier, black_box(s.as_bytes()), &ctx));
                }
            })
        });
    }
    group.finish();
}

/// pgbench `-S -M simple`: the point select with a new literal every time, uncached and
/// through the cache (which keys it by its shape, so all but the first are hits).
fn simple_protocol_literals(c: &mut Criterion) {
    let classifier = SqlClassifier::new(SqlOptions::default());
    let ctx = SqlContext::default();
    let statements: Vec<String> = (0..1024)
        .map(|i| {
            format!(
                "SELECT abalance FROM pgbench_accounts WHERE aid = {};",
                i * 97 + 1
            )
        })
        .collect();
    let mut group = c.benchmark_group("sql_simple_literals");
    group.throughput(Throughput::Elements(statements.len() as u64));
    group.bench_function("uncached", |b| {
        b.iter(|| {
            for s in &statements {
                black_box(classifier.classify(black_box(s.as_bytes()), &ctx));
            }
        })
    });
    let mut cache = ClassifierCache::default();
    group.bench_function("cached", |b| {
        b.iter(|| {
            for s in &statements {
                black_box(cache.get_or_classify(&classifier, black_box(s.as_bytes()), &ctx));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, classify, simple_protocol_literals);
criterion_main!(benches);
