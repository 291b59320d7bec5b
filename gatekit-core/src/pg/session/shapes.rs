//! Which columns the rows the server sends belong to.
//!
//! A DataRow carries values only; their columns are described by the RowDescription that
//! precedes them in a simple query, by a Describe of the portal, or — when a client binds a
//! statement it described earlier and executes it without describing the portal
//! (tokio-postgres does) — by the statement's description with the Bind's result formats.
//!
//! [`Tracker`] follows the conversation to know which applies: it records every message
//! that went to the server (after it was queued, so it sees exactly what the server sees,
//! including the stand-ins of denied statements) and pairs the server's answers with them
//! in order, the way the server processes them: an error in the extended protocol skips
//! everything up to the next `Sync`, and `ReadyForQuery` answers a `Sync`, a `Query` or a
//! `FunctionCall`.

use std::collections::VecDeque;

use foldhash::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::columns::{ColumnKey, QualifiedColumn};
use super::copy::{CopyOut, CopySpec};
use crate::mask::{Column, Masker, ValueKind};
use crate::pg::codec::{FrontendMessage, RowDescription, Target, server_name};
use crate::pg::error::{PgError, Side, Tag};

/// Requests awaiting their answer, at most.
const MAX_PENDING: usize = 64 * 1024;
/// Described statements and bound portals remembered, at most each.
const MAX_NAMED: usize = 4096;

/// What the gateway knows about where a result column comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Lineage {
    /// Not a table column (table OID 0): detectors only.
    Expression,
    /// The catalog's name for it.
    Known(Arc<QualifiedColumn>),
    /// A table column the catalog could not name: masked as if every column rule matched.
    Unknown,
}

/// One column of a RowDescription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Field {
    pub label: Box<str>,
    pub key: Option<ColumnKey>,
    pub type_oid: u32,
    pub format: u16,
    pub lineage: Lineage,
}

pub(super) fn fields(desc: &RowDescription<'_>) -> Vec<Field> {
    desc.fields()
        .map(|f| {
            let key = (f.table_oid != 0 && f.column > 0).then_some(ColumnKey {
                table_oid: f.table_oid,
                column: f.column,
            });
            Field {
                label: String::from_utf8_lossy(f.name).into(),
                key,
                type_oid: f.type_oid,
                format: f.format,
                lineage: if key.is_some() {
                    Lineage::Unknown
                } else {
                    Lineage::Expression
                },
            }
        })
        .collect()
}

/// How a value's bytes are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// The value is the text (text format, or binary format of a text-like type).
    Plain,
    /// Binary `jsonb`: a version byte, then the JSON text.
    Jsonb,
}

/// A result column resolved against the session's maskers.
#[derive(Debug)]
pub(super) struct PlanColumn {
    /// The column's name for notices: the catalog's, else the result's label. Formatted
    /// only when a notice names it.
    pub label: Label,
    pub layout: Layout,
}

/// A column's name for notices.
#[derive(Debug)]
pub(super) enum Label {
    /// `schema.table.column`, as the catalog names it.
    Known(Arc<QualifiedColumn>),
    /// The result's label.
    Plain(Box<str>),
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Known(q) => q.fmt(f),
            Label::Plain(l) => f.write_str(l),
        }
    }
}

/// The columns of one result, resolved once, used for each of its rows.
#[derive(Debug)]
pub(super) struct Plan {
    pub columns: Box<[PlanColumn]>,
    /// `columns.len() × maskers`: column `i`, masker `m` at `i * maskers + m`.
    pub rules: Box<[Column]>,
}

/// Whether each masker's column rules match a column, remembered per session for the
/// columns seen lately: matching is glob work, and a session reads the same columns
/// again and again. A hit needs the very same column (`Arc`) and maskers, both immutable,
/// so it cannot go stale.
#[derive(Debug, Default)]
pub(super) struct ColumnMemo {
    maskers: Vec<Arc<Masker>>,
    columns: Vec<(Arc<QualifiedColumn>, Box<[bool]>)>,
}

/// Columns remembered per session, at most.
const MEMO_COLUMNS: usize = 64;

