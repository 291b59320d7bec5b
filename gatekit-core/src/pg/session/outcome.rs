//! Outcomes: how each allowed command ended upstream (rows, bytes, duration, error), for
//! the audit trail's `command_result` records.
//!
//! The [`Tracker`] pairs the messages the session sends the server with the answers it
//! sends the client; [`Outcome`] documents the pairing.

use std::collections::VecDeque;

use foldhash::HashMap;

use bytes::Bytes;
use jiff::Timestamp;

use super::Session;
use crate::audit::CommandResultEvent;
use crate::pg::codec::{BackendMessage, messages, server_name};

/// Requests awaiting their answer, at most.
pub(crate) const MAX_PENDING: usize = 16 * 1024;
/// Prepared statements and portals remembered, at most each.
pub(crate) const MAX_NAMED: usize = 4096;
/// Outcomes waiting for [`Session::poll_outcome`], at most.
pub(crate) const MAX_OUTCOMES: usize = 4096;

/// How one allowed command ended upstream, from [`Session::poll_outcome`].
///
/// The session pairs the messages it sends the server with the answers it sends the
/// client, the way the server processes them:
///
/// - a simple `Query` (one decided command, possibly several statements) ends at its
///   ReadyForQuery: its rows are the sum of its statements' CommandComplete counts, its
///   error the first ErrorResponse;
/// - a `FunctionCall` ends at its ReadyForQuery (1 row when the server answered a value);
/// - in the extended protocol a statement is decided once, at `Parse`, and each `Execute`
///   of a portal bound from it ends at its CommandComplete, EmptyQueryResponse or
///   PortalSuspended with an outcome of its own (rows from the tag, or the DataRows of a
///   suspended portal). An error ends the `Parse`, `Bind` or `Execute` it answers with an
///   outcome carrying it; the messages the server then skips up to `Sync` get none;
/// - `COPY` counts the rows of its `COPY n` tag;
/// - a denied command gets no outcome: its audit record says denied already, and its
///   stand-in's error is not an outcome.
///
/// Only message headers and the few bodies needed (CommandComplete tags, error fields,
/// statement and portal names) are read: a DataRow costs a counter increment. Memory is
/// bounded: at most 16384 requests await answers, 4096 statement and 4096 portal names are
/// remembered, and 4096 outcomes wait to be polled (the oldest go first). A client that
/// pipelines deeper than that gets approximate outcomes until the server catches up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The command's number: the [`StatementRequest::id`](super::StatementRequest::id) it
    /// was decided under.
    pub command: u64,
    /// Rows returned or affected.
    pub rows: u64,
    /// Bytes of the server's answer sent to the client (after masking).
    pub bytes: u64,
    /// When the command (or, in the extended protocol, its `Execute`) went to the server.
    pub started: Timestamp,
    /// When its completion or error reached the session.
    pub finished: Timestamp,
    /// `SQLSTATE: message` of the error it ended with (the message cut to
    /// [`RESULT_ERROR_BYTES`](crate::audit::RESULT_ERROR_BYTES)), if it failed.
    pub error: Option<String>,
}

