//! Masking of what the server sends: DataRow values, COPY OUT data, notices, errors and
//! notifications, per the session's [`Masking`].
//!
//! # Columns
//!
//! Column rules follow the real column behind an alias: a RowDescription names each
//! column's table OID and attribute number, which the session resolves to
//! `schema.table.column` through the target's [`ColumnCache`]. When every column is in the
//! cache nothing leaves the session; otherwise it asks the driver with
//! [`Event::ResolveColumns`](super::Event::ResolveColumns) and stops reading the server's
//! bytes until [`Session::handle_columns`] answers (the client's traffic keeps flowing; the
//! server's waits in the session's buffer, bounded by [`Limits::pipeline`]). A failed lookup
//! fails closed: those columns are masked as if every column rule of the profile matched.
//! Columns with no table (expressions, `ssn || ''`) are masked by the detectors only. A view
//! is resolved to the view's own column (`public.v.ssn`): a view that renames a column is
//! not traced to the table behind it, so column rules should name views' columns too.
//!
//! # Values
//!
//! Text-format values, and binary-format values of text-like types (`text`, `varchar`,
//! `bpchar`, `name`, `unknown`, `json`, `jsonb` after its version byte, `bytea`), are
//! masked in place. A masked value that no longer parses as its column's type (an integer,
//! a number, a date, a UUID, any other binary-format type) is sent as NULL, and the
//! statement's result gets one NoticeResponse naming those columns. Rows of a result whose
//! columns the session cannot tell (a portal executed without any description) are sent as
//! NULLs, with the same notice.
//!
//! # COPY, notices, errors
//!
//! COPY OUT data is masked per CopyData message, which PostgreSQL sends one row at a
//! time. When the session's profiles have column rules, the COPY's fields are named
//! through the catalog and masked field by field, each by its column's rules and the
//! detectors, in text (escapes decoded and re-applied), CSV (the statement's `DELIMITER`,
//! `QUOTE`, `ESCAPE` and `NULL`) and binary format; see the [`copy`](super::copy) module
//! for how the fields are named and how it fails closed. Without column rules nothing is
//! looked up or parsed: text and CSV rows go through the detectors whole, and a binary
//! field in which a detector finds anything is sent as NULL, so the framing stays intact.
//! NoticeResponse and ErrorResponse messages have their message, detail, hint and context
//! masked (a unique violation echoes the value), and NOTIFY payloads too.
//!
//! # FunctionCall
//!
//! A FunctionCallResponse value goes through the detectors. The function's result type is
//! not on the wire: a text-format result is masked in place as text; a binary-format one
//! in which a detector finds anything is sent as NULL (length -1), with one notice for
//! the call.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use jiff::Timestamp;

use super::columns::{ColumnCache, ColumnKey, QualifiedColumn};
use super::copy::{AwaitingCopy, column_rules};
use super::copy_data::mask_copy_data;
use super::shapes::{self, Field, Layout, Lineage, Plan, Tracker};
use super::{Event, Session, State};
use crate::mask::{CellOutcome, Column, Masker, ValueKind};
use crate::pg::codec::encode::{ErrorBuilder, Severity};
use crate::pg::codec::{BackendMessage, Frame};
use crate::pg::error::{PgError, Side, Tag};

/// Column names listed in the NULL notice, at most.
const NOTICE_NAMES: usize = 16;

/// What a session masks with: the compiled profiles that apply to its identity on its
/// target, in order, and the target database's column cache.
#[derive(Debug)]
pub struct Masking {
    maskers: Vec<Arc<Masker>>,
    columns: Arc<ColumnCache>,
}

impl Masking {
    /// Masking with these profiles (applied one after the other); `None` when there are
    /// none, so the session relays without per-row work.
    pub fn new(maskers: Vec<Arc<Masker>>, columns: Arc<ColumnCache>) -> Option<Masking> {
        (!maskers.is_empty()).then_some(Masking { maskers, columns })
    }

