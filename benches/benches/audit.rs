//! Cost per command record: the core encoder alone, and the trail writer in each sync mode
//! (`always` with 1 and 8 concurrent sessions sharing fsyncs).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatekit_bin::audit_log::{AuditLog, AuditLogConfig, SyncMode};
use gatekit_core::audit::{AuditEvent, ChainEncoder, ChainKey, CommandEvent, Verdict};
use gatekit_core::{Class, ClassSet, Identity, Protocol};

fn command() -> AuditEvent {
    let mut identity = Identity::new("alice@example.com", ["dev", "oncall"]);
    identity.email = Some("alice@example.com".into());
    AuditEvent::Command(CommandEvent {
        session: "pg-7f3a9c".into(),
        identity: Arc::new(identity),
        target: "shop".into(),
        protocol: Protocol::Postgres,
        number: 1,
        command: "SELECT id, email, created_at FROM public.customers WHERE id = $1".into(),
        classes: ClassSet::of(Class::Read),
        objects: vec!["public.customers".into()],
        verdict: Verdict::Allow,
        rule: Some("default".into()),
        reason: None,
        rows: Some(1),
        bytes: Some(87),
        duration_us: Some(412),
        error: None,
    })
}

fn encoder(c: &mut Criterion) {
    let event = command();
    let now: jiff::Timestamp = "2024-06-01T12:00:00.123456Z".parse().unwrap();
    let mut g = c.benchmark_group("audit/encode");
    g.throughput(Throughput::Elements(1));
    let key = ChainKey::new(b"bench-chain-key-0123456789abcdef").unwrap();
    for (name, key) in [("sha256", None), ("hmac", Some(key))] {
        let mut enc = ChainEncoder::new(key);
        let mut buf = Vec::with_capacity(1024);
        g.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                black_box(enc.encode_into(now, black_box(&event), &mut buf));
            })
        });
    }
    g.finish();
}

/// Appends `iters` records from `sessions` concurrent tasks; returns the wall time.
fn run_appends(
    rt: &tokio::runtime::Runtime,
    log: &AuditLog,
    sessions: u64,
    iters: u64,
) -> Duration {
    let event = command();
    rt.block_on(async {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for s in 0..sessions {
            let n = iters / sessions + u64::from(s < iters % sessions);
            let log = log.clone();
            let event = event.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..n {
                    log.append(event.clone()).await.expect("append");
                }
            }));
        }
        for t in tasks {
            t.await.expect("session task");
        }
        start.elapsed()
    })
}

fn writer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("audit/append");
    g.throughput(Throughput::Elements(1));
    for (name, sync, sessions) in [
        ("interval", SyncMode::Interval, 1),
        ("always-1-session", SyncMode::Always, 1),
        ("always-8-sessions", SyncMode::Always, 8),
    ] {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let mut config = AuditLogConfig::new(dir.path());
        config.sync = sync;
        let log = AuditLog::open(config).unwrap();
        if sync == SyncMode::Always {
            g.sample_size(10);
        }
        g.bench_function(name, |b| {
            b.iter_custom(|iters| run_appends(&rt, &log, sessions, iters))
        });
        let stats = log.stats();
        eprintln!(
            "{name}: {} records, {} fsyncs ({:.1} records per fsync)",
            stats.records,
            stats.fsyncs,
            stats.records as f64 / stats.fsyncs.max(1) as f64
        );
        rt.block_on(log.close()).unwrap();
    }
    g.finish();
}

criterion_group!(benches, encoder, writer);
criterion_main!(benches);