impl ColumnMemo {
    /// Whether column rules of each of `maskers` match `column`.
    fn whole(&mut self, maskers: &[Arc<Masker>], column: &Arc<QualifiedColumn>) -> &[bool] {
        if !same_maskers(&self.maskers, maskers) {
            self.maskers = maskers.to_vec();
            self.columns.clear();
        }
        let at = match self
            .columns
            .iter()
            .position(|(c, _)| Arc::ptr_eq(c, column))
        {
            Some(at) => at,
            None => {
                if self.columns.len() >= MEMO_COLUMNS {
                    self.columns.clear();
                }
                let r = column.column_ref();
                let whole = maskers.iter().map(|m| m.matches_column(&r)).collect();
                self.columns.push((Arc::clone(column), whole));
                self.columns.len() - 1
            }
        };
        self.columns.get(at).map_or(&[], |(_, w)| w)
    }
}

impl Plan {
    pub fn new(
        fields: &[Field],
        formats: &Formats,
        maskers: &[Arc<Masker>],
        memo: &mut ColumnMemo,
    ) -> Plan {
        let mut columns = Vec::with_capacity(fields.len());
        let mut rules = Vec::with_capacity(fields.len() * maskers.len());
        for (i, f) in fields.iter().enumerate() {
            let binary = formats.binary(i, f.format);
            let (kind, layout) = kind_of(f.type_oid, binary);
            match &f.lineage {
                Lineage::Expression => {
                    rules.extend(maskers.iter().map(|_| Column { whole: false, kind }));
                }
                Lineage::Known(q) => {
                    let whole = memo.whole(maskers, q);
                    rules.extend(whole.iter().map(|&whole| Column { whole, kind }));
                }
                Lineage::Unknown => {
                    rules.extend(maskers.iter().map(|m| m.unidentified_column(kind)));
                }
            }
            let label = match &f.lineage {
                Lineage::Known(q) => Label::Known(Arc::clone(q)),
                _ => Label::Plain(f.label.clone()),
            };
            columns.push(PlanColumn { label, layout });
        }
        Plan {
            columns: columns.into(),
            rules: rules.into(),
        }
    }
}

/// What a value must stay parseable as, by type OID and format.
fn kind_of(type_oid: u32, binary: bool) -> (ValueKind, Layout) {
    const TEXTLIKE: &[u32] = &[25, 1043, 1042, 19, 705, 0];
    if binary {
        return match type_oid {
            t if TEXTLIKE.contains(&t) => (ValueKind::Text, Layout::Plain),
            114 => (ValueKind::Json, Layout::Plain),
            3802 => (ValueKind::Json, Layout::Jsonb),
            17 => (ValueKind::Bytes, Layout::Plain),
            _ => (ValueKind::Other, Layout::Plain),
        };
    }
    let kind = match type_oid {
        t if TEXTLIKE.contains(&t) => ValueKind::Text,
        18 | 142 => ValueKind::Text,
        21 => ValueKind::Int16,
        23 => ValueKind::Int32,
        20 => ValueKind::Int64,
        700 | 701 | 1700 => ValueKind::Numeric,
        114 | 3802 => ValueKind::Json,
        _ => ValueKind::Other,
    };
    (kind, Layout::Plain)
}

/// Result format codes of a Bind (or none: the RowDescription's own).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Formats(Option<Bytes>);

impl Formats {
    fn binary(&self, i: usize, described: u16) -> bool {
        let Some(codes) = &self.0 else {
            return described == 1;
        };
        let n = codes.len() / 2;
        let at = if n == 1 { 0 } else { i };
        n != 0 && codes.get(at * 2..at * 2 + 2) == Some(&[0, 1][..])
    }
}

/// A message sent to the server that awaits an answer.
#[derive(Debug)]
enum Req {
    /// A statement, with the COPY TO STDOUT it holds (under column rules).
    Parse(Bytes, Option<Arc<CopySpec>>),
    Bind {
        portal: Bytes,
        statement: Bytes,
        formats: Formats,
    },
    Describe(Target, Bytes),
    Execute(Bytes),
    Close(Target, Bytes),
    Sync,
    /// A simple query, with the COPY TO STDOUT statements it holds, in order (under
    /// column rules).
    Query(VecDeque<Arc<CopySpec>>),
    /// A fast-path call, and whether it asked for its result in binary.
    FunctionCall {
        binary: bool,
    },
}

