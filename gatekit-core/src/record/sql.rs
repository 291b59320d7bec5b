//! [`SqlRecorder`]: pairs what a PostgreSQL session sends the server with what the client
//! is sent back, and writes one [`CommandRecord`](super::CommandRecord) per command.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use jiff::Timestamp;

use super::command::{Builder, Cols, Formats, Names, RecordLimits, sql_json};
use super::event::StartRecord;
use super::event::{CommandKind, EndRecord, MessageRecord, RecordEvent, RecordedVerdict};
use crate::last_text::LastText;
use crate::pg::codec::{
    BackendMessage, ErrorFields, FrontendMessage, RowDescription, Target, messages, server_name,
};
use crate::sql::redact_secrets;

/// Requests awaiting their answer (and decisions awaiting their message), at most; more
/// are not paired (the recording of a client that pipelines this deep is approximate).
const MAX_PENDING: usize = 64 * 1024;
/// The scratch buffer is dropped after a line longer than this.
const SCRATCH_KEEP: usize = 64 * 1024;
/// Prepared statements and portals remembered, at most each.
const MAX_NAMED: usize = 4096;
/// The last RowDescription is remembered (to reuse its columns) up to this size.
const LAST_DESCRIPTION_MAX: usize = 4096;

/// A decided statement.
#[derive(Clone, Debug)]
struct Stmt {
    /// Its text (password literals redacted) as a JSON string; `None` when the recorder
    /// never saw it.
    sql: Option<Arc<[u8]>>,
    verdict: RecordedVerdict,
}

impl Stmt {
    /// A statement whose text the recorder never saw.
    fn unknown() -> Stmt {
        Stmt {
            sql: None,
            verdict: RecordedVerdict::Allow,
        }
    }

    /// `sql` (lossily as text), with password literals redacted, as a JSON string.
    fn json(sql: &[u8]) -> Arc<[u8]> {
        sql_json(&redact_secrets(&text(sql)))
    }
}

#[derive(Debug)]
struct Prepared {
    stmt: Stmt,
    /// The statement's column names (their formats are the Bind's business).
    fields: Option<Arc<Names>>,
}

#[derive(Debug)]
struct Portal {
    stmt: Stmt,
    columns: Option<Cols>,
}

/// A message sent to the server that awaits an answer.
#[derive(Debug)]
enum Req {
    Query(Stmt, Timestamp),
    FunctionCall(Stmt, Timestamp),
    Parse(Bytes, Stmt, Timestamp),
    Bind {
        portal: Bytes,
        statement: Bytes,
        formats: Bytes,
        at: Timestamp,
    },
    Describe(Target, Bytes, Timestamp),
    Execute(Bytes, Timestamp),
    Close,
    Sync,
}

/// The command being answered.
#[derive(Debug)]
struct Open {
    builder: Builder,
    columns: Option<Cols>,
    copy: Option<bool>,
}

