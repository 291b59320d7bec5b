//! One command's record, built as its answers arrive, within the caps.

use jiff::Timestamp;

use super::event::{
    CommandKind, CommandRecord, ErrorRecord, RecordedVerdict, ResultRecord, hex_text, text_of,
};

/// Results kept per command, at most; more are counted only.
const MAX_RESULTS: usize = 1024;
/// Notices kept per command, at most; more are counted only.
const MAX_NOTICES: usize = 64;

/// How much of each command's response a recording keeps (`[audit] record_rows` and
/// `record_bytes`). Beyond either cap, rows are counted but not kept and the command is
/// marked `truncated`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordLimits {
    /// Rows kept per command.
    pub rows: u64,
    /// Bytes of values, column names, tags and notices kept per command.
    pub bytes: u64,
}

impl Default for RecordLimits {
    /// 1,000 rows and 1 MiB, the config's defaults.
    fn default() -> Self {
        RecordLimits {
            rows: 1000,
            bytes: 1 << 20,
        }
    }
}

/// A result column: its name and whether its values come in binary format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Col {
    pub name: Box<str>,
    pub binary: bool,
}

/// Where the rows of the current result go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Current {
    /// No result is open.
    None,
    /// The last of `record.results`.
    Kept,
    /// A result beyond the cap: counted only.
    Omitted,
}

/// A command being answered.
#[derive(Debug)]
pub(super) struct Builder {
    record: CommandRecord,
    limits: RecordLimits,
    rows_kept: u64,
    bytes_kept: u64,
    current: Current,
}

impl Builder {
    pub fn new(
        at: Timestamp,
        kind: CommandKind,
        sql: &str,
        verdict: RecordedVerdict,
        limits: RecordLimits,
    ) -> Self {
        Builder {
            record: CommandRecord {
                at,
                kind,
                sql: sql.to_owned(),
                verdict,
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

    /// Takes `cost` bytes of the budget, if they are left.
    fn spend(&mut self, cost: usize) -> bool {
        let cost = cost as u64;
        if self.bytes_kept.saturating_add(cost) > self.limits.bytes {
            return false;
        }
        self.bytes_kept += cost;
        true
    }

    /// A new result with these columns (the one open, if any, ends untagged).
    pub fn begin_result<'c>(&mut self, columns: impl Iterator<Item = &'c str> + Clone) {
        let cost: usize = columns.clone().map(str::len).sum();
        if self.record.results.len() >= MAX_RESULTS || !self.spend(cost) {
            self.record.results_omitted += 1;
            self.record.truncated = true;
            self.current = Current::Omitted;
            return;
        }
        self.record.results.push(ResultRecord {
            columns: columns.map(str::to_owned).collect(),
            ..ResultRecord::default()
        });
        self.current = Current::Kept;
    }

    fn ensure_result(&mut self) {
        if self.current == Current::None {
            self.begin_result(std::iter::empty());
        }
    }

    /// One row; `binary(i)` tells whether value `i` is in binary format. A row beyond the
    /// caps is counted, never copied.
    pub fn row<'v, I>(&mut self, values: impl Fn() -> I, binary: impl Fn(usize) -> bool)
    where
        I: Iterator<Item = Option<&'v [u8]>>,
    {
        self.ensure_result();
        let mut sent = 0u64;
        let mut cost = 0usize;
        for (i, v) in values().enumerate() {
            let Some(v) = v else { continue };
            sent += v.len() as u64;
            cost += match text_of(v, binary(i)) {
                Some(_) => v.len(),
                None => 2 + 2 * v.len(),
            };
        }
        let keep =
            self.current == Current::Kept && self.rows_kept < self.limits.rows && self.spend(cost);
        if keep {
            self.rows_kept += 1;
        } else {
            self.record.truncated = true;
        }
        let Some(result) = self.current_result() else {
            return;
        };
        result.row_count += 1;
        result.bytes += sent;
        if !keep {
            result.truncated = true;
            return;
        }
        let row = values()
            .enumerate()
            .map(|(i, v)| {
                v.map(|v| match text_of(v, binary(i)) {
                    Some(s) => s.to_owned(),
                    None => hex_text(v),
                })
            })
            .collect();
        result.rows.push(row);
    }

    fn current_result(&mut self) -> Option<&mut ResultRecord> {
        match self.current {
            Current::Kept => self.record.results.last_mut(),
            _ => None,
        }
    }

    /// CommandComplete (or the end of a suspended portal): the result ends with `tag`.
    pub fn complete(&mut self, tag: &[u8]) {
        self.ensure_result();
        if self.current == Current::Kept && self.spend(tag.len()) {
            let tag = String::from_utf8_lossy(tag).into_owned();
            if let Some(r) = self.current_result() {
                r.tag = Some(tag);
            }
        }
        self.current = Current::None;
    }

    /// An ErrorResponse: the command failed (the first error is kept).
    pub fn error(&mut self, severity: &[u8], code: &[u8], message: &[u8]) {
        self.current = Current::None;
        if self.record.error.is_some() {
            return;
        }
        self.record.error = Some(ErrorRecord {
            severity: String::from_utf8_lossy(severity).into_owned(),
            code: String::from_utf8_lossy(code).into_owned(),
            message: String::from_utf8_lossy(message).into_owned(),
        });
    }

    /// A NoticeResponse's message.
    pub fn notice(&mut self, message: &[u8]) {
        if self.record.notices.len() >= MAX_NOTICES || !self.spend(message.len()) {
            self.record.notices_omitted += 1;
            self.record.truncated = true;
            return;
        }
        self.record
            .notices
            .push(String::from_utf8_lossy(message).into_owned());
    }

    /// The record, with its duration up to `now`.
    pub fn finish(mut self, now: Timestamp) -> CommandRecord {
        let us = now.duration_since(self.record.at).as_micros();
        self.record.duration_us = u64::try_from(us.max(0)).unwrap_or(u64::MAX);
        self.record
    }
}