/// Pairs the server's answers with what was sent (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Tracker {
    pending: VecDeque<Req>,
    statements: HashMap<Bytes, Option<Arc<[Field]>>>,
    portals: HashMap<Bytes, Option<Arc<Plan>>>,
    /// The columns of the result being streamed.
    pub current: Option<Arc<Plan>>,
    /// `Some(binary)` while COPY OUT data flows.
    pub copy: Option<bool>,
    /// The COPY OUT being streamed, when its fields are told apart.
    pub copy_out: Option<CopyOut>,
    /// The COPY TO STDOUT of each statement and portal that holds one.
    statement_copies: HashMap<Bytes, Arc<CopySpec>>,
    portal_copies: HashMap<Bytes, Arc<CopySpec>>,
    /// Column rule matches of the columns seen lately.
    pub memo: ColumnMemo,
    /// The last plan made, and what it was made from.
    last_plan: Option<MadePlan>,
}

/// A plan and what it was made from. [`Plan::new`] depends on nothing else (the column
/// memo's answers depend only on the column and the maskers), so the same fields,
/// formats and maskers may share it: a session runs the same statements again and again.
#[derive(Debug)]
struct MadePlan {
    fields: Arc<[Field]>,
    formats: Formats,
    /// Held, so the addresses compared cannot be reused by other maskers.
    maskers: Vec<Arc<Masker>>,
    plan: Arc<Plan>,
}

impl MadePlan {
    fn is_for(&self, fields: &[Field], formats: &Formats, maskers: &[Arc<Masker>]) -> bool {
        same_maskers(&self.maskers, maskers) && self.formats == *formats && *self.fields == *fields
    }
}

/// Whether two lists hold the very same maskers (by address: the caller holds `held`, so
/// no other masker can have taken an address since).
fn same_maskers(held: &[Arc<Masker>], maskers: &[Arc<Masker>]) -> bool {
    held.len() == maskers.len() && held.iter().zip(maskers).all(|(a, b)| Arc::ptr_eq(a, b))
}

fn bound<V>(map: &mut HashMap<Bytes, V>, key: Bytes, value: V) {
    if map.len() >= MAX_NAMED && !map.contains_key(&key) {
        // Forgotten names fail closed: their rows are sent as NULLs.
        map.clear();
    }
    map.insert(key, value);
}

impl Tracker {
    /// Records frontend frames queued for the server (whole frames, as sent).
    pub fn sent(&mut self, mut bytes: &[u8]) -> Result<(), PgError> {
        while let Some(&[tag, a, b, c, d]) = bytes.get(..5) {
            let len = u32::from_be_bytes([a, b, c, d]) as usize;
            let Some(body) = bytes.get(5..1 + len) else {
                break;
            };
            bytes = bytes.get(1 + len..).unwrap_or_default();
            let req = match tag {
                b'Q' => Req::Query(VecDeque::new()),
                b'F' => Req::FunctionCall {
                    binary: function_result_binary(body),
                },
                b'S' => Req::Sync,
                b'P' | b'B' | b'D' | b'E' | b'C' => {
                    match FrontendMessage::parse(tag, body).map_err(|_| PgError::Malformed {
                        side: Side::Client,
                        tag: Tag(tag),
                        what: "message to the server does not parse",
                    })? {
                        // Names as the server keys them (their first 63 bytes).
                        FrontendMessage::Parse { statement, .. } => {
                            Req::Parse(Bytes::copy_from_slice(server_name(statement)), None)
                        }
                        FrontendMessage::Bind(b) => Req::Bind {
                            portal: Bytes::copy_from_slice(server_name(b.portal)),
                            statement: Bytes::copy_from_slice(server_name(b.statement)),
                            formats: Formats(Some(Bytes::copy_from_slice(b.result_formats()))),
                        },
                        FrontendMessage::Describe { target, name } => {
                            Req::Describe(target, Bytes::copy_from_slice(server_name(name)))
                        }
                        FrontendMessage::Execute { portal, .. } => {
                            Req::Execute(Bytes::copy_from_slice(server_name(portal)))
                        }
                        FrontendMessage::Close { target, name } => {
                            Req::Close(target, Bytes::copy_from_slice(server_name(name)))
                        }
                        _ => continue,
                    }
                }
                _ => continue,
            };
            if self.pending.len() >= MAX_PENDING {
                return Err(PgError::MaskingBacklog { max: MAX_PENDING });
            }
            self.pending.push_back(req);
        }
        Ok(())
    }