/// The recorder of one PostgreSQL session: a sans-IO state machine that turns the
/// session's traffic into JSON lines (see [`RecordEvent`]), drained with
/// [`SqlRecorder::poll_bytes`].
///
/// # Feeding it
///
/// 1. [`SqlRecorder::decided`] for each statement the caller decided on (allowed or
///    denied), in order, before its message goes to the server;
/// 2. [`SqlRecorder::to_server`] with the frontend messages exactly as sent to the server
///    (whole messages; a denied statement's stand-in too);
/// 3. [`SqlRecorder::to_client`] with the backend messages exactly as sent to the client
///    (whole messages, after masking: the recording holds what the client saw);
/// 4. [`SqlRecorder::finish`] once, when the session ends.
///
/// The answers are paired with the requests the way the server processes them: a `Query`
/// or `FunctionCall` is one command ending at its ReadyForQuery (a multi-statement query
/// has a result per statement); an `Execute` is one command ending at its
/// CommandComplete, recorded with the text of the statement its portal was bound from; a
/// `Parse`, `Bind` or `Describe` that fails (or was denied) is a `prepare` command with
/// the error. Rows beyond [`RecordLimits`] are counted, never copied, and the recorder
/// holds at most one command's kept rows at a time.
///
/// ```
/// use gatekit_core::record::{RecordEvent, RecordLimits, RecordedVerdict, SqlRecorder, StartRecord};
///
/// let at: jiff::Timestamp = "2024-06-01T12:00:00Z".parse().unwrap();
/// let start = StartRecord {
///     at, session: "s1".into(), target: "shop".into(), protocol: "postgres".into(),
///     user: "alice".into(), groups: vec![], database: None, client: None,
/// };
/// let mut rec = SqlRecorder::new(start, RecordLimits::default());
/// rec.decided(b"SELECT 1 AS one", RecordedVerdict::Allow);
/// rec.to_server(at, b"Q\0\0\0\x14SELECT 1 AS one\0");
/// let mut reply = Vec::new();
/// reply.extend_from_slice(b"T\0\0\0\x1c\0\x01one\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0");
/// reply.extend_from_slice(b"D\0\0\0\x0b\0\x01\0\0\0\x011");
/// reply.extend_from_slice(b"C\0\0\0\x0dSELECT 1\0Z\0\0\0\x05I");
/// rec.to_client(at, &reply);
/// rec.finish(at, None);
/// let bytes = rec.poll_bytes().unwrap();
/// let lines: Vec<RecordEvent> = bytes
///     .split(|b| *b == b'\n')
///     .filter(|l| !l.is_empty())
///     .map(|l| serde_json::from_slice(l).unwrap())
///     .collect();
/// let RecordEvent::Command(c) = &lines[1] else { panic!() };
/// assert_eq!(c.results[0].rows, vec![vec![Some("1".to_owned())]]);
/// assert_eq!(c.results[0].tag.as_deref(), Some("SELECT 1"));
/// ```
#[derive(Debug)]
pub struct SqlRecorder {
    limits: RecordLimits,
    out: BytesMut,
    decided: VecDeque<Stmt>,
    pending: VecDeque<Req>,
    statements: Named<Prepared>,
    portals: Named<Portal>,
    open: Option<Open>,
    finished: bool,
    /// A command's line is written here, then copied out (reused between commands).
    scratch: Vec<u8>,
    /// The last RowDescription's count and bytes, and its columns: a statement run again
    /// is described the same way.
    last_description: Option<(u16, Box<[u8]>, Cols)>,
    /// The last statement as recorded, so one sent again is not redacted and escaped
    /// again.
    last_sql: LastText<Arc<[u8]>>,
}

/// Prepared statements or portals by name.
type Named<V> = HashMap<Bytes, V, foldhash::fast::RandomState>;

fn bound<V>(map: &mut Named<V>, key: Bytes, value: V) {
    if map.len() >= MAX_NAMED && !map.contains_key(&key) {
        map.clear();
    }
    map.insert(key, value);
}

/// `bytes` as text, lossily when they are not UTF-8.
fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.into(),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The result formats a Bind's format codes ask for.
fn bind_formats(codes: &[u8]) -> Formats {
    let binary = |c: &[u8]| c == [0, 1];
    match codes.len() / 2 {
        0 => Formats::All(false),
        1 => Formats::All(codes.get(..2).is_some_and(binary)),
        _ => Formats::Each(codes.chunks_exact(2).map(binary).collect()),
    }
}

/// The columns of a RowDescription, in the formats it gives.
fn columns(desc: &RowDescription<'_>) -> Cols {
    let mut fields = desc.fields();
    let first = fields.next().map(|f| f.format == 1);
    let formats = if fields.all(|f| (f.format == 1) == first.unwrap_or(false)) {
        Formats::All(first.unwrap_or(false))
    } else {
        Formats::Each(desc.fields().map(|f| f.format == 1).collect())
    };
    Cols {
        names: Names::new(desc.fields().map(|f| text(f.name))),
        formats,
    }
}

impl SqlRecorder {
    /// A recorder whose first line is `start`, keeping at most `limits` per command.
    pub fn new(start: StartRecord, limits: RecordLimits) -> Self {
        let mut r = SqlRecorder {
            limits,
            out: BytesMut::new(),
            decided: VecDeque::new(),
            pending: VecDeque::new(),
            statements: Named::default(),
            portals: Named::default(),
            open: None,
            finished: false,
            scratch: Vec::new(),
            last_description: None,
            last_sql: LastText::default(),
        };
        r.write(&RecordEvent::Start(start));
        r
    }

