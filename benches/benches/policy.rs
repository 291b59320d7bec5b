//! `Policy::decide` on one typical command (an `UPDATE … WHERE` by a team member) against
//! generated rule sets of 10, 1,000 and 10,000 rules: many targets and groups, every class,
//! some object globs, patterns and hours; and compiling those rule sets.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gatekit_core::policy::{Policy, PolicySpec, Request, RuleSpec, TargetSpec, Verdict};
use gatekit_core::{Class, Classification, Identity, Protocol};

/// A small deterministic generator (xorshift64*), so every run benchmarks the same rules.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// The protocol of the `i`-th target: half databases, a quarter each SSH and Kubernetes.
fn protocol(i: usize) -> Protocol {
    match i % 4 {
        0 | 1 => Protocol::Postgres,
        2 => Protocol::Ssh,
        _ => Protocol::Kubernetes,
    }
}

/// Classes that guardrails deny or hold.
const RISKY: [Class; 9] = [
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

/// Classes that teams are allowed.
const ROUTINE: [Class; 3] = [Class::Read, Class::Write, Class::Session];

/// Rule sets the way large deployments write them: a few guardrails for every target and
/// many rules scoped to a team's targets. Deny and review rules name risky classes (and
/// sometimes writes to some tables); allow rules name routine classes, or none.
fn spec(rules: usize) -> PolicySpec {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ rules as u64);
    let targets = (rules / 20).max(3);
    let groups = (rules / 10).max(4);
    let windows = [
        "Mon-Fri 08:00-18:00 UTC",
        "Mon-Fri 08:00-19:00 Europe/Berlin",
        "daily 22:00-06:00 America/New_York",
    ];
    let patterns = [
        r"(?i)systemctl\s+(stop|restart)",
        r"(?i)\bdrop\s+table\b",
        r"rm\s+-rf\s+/",
    ];
    let rules = (0..rules)
        .map(|i| {
            let scoped = !rng.chance(2);
            let target_list: Vec<String> = if scoped {
                (0..1 + rng.below(3))
                    .map(|_| format!("target-{}", rng.below(targets)))
                    .collect()
            } else {
                Vec::new()
            };
            let protocol = (!scoped && rng.chance(50)).then(|| protocol(rng.below(4)));
            let action = match rng.below(10) {
                0..=3 => Verdict::Deny,
                4 | 5 => Verdict::Review,
                _ => Verdict::Allow,
            };
            let (group_share, classes) = if action == Verdict::Allow {
                let classes = if rng.chance(20) {
                    Vec::new()
                } else {
                    (0..1 + rng.below(2))
                        .map(|_| ROUTINE[rng.below(ROUTINE.len())])
                        .collect()
                };
                (90, classes)
            } else {
                let mut classes: Vec<Class> = (0..1 + rng.below(2))
                    .map(|_| RISKY[rng.below(RISKY.len())])
                    .collect();
                if rng.chance(10) {
                    classes.push(Class::Write);
                }
                (60, classes)
            };
            let group_list = if rng.chance(group_share) {
                (0..1 + rng.below(2))
                    .map(|_| format!("team-{}", rng.below(groups)))
                    .collect()
            } else {
                Vec::new()
            };
            let objects = if rng.chance(15) {
                vec![
                    format!("public.t{}*", rng.below(100)),
                    format!("ns-{}/*", rng.below(100)),
                ]
            } else {
                Vec::new()
            };
            RuleSpec {
                name: format!("rule-{i}"),
                protocol,
                targets: target_list,
                groups: group_list,
                classes,
                objects,
                pattern: rng
                    .chance(5)
                    .then(|| patterns[rng.below(patterns.len())].to_owned()),
                hours: rng
                    .chance(5)
                    .then(|| windows[rng.below(windows.len())].to_owned()),
                action,
                reason: rng.chance(50).then(|| format!("policy {i} says so")),
                approvers: if action == Verdict::Review {
                    vec!["dba".into()]
                } else {
                    Vec::new()
                },
                ..RuleSpec::default()
            }
        })
        .collect();
    PolicySpec {
        default: Verdict::Allow,
        rules,
        targets: (0..targets)
            .map(|i| TargetSpec {
                name: format!("target-{i}"),
                protocol: protocol(i),
                allow_groups: vec![format!("team-{}", i % groups)],
            })
            .collect(),
        masks: Vec::new(),
    }
}

fn decide(c: &mut Criterion) {
    let identity = Identity::new("alice@example.com", ["team-1", "team-2", "everyone"]);
    let mut command = Classification::of([Class::Write]);
    command.add_object("public.t17");
    let text = "UPDATE public.t17 SET status = 'shipped' WHERE id = 42";
    let mut group = c.benchmark_group("policy_decide");
    for rules in [10, 1_000, 10_000] {
        let policy = Policy::compile(spec(rules)).expect("generated rules compile");
        let req = Request {
            identity: &identity,
            target: "target-1",
            protocol: Protocol::Postgres,
            command: &command,
            text,
            now: "2025-06-03T10:30:00Z".parse().expect("valid timestamp"),
        };
        group.bench_with_input(BenchmarkId::from_parameter(rules), &req, |b, req| {
            b.iter(|| policy.decide(black_box(req)))
        });
    }
    group.finish();
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy_compile");
    group.sample_size(10);
    for rules in [1_000, 10_000] {
        let spec = spec(rules);
        group.bench_with_input(BenchmarkId::from_parameter(rules), &spec, |b, spec| {
            b.iter(|| Policy::compile(spec.clone()).expect("generated rules compile"))
        });
    }
    group.finish();
}

criterion_group!(benches, decide, compile);
criterion_main!(benches);