impl Outcome {
    /// From forwarding to completion, in microseconds (0 if the clock went back).
    pub fn duration_us(&self) -> u64 {
        let d = self.finished.duration_since(self.started);
        u64::try_from(d.as_micros()).unwrap_or(0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Query,
    Call,
    Parse,
    Bind,
    Describe,
    Execute,
    Close,
    Sync,
}

/// A message sent to the server that awaits an answer.
#[derive(Clone, Copy, Debug)]
struct Req {
    kind: Kind,
    /// The decided command it runs, when known (`None`: denied, or never decided).
    command: Option<u64>,
    at: Timestamp,
}

/// Statement or portal names and the commands they run.
#[derive(Debug, Default)]
struct Names {
    unnamed: Option<u64>,
    named: HashMap<Bytes, u64>,
}

impl Names {
    fn get(&self, name: &[u8]) -> Option<u64> {
        let name = server_name(name);
        if name.is_empty() {
            self.unnamed
        } else {
            self.named.get(name).copied()
        }
    }

    fn set(&mut self, name: &[u8], command: Option<u64>) {
        // Keyed as the server keys them: by their first 63 bytes, which also bounds a key.
        let name = server_name(name);
        if name.is_empty() {
            self.unnamed = command;
            return;
        }
        match (command, self.named.get_mut(name)) {
            (Some(c), Some(slot)) => *slot = c,
            (Some(c), None) => {
                if self.named.len() >= MAX_NAMED {
                    self.named.clear();
                }
                self.named.insert(Bytes::copy_from_slice(name), c);
            }
            (None, _) => {
                self.named.remove(name);
            }
        }
    }
}

/// The outcome tracker of one session (see the module docs).
#[derive(Debug)]
pub(crate) struct Tracker {
    now: Timestamp,
    decided: VecDeque<Option<u64>>,
    pending: VecDeque<Req>,
    statements: Names,
    portals: Names,
    /// Rows of the statements of the open simple query completed so far.
    rows: u64,
    /// DataRows since the last completion.
    data_rows: u64,
    /// Answer bytes since the last outcome.
    bytes: u64,
    /// The open simple query's first error.
    error: Option<String>,
    outcomes: VecDeque<Outcome>,
}

/// The NUL-terminated strings at the start of `body`.
fn cstrs(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|b| *b == 0)
}

/// The row count of a CommandComplete tag (`SELECT 3`, `INSERT 0 1`, `COPY 5`), if it has one.
fn tag_rows(body: &[u8]) -> Option<u64> {
    let tag = body.strip_suffix(b"\0").unwrap_or(body);
    let last = tag.rsplit(|b| *b == b' ').next()?;
    if last.is_empty() || last.len() > 20 || !last.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(last).ok()?.parse().ok()
}

fn error_text(body: &[u8]) -> String {
    let (code, message) = match BackendMessage::parse(b'E', body) {
        Ok(BackendMessage::ErrorResponse(f)) => (
            f.get(b'C').unwrap_or_default(),
            f.get(b'M').unwrap_or_default(),
        ),
        _ => (&b""[..], &b""[..]),
    };
    CommandResultEvent::error_text(
        &String::from_utf8_lossy(code),
        &String::from_utf8_lossy(message),
    )
}

impl Tracker {
    /// A tracker whose clock starts at `now`.
    pub(crate) fn new(now: Timestamp) -> Self {
        Tracker {
            now,
            decided: VecDeque::new(),
            pending: VecDeque::new(),
            statements: Names::default(),
            portals: Names::default(),
            rows: 0,
            data_rows: 0,
            bytes: 0,
            error: None,
            outcomes: VecDeque::new(),
        }
    }

    /// The time of the session's latest input.
    pub(crate) fn clock(&mut self, now: Timestamp) {
        self.now = now;
    }

    /// Command `id` was decided: the next `Query`, `Parse` or `FunctionCall` sent to the
    /// server carries it (`allowed`) or stands in for it.
    pub(crate) fn decided(&mut self, id: u64, allowed: bool) {
        if self.decided.len() >= MAX_PENDING {
            self.decided.pop_front();
        }
        self.decided.push_back(allowed.then_some(id));
    }

    /// The next finished command's outcome.
    pub(crate) fn poll(&mut self) -> Option<Outcome> {
        self.outcomes.pop_front()
    }

    fn push(&mut self, kind: Kind, command: Option<u64>) {
        if self.pending.len() < MAX_PENDING {
            self.pending.push_back(Req {
                kind,
                command,
                at: self.now,
            });
        }
    }

    /// Frontend messages as sent to the server (whole messages).
    pub(crate) fn sent_to_server(&mut self, bytes: &[u8]) {
        for (tag, body) in messages(bytes) {
            match tag {
                b'Q' => {
                    let c = self.decided.pop_front().flatten();
                    self.push(Kind::Query, c);
                }
                b'F' => {
                    let c = self.decided.pop_front().flatten();
                    self.push(Kind::Call, c);
                }
                b'P' => {
                    let c = self.decided.pop_front().flatten();
                    let name = cstrs(body).next().unwrap_or_default();
                    // A denied named statement is never created; the unnamed one is
                    // dropped by any Parse.
                    if c.is_some() || name.is_empty() {
                        self.statements.set(name, c);
                    }
                    self.push(Kind::Parse, c);
                }
                b'B' => {
                    let mut names = cstrs(body);
                    let portal = names.next().unwrap_or_default();
                    let statement = names.next().unwrap_or_default();
                    let c = self.statements.get(statement);
                    self.portals.set(portal, c);
                    self.push(Kind::Bind, c);
                }
                b'E' => {
                    let portal = cstrs(body).next().unwrap_or_default();
                    let c = self.portals.get(portal);
                    self.push(Kind::Execute, c);
                }
                b'D' => self.push(Kind::Describe, None),
                b'C' => {
                    let name = body.get(1..).map(|b| cstrs(b).next().unwrap_or_default());
                    match body.first() {
                        Some(b'S') => self.statements.set(name.unwrap_or_default(), None),
                        Some(b'P') => self.portals.set(name.unwrap_or_default(), None),
                        _ => {}
                    }
                    self.push(Kind::Close, None);
                }
                b'S' => self.push(Kind::Sync, None),
                _ => {}
            }
        }
    }

