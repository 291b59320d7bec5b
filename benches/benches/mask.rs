//! Masking throughput, side by side with a naive baseline that runs one regex per detector,
//! one after another (what pattern engines do), validating card numbers with Luhn.
//!
//! - `mask/log_no_pii`: 1 MiB of application and access log text without sensitive values;
//! - `mask/log_pii`: the same with a sensitive value every ~500 bytes;
//! - `mask/cells`: 1 million result cells of 8–40 bytes through the per-cell API;
//! - `mask/stream`: the PII log through a `StreamMasker` in 4 KiB chunks.
//!
//! Run: `cargo bench -p gatekit-benches --bench mask -- --warm-up-time 1 --measurement-time 3`

use std::borrow::Cow;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatekit_core::mask::{
    BUILT_IN_DETECTORS, ColumnRef, MaskSpec, Masker, StreamMasker, ValueKind,
};
use regex_automata::meta::Regex;

const MIB: usize = 1 << 20;

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// Log lines without sensitive values: timestamps, levels, paths, ids, durations, prose.
fn log_line(rng: &mut Rng) -> String {
    let r = rng.next();
    let (day, h, m, s, ms) = (
        1 + r % 28,
        r % 24,
        (r >> 8) % 60,
        (r >> 16) % 60,
        (r >> 24) % 1000,
    );
    let level = rng.pick(&["INFO", "INFO", "DEBUG", "WARN", "ERROR"]);
    match r % 3 {
        0 => format!(
            "2024-05-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z {level} [http-worker-{}] {} {} status={} dur={}ms bytes={} trace_id={:016x}\n",
            r % 16,
            rng.pick(&["GET", "POST", "PUT", "DELETE"]),
            rng.pick(&[
                "/api/v1/orders",
                "/healthz",
                "/api/v2/users/profile",
                "/static/app.js",
                "/metrics"
            ]),
            rng.pick(&["200", "201", "204", "304", "404", "500"]),
            (r >> 32) % 900,
            (r >> 20) % 50_000,
            rng.next(),
        ),
        1 => format!(
            "{level} 2024-05-{day:02} {h:02}:{m:02}:{s:02} scheduler: job {} finished in {}.{:03}s, {} rows processed, next run in {} minutes\n",
            rng.pick(&[
                "cleanup-sessions",
                "rebuild-search-index",
                "export-reports",
                "rotate-keys"
            ]),
            (r >> 12) % 60,
            ms,
            (r >> 28) % 100_000,
            (r >> 40) % 120,
        ),
        _ => format!(
            "{h:02}:{m:02}:{s:02} {level} pool: connection {} returned to pool (active={}, idle={}, waiting={}); user agent \"Mozilla/5.0 (X11; Linux x86_64)\" session renewed\n",
            (r >> 16) % 4096,
            (r >> 24) % 64,
            (r >> 30) % 64,
            (r >> 36) % 8,
        ),
    }
}

/// Sensitive values of several kinds.
const PII: &[&str] = &[
    "card 4111 1111 1111 1111 charged",
    "customer jane.doe@example.com logged in",
    "callback +1 415-555-2671 requested",
    "ssn=234-56-7890",
    "client 10.20.30.40 connected",
    "Authorization: Bearer abcDEF123456ghiJKL789",
    "password=hunter22",
    "payout to DE89 3704 0044 0532 0130 00",
    "key AKIAIOSFODNN7EXAMPLE used",
    "peer 2001:db8::8a2e:370:7334 up",
];

fn log_text(pii_every: Option<usize>) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(MIB + 512);
    let mut next_pii = pii_every.unwrap_or(usize::MAX);
    while out.len() < MIB {
        out.push_str(&log_line(&mut rng));
        if out.len() >= next_pii {
            out.push_str(rng.pick(PII));
            out.push('\n');
            next_pii += pii_every.unwrap_or(usize::MAX);
        }
    }
    out.truncate(MIB);
    out.into_bytes()
}

/// One million result cells: names, dates, amounts, statuses, ids, a few e-mail addresses
/// and card numbers.
fn cells() -> Vec<Vec<u8>> {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let words = [
        "Jane Doe",
        "shipped",
        "pending",
        "Berlin",
        "Müller GmbH",
        "San Francisco",
        "refund requested",
        "premium plan",
        "north-east warehouse 7",
        "ok",
    ];
    (0..1_000_000)
        .map(|i| {
            let r = rng.next();
            let cell = match i % 10 {
                0..=2 => format!("{} {}", rng.pick(&words), rng.pick(&words)),
                3 => format!(
                    "2024-{:02}-{:02} {:02}:{:02}:00",
                    1 + r % 12,
                    1 + r % 28,
                    r % 24,
                    r % 60
                ),
                4 => format!("{}.{:02}", r % 100_000, r % 100),
                5 => format!("order-{:08}", r % 100_000_000),
                6 => format!("{:016x}", r),
                7 => format!("user{}@example.com", r % 10_000),
                8 => format!("{} {}", rng.pick(&words), r % 1000),
                _ if r.is_multiple_of(7) => "4111 1111 1111 1111".to_owned(),
                _ => format!("note: {}", rng.pick(&words)),
            };
            let mut cell = cell.into_bytes();
            cell.truncate(40);
            while cell.len() < 8 {
                cell.push(b'.');
            }
            cell
        })
        .collect()
}