    /// The recorded lines so far (each ends with a newline); `None` when there are none.
    pub fn poll_bytes(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    /// A statement was decided: the next `Query`, `Parse` or `FunctionCall` sent to the
    /// server carries it (or, when denied, stands in for it). Password literals are
    /// redacted here.
    pub fn decided(&mut self, sql: &[u8], verdict: RecordedVerdict) {
        if self.finished {
            return;
        }
        if self.decided.len() >= MAX_PENDING {
            self.decided.pop_front();
        }
        let stmt = self.stmt(sql, verdict);
        self.decided.push_back(stmt);
    }

    /// `sql` as recorded, from the last statement when it is the same text.
    fn stmt(&mut self, sql: &[u8], verdict: RecordedVerdict) -> Stmt {
        Stmt {
            sql: Some(self.last_sql.get(sql, Stmt::json)),
            verdict,
        }
    }

    /// The next decided statement, or (when nothing was decided) the text as sent.
    fn next_statement(&mut self, sent: &[u8]) -> Stmt {
        match self.decided.pop_front() {
            Some(s) => s,
            None => self.stmt(sent, RecordedVerdict::Allow),
        }
    }

    /// Frontend messages as sent to the server at `now`.
    pub fn to_server(&mut self, now: Timestamp, bytes: &[u8]) {
        if self.finished {
            return;
        }
        for (tag, body) in messages(bytes) {
            let Ok(msg) = FrontendMessage::parse(tag, body) else {
                continue;
            };
            let req = match msg {
                FrontendMessage::Query { sql } => Req::Query(self.next_statement(sql), now),
                FrontendMessage::FunctionCall { .. } => {
                    Req::FunctionCall(self.next_statement(b""), now)
                }
                // Names as the server keys them (their first 63 bytes), which also
                // bounds what is remembered per name.
                FrontendMessage::Parse { statement, sql, .. } => Req::Parse(
                    Bytes::copy_from_slice(server_name(statement)),
                    self.next_statement(sql),
                    now,
                ),
                FrontendMessage::Bind(b) => Req::Bind {
                    portal: Bytes::copy_from_slice(server_name(b.portal)),
                    statement: Bytes::copy_from_slice(server_name(b.statement)),
                    formats: Bytes::copy_from_slice(b.result_formats()),
                    at: now,
                },
                FrontendMessage::Describe { target, name } => {
                    Req::Describe(target, Bytes::copy_from_slice(server_name(name)), now)
                }
                FrontendMessage::Execute { portal, .. } => {
                    Req::Execute(Bytes::copy_from_slice(server_name(portal)), now)
                }
                FrontendMessage::Close { .. } => Req::Close,
                FrontendMessage::Sync => Req::Sync,
                _ => continue,
            };
            if self.pending.len() < MAX_PENDING {
                self.pending.push_back(req);
            }
        }
    }

    /// Backend messages as sent to the client at `now`.
    pub fn to_client(&mut self, now: Timestamp, bytes: &[u8]) {
        if self.finished {
            return;
        }
        for (tag, body) in messages(bytes) {
            if let Ok(msg) = BackendMessage::parse(tag, body) {
                self.on_message(now, msg);
            }
        }
    }

    /// The session ended at `now` (`error`: why, when it failed). Writes what the open
    /// command got and the last line; later input is ignored.
    pub fn finish(&mut self, now: Timestamp, error: Option<&str>) {
        if self.finished {
            return;
        }
        self.emit(now);
        self.write(&RecordEvent::End(EndRecord {
            at: now,
            error: error.map(str::to_owned),
        }));
        self.finished = true;
        self.pending.clear();
        self.decided.clear();
        self.statements.clear();
        self.portals.clear();
    }

    fn write(&mut self, event: &RecordEvent) {
        let mut w = (&mut self.out).writer();
        if serde_json::to_writer(&mut w, event).is_ok() {
            self.out.put_u8(b'\n');
        }
    }

    /// Writes the open command, if any.
    fn emit(&mut self, now: Timestamp) {
        if let Some(open) = self.open.take() {
            let line = open.builder.finish(now);
            self.out.reserve(line.len() + 1);
            self.out.extend_from_slice(&line);
            self.out.put_u8(b'\n');
            if line.capacity() <= SCRATCH_KEEP {
                self.scratch = line;
            }
        }
    }

    /// The open command, or one opened for the request the server is answering.
    fn open(&mut self) -> Option<&mut Open> {
        if self.open.is_none() {
            let unknown = Stmt::unknown();
            let (at, kind, stmt, columns) = match self.pending.front()? {
                Req::Query(s, at) => (*at, CommandKind::Query, s, None),
                Req::FunctionCall(s, at) => (*at, CommandKind::FunctionCall, s, None),
                Req::Execute(portal, at) => match self.portals.get(portal) {
                    Some(p) => (*at, CommandKind::Execute, &p.stmt, p.columns.clone()),
                    None => (*at, CommandKind::Execute, &unknown, None),
                },
                Req::Parse(_, s, at) => (*at, CommandKind::Prepare, s, None),
                Req::Bind { statement, at, .. } => {
                    let stmt = self.statements.get(statement).map(|p| &p.stmt);
                    let stmt = stmt.unwrap_or(&unknown);
                    (*at, CommandKind::Prepare, stmt, None)
                }
                Req::Describe(target, name, at) => {
                    let stmt = match target {
                        Target::Statement => self.statements.get(name).map(|p| &p.stmt),
                        Target::Portal => self.portals.get(name).map(|p| &p.stmt),
                    };
                    let stmt = stmt.unwrap_or(&unknown);
                    (*at, CommandKind::Prepare, stmt, None)
                }
                Req::Close | Req::Sync => return None,
            };
            let line = std::mem::take(&mut self.scratch);
            let sql = stmt.sql.as_deref().unwrap_or(b"\"\"");
            let mut builder = Builder::new(at, kind, sql, stmt.verdict, self.limits, line);
            if let Some(cols) = &columns {
                builder.begin_result(&cols.names);
            }
            self.open = Some(Open {
                builder,
                columns,
                copy: None,
            });
        }
        self.open.as_mut()
    }

    fn front_is(&mut self, want: impl Fn(&Req) -> bool) -> Option<Req> {
        if self.pending.front().is_some_and(want) {
            self.pending.pop_front()
        } else {
            None
        }
    }

    fn on_message(&mut self, now: Timestamp, msg: BackendMessage<'_>) {
        match msg {
            BackendMessage::ParseComplete => {
                if let Some(Req::Parse(name, stmt, _)) =
                    self.front_is(|r| matches!(r, Req::Parse(..)))
                {
                    bound(&mut self.statements, name, Prepared { stmt, fields: None });
                }
            }
            BackendMessage::BindComplete => {
                if let Some(Req::Bind {
                    portal,
                    statement,
                    formats,
                    ..
                }) = self.front_is(|r| matches!(r, Req::Bind { .. }))
                {
                    let (stmt, columns) = match self.statements.get(&statement) {
                        Some(p) => (
                            p.stmt.clone(),
                            p.fields.as_ref().map(|names| Cols {
                                names: Arc::clone(names),
                                formats: bind_formats(&formats),
                            }),
                        ),
                        None => (Stmt::unknown(), None),
                    };
                    bound(&mut self.portals, portal, Portal { stmt, columns });
                }
            }
            BackendMessage::CloseComplete => {
                self.front_is(|r| matches!(r, Req::Close));
            }
            BackendMessage::NoData => {
                self.front_is(|r| matches!(r, Req::Describe(..)));
            }
            BackendMessage::RowDescription(desc) => self.on_row_description(&desc),
            BackendMessage::DataRow(row) => {
                let Some(open) = self.open() else { return };
                let formats = open.columns.as_ref().map(|c| &c.formats);
                open.builder
                    .row(|| row.values(), |i| formats.is_some_and(|f| f.binary(i)));
            }
            BackendMessage::CopyResponse { kind, binary, .. } => {
                if kind == b'H'
                    && let Some(open) = self.open()
                {
                    open.builder.begin_result(&Names::new(["copy"].into_iter()));
                    open.copy = Some(binary);
                }
            }
            BackendMessage::CopyData(data) => {
                if let Some(open) = self.open.as_mut()
                    && let Some(binary) = open.copy
                {
                    let line = data.strip_suffix(b"\n").unwrap_or(data);
                    open.builder.row(|| std::iter::once(Some(line)), |_| binary);
                }
            }
            BackendMessage::FunctionCallResponse(value) => {
                if let Some(open) = self.open() {
                    open.builder
                        .begin_result(&Names::new(["result"].into_iter()));
                    open.builder.row(|| std::iter::once(value), |_| true);
                }
            }
            BackendMessage::CommandComplete { tag } => self.on_complete(now, tag),
            BackendMessage::EmptyQueryResponse => self.on_complete(now, b""),
            BackendMessage::PortalSuspended => self.on_complete(now, b"(suspended)"),
            BackendMessage::ErrorResponse(f) => self.on_error(now, &f),
            BackendMessage::NoticeResponse(f) => {
                let message = f.get(b'M').unwrap_or_default();
                match self.open() {
                    Some(open) => open.builder.notice(message),
                    None => self.message(now, &f),
                }
            }
            BackendMessage::ReadyForQuery { .. } => {
                if matches!(
                    self.pending.front(),
                    Some(Req::Query(..) | Req::FunctionCall(..))
                ) {
                    self.open();
                }
                self.emit(now);
                while let Some(r) = self.pending.pop_front() {
                    if matches!(r, Req::Sync | Req::Query(..) | Req::FunctionCall(..)) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }

    /// The columns `desc` gives, the last description's when it is the same.
    fn columns_of(&mut self, desc: &RowDescription<'_>) -> Cols {
        if let Some((count, raw, cols)) = &self.last_description
            && *count == desc.len()
            && **raw == *desc.raw()
        {
            return cols.clone();
        }
        let cols = columns(desc);
        if desc.raw().len() <= LAST_DESCRIPTION_MAX {
            self.last_description = Some((desc.len(), desc.raw().into(), cols.clone()));
        }
        cols
    }

    fn on_row_description(&mut self, desc: &RowDescription<'_>) {
        match self.pending.front() {
            Some(Req::Describe(Target::Statement, _, _)) => {
                let names = self.columns_of(desc).names;
                if let Some(Req::Describe(_, name, _)) = self.pending.pop_front()
                    && let Some(p) = self.statements.get_mut(&name)
                {
                    p.fields = Some(names);
                }
            }
            Some(Req::Describe(Target::Portal, _, _)) => {
                let cols = self.columns_of(desc);
                if let Some(Req::Describe(_, name, _)) = self.pending.pop_front()
                    && let Some(p) = self.portals.get_mut(&name)
                {
                    p.columns = Some(cols);
                }
            }
            Some(Req::Query(..)) => {
                let cols = self.columns_of(desc);
                if let Some(open) = self.open() {
                    open.builder.begin_result(&cols.names);
                    open.columns = Some(cols);
                    open.copy = None;
                }
            }
            _ => {}
        }
    }

    /// CommandComplete, EmptyQueryResponse, PortalSuspended.
    fn on_complete(&mut self, now: Timestamp, tag: &[u8]) {
        let Some(open) = self.open() else { return };
        open.builder.complete(tag);
        open.columns = None;
        open.copy = None;
        if let Some(Req::Execute(..)) = self.front_is(|r| matches!(r, Req::Execute(..))) {
            self.emit(now);
        }
    }

    fn on_error(&mut self, now: Timestamp, f: &ErrorFields<'_>) {
        let severity = f.get(b'V').or(f.get(b'S')).unwrap_or_default();
        let (code, message) = (
            f.get(b'C').unwrap_or_default(),
            f.get(b'M').unwrap_or_default(),
        );
        let Some(open) = self.open() else {
            self.message(now, f);
            return;
        };
        open.builder.error(severity, code, message);
        open.columns = None;
        open.copy = None;
        // In the extended protocol the server skips to the next Sync: the command is over.
        if !matches!(
            self.pending.front(),
            Some(Req::Query(..) | Req::FunctionCall(..))
        ) {
            self.emit(now);
            while let Some(front) = self.pending.front() {
                if matches!(front, Req::Sync | Req::Query(..) | Req::FunctionCall(..)) {
                    break;
                }
                self.pending.pop_front();
            }
        }
    }

    /// A notice or error outside any command.
    fn message(&mut self, now: Timestamp, f: &ErrorFields<'_>) {
        let text = |code| String::from_utf8_lossy(f.get(code).unwrap_or_default()).into_owned();
        let severity = f.get(b'V').or(f.get(b'S')).unwrap_or_default();
        let event = RecordEvent::Message(MessageRecord {
            at: now,
            severity: String::from_utf8_lossy(severity).into_owned(),
            code: text(b'C'),
            message: text(b'M'),
        });
        self.write(&event);
    }
}