    /// The profiles.
    pub fn maskers(&self) -> &[Arc<Masker>] {
        &self.maskers
    }

    /// The column cache.
    pub fn columns(&self) -> &Arc<ColumnCache> {
        &self.columns
    }
}

/// A RowDescription waiting for its columns' names.
struct Awaiting {
    frame: Frame,
    fields: Vec<Field>,
    keys: Vec<ColumnKey>,
}

/// The session's masking state, from the moment it is ready.
pub(super) struct MaskState {
    /// `None` until the driver said ([`Session::handle_masking`]).
    pub masking: Option<Arc<Masking>>,
    pub tracker: Tracker,
    /// Bytes of `to_upstream` already recorded by the tracker.
    sent_upto: usize,
    awaiting: Option<Awaiting>,
    /// Columns of the current result sent as NULL, for the notice.
    nulled: Vec<usize>,
    nulled_plan: Option<Arc<Plan>>,
    nulled_unknown: bool,
    /// A FunctionCall result was sent as NULL.
    nulled_function: bool,
    /// A CopyOutResponse waiting for its fields' names.
    pub awaiting_copy: Option<AwaitingCopy>,
}

impl MaskState {
    fn new() -> Self {
        MaskState {
            masking: None,
            tracker: Tracker::default(),
            sent_upto: 0,
            awaiting: None,
            nulled: Vec::new(),
            nulled_plan: None,
            nulled_unknown: false,
            nulled_function: false,
            awaiting_copy: None,
        }
    }
}

/// Whether the session's masking is known yet, and what it is.
#[derive(Default)]
pub(super) enum MaskMode {
    /// Not ready yet, or ready and waiting for [`Session::handle_masking`].
    #[default]
    Undecided,
    /// Nothing to mask: original bytes, no per-row work.
    Off,
    /// Masking (or tracking the conversation until the driver decides).
    On(Box<MaskState>),
}

impl Session {
    /// The answer to [`Event::Established`](super::Event::Established): how this session's
    /// results are masked (`None`: not at all, e.g. for an exempt group). Until it is
    /// called the session holds the server's bytes, so nothing passes unmasked.
    pub fn handle_masking(
        &mut self,
        now: Timestamp,
        masking: Option<Arc<Masking>>,
    ) -> Result<(), PgError> {
        self.check()?;
        self.record_clock(now);
        if self.state != State::Ready || matches!(self.mask, MaskMode::Off) {
            return Err(self.fail(PgError::BadInput {
                input: "handle_masking",
                state: self.state.name(),
            }));
        }
        match masking {
            None => self.mask = MaskMode::Off,
            Some(m) => {
                self.track_sent()?;
                match &mut self.mask {
                    MaskMode::On(state) if state.masking.is_none() => state.masking = Some(m),
                    MaskMode::On(_) => {
                        return Err(self.fail(PgError::BadInput {
                            input: "handle_masking",
                            state: "masking already",
                        }));
                    }
                    _ => {
                        let mut state = Box::new(MaskState::new());
                        state.masking = Some(m);
                        self.mask = MaskMode::On(state);
                        self.track_sent()?;
                    }
                }
            }
        }
        let r = self.process_upstream(now);
        self.settle(r)
    }

    /// The answer to [`Event::ResolveColumns`](super::Event::ResolveColumns): the names
    /// the catalog has for the keys asked (a key it lacks is masked as if every column rule
    /// matched), or why the lookup failed (then all of them are).
    pub fn handle_columns(
        &mut self,
        now: Timestamp,
        answer: Result<Vec<(ColumnKey, QualifiedColumn)>, String>,
    ) -> Result<(), PgError> {
        self.check()?;
        self.record_clock(now);
        let MaskMode::On(state) = &mut self.mask else {
            return Err(self.fail(PgError::BadInput {
                input: "handle_columns",
                state: self.state.name(),
            }));
        };
        let (Some(mut awaiting), Some(masking)) = (state.awaiting.take(), state.masking.clone())
        else {
            return Err(self.fail(PgError::BadInput {
                input: "handle_columns",
                state: "not resolving columns",
            }));
        };
        let found = answer.unwrap_or_default();
        for (key, name) in found {
            if !awaiting.keys.contains(&key) {
                continue;
            }
            let name = Arc::new(name);
            masking.columns.insert(now, key, Arc::clone(&name));
            for f in awaiting.fields.iter_mut().filter(|f| f.key == Some(key)) {
                f.lineage = Lineage::Known(Arc::clone(&name));
            }
        }
        self.described(&masking, awaiting.frame, awaiting.fields);
        let r = self.process_upstream(now);
        self.settle(r)
    }

