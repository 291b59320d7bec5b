//! The lines of a recording, one JSON object each, tagged by `event`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One line of a session recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordEvent {
    /// The first line: whose session this is.
    Start(StartRecord),
    /// One command and the response the client saw.
    Command(CommandRecord),
    /// A notice or error the server or the gateway sent outside any command.
    Message(MessageRecord),
    /// The writer dropped this many events (its queue was full).
    Dropped {
        /// Events lost.
        count: u64,
    },
    /// The last line: the session ended.
    End(EndRecord),
}

/// The session a recording belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRecord {
    /// When the session became ready.
    pub at: Timestamp,
    /// The session id.
    pub session: String,
    /// The target's name.
    pub target: String,
    /// The protocol (`postgres`).
    pub protocol: String,
    /// The token's subject.
    pub user: String,
    /// The identity's groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The upstream database, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// How the statement behind a command was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedVerdict {
    /// It went to the server.
    Allow,
    /// The gateway refused it.
    Deny,
}

/// Which message ran a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// A simple-protocol `Query` (possibly several statements: one result each).
    Query,
    /// An extended-protocol `Execute` of a prepared statement.
    Execute,
    /// An extended-protocol `Parse`, `Bind` or `Describe` that failed or was refused
    /// before anything ran.
    Prepare,
    /// A fast-path `FunctionCall`.
    FunctionCall,
}

/// One command with the response the client saw, capped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// When the command went to the server.
    pub at: Timestamp,
    /// Which message ran it.
    pub kind: CommandKind,
    /// The statement text, with password literals redacted.
    pub sql: String,
    /// How the statement was decided.
    pub verdict: RecordedVerdict,
    /// The results, one per statement that returned rows or a tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<ResultRecord>,
    /// The error that ended the command, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorRecord>,
    /// Notices sent during the command (texts only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
    /// From the command going out to its last answer, in microseconds.
    pub duration_us: u64,
    /// Whether the cap cut anything off (rows, results or notices not kept).
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// Results not kept, beyond the cap.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub results_omitted: u64,
    /// Notices not kept, beyond the cap.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub notices_omitted: u64,
}

/// One result of a command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// Column names (`copy` for COPY OUT data, `result` for a function call).
    #[serde(default)]
    pub columns: Vec<String>,
    /// The rows kept: text values; binary-format or non-UTF-8 values as `\x` and hex.
    #[serde(default)]
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows the server sent, kept or not.
    pub row_count: u64,
    /// Bytes of values the server sent, kept or not.
    pub bytes: u64,
    /// Whether rows were cut off by the cap.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// The command tag (`SELECT 3`), when the result completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// An ErrorResponse as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    /// `ERROR`, `FATAL`, …
    pub severity: String,
    /// SQLSTATE.
    pub code: String,
    /// The message.
    pub message: String,
}

/// A notice or error outside any command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// When it was sent.
    pub at: Timestamp,
    /// `NOTICE`, `ERROR`, `FATAL`, …
    pub severity: String,
    /// SQLSTATE.
    pub code: String,
    /// The message.
    pub message: String,
}

/// How the session ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndRecord {
    /// When.
    pub at: Timestamp,
    /// The error that ended it; none for a normal end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A value as recorded: text as is when it is text-format UTF-8, otherwise `\x` and hex
/// (the way psql shows `bytea`).
pub fn value_text(value: &[u8], binary: bool) -> String {
    match text_of(value, binary) {
        Some(s) => s.to_owned(),
        None => hex_text(value),
    }
}

/// The value as text, when it is text-format UTF-8.
pub(super) fn text_of(value: &[u8], binary: bool) -> Option<&str> {
    if binary {
        return None;
    }
    std::str::from_utf8(value).ok()
}

/// `\x` and the hex of the value.
pub(super) fn hex_text(value: &[u8]) -> String {
    let mut out = String::with_capacity(2 + value.len() * 2);
    out.push_str("\\x");
    out.push_str(&hex::encode(value));
    out
}

impl CommandKind {
    /// The kind's name as written in records.
    pub const fn name(self) -> &'static str {
        match self {
            CommandKind::Query => "query",
            CommandKind::Execute => "execute",
            CommandKind::Prepare => "prepare",
            CommandKind::FunctionCall => "function_call",
        }
    }
}

impl RecordedVerdict {
    /// The verdict's name as written in records.
    pub const fn name(self) -> &'static str {
        match self {
            RecordedVerdict::Allow => "allow",
            RecordedVerdict::Deny => "deny",
        }
    }
}
