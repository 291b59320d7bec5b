//! What a notification is about.

use gatekit_core::approval::Approval;
use serde::Serialize;

use crate::config::NotifyEvent;

/// One notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Notice {
    /// A command is waiting for approval.
    ApprovalPending(ApprovalNotice),
    /// An approval was approved, denied, expired or cancelled.
    ApprovalDecided(ApprovalNotice),
    /// An anomaly signal was raised.
    Anomaly(AnomalyNotice),
    /// A live session was terminated through the API.
    SessionKilled(SessionNotice),
}

impl Notice {
    /// The `[[notify]] events` entry that subscribes to this notice.
    pub fn event(&self) -> NotifyEvent {
        match self {
            Notice::ApprovalPending(_) => NotifyEvent::ApprovalPending,
            Notice::ApprovalDecided(_) => NotifyEvent::ApprovalDecided,
            Notice::Anomaly(_) => NotifyEvent::Anomaly,
            Notice::SessionKilled(_) => NotifyEvent::SessionKilled,
        }
    }

    /// The event's name, as in `[[notify]] events`.
    pub fn event_name(&self) -> &'static str {
        match self {
            Notice::ApprovalPending(_) => "approval_pending",
            Notice::ApprovalDecided(_) => "approval_decided",
            Notice::Anomaly(_) => "anomaly",
            Notice::SessionKilled(_) => "session_killed",
        }
    }
}

/// An approval, as notifications show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ApprovalNotice {
    /// The approval id.
    pub id: String,
    /// `pending`, `approved`, `denied`, `expired` or `cancelled`.
    pub status: String,
    /// Who asked.
    pub requester: String,
    /// The target.
    pub target: String,
    /// The target's protocol.
    pub protocol: String,
    /// The held command (redacted).
    pub command: String,
    /// Its classes.
    pub classes: Vec<String>,
    /// The rule that asked for review.
    pub rule: Option<String>,
    /// Groups whose members may decide.
    pub approvers: Vec<String>,
    /// When the approval lapses (RFC 3339).
    pub expires_at: Option<String>,
    /// Who decided, once someone has.
    pub decider: Option<String>,
    /// The decider's reason.
    pub reason: Option<String>,
}

/// An anomaly signal, as notifications show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AnomalyNotice {
    /// `write_spike`, `first_access`, `off_hours`, ...
    pub kind: String,
    /// What was seen.
    pub detail: String,
    /// Whom it concerns.
    pub user: Option<String>,
    /// The target.
    pub target: Option<String>,
    /// The session.
    pub session: Option<String>,
}

/// A terminated session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SessionNotice {
    /// The session id.
    pub session: String,
    /// Whose session it was.
    pub user: String,
    /// The target.
    pub target: String,
    /// Who terminated it.
    pub by: String,
}

impl From<&Approval> for ApprovalNotice {
    /// The approval as notifications show it, its command redacted of password literals.
    fn from(a: &Approval) -> Self {
        ApprovalNotice {
            id: a.id.clone(),
            status: a.status.name().to_owned(),
            requester: a.requester.subject.clone(),
            target: a.target.clone(),
            protocol: a.protocol.name().to_owned(),
            command: crate::api::redacted_command(a),
            classes: a.classes.names().into_iter().map(str::to_owned).collect(),
            rule: a.rule.clone(),
            approvers: a.approvers.clone(),
            expires_at: Some(a.expires_at.to_string()),
            decider: a.votes.last().map(|v| v.decider.clone()),
            reason: a.reason.clone(),
        }
    }
}
