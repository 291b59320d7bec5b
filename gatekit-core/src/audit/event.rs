//! The events an audit trail records, one per line.
//!
//! Each event is a struct; [`AuditEvent`] tags it with `"event": "<kind>"` and its fields are
//! flattened into the line object beside `seq`, `ts` and `prev`. To add an event, add a struct
//! and a variant (and its name to [`AuditEvent::KINDS`]); readers that meet a kind they do not
//! know still verify and list it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::header;
use crate::json::{self, Object};
use crate::{ClassSet, Identity, Protocol};

/// One audited event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditEvent {
    /// A client session was admitted to a target.
    SessionStart(SessionStartEvent),
    /// A session ended.
    SessionEnd(SessionEndEvent),
    /// A command was decided (and, when allowed, run).
    Command(CommandEvent),
    /// A command allowed earlier finished: its rows, bytes, duration and error. Written
    /// after the fact, so it follows its [`AuditEvent::Command`] (matched by `session` and
    /// `number`), possibly after records of other sessions.
    CommandResult(CommandResultEvent),
    /// An approval request changed state.
    Approval(ApprovalEvent),
    /// An anomaly detector raised a signal.
    Anomaly(AnomalyEvent),
    /// The configuration was reloaded (or a reload failed).
    ConfigReload(ConfigReloadEvent),
}

impl AuditEvent {
    /// Every event kind, as written in the `event` field.
    pub const KINDS: [&'static str; 7] = [
        "session_start",
        "session_end",
        "command",
        "command_result",
        "approval",
        "anomaly",
        "config_reload",
    ];

    /// The event's kind, as written in the `event` field.
    pub fn kind(&self) -> &'static str {
        match self {
            AuditEvent::SessionStart(_) => "session_start",
            AuditEvent::SessionEnd(_) => "session_end",
            AuditEvent::Command(_) => "command",
            AuditEvent::CommandResult(_) => "command_result",
            AuditEvent::Approval(_) => "approval",
            AuditEvent::Anomaly(_) => "anomaly",
            AuditEvent::ConfigReload(_) => "config_reload",
        }
    }

    /// The session the event belongs to, if any.
    pub fn session(&self) -> Option<&str> {
        match self {
            AuditEvent::SessionStart(e) => Some(&e.session),
            AuditEvent::SessionEnd(e) => Some(&e.session),
            AuditEvent::Command(e) => Some(&e.session),
            AuditEvent::CommandResult(e) => Some(&e.session),
            AuditEvent::Approval(e) => e.session.as_deref(),
            AuditEvent::Anomaly(e) => e.session.as_deref(),
            AuditEvent::ConfigReload(_) => None,
        }
    }

    /// The identity the event is about, if any.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            AuditEvent::SessionStart(e) => Some(&e.identity),
            AuditEvent::SessionEnd(e) => Some(&e.identity),
            AuditEvent::Command(e) => Some(&e.identity),
            AuditEvent::Anomaly(e) => e.identity.as_deref(),
            AuditEvent::Approval(_)
            | AuditEvent::CommandResult(_)
            | AuditEvent::ConfigReload(_) => None,
        }
    }

    /// The user the event is about: the identity's subject, or an approval's requester.
    pub fn user(&self) -> Option<&str> {
        match self {
            AuditEvent::Approval(e) => Some(&e.requester),
            other => other.identity().map(|i| i.subject.as_str()),
        }
    }

    /// The target the event is about, if any.
    pub fn target(&self) -> Option<&str> {
        match self {
            AuditEvent::SessionStart(e) => Some(&e.target),
            AuditEvent::SessionEnd(e) => Some(&e.target),
            AuditEvent::Command(e) => Some(&e.target),
            AuditEvent::Approval(e) => e.target.as_deref(),
            AuditEvent::Anomaly(e) => e.target.as_deref(),
            AuditEvent::CommandResult(_) | AuditEvent::ConfigReload(_) => None,
        }
    }

    /// The policy verdict, for a command.
    pub fn verdict(&self) -> Option<Verdict> {
        match self {
            AuditEvent::Command(e) => Some(e.verdict),
            _ => None,
        }
    }
}

pub use crate::policy::Verdict;

