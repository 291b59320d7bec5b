//! One command's record, written as its answers arrive, within the caps.
//!
//! The line is written as the answers come: the head (`at`, `kind`, `sql`, `verdict`) when
//! the command opens, each kept row as it arrives, each result's counts when it ends, and
//! the error, notices and counts when the command ends. Nothing is kept per value but its
//! bytes in the line; the line is the bytes serde writes for the same
//! [`CommandRecord`](super::CommandRecord).

use std::sync::Arc;

use jiff::Timestamp;

use super::event::{CommandKind, ErrorRecord, RecordedVerdict, text_of};
use crate::json::{self, Object};

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

/// A result's column names, as written in the line.
#[derive(Debug)]
pub(super) struct Names {
    /// The names as a JSON array.
    json: Box<[u8]>,
    /// What they cost of the byte budget: their lengths.
    cost: usize,
}

impl Names {
    /// The names (each already text) as a JSON array.
    pub fn new<S: AsRef<str>>(names: impl Iterator<Item = S>) -> Arc<Names> {
        let mut json = Vec::new();
        let mut cost = 0;
        json.push(b'[');
        for (i, name) in names.enumerate() {
            if i > 0 {
                json.push(b',');
            }
            let name = name.as_ref();
            json::string(&mut json, name);
            cost += name.len();
        }
        json.push(b']');
        Arc::new(Names {
            json: json.into_boxed_slice(),
            cost,
        })
    }
}

/// Which values of a row come in binary format.
#[derive(Clone, Debug)]
pub(super) enum Formats {
    /// Every value in the same format: binary when `true`.
    All(bool),
    /// Value `i` in binary format when the `i`-th entry is `true` (text beyond).
    Each(Arc<[bool]>),
}

impl Formats {
    /// Whether value `i` is in binary format.
    pub fn binary(&self, i: usize) -> bool {
        match self {
            Formats::All(b) => *b,
            Formats::Each(each) => each.get(i).copied().unwrap_or(false),
        }
    }
}

/// A result's columns: their names and the formats their values come in.
#[derive(Clone, Debug)]
pub(super) struct Cols {
    /// The names.
    pub names: Arc<Names>,
    /// The formats.
    pub formats: Formats,
}

/// Where the rows of the current result go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Current {
    /// No result is open.
    None,
    /// The last result written to the line, still open.
    Kept,
    /// A result beyond the cap: counted only.
    Omitted,
}

/// The counts of the open kept result.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    rows_written: u64,
    row_count: u64,
    bytes: u64,
    truncated: bool,
}

/// A command being answered, written into its line as it goes.
#[derive(Debug)]
pub(super) struct Builder {
    at: Timestamp,
    limits: RecordLimits,
    rows_kept: u64,
    bytes_kept: u64,
    /// The line so far: the head, then the kept results (the last one open when
    /// `current` is `Kept`).
    line: Vec<u8>,
    results: usize,
    counts: Counts,
    current: Current,
    error: Option<ErrorRecord>,
    notices: Vec<String>,
    truncated: bool,
    results_omitted: u64,
    notices_omitted: u64,
}

/// `s` as a JSON string (its text, lossily when it is not UTF-8).
pub(super) fn sql_json(sql: &str) -> Arc<[u8]> {
    let mut out = Vec::with_capacity(sql.len() + 2);
    json::string(&mut out, sql);
    out.into()
}