    /// Records what went to the server since the last call (whole frames).
    pub(super) fn track_sent(&mut self) -> Result<(), PgError> {
        if self.state != State::Ready {
            return Ok(());
        }
        if matches!(self.mask, MaskMode::Undecided) {
            self.mask = MaskMode::On(Box::new(MaskState::new()));
        }
        let MaskMode::On(state) = &mut self.mask else {
            return Ok(());
        };
        let fresh = self.to_upstream.get(state.sent_upto..).unwrap_or_default();
        state.sent_upto = self.to_upstream.len();
        state.tracker.sent(fresh)
    }

    /// Called by `poll_output` before the upstream bytes leave.
    pub(super) fn track_before_send(&mut self) {
        if let Err(e) = self.track_sent() {
            self.fail(e);
        }
        if let MaskMode::On(state) = &mut self.mask {
            state.sent_upto = 0;
        }
    }

    /// Whether the upstream direction needs the masked relay.
    pub(super) fn masked_relay(&self) -> bool {
        !matches!(self.mask, MaskMode::Off)
    }

    /// The upstream direction of a session that masks (or has not been told yet).
    pub(super) fn relay_masked(&mut self, now: Timestamp) -> Result<(), PgError> {
        self.track_sent()?;
        let masking = match &self.mask {
            MaskMode::On(s) if s.awaiting.is_none() && s.awaiting_copy.is_none() => {
                s.masking.clone()
            }
            _ => None,
        };
        let Some(masking) = masking else {
            // Undecided or resolving: the server's bytes wait, within a bound.
            let max = self.config.limits.pipeline + self.config.limits.row;
            if self.upstream_in.len() > max {
                return Err(PgError::MaskingBacklog { max });
            }
            return Ok(());
        };
        while let Some(frame) = Frame::decode_backend(&mut self.upstream_in, &self.config.limits)? {
            if !self.masked_frame(now, &masking, frame)? {
                return Ok(());
            }
        }
        Ok(())
    }

    fn state_mut(&mut self) -> Option<&mut MaskState> {
        match &mut self.mask {
            MaskMode::On(s) => Some(s),
            _ => None,
        }
    }