/// A session was admitted to a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStartEvent {
    /// The session id.
    pub session: Arc<str>,
    /// Who opened it.
    pub identity: Arc<Identity>,
    /// The target's name.
    pub target: Arc<str>,
    /// The target's protocol.
    pub protocol: Protocol,
    /// The client's address (`ip:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// A session ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEndEvent {
    /// The session id.
    pub session: Arc<str>,
    /// Who held it.
    pub identity: Arc<Identity>,
    /// The target's name.
    pub target: Arc<str>,
    /// The target's protocol.
    pub protocol: Protocol,
    /// The client's address (`ip:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// How long the session lasted, in milliseconds.
    pub duration_ms: u64,
    /// Commands decided in the session.
    pub commands: u64,
    /// Of those, commands denied.
    pub denied: u64,
    /// Why it ended, when not by the client (`killed by alice`, `token expired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A command was decided, and when allowed, run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandEvent {
    /// The session id.
    pub session: Arc<str>,
    /// Who sent the command.
    pub identity: Arc<Identity>,
    /// The target's name.
    pub target: Arc<str>,
    /// The target's protocol.
    pub protocol: Protocol,
    /// The command's number in its session (from 1), which its
    /// [`CommandResultEvent::number`] repeats; 0 in trails written before results existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub number: u64,
    /// The command text, already redacted by the caller (password literals removed).
    pub command: String,
    /// The classes the classifier gave it.
    pub classes: ClassSet,
    /// The objects it touches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
    /// The policy's verdict.
    pub verdict: Verdict,
    /// The rule that decided, if one matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Arc<str>>,
    /// The rule's reason, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Arc<str>>,
    /// Rows returned or affected, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Response bytes, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// How long the command ran upstream, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<u64>,
    /// The error the command ended with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The longest error text a [`CommandResultEvent`] keeps, in bytes.
pub const RESULT_ERROR_BYTES: usize = 300;

/// How a command that was allowed ended upstream.
///
/// Written after the command ran, without waiting for the disk, so the
/// [`CommandEvent`] that allowed it (written, and with `sync = "always"` fsynced,
/// before the command was forwarded) always comes first. Denied commands have none: their
/// [`CommandEvent`] says so already.
///
/// ```text
/// {"seq":8,…,"event":"command_result","session":"9f…","number":3,"rows":3,"bytes":120,"duration_us":412}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResultEvent {
    /// The session id.
    pub session: Arc<str>,
    /// The [`CommandEvent::number`] of the command it answers.
    pub number: u64,
    /// Rows returned or affected (summed over the statements of a multi-statement query).
    pub rows: u64,
    /// Bytes of the server's answer sent to the client.
    pub bytes: u64,
    /// From forwarding the command to the server until its completion or error, in
    /// microseconds.
    pub duration_us: u64,
    /// `SQLSTATE: message` of the error the command ended with (the message cut to
    /// [`RESULT_ERROR_BYTES`]), if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CommandResultEvent {
    /// The `error` text for a server error: `code: message`, the message cut to
    /// [`RESULT_ERROR_BYTES`] and the code to 16 bytes, on character boundaries.
    pub fn error_text(code: &str, message: &str) -> String {
        let mut code = code.to_owned();
        cut(&mut code, 16);
        let mut message = message.to_owned();
        cut(&mut message, RESULT_ERROR_BYTES);
        format!("{code}: {message}")
    }
}

/// The state an approval request moved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ApprovalState {
    /// Waiting for approvers.
    Pending,
    /// Approved.
    Approved,
    /// Denied by an approver.
    Denied,
    /// Timed out before a decision.
    Expired,
    /// Withdrawn (the session ended first).
    Cancelled,
}

impl ApprovalState {
    /// The state's name as written in records (`pending`, `approved`, …).
    pub const fn name(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
            ApprovalState::Cancelled => "cancelled",
        }
    }
}

/// An approval request changed state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalEvent {
    /// The approval request's id.
    pub id: String,
    /// Its new state.
    pub state: ApprovalState,
    /// Who asked (the identity's subject).
    pub requester: String,
    /// Who decided, once someone has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decider: Option<String>,
    /// The decider's (or the rule's) reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The session the held command came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Arc<str>>,
    /// The target of the held command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Arc<str>>,
    /// The held command, redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// An anomaly detector raised a signal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyEvent {
    /// The signal's kind (`write_spike`, `first_access`, `off_hours`, …).
    pub kind: String,
    /// What was seen, for a person.
    pub detail: String,
    /// The session it was seen in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Arc<str>>,
    /// Who it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Arc<Identity>>,
    /// The target it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Arc<str>>,
}

/// The configuration was reloaded, or a reload was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigReloadEvent {
    /// The config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Hex SHA-256 of the file now in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why the reload was refused; absent when it took effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Bounds on the fields of an event that did not fit in one line (see [`AuditEvent::shrink`]).
const SHRUNK_COMMAND_BYTES: usize = 64 * 1024;
const SHRUNK_TEXT_BYTES: usize = 512;
const SHRUNK_LIST_ITEMS: usize = 32;