/// The naive engine: one regex per detector, each run over the whole input in turn.
struct Naive {
    regexes: Vec<(bool, Regex)>,
}

impl Naive {
    fn new() -> Naive {
        let patterns = [
            (true, r"\b(?:[0-9][ -]?){12,18}[0-9]\b"),
            (false, r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
            (
                false,
                r"(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{3}\)|[0-9]{3})[ .-]?[0-9]{3}[ .-][0-9]{4}\b",
            ),
            (false, r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b"),
            (
                false,
                r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
            ),
            (false, r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b"),
            (false, r"\b(?:[0-9A-Fa-f]{1,4}:){2,7}:?[0-9A-Fa-f]{0,4}\b"),
            (false, r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
            (
                false,
                r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
            ),
            (false, r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
            (false, r"(?i)bearer\s+[A-Za-z0-9._~+/-]+=*"),
            (false, r"(?i)(?:password|passwd|pwd)\s*[:=]\s*\S+"),
        ];
        let regexes = patterns
            .iter()
            .map(|&(luhn, p)| (luhn, Regex::new(p).expect("baseline regex")))
            .collect();
        Naive { regexes }
    }

    fn mask<'a>(&self, input: &'a [u8]) -> Cow<'a, [u8]> {
        let mut spans = Vec::new();
        for (luhn, re) in &self.regexes {
            for m in re.find_iter(input) {
                if !luhn || luhn_ok(&input[m.range()]) {
                    spans.push(m.range());
                }
            }
        }
        if spans.is_empty() {
            return Cow::Borrowed(input);
        }
        spans.sort_by_key(|r| (r.start, r.end));
        let mut out = Vec::with_capacity(input.len());
        let mut at = 0;
        for r in spans {
            if r.start < at {
                continue;
            }
            out.extend_from_slice(&input[at..r.start]);
            out.extend_from_slice(b"[REDACTED]");
            at = r.end;
        }
        out.extend_from_slice(&input[at..]);
        Cow::Owned(out)
    }
}

fn luhn_ok(s: &[u8]) -> bool {
    let digits = s
        .iter()
        .rev()
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'));
    let sum: u32 = digits
        .enumerate()
        .map(|(k, d)| {
            if k % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn masker() -> Masker {
    Masker::compile(
        &MaskSpec::new("bench", BUILT_IN_DETECTORS.iter().copied()),
        &[],
    )
    .expect("profile")
}

fn bench_logs(c: &mut Criterion) {
    let masker = masker();
    let naive = Naive::new();
    let clean = log_text(None);
    assert!(
        masker.find(&clean).is_empty(),
        "the clean log has no sensitive values"
    );
    let dirty = log_text(Some(500));
    let found = masker.find(&dirty).len();
    assert!(found > MIB / 600, "{found} values in the PII log");
    for (name, input) in [("mask/log_no_pii", &clean), ("mask/log_pii", &dirty)] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function("gatekit", |b| {
            b.iter(|| masker.mask(black_box(input)).len())
        });
        group.bench_function("naive", |b| b.iter(|| naive.mask(black_box(input)).len()));
        group.finish();
    }
    let masker = Arc::new(masker);
    let mut group = c.benchmark_group("mask/stream");
    group.throughput(Throughput::Bytes(dirty.len() as u64));
    group.bench_function("gatekit_4k_chunks", |b| {
        let mut out = Vec::with_capacity(2 * MIB);
        b.iter(|| {
            out.clear();
            let mut s = StreamMasker::new(Arc::clone(&masker));
            for chunk in dirty.chunks(4096) {
                s.push(black_box(chunk), &mut out);
            }
            s.finish(&mut out);
            out.len()
        })
    });
    group.finish();
}

fn bench_cells(c: &mut Criterion) {
    let masker = masker();
    let naive = Naive::new();
    let cells = cells();
    let column = masker.column(
        &ColumnRef::of_table(Some("public"), "orders", "note"),
        ValueKind::Text,
    );
    let mut group = c.benchmark_group("mask/cells");
    group.sample_size(10);
    group.throughput(Throughput::Elements(cells.len() as u64));
    group.bench_function("gatekit", |b| {
        b.iter(|| {
            cells
                .iter()
                .filter(|v| {
                    !matches!(
                        masker.mask_cell(&column, black_box(v)),
                        gatekit_core::mask::CellOutcome::Unchanged
                    )
                })
                .count()
        })
    });
    group.bench_function("naive", |b| {
        b.iter(|| {
            cells
                .iter()
                .filter(|v| matches!(naive.mask(black_box(v)), Cow::Owned(_)))
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_logs, bench_cells);
criterion_main!(benches);