    /// Backend messages as sent to the client (whole messages).
    pub(crate) fn sent_to_client(&mut self, bytes: &[u8]) {
        for (tag, body) in messages(bytes) {
            self.bytes = self.bytes.saturating_add(body.len() as u64 + 5);
            match tag {
                b'D' => self.data_rows = self.data_rows.saturating_add(1),
                b'C' => {
                    let n = tag_rows(body).unwrap_or(self.data_rows);
                    self.complete(n);
                }
                b'I' => self.complete(0),
                b's' => self.complete(self.data_rows),
                b'V' => self.complete(1),
                b'E' => self.fail(body),
                b'Z' => self.ready(),
                b'1' => self.answered(Kind::Parse),
                b'2' => self.answered(Kind::Bind),
                b'3' => self.answered(Kind::Close),
                b'n' | b'T' => self.answered(Kind::Describe),
                _ => {}
            }
        }
    }

    /// Pops the front request if it is of `kind`.
    fn answered(&mut self, kind: Kind) {
        if self.pending.front().is_some_and(|r| r.kind == kind) {
            self.pending.pop_front();
        }
    }

    fn emit(&mut self, req: Req, rows: u64, error: Option<String>) {
        if let Some(command) = req.command {
            if self.outcomes.len() >= MAX_OUTCOMES {
                self.outcomes.pop_front();
            }
            self.outcomes.push_back(Outcome {
                command,
                rows,
                bytes: self.bytes,
                started: req.at,
                finished: self.now,
                error,
            });
        }
        self.bytes = 0;
        self.data_rows = 0;
    }

    /// CommandComplete, EmptyQueryResponse, PortalSuspended, FunctionCallResponse.
    fn complete(&mut self, rows: u64) {
        let Some(&req) = self.pending.front() else {
            return;
        };
        match req.kind {
            Kind::Query | Kind::Call => {
                self.rows = self.rows.saturating_add(rows);
                self.data_rows = 0;
            }
            Kind::Execute => {
                self.pending.pop_front();
                self.emit(req, rows, None);
            }
            _ => {}
        }
    }

    fn fail(&mut self, body: &[u8]) {
        let Some(&req) = self.pending.front() else {
            return;
        };
        match req.kind {
            Kind::Query | Kind::Call => {
                if self.error.is_none() && req.command.is_some() {
                    self.error = Some(error_text(body));
                }
            }
            Kind::Sync => {}
            kind => {
                if req.command.is_some() && kind != Kind::Describe && kind != Kind::Close {
                    let error = error_text(body);
                    self.emit(req, self.data_rows, Some(error));
                }
                // The server skips what follows, up to the Sync.
                while self.pending.front().is_some_and(|r| r.kind != Kind::Sync) {
                    self.pending.pop_front();
                }
            }
        }
    }

    /// ReadyForQuery: the end of a simple query, a function call, or a batch.
    fn ready(&mut self) {
        while let Some(req) = self.pending.pop_front() {
            match req.kind {
                Kind::Query | Kind::Call => {
                    let error = self.error.take();
                    self.emit(req, self.rows, error);
                    break;
                }
                Kind::Sync => break,
                _ => {}
            }
        }
        self.rows = 0;
        self.data_rows = 0;
        self.bytes = 0;
        self.error = None;
    }

    /// Requests awaiting answers (for tests of the bound).
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.pending.len() + self.decided.len() + self.outcomes.len()
    }
}

impl Session {
    /// The next outcome of an allowed command (rows, bytes, duration, error), in the
    /// order the commands finished; drain it after [`Session::poll_output`]. Denied
    /// commands have none; see [`Outcome`] for how answers are paired.
    pub fn poll_outcome(&mut self) -> Option<Outcome> {
        self.account_sent();
        self.outcome.poll()
    }
}

#[cfg(test)]
mod tests;