    /// One server message; `false` when the session must wait for column names.
    fn masked_frame(
        &mut self,
        now: Timestamp,
        masking: &Arc<Masking>,
        frame: Frame,
    ) -> Result<bool, PgError> {
        let maskers = masking.maskers();
        let tag = frame.tag();
        match tag {
            b'R' | b'K' | b'v' => return Err(self.unexpected(Side::Upstream, tag)),
            b'S' => {
                check_parameter(&frame)?;
                self.to_client.extend_from_slice(frame.raw());
            }
            b'Z' => {
                self.flush_nulled();
                if let Some(&status) = frame.body().first() {
                    self.transaction_status = status;
                }
                self.denials.clear();
                if let Some(s) = self.state_mut() {
                    s.tracker.on_ready();
                }
                self.to_client.extend_from_slice(frame.raw());
            }
            b'E' => {
                self.flush_nulled();
                if let Some(s) = self.state_mut() {
                    s.tracker.on_error();
                }
                if !self.denials.is_empty() && super::relay::is_stand_in_error(&frame) {
                    let message = self.denials.pop_front().unwrap_or_default();
                    ErrorBuilder::new(Severity::Error, "42501", &message)
                        .encode(&mut self.to_client);
                } else {
                    mask_fields(maskers, &frame, &mut self.to_client);
                }
            }
            b'N' => mask_fields(maskers, &frame, &mut self.to_client),
            b'A' => mask_notification(maskers, &frame, &mut self.to_client)?,
            b'T' => {
                let BackendMessage::RowDescription(desc) = frame.backend()? else {
                    return Err(self.unexpected(Side::Upstream, tag));
                };
                let mut fields = shapes::fields(&desc);
                let mut keys = Vec::new();
                for f in &mut fields {
                    let Some(key) = f.key else { continue };
                    match masking.columns.get(now, key) {
                        Some(name) => f.lineage = Lineage::Known(name),
                        None if !keys.contains(&key) => keys.push(key),
                        None => {}
                    }
                }
                if !keys.is_empty() {
                    self.events.push_back(Event::ResolveColumns(keys.clone()));
                    if let Some(s) = self.state_mut() {
                        s.awaiting = Some(Awaiting {
                            frame,
                            fields,
                            keys,
                        });
                    }
                    return Ok(false);
                }
                self.described(masking, frame, fields);
            }
            b'D' => {
                let MaskMode::On(s) = &mut self.mask else {
                    return Ok(true);
                };
                let plan = s.tracker.plan_for_row();
                mask_row(maskers, plan, s, &frame, &mut self.to_client)?;
            }
            b'C' | b'I' | b's' => {
                self.flush_nulled();
                if tag == b'C' && is_ddl(frame.body()) {
                    masking.columns.clear();
                }
                if let Some(s) = self.state_mut() {
                    s.tracker.on_result_end();
                }
                self.to_client.extend_from_slice(frame.raw());
            }
            b'H' if column_rules(maskers) => return self.copy_out_started(frame),
            b'V' => self.function_result(maskers, &frame)?,
            b'1' | b'2' | b'3' | b'n' | b'H' | b'W' | b'c' => {
                if let Some(s) = self.state_mut() {
                    match tag {
                        b'1' => s.tracker.on_parse_complete(),
                        b'2' => s.tracker.on_bind_complete(maskers),
                        b'3' => s.tracker.on_close_complete(),
                        b'n' => s.tracker.on_no_data(),
                        b'c' => {
                            s.tracker.copy = None;
                            s.tracker.copy_out = None;
                        }
                        _ => s.tracker.copy = Some(frame.body().first() == Some(&1)),
                    }
                }
                self.to_client.extend_from_slice(frame.raw());
            }
            b'd' if self
                .state_mut()
                .is_some_and(|s| s.tracker.copy_out.is_some()) =>
            {
                self.copy_data(maskers, &frame)?;
            }
            b'd' => {
                let copy = self.state_mut().and_then(|s| s.tracker.copy);
                match copy {
                    Some(false) => mask_copy_text(maskers, &frame, &mut self.to_client),
                    Some(true) => mask_copy_binary(maskers, &frame, &mut self.to_client)?,
                    None => self.to_client.extend_from_slice(frame.raw()),
                }
            }
            _ => self.to_client.extend_from_slice(frame.raw()),
        }
        Ok(true)
    }

    /// A RowDescription whose columns are named: plan the rows, forward it.
    fn described(&mut self, masking: &Masking, frame: Frame, fields: Vec<Field>) {
        if let Some(s) = self.state_mut() {
            s.tracker.on_row_description(fields, masking.maskers());
        }
        self.to_client.extend_from_slice(frame.raw());
    }

