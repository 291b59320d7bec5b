//! The gateway's metrics registry, rendered as Prometheus text at `/metrics`.
//!
//! One [`Metrics`] is shared (`Arc`) by every listener and the API. The data path calls:
//!
//! - [`Metrics::session_started`] / [`Metrics::session_ended`] when a client session is
//!   admitted and when it ends (`gatekit_sessions_total`, `gatekit_sessions_active`, by
//!   protocol and target);
//! - [`Metrics::decision`] for every decided command (`gatekit_decisions_total`, by verdict and
//!   rule) and [`Metrics::decision_latency`] with the time the decision took
//!   (`gatekit_decision_latency_seconds`);
//! - [`Metrics::approval_waited`] when a held command's approval ends, with how long it waited
//!   (`gatekit_approval_wait_seconds`);
//! - [`Metrics::upstream_error`] when a connection to an upstream fails
//!   (`gatekit_upstream_errors_total`, by target).
//!
//! Every call is a few atomic operations under a read lock; a label set is allocated once,
//! the first time it is seen. Label sets are bounded ([`MAX_SERIES`] per family); past the
//! bound, new values are counted under the label value `_other`.

use foldhash::{HashMap, HashMapExt};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use gatekit_core::Protocol;
use gatekit_core::policy::Verdict;

/// Label sets kept per metric family; further values are folded into `_other`.
pub const MAX_SERIES: usize = 1024;

/// The label value new series are counted under once a family is full.
const OTHER: &str = "_other";

/// Bucket upper bounds (seconds) of the statement decision latency histogram.
const LATENCY_BUCKETS: [f64; 12] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.1,
];

/// Bucket upper bounds (seconds) of the approval wait histogram.
const WAIT_BUCKETS: [f64; 11] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
];

