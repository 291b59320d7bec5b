//! The approval module's error type.

use jiff::Timestamp;

use super::Status;

/// Why an approval could not be created or could not make a transition.
///
/// A refused transition leaves the approval exactly as it was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// The id is not 32 lowercase hex digits (128 random bits).
    #[error("approval id `{id}` is not 32 lowercase hex digits")]
    InvalidId {
        /// The id given, cut to 64 characters.
        id: String,
    },
    /// The decision the approval was to be made for is not a `review` verdict.
    #[error("an approval is only made for a `review` decision, not `{verdict}`")]
    NotReview {
        /// The decision's verdict.
        verdict: &'static str,
    },
    /// A review decision without approvers could never be approved.
    #[error("the review decision of rule `{rule}` names no approvers")]
    NoApprovers {
        /// The rule, or `-` when no rule decided.
        rule: String,
    },
    /// A text field is longer than the approval keeps.
    #[error("`{field}` is {len} bytes, more than the {max} an approval keeps")]
    TooLong {
        /// The field (`command`, `reason`, `target`, ...).
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The most accepted.
        max: usize,
    },
    /// The approval was already decided, expired or cancelled.
    #[error("approval {id} is {status}, no longer pending")]
    NotPending {
        /// The approval.
        id: String,
        /// Its status.
        status: Status,
    },
    /// The approval's review time ran out before this decision.
    #[error("approval {id} expired at {expires_at}")]
    Expired {
        /// The approval.
        id: String,
        /// When it expired.
        expires_at: Timestamp,
    },
    /// `expire` was asked for before the approval's time ran out.
    #[error("approval {id} does not expire before {expires_at}")]
    NotDue {
        /// The approval.
        id: String,
        /// When it expires.
        expires_at: Timestamp,
    },
    /// The decider is the requester (same subject, or same e-mail address).
    #[error("`{decider}` requested approval {id} and cannot decide it")]
    SelfDecision {
        /// The approval.
        id: String,
        /// The decider's subject.
        decider: String,
    },
    /// The decider holds none of the approvers groups.
    #[error("`{decider}` is in none of the approvers groups of approval {id} ({approvers})")]
    NotAnApprover {
        /// The approval.
        id: String,
        /// The decider's subject.
        decider: String,
        /// The approvers groups, comma-separated.
        approvers: String,
    },
    /// The decider already voted on this approval; a decider counts once.
    #[error("`{decider}` already decided on approval {id}")]
    AlreadyVoted {
        /// The approval.
        id: String,
        /// The decider's subject.
        decider: String,
    },
    /// `consume` on an approval that is not approved.
    #[error("approval {id} is {status}, not approved")]
    NotApproved {
        /// The approval.
        id: String,
        /// Its status.
        status: Status,
    },
    /// `consume` on a window approval, which is used through grants instead.
    #[error("approval {id} is a window grant; only `once` approvals are consumed")]
    NotOnce {
        /// The approval.
        id: String,
    },
    /// The `once` approval was already used by a command.
    #[error("approval {id} was already used at {at}")]
    AlreadyConsumed {
        /// The approval.
        id: String,
        /// When it was used.
        at: Timestamp,
    },
    /// The command to run is not the command that was approved.
    #[error("the command does not match the one approved by {id}")]
    CommandMismatch {
        /// The approval.
        id: String,
    },
}