    /// Sends the notice for the columns of the finished result that were sent as NULL.
    fn flush_nulled(&mut self) {
        let MaskMode::On(s) = &mut self.mask else {
            return;
        };
        if s.nulled.is_empty() && !s.nulled_unknown && !s.nulled_function {
            return;
        }
        let message = if s.nulled_function {
            "gatekit returned NULL for the function call's result: the masked value does not \
             fit its type"
                .to_owned()
        } else if s.nulled_unknown {
            "gatekit returned NULL for every value of this result: its columns could not be \
             identified for masking"
                .to_owned()
        } else {
            let mut names: Vec<String> = Vec::new();
            if let Some(plan) = &s.nulled_plan {
                for &i in s.nulled.iter().take(NOTICE_NAMES) {
                    if let Some(c) = plan.columns.get(i) {
                        names.push(c.label.to_string());
                    }
                }
            }
            let more = s.nulled.len().saturating_sub(NOTICE_NAMES);
            let mut list = names.join(", ");
            if more > 0 {
                list.push_str(&format!(" and {more} more"));
            }
            format!(
                "gatekit returned NULL for masked values of column(s) {list}: the masked text \
                 does not fit the column's type"
            )
        };
        ErrorBuilder::new(Severity::Notice, "01000", &message).encode(&mut self.to_client);
        s.nulled.clear();
        s.nulled_plan = None;
        s.nulled_unknown = false;
        s.nulled_function = false;
    }

    /// One CopyData message of a COPY whose fields are told apart: each field masked by
    /// its column's rules and the detectors.
    fn copy_data(&mut self, maskers: &[Arc<Masker>], frame: &Frame) -> Result<(), PgError> {
        let MaskMode::On(s) = &mut self.mask else {
            return Ok(());
        };
        let Some(copy) = &mut s.tracker.copy_out else {
            return Ok(());
        };
        if std::mem::take(&mut copy.header_left) {
            mask_copy_text(maskers, frame, &mut self.to_client);
            return Ok(());
        }
        let plan = Arc::clone(&copy.plan);
        let k = maskers.len();
        let mut nulled: Vec<usize> = Vec::new();
        let mut mismatch = false;
        let mut cell = |i: usize, value: &[u8]| {
            let rules = plan.rules.get(i * k..(i + 1) * k).unwrap_or_default();
            let layout = plan.columns.get(i).map_or(Layout::Plain, |c| c.layout);
            let c = mask_value(maskers, rules, layout, value);
            if matches!(c, Cell::Null) && !nulled.contains(&i) {
                nulled.push(i);
            }
            c
        };
        let rewritten = mask_copy_data(
            &copy.format,
            frame.body(),
            plan.columns.len(),
            &mut mismatch,
            &mut cell,
        )
        .map_err(|what| malformed(b'd', what))?;
        for i in nulled {
            if !s.nulled.contains(&i) {
                s.nulled.push(i);
            }
            s.nulled_plan = Some(Arc::clone(&plan));
        }
        s.nulled_unknown |= mismatch;
        match rewritten {
            Some(body) => {
                let start = self.to_client.len();
                self.to_client.put_u8(b'd');
                self.to_client.put_u32(0);
                self.to_client.extend_from_slice(&body);
                backfill(&mut self.to_client, start);
            }
            None => self.to_client.extend_from_slice(frame.raw()),
        }
        Ok(())
    }

    /// A FunctionCallResponse: its value through the detectors, as text when the call
    /// asked for a text result, else as a value of unknown type (anything found: NULL).
    fn function_result(&mut self, maskers: &[Arc<Masker>], frame: &Frame) -> Result<(), PgError> {
        let MaskMode::On(s) = &mut self.mask else {
            self.to_client.extend_from_slice(frame.raw());
            return Ok(());
        };
        let body = frame.body();
        let len = i32_at(body, 0).ok_or_else(|| malformed(b'V', "result length missing"))?;
        if len < 0 {
            self.to_client.extend_from_slice(frame.raw());
            return Ok(());
        }
        let value = body
            .get(4..)
            .filter(|v| v.len() == len as usize)
            .ok_or_else(|| malformed(b'V', "result length differs from the message"))?;
        let kind = if s.tracker.function_binary() {
            ValueKind::Other
        } else {
            ValueKind::Text
        };
        let rules: Vec<Column> = maskers
            .iter()
            .map(|_| Column { whole: false, kind })
            .collect();
        let start = self.to_client.len();
        match mask_value(maskers, &rules, Layout::Plain, value) {
            Cell::Unchanged => {
                self.to_client.extend_from_slice(frame.raw());
                return Ok(());
            }
            Cell::Replace(v) => {
                self.to_client.put_u8(b'V');
                self.to_client.put_u32(0);
                self.to_client
                    .put_i32(i32::try_from(v.len()).unwrap_or(i32::MAX));
                self.to_client.extend_from_slice(&v);
            }
            Cell::Null => {
                s.nulled_function = true;
                self.to_client.put_u8(b'V');
                self.to_client.put_u32(0);
                self.to_client.put_i32(-1);
            }
        }
        backfill(&mut self.to_client, start);
        Ok(())
    }
}