    /// Whether a statement's description is known (a Bind of it can be planned).
    pub fn on_parse_complete(&mut self) {
        if let Some(Req::Parse(name, copy)) = self.front_is(|r| matches!(r, Req::Parse(..))) {
            match copy {
                Some(c) => bound(&mut self.statement_copies, name.clone(), c),
                None => {
                    self.statement_copies.remove(&name);
                }
            }
            bound(&mut self.statements, name, None);
        }
    }

    /// Pairs the COPY statements of the last request queued (a Query or a Parse) with it.
    pub fn attach_copies(&mut self, specs: Vec<Arc<CopySpec>>) {
        match self.pending.back_mut() {
            Some(Req::Query(copies)) => *copies = specs.into(),
            Some(Req::Parse(_, copy)) => *copy = specs.into_iter().next(),
            _ => {}
        }
    }

    /// The COPY TO STDOUT whose CopyOutResponse just arrived, if the session knows it.
    pub fn copy_spec(&mut self) -> Option<Arc<CopySpec>> {
        match self.pending.front_mut() {
            Some(Req::Query(copies)) => copies.pop_front(),
            Some(Req::Execute(portal)) => self.portal_copies.get(portal).cloned(),
            _ => None,
        }
    }

    /// Whether the FunctionCall being answered asked for a binary result (`true` when
    /// the session cannot tell).
    pub fn function_binary(&self) -> bool {
        match self.pending.front() {
            Some(Req::FunctionCall { binary }) => *binary,
            _ => true,
        }
    }

    pub fn on_bind_complete(&mut self, maskers: &[Arc<Masker>]) {
        if let Some(Req::Bind {
            portal,
            statement,
            formats,
        }) = self.front_is(|r| matches!(r, Req::Bind { .. }))
        {
            match self.statement_copies.get(&statement) {
                Some(c) => bound(&mut self.portal_copies, portal.clone(), Arc::clone(c)),
                None => {
                    self.portal_copies.remove(&portal);
                }
            }
            let fields = self.statements.get(&statement).cloned().flatten();
            let plan = fields.map(|f| self.plan(&f, || Arc::clone(&f), &formats, maskers));
            bound(&mut self.portals, portal, plan);
        }
    }

    pub fn on_close_complete(&mut self) {
        if let Some(Req::Close(target, name)) = self.front_is(|r| matches!(r, Req::Close(..))) {
            match target {
                Target::Statement => self.statements.remove(&name),
                Target::Portal => self.portals.remove(&name).map(|_| None),
            };
        }
    }

    /// A RowDescription arrived with these fields (lineage resolved): it describes a
    /// statement (for later Binds), or the rows that follow it.
    pub fn on_row_description(&mut self, fields: Vec<Field>, maskers: &[Arc<Masker>]) {
        match self.pending.front() {
            Some(Req::Describe(Target::Statement, _)) => {
                if let Some(Req::Describe(_, name)) = self.pending.pop_front() {
                    bound(&mut self.statements, name, Some(fields.into()));
                }
            }
            Some(Req::Describe(Target::Portal, _)) => {
                let plan = self.plan(
                    &fields,
                    || fields.clone().into(),
                    &Formats::default(),
                    maskers,
                );
                if let Some(Req::Describe(_, name)) = self.pending.pop_front() {
                    bound(&mut self.portals, name, Some(Arc::clone(&plan)));
                }
                self.current = Some(plan);
            }
            Some(Req::Query(_)) => {
                let plan = self.plan(
                    &fields,
                    || fields.clone().into(),
                    &Formats::default(),
                    maskers,
                );
                self.current = Some(plan);
            }
            // Not asked for (a confused conversation): its rows find no plan and go NULL.
            _ => {}
        }
    }