impl AuditEvent {
    /// Cuts every text field and list to a size that always fits in a line, so an oversized
    /// event is still recorded (with `"truncated": true`) instead of breaking the trail.
    pub(crate) fn shrink(&mut self) {
        match self {
            AuditEvent::SessionStart(e) => {
                cut_arc(&mut e.session);
                cut_identity(&mut e.identity);
                cut_arc(&mut e.target);
                cut_opt(&mut e.client);
            }
            AuditEvent::SessionEnd(e) => {
                cut_arc(&mut e.session);
                cut_identity(&mut e.identity);
                cut_arc(&mut e.target);
                cut_opt(&mut e.client);
                cut_opt(&mut e.reason);
            }
            AuditEvent::Command(e) => {
                cut_arc(&mut e.session);
                cut_identity(&mut e.identity);
                cut_arc(&mut e.target);
                cut(&mut e.command, SHRUNK_COMMAND_BYTES);
                cut_list(&mut e.objects);
                cut_opt_arc(&mut e.rule);
                cut_opt_arc(&mut e.reason);
                cut_opt(&mut e.error);
            }
            AuditEvent::CommandResult(e) => {
                cut_arc(&mut e.session);
                cut_opt(&mut e.error);
            }
            AuditEvent::Approval(e) => {
                cut(&mut e.id, SHRUNK_TEXT_BYTES);
                cut(&mut e.requester, SHRUNK_TEXT_BYTES);
                cut_opt(&mut e.decider);
                cut_opt(&mut e.reason);
                cut_opt_arc(&mut e.session);
                cut_opt_arc(&mut e.target);
                if let Some(c) = &mut e.command {
                    cut(c, SHRUNK_COMMAND_BYTES);
                }
            }
            AuditEvent::Anomaly(e) => {
                cut(&mut e.kind, SHRUNK_TEXT_BYTES);
                cut(&mut e.detail, SHRUNK_COMMAND_BYTES);
                cut_opt_arc(&mut e.session);
                if let Some(i) = &mut e.identity {
                    cut_identity(i);
                }
                cut_opt_arc(&mut e.target);
            }
            AuditEvent::ConfigReload(e) => {
                cut_opt(&mut e.path);
                cut_opt(&mut e.sha256);
                cut_opt(&mut e.error);
            }
        }
    }
}

/// Cuts `s` to at most `max` bytes, on a character boundary.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

fn cut_opt(s: &mut Option<String>) {
    if let Some(s) = s {
        cut(s, SHRUNK_TEXT_BYTES);
    }
}

fn cut_arc(s: &mut Arc<str>) {
    if s.len() > SHRUNK_TEXT_BYTES {
        let mut owned = s.to_string();
        cut(&mut owned, SHRUNK_TEXT_BYTES);
        *s = owned.into();
    }
}

fn cut_opt_arc(s: &mut Option<Arc<str>>) {
    if let Some(s) = s {
        cut_arc(s);
    }
}

fn cut_list(list: &mut Vec<String>) {
    list.truncate(SHRUNK_LIST_ITEMS);
    for s in list {
        cut(s, SHRUNK_TEXT_BYTES);
    }
}

fn cut_identity(identity: &mut Arc<Identity>) {
    let i = Arc::make_mut(identity);
    cut(&mut i.subject, SHRUNK_TEXT_BYTES);
    cut_opt(&mut i.email);
    cut_opt(&mut i.token_id);
    cut_list(&mut i.groups);
}

impl AuditEvent {
    /// Writes the event's JSON object (the bytes serde writes) without going through serde,
    /// for the kinds written once per command; false (and nothing written) for the others.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) -> bool {
        match self {
            AuditEvent::Command(e) => {
                let mut o = Object::new(out);
                o.name("event", "command");
                header::append(o.out(), &e.session, &e.identity, &e.target, e.protocol);
                if e.number != 0 {
                    o.num("number", e.number);
                }
                o.str("command", &e.command);
                json::names(o.key("classes"), e.classes.iter().map(|c| c.name()));
                if !e.objects.is_empty() {
                    json::strings(o.key("objects"), e.objects.iter().map(String::as_str));
                }
                o.name("verdict", e.verdict.name());
                o.opt_str("rule", e.rule.as_deref());
                o.opt_str("reason", e.reason.as_deref());
                o.opt_num("rows", e.rows);
                o.opt_num("bytes", e.bytes);
                o.opt_num("duration_us", e.duration_us);
                o.opt_str("error", e.error.as_deref());
                o.end();
                true
            }
            AuditEvent::CommandResult(e) => {
                let mut o = Object::new(out);
                o.name("event", "command_result");
                o.str("session", &e.session);
                o.num("number", e.number);
                o.num("rows", e.rows);
                o.num("bytes", e.bytes);
                o.num("duration_us", e.duration_us);
                o.opt_str("error", e.error.as_deref());
                o.end();
                true
            }
            _ => false,
        }
    }
}