/// The parameters the gateway reads its traffic by may not change under it.
pub(super) fn check_parameter(frame: &Frame) -> Result<(), PgError> {
    if let Ok(BackendMessage::ParameterStatus { name, value }) = frame.backend() {
        let bad = match name {
            b"client_encoding" => !value.eq_ignore_ascii_case(b"UTF8"),
            b"standard_conforming_strings" => !value.eq_ignore_ascii_case(b"on"),
            _ => false,
        };
        if bad {
            return Err(PgError::EncodingChanged {
                setting: String::from_utf8_lossy(name).into_owned(),
                value: String::from_utf8_lossy(value).into_owned(),
            });
        }
    }
    Ok(())
}

fn is_ddl(tag: &[u8]) -> bool {
    [&b"ALTER "[..], b"DROP ", b"CREATE "]
        .iter()
        .any(|p| tag.starts_with(p))
}

/// What masking made of one value.
pub(super) enum Cell {
    Unchanged,
    Replace(Vec<u8>),
    Null,
}

/// Runs a value through every profile in turn.
pub(super) fn mask_value(
    maskers: &[Arc<Masker>],
    rules: &[Column],
    layout: Layout,
    value: &[u8],
) -> Cell {
    let (version, text) = match layout {
        Layout::Plain => (None, value),
        Layout::Jsonb => match value.split_first() {
            Some((&1, rest)) => (Some(1u8), rest),
            // An unknown jsonb version: only an unchanged value is known to fit.
            _ => {
                let other: Vec<Column> = rules
                    .iter()
                    .map(|c| Column {
                        whole: c.whole,
                        kind: ValueKind::Other,
                    })
                    .collect();
                return mask_value(maskers, &other, Layout::Plain, value);
            }
        },
    };
    let mut cur = Cow::Borrowed(text);
    for (m, col) in maskers.iter().zip(rules) {
        match m.mask_cell(col, &cur) {
            CellOutcome::Unchanged => {}
            CellOutcome::Masked(v) => cur = Cow::Owned(v),
            CellOutcome::DoesNotFit => return Cell::Null,
        }
    }
    match cur {
        Cow::Borrowed(_) => Cell::Unchanged,
        Cow::Owned(v) => match version {
            Some(b) => {
                let mut out = Vec::with_capacity(v.len() + 1);
                out.push(b);
                out.extend_from_slice(&v);
                Cell::Replace(out)
            }
            None => Cell::Replace(v),
        },
    }
}

fn malformed(tag: u8, what: &'static str) -> PgError {
    PgError::Malformed {
        side: Side::Upstream,
        tag: Tag(tag),
        what,
    }
}

/// Reads a big-endian i32 at `at`.
fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(i32::from_be_bytes(s))
}