    /// The plan for `fields` read with `formats` under `maskers`: the last one made when it
    /// was made from the same, else a new one (`keep` gives the fields to remember it by).
    fn plan(
        &mut self,
        fields: &[Field],
        keep: impl FnOnce() -> Arc<[Field]>,
        formats: &Formats,
        maskers: &[Arc<Masker>],
    ) -> Arc<Plan> {
        if let Some(made) = &self.last_plan
            && made.is_for(fields, formats, maskers)
        {
            return Arc::clone(&made.plan);
        }
        let plan = Arc::new(Plan::new(fields, formats, maskers, &mut self.memo));
        self.last_plan = Some(MadePlan {
            fields: keep(),
            formats: formats.clone(),
            maskers: maskers.to_vec(),
            plan: Arc::clone(&plan),
        });
        plan
    }

    /// NoData: a Describe with no rows.
    pub fn on_no_data(&mut self) {
        self.front_is(|r| matches!(r, Req::Describe(..)));
    }

    /// The plan for a DataRow: the current result's, else the executing portal's.
    pub fn plan_for_row(&mut self) -> Option<Arc<Plan>> {
        if self.current.is_none()
            && let Some(Req::Execute(portal)) = self.pending.front()
        {
            self.current = self.portals.get(portal).cloned().flatten();
        }
        self.current.clone()
    }

    /// CommandComplete, EmptyQueryResponse, PortalSuspended: the result is over.
    pub fn on_result_end(&mut self) {
        self.current = None;
        self.copy = None;
        self.copy_out = None;
        self.front_is(|r| matches!(r, Req::Execute(_)));
    }

    /// ErrorResponse: the result is over; in the extended protocol the server skips to the
    /// next Sync.
    pub fn on_error(&mut self) {
        self.current = None;
        self.copy = None;
        self.copy_out = None;
        while let Some(front) = self.pending.front() {
            if matches!(front, Req::Sync | Req::Query(_) | Req::FunctionCall { .. }) {
                break;
            }
            self.pending.pop_front();
        }
    }

    /// ReadyForQuery: answers the first Sync, Query or FunctionCall.
    pub fn on_ready(&mut self) {
        self.current = None;
        self.copy = None;
        self.copy_out = None;
        while let Some(r) = self.pending.pop_front() {
            if matches!(r, Req::Sync | Req::Query(_) | Req::FunctionCall { .. }) {
                break;
            }
        }
    }

    /// Pops the front request if it is of the expected kind.
    fn front_is(&mut self, want: impl Fn(&Req) -> bool) -> Option<Req> {
        if self.pending.front().is_some_and(want) {
            self.pending.pop_front()
        } else {
            None
        }
    }
}