/// The gateway's counters, gauges and histograms.
#[derive(Debug)]
pub struct Metrics {
    sessions: Family<SessionCounters>,
    decisions: Family<[AtomicU64; 3]>,
    upstream_errors: Family<AtomicU64>,
    latency: Histogram<{ LATENCY_BUCKETS.len() }>,
    approval_wait: Histogram<{ WAIT_BUCKETS.len() }>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Metrics {
            sessions: Family::default(),
            decisions: Family::default(),
            upstream_errors: Family::default(),
            latency: Histogram::new(&LATENCY_BUCKETS),
            approval_wait: Histogram::new(&WAIT_BUCKETS),
        }
    }

    /// A client session on `target` was admitted.
    pub fn session_started(&self, protocol: Protocol, target: &str) {
        let s = self.sessions.get(protocol.name(), target);
        s.total.fetch_add(1, Ordering::Relaxed);
        s.active.fetch_add(1, Ordering::Relaxed);
    }

    /// A session counted by [`Metrics::session_started`] ended.
    pub fn session_ended(&self, protocol: Protocol, target: &str) {
        self.sessions
            .get(protocol.name(), target)
            .active
            .fetch_sub(1, Ordering::Relaxed);
    }

    /// A command was decided `verdict` by `rule` (`None`: the policy's default).
    pub fn decision(&self, verdict: Verdict, rule: Option<&str>) {
        let slot = match verdict {
            Verdict::Allow => 0,
            Verdict::Review => 1,
            Verdict::Deny => 2,
        };
        self.decisions.get(rule.unwrap_or(""), "")[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Deciding one statement (classification and policy) took `took`.
    pub fn decision_latency(&self, took: Duration) {
        self.latency.observe(took);
    }

    /// A held command's approval ended (approved, denied, expired or cancelled) after it
    /// waited `waited`.
    pub fn approval_waited(&self, waited: Duration) {
        self.approval_wait.observe(waited);
    }

    /// Connecting to, or talking with, `target`'s upstream failed.
    pub fn upstream_error(&self, target: &str) {
        self.upstream_errors
            .get(target, "")
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Every metric in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        header(
            &mut out,
            "gatekit_sessions_total",
            "counter",
            "Client sessions admitted, by protocol and target.",
        );
        let sessions = self.sessions.snapshot();
        for ((protocol, target), s) in &sessions {
            sample(
                &mut out,
                "gatekit_sessions_total",
                &[("protocol", protocol), ("target", target)],
                s.total.load(Ordering::Relaxed),
            );
        }
        header(
            &mut out,
            "gatekit_sessions_active",
            "gauge",
            "Client sessions open now, by protocol and target.",
        );
        for ((protocol, target), s) in &sessions {
            sample(
                &mut out,
                "gatekit_sessions_active",
                &[("protocol", protocol), ("target", target)],
                s.active.load(Ordering::Relaxed),
            );
        }
        header(
            &mut out,
            "gatekit_decisions_total",
            "counter",
            "Commands decided, by verdict and rule (empty rule: the policy default).",
        );
        for ((rule, _), counts) in self.decisions.snapshot() {
            for (verdict, count) in [Verdict::Allow, Verdict::Review, Verdict::Deny]
                .iter()
                .zip(counts.iter())
            {
                let n = count.load(Ordering::Relaxed);
                if n > 0 {
                    sample(
                        &mut out,
                        "gatekit_decisions_total",
                        &[("verdict", verdict.name()), ("rule", &rule)],
                        n,
                    );
                }
            }
        }
        header(
            &mut out,
            "gatekit_upstream_errors_total",
            "counter",
            "Failed upstream connections or exchanges, by target.",
        );
        for ((target, _), n) in self.upstream_errors.snapshot() {
            sample(
                &mut out,
                "gatekit_upstream_errors_total",
                &[("target", &target)],
                n.load(Ordering::Relaxed),
            );
        }
        self.latency.render(
            &mut out,
            "gatekit_decision_latency_seconds",
            "Time to classify and decide one statement.",
        );
        self.approval_wait.render(
            &mut out,
            "gatekit_approval_wait_seconds",
            "Time a held command waited for its approval to end.",
        );
        out
    }
}

/// A session family's counters.
#[derive(Debug, Default)]
struct SessionCounters {
    total: AtomicU64,
    active: AtomicI64,
}

/// Series of one metric family, keyed by up to two label values (nested, so a lookup
/// borrows the values and allocates nothing).
#[derive(Debug)]
struct Family<T> {
    series: RwLock<FamilyMap<T>>,
}

/// One series of a family: its two label values and its value.
type Series<T> = ((Box<str>, Box<str>), Arc<T>);

#[derive(Debug)]
struct FamilyMap<T> {
    by_label: HashMap<Box<str>, HashMap<Box<str>, Arc<T>>>,
    len: usize,
}

impl<T> Default for Family<T> {
    fn default() -> Self {
        Family {
            series: RwLock::new(FamilyMap {
                by_label: HashMap::new(),
                len: 0,
            }),
        }
    }
}

impl<T: Default> Family<T> {
    /// The series of `(a, b)`, created on first use (or `_other` once the family is full).
    fn get(&self, a: &str, b: &str) -> Arc<T> {
        {
            let map = self.series.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = map.by_label.get(a).and_then(|inner| inner.get(b)) {
                return Arc::clone(s);
            }
        }
        let mut map = self.series.write().unwrap_or_else(PoisonError::into_inner);
        let (a, b) = if map.len >= MAX_SERIES {
            (OTHER, if b.is_empty() { "" } else { OTHER })
        } else {
            (a, b)
        };
        let FamilyMap { by_label, len } = &mut *map;
        let inner = by_label.entry(a.into()).or_default();
        if let Some(s) = inner.get(b) {
            return Arc::clone(s);
        }
        *len += 1;
        Arc::clone(inner.entry(b.into()).or_default())
    }

    /// Every series, sorted by labels.
    fn snapshot(&self) -> Vec<Series<T>> {
        let map = self.series.read().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<_> = map
            .by_label
            .iter()
            .flat_map(|(a, inner)| {
                inner
                    .iter()
                    .map(move |(b, s)| ((a.clone(), b.clone()), Arc::clone(s)))
            })
            .collect();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    }
}

/// A histogram with fixed bucket bounds, in seconds.
#[derive(Debug)]
struct Histogram<const N: usize> {
    bounds: &'static [f64; N],
    buckets: [AtomicU64; N],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    fn new(bounds: &'static [f64; N]) -> Self {
        Histogram {
            bounds,
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b)
            && let Some(bucket) = self.buckets.get(i)
        {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, "histogram", help);
        let mut cumulative = 0u64;
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_label(out, v);
        out.push('"');
    }
    let _ = writeln!(out, "}} {value}");
}

/// Label values escape backslash, double quote and line feed.
fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn sessions_count_and_gauge_by_protocol_and_target() {
        let m = Metrics::new();
        m.session_started(Protocol::Postgres, "shop");
        m.session_started(Protocol::Postgres, "shop");
        m.session_started(Protocol::Ssh, "bastion");
        m.session_ended(Protocol::Postgres, "shop");
        let text = m.render();
        assert_eq!(
            line(
                &text,
                "gatekit_sessions_total{protocol=\"postgres\",target=\"shop\"}"
            ),
            Some("gatekit_sessions_total{protocol=\"postgres\",target=\"shop\"} 2")
        );
        assert_eq!(
            line(
                &text,
                "gatekit_sessions_active{protocol=\"postgres\",target=\"shop\"}"
            ),
            Some("gatekit_sessions_active{protocol=\"postgres\",target=\"shop\"} 1")
        );
        assert!(text.contains("gatekit_sessions_active{protocol=\"ssh\",target=\"bastion\"} 1\n"));
    }

    #[test]
    fn decisions_by_verdict_and_rule() {
        let m = Metrics::new();
        m.decision(Verdict::Deny, Some("no-ddl"));
        m.decision(Verdict::Deny, Some("no-ddl"));
        m.decision(Verdict::Allow, None);
        let text = m.render();
        assert!(text.contains("gatekit_decisions_total{verdict=\"deny\",rule=\"no-ddl\"} 2\n"));
        assert!(text.contains("gatekit_decisions_total{verdict=\"allow\",rule=\"\"} 1\n"));
        assert!(!text.contains("verdict=\"review\""));
    }

    #[test]
    fn histograms_are_cumulative() {
        let m = Metrics::new();
        m.approval_waited(Duration::from_secs(3));
        m.approval_waited(Duration::from_secs(45));
        m.approval_waited(Duration::from_secs(7200));
        let text = m.render();
        assert!(text.contains("gatekit_approval_wait_seconds_bucket{le=\"1\"} 0\n"));
        assert!(text.contains("gatekit_approval_wait_seconds_bucket{le=\"5\"} 1\n"));
        assert!(text.contains("gatekit_approval_wait_seconds_bucket{le=\"60\"} 2\n"));
        assert!(text.contains("gatekit_approval_wait_seconds_bucket{le=\"3600\"} 2\n"));
        assert!(text.contains("gatekit_approval_wait_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("gatekit_approval_wait_seconds_sum 7248\n"));
        assert!(text.contains("gatekit_approval_wait_seconds_count 3\n"));
        m.decision_latency(Duration::from_micros(20));
        let text = m.render();
        assert!(text.contains("gatekit_decision_latency_seconds_bucket{le=\"0.00001\"} 0\n"));
        assert!(text.contains("gatekit_decision_latency_seconds_bucket{le=\"0.000025\"} 1\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.upstream_error("a\"b\\c\nd");
        assert!(
            m.render()
                .contains("gatekit_upstream_errors_total{target=\"a\\\"b\\\\c\\nd\"} 1\n")
        );
    }

    #[test]
    fn series_are_bounded() {
        let m = Metrics::new();
        for i in 0..MAX_SERIES + 10 {
            m.upstream_error(&format!("t{i}"));
        }
        let text = m.render();
        let series = text
            .lines()
            .filter(|l| l.starts_with("gatekit_upstream_errors_total{"))
            .count();
        assert_eq!(series, MAX_SERIES + 1);
        assert!(text.contains("gatekit_upstream_errors_total{target=\"_other\"} 10\n"));
    }
}