/// Appends the DataRow, masked; the original bytes when nothing changed.
fn mask_row(
    maskers: &[Arc<Masker>],
    plan: Option<Arc<Plan>>,
    state: &mut MaskState,
    frame: &Frame,
    out: &mut BytesMut,
) -> Result<(), PgError> {
    let body = frame.body();
    let err = |what| malformed(b'D', what);
    let count = match body.get(..2) {
        Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b])),
        _ => return Err(err("column count missing")),
    };
    if let Some(p) = &plan
        && p.columns.len() != count
    {
        return Err(err("value count differs from the RowDescription"));
    }
    let k = maskers.len();
    // Where the rewritten message starts in `out`, once a value changed.
    let mut started: Option<usize> = None;
    let mut at = 2;
    for i in 0..count {
        let value_at = at;
        let len = i32_at(body, at).ok_or_else(|| err("value length missing"))?;
        at += 4;
        let value = if len < 0 {
            if len != -1 {
                return Err(err("negative value length"));
            }
            None
        } else {
            let end = at
                .checked_add(len as usize)
                .filter(|&e| e <= body.len())
                .ok_or_else(|| err("value runs past the message"))?;
            let v = body.get(at..end).unwrap_or_default();
            at = end;
            Some(v)
        };
        let cell = match (value, &plan) {
            (None, _) => Cell::Unchanged,
            (Some(_), None) => Cell::Null,
            (Some(v), Some(p)) => {
                let rules = p.rules.get(i * k..(i + 1) * k).unwrap_or_default();
                let layout = p.columns.get(i).map_or(Layout::Plain, |c| c.layout);
                mask_value(maskers, rules, layout, v)
            }
        };
        if matches!(cell, Cell::Unchanged) {
            if started.is_some() {
                out.extend_from_slice(body.get(value_at..at).unwrap_or_default());
            }
            continue;
        }
        if started.is_none() {
            started = Some(out.len());
            out.put_u8(b'D');
            out.put_u32(0);
            out.extend_from_slice(body.get(..value_at).unwrap_or_default());
        }
        match cell {
            Cell::Replace(v) => {
                out.put_i32(i32::try_from(v.len()).unwrap_or(i32::MAX));
                out.extend_from_slice(&v);
            }
            _ => {
                out.put_i32(-1);
                match &plan {
                    Some(p) => {
                        if !state.nulled.contains(&i) {
                            state.nulled.push(i);
                        }
                        state.nulled_plan = Some(Arc::clone(p));
                    }
                    None => state.nulled_unknown = true,
                }
            }
        }
    }
    if at != body.len() {
        return Err(err("bytes after the last value"));
    }
    match started {
        Some(start) => backfill(out, start),
        None => out.extend_from_slice(frame.raw()),
    }
    Ok(())
}

/// Writes the length of the message starting at `start` (its type byte).
fn backfill(out: &mut BytesMut, start: usize) {
    let len = u32::try_from(out.len() - start - 1).unwrap_or(u32::MAX);
    if let Some(dst) = out.get_mut(start + 1..start + 5) {
        dst.copy_from_slice(&len.to_be_bytes());
    }
}

/// Detector masking of a text, through every profile.
fn mask_text<'a>(maskers: &[Arc<Masker>], text: &'a [u8]) -> Cow<'a, [u8]> {
    let mut cur = Cow::Borrowed(text);
    for m in maskers {
        if let Cow::Owned(v) = m.mask(&cur) {
            cur = Cow::Owned(v);
        }
    }
    cur
}

/// A NoticeResponse or ErrorResponse with its texts masked.
fn mask_fields(maskers: &[Arc<Masker>], frame: &Frame, out: &mut BytesMut) {
    let fields = match frame.backend() {
        Ok(BackendMessage::ErrorResponse(f) | BackendMessage::NoticeResponse(f)) => f,
        _ => {
            out.extend_from_slice(frame.raw());
            return;
        }
    };
    let texts = |code| matches!(code, b'M' | b'D' | b'H' | b'W');
    let changed = fields
        .iter()
        .any(|(c, v)| texts(c) && matches!(mask_text(maskers, v), Cow::Owned(_)));
    if !changed {
        out.extend_from_slice(frame.raw());
        return;
    }
    let start = out.len();
    out.put_u8(frame.tag());
    out.put_u32(0);
    for (code, value) in fields.iter() {
        out.put_u8(code);
        if texts(code) {
            let masked = mask_text(maskers, value);
            out.extend(masked.iter().filter(|&&b| b != 0));
        } else {
            out.extend_from_slice(value);
        }
        out.put_u8(0);
    }
    out.put_u8(0);
    backfill(out, start);
}