/// The result format code of a FunctionCall body (after the function OID, the argument
/// formats and the arguments); `true` (binary, the cautious reading) when it is malformed.
fn function_result_binary(body: &[u8]) -> bool {
    let u16_at = |at: usize| -> Option<usize> {
        let s: [u8; 2] = body.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(usize::from(u16::from_be_bytes(s)))
    };
    let read = || -> Option<bool> {
        let formats = u16_at(4)?;
        let mut at = 6usize.checked_add(formats.checked_mul(2)?)?;
        let args = u16_at(at)?;
        at += 2;
        for _ in 0..args {
            let s: [u8; 4] = body.get(at..at + 4)?.try_into().ok()?;
            let len = i32::from_be_bytes(s);
            at += 4;
            if len > 0 {
                at = at.checked_add(len as usize)?;
            }
        }
        Some(u16_at(at)? != 0)
    };
    read().unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::MaskSpec;

    fn masker(columns: &[&str]) -> Arc<Masker> {
        let mut spec = MaskSpec::new("p", ["email"]);
        spec.columns = columns.iter().map(|c| (*c).into()).collect();
        Arc::new(Masker::compile(&spec, &[]).unwrap())
    }

    fn col(name: &str) -> Arc<QualifiedColumn> {
        Arc::new(QualifiedColumn::new("public", "customers", name))
    }

    #[test]
    fn column_memo_answers_per_masker_and_follows_a_new_profile() {
        let (ssn, email) = (col("ssn"), col("email"));
        let strict = vec![masker(&["ssn"]), masker(&["public.customers.*"])];
        let mut memo = ColumnMemo::default();
        assert_eq!(memo.whole(&strict, &ssn), [true, true]);
        assert_eq!(memo.whole(&strict, &email), [false, true]);
        // Asked again: the same answers, from the memo.
        assert_eq!(memo.whole(&strict, &ssn), [true, true]);
        assert_eq!(memo.columns.len(), 2);
        // Another profile: nothing remembered for the old one is used.
        let loose = vec![masker(&[])];
        assert_eq!(memo.whole(&loose, &ssn), [false]);
        assert_eq!(memo.columns.len(), 1);
        // An equal column in another `Arc` is matched, not mistaken for a remembered one.
        assert_eq!(memo.whole(&strict, &col("ssn")), [true, true]);
    }

    fn field(label: &str, lineage: Lineage) -> Field {
        Field {
            label: label.into(),
            key: Some(ColumnKey {
                table_oid: 16384,
                column: 1,
            }),
            type_oid: 25,
            format: 0,
            lineage,
        }
    }

    fn plan_of(
        t: &mut Tracker,
        fields: &[Field],
        formats: &Formats,
        m: &[Arc<Masker>],
    ) -> Arc<Plan> {
        t.plan(fields, || fields.to_vec().into(), formats, m)
    }

    #[test]
    fn a_plan_is_shared_only_with_the_same_fields_formats_and_maskers() {
        let strict = vec![masker(&["ssn"])];
        let loose = vec![masker(&[])];
        let text = Formats::default();
        let ssn = vec![field("x", Lineage::Known(col("ssn")))];
        let mut t = Tracker::default();
        let first = plan_of(&mut t, &ssn, &text, &strict);
        assert!(first.rules[0].masked_whole());
        // The same again, even from other (equal) fields: the same plan.
        let again = plan_of(
            &mut t,
            &[field("x", Lineage::Known(col("ssn")))],
            &text,
            &strict,
        );
        assert!(Arc::ptr_eq(&first, &again));
        // The same label over another column: its own plan, not masked whole.
        let email = vec![field("x", Lineage::Known(col("email")))];
        let other = plan_of(&mut t, &email, &text, &strict);
        assert!(!Arc::ptr_eq(&first, &other));
        assert!(!other.rules[0].masked_whole());
        // Another profile over the same column.
        let relaxed = plan_of(&mut t, &ssn, &text, &loose);
        assert!(!relaxed.rules[0].masked_whole());
        // Binary results over the same column and profile: another layout.
        let binary = Formats(Some(Bytes::from_static(&[0, 1])));
        let bin = plan_of(&mut t, &ssn, &binary, &strict);
        assert!(!Arc::ptr_eq(&first, &bin));
        assert!(bin.rules[0].masked_whole());
        // A column the catalog could not name, and an expression.
        let unknown = plan_of(&mut t, &[field("x", Lineage::Unknown)], &text, &loose);
        let fresh = Plan::new(
            &[field("x", Lineage::Unknown)],
            &text,
            &loose,
            &mut ColumnMemo::default(),
        );
        assert_eq!(
            unknown.rules[0].masked_whole(),
            fresh.rules[0].masked_whole()
        );
        let expr = plan_of(&mut t, &[field("x", Lineage::Expression)], &text, &strict);
        assert!(!expr.rules[0].masked_whole());
        // Back to the first: made again, and the same answers.
        let back = plan_of(&mut t, &ssn, &text, &strict);
        assert!(back.rules[0].masked_whole());
    }

    #[test]
    fn column_memo_stays_bounded() {
        let maskers = vec![masker(&["c1*"])];
        let mut memo = ColumnMemo::default();
        for i in 0..(MEMO_COLUMNS * 3) {
            let whole = memo.whole(&maskers, &col(&format!("c{i}")))[0];
            assert_eq!(whole, format!("c{i}").starts_with("c1"), "c{i}");
            assert!(memo.columns.len() <= MEMO_COLUMNS);
        }
    }
}