impl Builder {
    /// Opens the command's line in `line` (cleared first; its capacity is reused).
    /// `sql` is the statement text already written as a JSON string.
    pub fn new(
        at: Timestamp,
        kind: CommandKind,
        sql: &[u8],
        verdict: RecordedVerdict,
        limits: RecordLimits,
        mut line: Vec<u8>,
    ) -> Self {
        line.clear();
        let mut o = Object::new(&mut line);
        o.name("event", "command");
        o.ts("at", at);
        o.name("kind", kind.name());
        o.key("sql").extend_from_slice(sql);
        o.name("verdict", verdict.name());
        Builder {
            at,
            limits,
            rows_kept: 0,
            bytes_kept: 0,
            line,
            results: 0,
            counts: Counts::default(),
            current: Current::None,
            error: None,
            notices: Vec::new(),
            truncated: false,
            results_omitted: 0,
            notices_omitted: 0,
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

    /// Ends the open kept result, with `tag` when it completed.
    fn close_result(&mut self, tag: Option<&[u8]>) {
        if self.current != Current::Kept {
            return;
        }
        let c = self.counts;
        self.line.push(b']');
        let mut o = Object::resume(&mut self.line);
        o.num("row_count", c.row_count);
        o.num("bytes", c.bytes);
        if c.truncated {
            o.key("truncated").extend_from_slice(b"true");
        }
        if let Some(tag) = tag {
            o.str("tag", &String::from_utf8_lossy(tag));
        }
        o.end();
        self.current = Current::None;
    }

    /// A new result with these columns (the one open, if any, ends untagged).
    pub fn begin_result(&mut self, names: &Names) {
        self.begin(&names.json, names.cost);
    }

    /// A new result whose column names are the JSON array `columns`, costing `cost`.
    fn begin(&mut self, columns: &[u8], cost: usize) {
        self.close_result(None);
        if self.results >= MAX_RESULTS || !self.spend(cost) {
            self.results_omitted += 1;
            self.truncated = true;
            self.current = Current::Omitted;
            return;
        }
        self.line.extend_from_slice(if self.results == 0 {
            b",\"results\":[{\"columns\":"
        } else {
            b",{\"columns\":"
        });
        self.line.extend_from_slice(columns);
        self.line.extend_from_slice(b",\"rows\":[");
        self.results += 1;
        self.counts = Counts::default();
        self.current = Current::Kept;
    }

    fn ensure_result(&mut self) {
        if self.current == Current::None {
            self.begin(b"[]", 0);
        }
    }

    /// One row; `binary(i)` tells whether value `i` is in binary format. A row beyond the
    /// caps is counted, never copied.
    pub fn row<'v, I>(&mut self, values: impl Fn() -> I, binary: impl Fn(usize) -> bool)
    where
        I: Iterator<Item = Option<&'v [u8]>>,
    {
        self.ensure_result();
        let room = self.current == Current::Kept && self.rows_kept < self.limits.rows;
        let mut sent = 0u64;
        let mut cost = 0usize;
        for (i, v) in values().enumerate() {
            let Some(v) = v else { continue };
            sent += v.len() as u64;
            if room {
                cost += match text_of(v, binary(i)) {
                    Some(_) => v.len(),
                    None => 2 + 2 * v.len(),
                };
            }
        }
        let keep = room && self.spend(cost);
        if keep {
            self.rows_kept += 1;
        } else {
            self.truncated = true;
        }
        if self.current != Current::Kept {
            return;
        }
        let c = &mut self.counts;
        c.row_count += 1;
        c.bytes += sent;
        if !keep {
            c.truncated = true;
            return;
        }
        let first = c.rows_written == 0;
        c.rows_written += 1;
        let out = &mut self.line;
        out.extend_from_slice(if first { b"[" } else { b",[" });
        for (i, v) in values().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match v {
                None => out.extend_from_slice(b"null"),
                Some(v) => match text_of(v, binary(i)) {
                    Some(s) => json::string(out, s),
                    None => {
                        out.extend_from_slice(b"\"\\\\x");
                        hex_into(out, v);
                        out.push(b'"');
                    }
                },
            }
        }
        out.push(b']');
    }

    /// CommandComplete (or the end of a suspended portal): the result ends with `tag`.
    pub fn complete(&mut self, tag: &[u8]) {
        self.ensure_result();
        let tag = (self.current == Current::Kept && self.spend(tag.len())).then_some(tag);
        self.close_result(tag);
        self.current = Current::None;
    }

    /// An ErrorResponse: the command failed (the first error is kept).
    pub fn error(&mut self, severity: &[u8], code: &[u8], message: &[u8]) {
        self.close_result(None);
        self.current = Current::None;
        if self.error.is_some() {
            return;
        }
        self.error = Some(ErrorRecord {
            severity: String::from_utf8_lossy(severity).into_owned(),
            code: String::from_utf8_lossy(code).into_owned(),
            message: String::from_utf8_lossy(message).into_owned(),
        });
    }

    /// A NoticeResponse's message.
    pub fn notice(&mut self, message: &[u8]) {
        if self.notices.len() >= MAX_NOTICES || !self.spend(message.len()) {
            self.notices_omitted += 1;
            self.truncated = true;
            return;
        }
        self.notices
            .push(String::from_utf8_lossy(message).into_owned());
    }

    /// The line (without its newline), with the duration up to `now`.
    pub fn finish(mut self, now: Timestamp) -> Vec<u8> {
        self.close_result(None);
        if self.results > 0 {
            self.line.push(b']');
        }
        let us = now.duration_since(self.at).as_micros();
        let duration_us = u64::try_from(us.max(0)).unwrap_or(u64::MAX);
        let mut o = Object::resume(&mut self.line);
        if let Some(e) = &self.error {
            let mut err = Object::new(o.key("error"));
            err.str("severity", &e.severity);
            err.str("code", &e.code);
            err.str("message", &e.message);
            err.end();
        }
        if !self.notices.is_empty() {
            json::strings(o.key("notices"), self.notices.iter().map(String::as_str));
        }
        o.num("duration_us", duration_us);
        if self.truncated {
            o.key("truncated").extend_from_slice(b"true");
        }
        if self.results_omitted != 0 {
            o.num("results_omitted", self.results_omitted);
        }
        if self.notices_omitted != 0 {
            o.num("notices_omitted", self.notices_omitted);
        }
        o.end();
        self.line
    }
}

/// Appends the lowercase hex of `v`.
fn hex_into(out: &mut Vec<u8>, v: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(v.len() * 2);
    for &b in v {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

#[cfg(test)]
mod tests;
