//! Just-in-time approvals: the state machine of a command held for review.
//!
//! A `review` [`Decision`](crate::policy::Decision) becomes an [`Approval`] through
//! [`Approval::new`]. It starts [`Status::Pending`] and ends exactly once, in
//! [`Status::Approved`], [`Status::Denied`], [`Status::Expired`] or [`Status::Cancelled`]:
//!
//! - [`Approval::approve`] records a vote; the approval is approved once as many distinct
//!   deciders as the rule's `min_approvals` have approved;
//! - [`Approval::deny`] decides at once;
//! - [`Approval::expire`] ends it when its review time is up; [`Approval::cancel`] when the
//!   waiting client went away.
//!
//! A decider is refused when the approval is no longer pending or expired at `now`, when
//! they are the requester (same subject, or same e-mail address when both have one), when
//! they hold none of the approvers groups, and when they already voted. A refused call
//! leaves the approval unchanged.
//!
//! An approved `once` approval lets exactly its command run, once ([`Approval::consume`]).
//! An approved `window` approval is a grant: for the window's length from the decision, its
//! requester may run commands of the same classes (or fewer) on the same target
//! ([`Approval::covers`]).
//!
//! Nothing here reads the clock or draws random numbers: callers pass `now` and the id.
//! Everything serializes to JSON with stable field names.
//!
//! ```
//! use gatekit_core::approval::{Approval, NewApproval, Status};
//! use gatekit_core::policy::{ApprovalScope, Decision, Verdict};
//! use gatekit_core::{Class, Classification, Identity, Protocol};
//! use jiff::{SignedDuration, Timestamp};
//!
//! let mut decision = Decision::without_rule(Verdict::Review, "schema changes need a DBA");
//! decision.approvers = vec!["dba".to_owned()].into();
//! decision.min_approvals = 1;
//! let now: Timestamp = "2025-06-02T10:00:00Z".parse().unwrap();
//! let alice = Identity::new("alice", ["dev"]);
//! let mut approval = Approval::new(NewApproval {
//!     id: "0123456789abcdef0123456789abcdef",
//!     requester: &alice,
//!     target: "shop",
//!     protocol: Protocol::Postgres,
//!     command: "ALTER TABLE customers ADD note text",
//!     classification: &Classification::of([Class::Ddl]),
//!     decision: &decision,
//!     review_timeout: SignedDuration::from_mins(15),
//!     now,
//! })?;
//!
//! // Alice cannot approve her own request; Bob, a DBA, can.
//! assert!(approval.approve(&alice, None, now).is_err());
//! let bob = Identity::new("bob", ["dba"]);
//! approval.approve(&bob, Some("looks fine"), now)?;
//! assert_eq!(approval.status, Status::Approved);
//! approval.consume("ALTER TABLE customers ADD note text", now)?;
//! # Ok::<(), gatekit_core::approval::ApprovalError>(())
//! ```

mod error;
mod machine;
mod scope;

#[cfg(test)]
mod tests;

use std::fmt;

use jiff::Timestamp;

use crate::policy::ApprovalScope;
use crate::{ClassSet, Identity, Protocol};

pub use error::ApprovalError;
pub use machine::{
    ID_HEX_LEN, MAX_COMMAND_BYTES, MAX_FIELD_BYTES, MAX_REASON_BYTES, NewApproval, command_sha256,
    is_valid_id,
};

/// Where an approval is in its life. Only `Pending` ever changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for deciders.
    Pending,
    /// Enough approvers approved.
    Approved,
    /// An approver denied.
    Denied,
    /// Nobody decided within the review time.
    Expired,
    /// The waiting client went away.
    Cancelled,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Approved,
        Status::Denied,
        Status::Expired,
        Status::Cancelled,
    ];

    /// The status's name in JSON and queries (`pending`, `approved`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Denied => "denied",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
        }
    }

    /// Whether the approval is still waiting.
    pub const fn is_pending(self) -> bool {
        matches!(self, Status::Pending)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| UnknownStatus {
                name: s.chars().take(64).collect(),
            })
    }
}

/// A status name that does not exist.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown approval status `{name}` (known: pending, approved, denied, expired, cancelled)")]
pub struct UnknownStatus {
    /// The name given, cut to 64 characters.
    pub name: String,
}

/// A decider's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    /// Let the command run.
    Approve,
    /// Refuse it.
    Deny,
}

/// Who asked, as the token said when the command was held.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Requester {
    /// The token's `sub`.
    pub subject: String,
    /// The token's `email`, when present.
    #[serde(default)]
    pub email: Option<String>,
    /// The requester's groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl From<&Identity> for Requester {
    fn from(id: &Identity) -> Self {
        Requester {
            subject: id.subject.clone(),
            email: id.email.clone(),
            groups: id.groups.clone(),
        }
    }
}

/// One decider's vote.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Vote {
    /// The decider's `sub`.
    pub decider: String,
    /// The decider's `email`, when the token had one.
    #[serde(default)]
    pub email: Option<String>,
    /// The decider's groups at the time of deciding.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Approve or deny.
    pub choice: Choice,
    /// Why, when the decider said.
    #[serde(default)]
    pub reason: Option<String>,
    /// When the vote was cast.
    pub at: Timestamp,
}

/// A command held for review, and what became of it.
///
/// Serialized to JSON as is; field names are stable.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Approval {
    /// 32 lowercase hex digits (128 random bits), chosen by the caller.
    pub id: String,
    /// Who sent the command.
    pub requester: Requester,
    /// The target's name.
    pub target: String,
    /// The protocol the command arrived on.
    pub protocol: Protocol,
    /// The command's text.
    pub command: String,
    /// SHA-256 of the command's text, 64 lowercase hex digits.
    pub command_sha256: String,
    /// The command's classes.
    pub classes: ClassSet,
    /// The objects the command touches.
    #[serde(default)]
    pub objects: Vec<String>,
    /// The rule that asked for review, when a rule did.
    pub rule: Option<String>,
    /// The policy's reason for the review.
    #[serde(default)]
    pub rule_reason: String,
    /// Groups whose members may decide.
    pub approvers: Vec<String>,
    /// Distinct approving deciders needed.
    pub min_approvals: u32,
    /// `"once"` or `"window:30m"`.
    #[serde(with = "scope")]
    pub scope: ApprovalScope,
    /// When the command was held.
    pub created_at: Timestamp,
    /// When a pending approval expires (`created_at` + `[policy] review_timeout`).
    pub expires_at: Timestamp,
    /// Where the approval is in its life.
    pub status: Status,
    /// The votes cast, in order.
    #[serde(default)]
    pub votes: Vec<Vote>,
    /// When the status left `pending`.
    #[serde(default)]
    pub decided_at: Option<Timestamp>,
    /// Why it ended: the denier's reason, `expired`, `cancelled: ...`.
    #[serde(default)]
    pub reason: Option<String>,
    /// When a `once` approval's command ran.
    #[serde(default)]
    pub consumed_at: Option<Timestamp>,
    /// Bumped by every change; stores compare-and-set on it.
    #[serde(default)]
    pub version: u64,
}
