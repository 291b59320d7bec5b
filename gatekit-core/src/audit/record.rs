//! Records read back, for tools that list and search a trail.

use serde::Deserialize;

use super::event::{AuditEvent, Verdict};
use super::{MAX_LINE_BYTES, VerifyError};
use crate::Identity;

/// One record parsed from a line, for readers (`tail`, `search`). Parsing does not verify
/// the chain: use [`ChainVerifier`](super::ChainVerifier) for that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// The record's seq.
    pub seq: u64,
    /// When it was written.
    pub ts: jiff::Timestamp,
    /// The event's kind, as written (also for kinds this version does not know).
    pub kind: String,
    /// The event, when its kind is known.
    pub event: Option<AuditEvent>,
    /// Whether the writer had to cut the event's fields to fit a line.
    pub truncated: bool,
}

#[derive(Deserialize)]
struct RawRecord {
    seq: u64,
    ts: jiff::Timestamp,
    #[serde(default)]
    truncated: bool,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl AuditRecord {
    /// Parses one line (with or without its newline). Errors name the line's seq when it
    /// has one, else 0.
    pub fn parse(line: &[u8]) -> Result<AuditRecord, VerifyError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if line.len() >= MAX_LINE_BYTES {
            return Err(VerifyError::LineTooLong {
                seq: 0,
                len: line.len(),
                max: MAX_LINE_BYTES - 1,
            });
        }
        let raw: RawRecord = serde_json::from_slice(line).map_err(|e| VerifyError::BadRecord {
            seq: 0,
            detail: e.to_string(),
        })?;
        let bad = |detail: String| VerifyError::BadRecord {
            seq: raw.seq,
            detail,
        };
        let kind = match raw.rest.get("event") {
            Some(serde_json::Value::String(k)) => k.clone(),
            _ => return Err(bad("missing field `event`".into())),
        };
        let event = if AuditEvent::KINDS.contains(&kind.as_str()) {
            let ev = AuditEvent::deserialize(serde_json::Value::Object(raw.rest))
                .map_err(|e| bad(format!("{kind} event: {e}")))?;
            Some(ev)
        } else {
            None
        };
        Ok(AuditRecord {
            seq: raw.seq,
            ts: raw.ts,
            kind,
            event,
            truncated: raw.truncated,
        })
    }

    /// The identity the record is about, if any.
    pub fn identity(&self) -> Option<&Identity> {
        self.event.as_ref().and_then(AuditEvent::identity)
    }

    /// The user the record is about: the identity's subject, or an approval's requester.
    pub fn user(&self) -> Option<&str> {
        self.event.as_ref().and_then(AuditEvent::user)
    }

    /// Whether the record concerns `user`, by subject or e-mail.
    pub fn concerns_user(&self, user: &str) -> bool {
        self.user() == Some(user)
            || self
                .identity()
                .and_then(|i| i.email.as_deref())
                .is_some_and(|e| e == user)
    }

    /// The target the record is about, if any.
    pub fn target(&self) -> Option<&str> {
        self.event.as_ref().and_then(AuditEvent::target)
    }

    /// The session the record belongs to, if any.
    pub fn session(&self) -> Option<&str> {
        self.event.as_ref().and_then(AuditEvent::session)
    }

    /// The policy verdict, for a command.
    pub fn verdict(&self) -> Option<Verdict> {
        self.event.as_ref().and_then(AuditEvent::verdict)
    }

    /// A one-line description for people: the command, the anomaly, the approval's state.
    pub fn summary(&self) -> String {
        match &self.event {
            Some(AuditEvent::Command(e)) => {
                let text = match &e.error {
                    Some(err) => format!("{} (error: {err})", e.command),
                    None => e.command.clone(),
                };
                match e.number {
                    0 => text,
                    n => format!("#{n} {text}"),
                }
            }
            Some(AuditEvent::CommandResult(e)) => {
                let took = format!("{} µs", e.duration_us);
                match &e.error {
                    Some(err) => format!("#{} -> error {err} ({took})", e.number),
                    None => format!("#{} -> {} rows {took}", e.number, e.rows),
                }
            }
            Some(AuditEvent::SessionStart(e)) => {
                format!("from {}", e.client.as_deref().unwrap_or("?"))
            }
            Some(AuditEvent::SessionEnd(e)) => format!(
                "{} ms, {} commands, {} denied{}",
                e.duration_ms,
                e.commands,
                e.denied,
                e.reason
                    .as_deref()
                    .map(|r| format!(", {r}"))
                    .unwrap_or_default()
            ),
            Some(AuditEvent::Approval(e)) => {
                let mut s = format!("{} {}", e.id, e.state.name());
                if let Some(d) = &e.decider {
                    s.push_str(&format!(" by {d}"));
                }
                if let Some(r) = &e.reason {
                    s.push_str(&format!(": {r}"));
                }
                s
            }
            Some(AuditEvent::Anomaly(e)) => format!("{}: {}", e.kind, e.detail),
            Some(AuditEvent::ConfigReload(e)) => match &e.error {
                Some(err) => format!("refused: {err}"),
                None => format!("applied {}", e.path.as_deref().unwrap_or("")),
            },
            None => String::new(),
        }
    }
}
