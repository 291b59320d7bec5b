//! The streaming builder against a reference that keeps the record as values and lets
//! serde write it.

use proptest::prelude::*;

use super::*;
use crate::record::event::{CommandRecord, RecordEvent, ResultRecord, hex_text};

/// The record as the builder's rules make it, kept as values.
struct Model {
    record: CommandRecord,
    limits: RecordLimits,
    rows_kept: u64,
    bytes_kept: u64,
    current: Current,
}

impl Model {
    fn new(at: Timestamp, sql: &str, limits: RecordLimits) -> Model {
        Model {
            record: CommandRecord {
                at,
                kind: CommandKind::Execute,
                sql: sql.to_owned(),
                verdict: RecordedVerdict::Allow,
                results: Vec::new(),
                error: None,
                notices: Vec::new(),
                duration_us: 0,
                truncated: false,
                results_omitted: 0,
                notices_omitted: 0,
            },
            limits,
            rows_kept: 0,
            bytes_kept: 0,
            current: Current::None,
        }
    }

    fn spend(&mut self, cost: usize) -> bool {
        let cost = cost as u64;
        if self.bytes_kept.saturating_add(cost) > self.limits.bytes {
            return false;
        }
        self.bytes_kept += cost;
        true
    }

    fn begin_result(&mut self, columns: &[String]) {
        let cost: usize = columns.iter().map(String::len).sum();
        if self.record.results.len() >= MAX_RESULTS || !self.spend(cost) {
            self.record.results_omitted += 1;
            self.record.truncated = true;
            self.current = Current::Omitted;
            return;
        }
        self.record.results.push(ResultRecord {
            columns: columns.to_vec(),
            ..ResultRecord::default()
        });
        self.current = Current::Kept;
    }

    fn ensure_result(&mut self) {
        if self.current == Current::None {
            self.begin_result(&[]);
        }
    }

    fn row(&mut self, values: &[Option<Vec<u8>>], binary: bool) {
        self.ensure_result();
        let sent: u64 = values.iter().flatten().map(|v| v.len() as u64).sum();
        let cost: usize = values
            .iter()
            .flatten()
            .map(|v| match text_of(v, binary) {
                Some(_) => v.len(),
                None => 2 + 2 * v.len(),
            })
            .sum();
        let keep =
            self.current == Current::Kept && self.rows_kept < self.limits.rows && self.spend(cost);
        if keep {
            self.rows_kept += 1;
        } else {
            self.record.truncated = true;
        }
        if self.current != Current::Kept {
            return;
        }
        let Some(result) = self.record.results.last_mut() else {
            return;
        };
        result.row_count += 1;
        result.bytes += sent;
        if !keep {
            result.truncated = true;
            return;
        }
        let row = values
            .iter()
            .map(|v| {
                v.as_ref().map(|v| match text_of(v, binary) {
                    Some(s) => s.to_owned(),
                    None => hex_text(v),
                })
            })
            .collect();
        result.rows.push(row);
    }

    fn complete(&mut self, tag: &[u8]) {
        self.ensure_result();
        if self.current == Current::Kept && self.spend(tag.len()) {
            let tag = String::from_utf8_lossy(tag).into_owned();
            if let Some(r) = self.record.results.last_mut() {
                r.tag = Some(tag);
            }
        }
        self.current = Current::None;
    }

    fn error(&mut self, message: &[u8]) {
        self.current = Current::None;
        if self.record.error.is_none() {
            self.record.error = Some(ErrorRecord {
                severity: "ERROR".into(),
                code: "XX000".into(),
                message: String::from_utf8_lossy(message).into_owned(),
            });
        }
    }

    fn notice(&mut self, message: &[u8]) {
        if self.record.notices.len() >= MAX_NOTICES || !self.spend(message.len()) {
            self.record.notices_omitted += 1;
            self.record.truncated = true;
            return;
        }
        self.record
            .notices
            .push(String::from_utf8_lossy(message).into_owned());
    }
}

#[derive(Clone, Debug)]
enum Op {
    Begin(Vec<String>),
    Row(Vec<Option<Vec<u8>>>, bool),
    Complete(Vec<u8>),
    Error(Vec<u8>),
    Notice(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..10);
    prop_oneof![
        proptest::collection::vec(any::<String>(), 0..3).prop_map(Op::Begin),
        (
            proptest::collection::vec(proptest::option::of(bytes()), 0..4),
            any::<bool>()
        )
            .prop_map(|(v, b)| Op::Row(v, b)),
        proptest::collection::vec(any::<u8>(), 0..10).prop_map(Op::Complete),
        bytes().prop_map(Op::Error),
        bytes().prop_map(Op::Notice),
    ]
}

proptest! {
    #[test]
    fn the_streamed_line_is_what_serde_writes_for_the_kept_record(
        sql in any::<String>(),
        ops in proptest::collection::vec(op(), 0..30),
        rows in 0u64..5,
        bytes in 0u64..80,
        micros in 0i64..10_000_000,
    ) {
        let at: Timestamp = "2024-06-01T12:00:00.25Z".parse().unwrap();
        let now = at + jiff::SignedDuration::from_micros(micros);
        let limits = RecordLimits { rows, bytes };
        let mut model = Model::new(at, &sql, limits);
        let mut b = Builder::new(
            at,
            CommandKind::Execute,
            &sql_json(&sql),
            RecordedVerdict::Allow,
            limits,
            b"left over".to_vec(),
        );
        for op in &ops {
            match op {
                Op::Begin(cols) => {
                    model.begin_result(cols);
                    b.begin_result(&Names::new(cols.iter()));
                }
                Op::Row(values, binary) => {
                    model.row(values, *binary);
                    b.row(|| values.iter().map(|v| v.as_deref()), |_| *binary);
                }
                Op::Complete(tag) => {
                    model.complete(tag);
                    b.complete(tag);
                }
                Op::Error(m) => {
                    model.error(m);
                    b.error(b"ERROR", b"XX000", m);
                }
                Op::Notice(m) => {
                    model.notice(m);
                    b.notice(m);
                }
            }
        }
        model.record.duration_us = micros as u64;
        let line = b.finish(now);
        let want = serde_json::to_string(&RecordEvent::Command(model.record)).unwrap();
        prop_assert_eq!(String::from_utf8(line).unwrap(), want);
    }
}