/// A NOTIFY with its payload masked.
fn mask_notification(
    maskers: &[Arc<Masker>],
    frame: &Frame,
    out: &mut BytesMut,
) -> Result<(), PgError> {
    let BackendMessage::Notification {
        pid,
        channel,
        payload,
    } = frame.backend()?
    else {
        return Err(malformed(b'A', "not a notification"));
    };
    match mask_text(maskers, payload) {
        Cow::Borrowed(_) => out.extend_from_slice(frame.raw()),
        Cow::Owned(p) => {
            let start = out.len();
            out.put_u8(b'A');
            out.put_u32(0);
            out.put_u32(pid);
            out.extend_from_slice(channel);
            out.put_u8(0);
            out.extend(p.iter().filter(|&&b| b != 0));
            out.put_u8(0);
            backfill(out, start);
        }
    }
    Ok(())
}

/// One text or CSV COPY row, masked by the detectors.
fn mask_copy_text(maskers: &[Arc<Masker>], frame: &Frame, out: &mut BytesMut) {
    match mask_text(maskers, frame.body()) {
        Cow::Borrowed(_) => out.extend_from_slice(frame.raw()),
        Cow::Owned(v) => {
            let start = out.len();
            out.put_u8(b'd');
            out.put_u32(0);
            out.extend_from_slice(&v);
            backfill(out, start);
        }
    }
}

const BINARY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// One binary COPY message (a tuple, the header and a tuple, or the trailer): a field in
/// which a detector finds anything becomes NULL.
fn mask_copy_binary(
    maskers: &[Arc<Masker>],
    frame: &Frame,
    out: &mut BytesMut,
) -> Result<(), PgError> {
    let body = frame.body();
    let err = |what| malformed(b'd', what);
    let mut at = 0;
    if body.starts_with(BINARY_SIGNATURE) {
        let ext = i32_at(body, BINARY_SIGNATURE.len() + 4).ok_or_else(|| err("COPY header"))?;
        let ext = usize::try_from(ext).map_err(|_| err("COPY header extension length"))?;
        at = BINARY_SIGNATURE.len() + 8 + ext;
        if at > body.len() {
            return Err(err("COPY header extension runs past the message"));
        }
    }
    let rules: Vec<Column> = maskers
        .iter()
        .map(|_| Column {
            whole: false,
            kind: ValueKind::Other,
        })
        .collect();
    // Once a field changed: where the new message starts, and how much of the body is in.
    let mut started: Option<(usize, usize)> = None;
    while at < body.len() {
        let count = match body.get(at..at + 2) {
            Some(&[a, b]) => i16::from_be_bytes([a, b]),
            _ => return Err(err("binary COPY tuple truncated")),
        };
        at += 2;
        for _ in 0..count.max(0) {
            let field_at = at;
            let len = i32_at(body, at).ok_or_else(|| err("binary COPY field truncated"))?;
            at += 4;
            if len < 0 {
                continue;
            }
            let end = at
                .checked_add(len as usize)
                .filter(|&e| e <= body.len())
                .ok_or_else(|| err("binary COPY field runs past the message"))?;
            let value = body.get(at..end).unwrap_or_default();
            at = end;
            if let Cell::Unchanged = mask_value(maskers, &rules, Layout::Plain, value) {
                continue;
            }
            let (start, copied) = started.unwrap_or_else(|| {
                let start = out.len();
                out.put_u8(b'd');
                out.put_u32(0);
                (start, 0)
            });
            out.extend_from_slice(body.get(copied..field_at).unwrap_or_default());
            out.put_i32(-1);
            started = Some((start, at));
        }
    }
    match started {
        Some((start, copied)) => {
            out.extend_from_slice(body.get(copied..).unwrap_or_default());
            backfill(out, start);
        }
        None => out.extend_from_slice(frame.raw()),
    }
    Ok(())
}
