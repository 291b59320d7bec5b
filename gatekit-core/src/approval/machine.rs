//! Creating approvals and moving them through their states.

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::policy::{ApprovalScope, Decision, Verdict};
use crate::{ClassSet, Classification, Identity, Protocol};

use super::{Approval, ApprovalError, Choice, Requester, Status, Vote};

/// Hex digits in an approval id (128 bits).
pub const ID_HEX_LEN: usize = 32;
/// The longest command text an approval holds.
pub const MAX_COMMAND_BYTES: usize = 1 << 20;
/// The longest reason a decider may give.
pub const MAX_REASON_BYTES: usize = 1024;
/// The longest target name, rule name or object an approval holds.
pub const MAX_FIELD_BYTES: usize = 4096;

/// Whether `id` is a valid approval id: 32 lowercase hex digits.
pub fn is_valid_id(id: &str) -> bool {
    id.len() == ID_HEX_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// SHA-256 of a command's text, as 64 lowercase hex digits.
pub fn command_sha256(command: &str) -> String {
    hex::encode(Sha256::digest(command.as_bytes()))
}

/// What [`Approval::new`] needs: the held command and the review decision about it.
#[derive(Clone, Copy, Debug)]
pub struct NewApproval<'a> {
    /// 32 lowercase hex digits from a random source (the core has none).
    pub id: &'a str,
    /// Who sent the command.
    pub requester: &'a Identity,
    /// The target's name.
    pub target: &'a str,
    /// The protocol the command arrived on.
    pub protocol: Protocol,
    /// The command's text.
    pub command: &'a str,
    /// Its classes and objects.
    pub classification: &'a Classification,
    /// The policy's `review` decision.
    pub decision: &'a Decision,
    /// `[policy] review_timeout`.
    pub review_timeout: SignedDuration,
    /// The current time.
    pub now: Timestamp,
}

/// Fails when `value` is longer than `max` bytes.
fn bounded(field: &'static str, value: &str, max: usize) -> Result<(), ApprovalError> {
    if value.len() > max {
        return Err(ApprovalError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

/// Whether two optional e-mail addresses are both present and the same address.
fn same_email(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if !a.is_empty() && a.eq_ignore_ascii_case(b))
}

impl Approval {
    /// A pending approval for a held command.
    ///
    /// Fails when the id is not 32 lowercase hex digits, the decision is not a `review`
    /// with approvers, or a field is longer than an approval keeps.
    pub fn new(req: NewApproval<'_>) -> Result<Approval, ApprovalError> {
        if !is_valid_id(req.id) {
            return Err(ApprovalError::InvalidId {
                id: req.id.chars().take(64).collect(),
            });
        }
        let d = req.decision;
        if d.verdict != Verdict::Review {
            return Err(ApprovalError::NotReview {
                verdict: d.verdict.name(),
            });
        }
        if d.approvers.is_empty() {
            return Err(ApprovalError::NoApprovers {
                rule: d.rule.as_deref().unwrap_or("-").to_owned(),
            });
        }
        bounded("command", req.command, MAX_COMMAND_BYTES)?;
        bounded("target", req.target, MAX_FIELD_BYTES)?;
        for o in &req.classification.objects {
            bounded("objects", o, MAX_FIELD_BYTES)?;
        }
        Ok(Approval {
            id: req.id.to_owned(),
            requester: Requester::from(req.requester),
            target: req.target.to_owned(),
            protocol: req.protocol,
            command: req.command.to_owned(),
            command_sha256: command_sha256(req.command),
            classes: req.classification.classes,
            objects: req.classification.objects.clone(),
            rule: d.rule.as_deref().map(str::to_owned),
            rule_reason: d.reason.to_string(),
            approvers: d.approvers.to_vec(),
            min_approvals: d.min_approvals.max(1),
            scope: d.approval,
            created_at: req.now,
            expires_at: req
                .now
                .saturating_add(req.review_timeout)
                .unwrap_or(Timestamp::MAX),
            status: Status::Pending,
            votes: Vec::new(),
            decided_at: None,
            reason: None,
            consumed_at: None,
            version: 0,
        })
    }

    /// Approves as `decider`; the approval becomes [`Status::Approved`] once
    /// `min_approvals` distinct deciders have approved.
    ///
    /// Refused when the approval is not pending or expired at `now`, when the decider is
    /// the requester, holds none of the approvers groups, or already voted.
    pub fn approve(
        &mut self,
        decider: &Identity,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Status, ApprovalError> {
        self.vote(decider, Choice::Approve, reason, now)
    }

    /// Denies as `decider`: one deny decides. Refused as [`Approval::approve`] is.
    pub fn deny(
        &mut self,
        decider: &Identity,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Status, ApprovalError> {
        self.vote(decider, Choice::Deny, reason, now)
    }

    /// Casts a vote: [`Approval::approve`] or [`Approval::deny`].
    pub fn decide(
        &mut self,
        decider: &Identity,
        choice: Choice,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Status, ApprovalError> {
        self.vote(decider, choice, reason, now)
    }

    /// Checks whether `decider` may vote now, without changing anything.
    pub fn check_decider(&self, decider: &Identity, now: Timestamp) -> Result<(), ApprovalError> {
        self.check_pending(now)?;
        let email = decider.email.as_deref();
        if decider.subject == self.requester.subject
            || same_email(email, self.requester.email.as_deref())
        {
            return Err(ApprovalError::SelfDecision {
                id: self.id.clone(),
                decider: decider.subject.clone(),
            });
        }
        if !decider.in_any_group(&self.approvers) {
            return Err(ApprovalError::NotAnApprover {
                id: self.id.clone(),
                decider: decider.subject.clone(),
                approvers: self.approvers.join(", "),
            });
        }
        if self
            .votes
            .iter()
            .any(|v| v.decider == decider.subject || same_email(email, v.email.as_deref()))
        {
            return Err(ApprovalError::AlreadyVoted {
                id: self.id.clone(),
                decider: decider.subject.clone(),
            });
        }
        Ok(())
    }

    fn vote(
        &mut self,
        decider: &Identity,
        choice: Choice,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Status, ApprovalError> {
        if let Some(r) = reason {
            bounded("reason", r, MAX_REASON_BYTES)?;
        }
        self.check_decider(decider, now)?;
        let reason = reason.filter(|r| !r.is_empty()).map(str::to_owned);
        self.votes.push(Vote {
            decider: decider.subject.clone(),
            email: decider.email.clone(),
            groups: decider.groups.clone(),
            choice,
            reason: reason.clone(),
            at: now,
        });
        match choice {
            Choice::Deny => {
                let why = reason.unwrap_or_else(|| format!("denied by {}", decider.subject));
                self.finish(Status::Denied, Some(why), now);
            }
            Choice::Approve if self.approving_deciders() >= self.min_approvals as usize => {
                self.finish(Status::Approved, reason, now);
            }
            Choice::Approve => self.version += 1,
        }
        Ok(self.status)
    }

    /// The number of distinct deciders who approved.
    pub fn approving_deciders(&self) -> usize {
        let mut deciders: Vec<&str> = self
            .votes
            .iter()
            .filter(|v| v.choice == Choice::Approve)
            .map(|v| v.decider.as_str())
            .collect();
        deciders.sort_unstable();
        deciders.dedup();
        deciders.len()
    }

    /// Ends a pending approval whose review time is up at `now`.
    pub fn expire(&mut self, now: Timestamp) -> Result<(), ApprovalError> {
        self.check_not_decided()?;
        if now < self.expires_at {
            return Err(ApprovalError::NotDue {
                id: self.id.clone(),
                expires_at: self.expires_at,
            });
        }
        self.finish(Status::Expired, Some("expired".to_owned()), now);
        Ok(())
    }

    /// Whether the approval is pending and its review time is up at `now`.
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.status.is_pending() && now >= self.expires_at
    }

    /// Ends a pending approval because the waiting client went away.
    pub fn cancel(&mut self, reason: &str, now: Timestamp) -> Result<(), ApprovalError> {
        bounded("reason", reason, MAX_REASON_BYTES)?;
        self.check_not_decided()?;
        self.finish(Status::Cancelled, Some(format!("cancelled: {reason}")), now);
        Ok(())
    }

    /// Uses an approved `once` approval for `command`, which must be the command approved.
    /// It can be used once.
    pub fn consume(&mut self, command: &str, now: Timestamp) -> Result<(), ApprovalError> {
        if self.status != Status::Approved {
            return Err(ApprovalError::NotApproved {
                id: self.id.clone(),
                status: self.status,
            });
        }
        if self.scope != ApprovalScope::Once {
            return Err(ApprovalError::NotOnce {
                id: self.id.clone(),
            });
        }
        if let Some(at) = self.consumed_at {
            return Err(ApprovalError::AlreadyConsumed {
                id: self.id.clone(),
                at,
            });
        }
        if command.len() != self.command.len() || command_sha256(command) != self.command_sha256 {
            return Err(ApprovalError::CommandMismatch {
                id: self.id.clone(),
            });
        }
        self.consumed_at = Some(now);
        self.version += 1;
        Ok(())
    }

    /// Until when an approved `window` approval grants its requester; `None` for anything
    /// else.
    pub fn grant_until(&self) -> Option<Timestamp> {
        match (self.status, self.scope, self.decided_at) {
            (Status::Approved, ApprovalScope::Window(d), Some(at)) => {
                Some(at.saturating_add(d).unwrap_or(Timestamp::MAX))
            }
            _ => None,
        }
    }

    /// Whether this approval, as a window grant, lets `requester` run a command of
    /// `classes` on `target` at `now`: approved, `window` scope, the same requester
    /// subject and target, `classes` within the approved ones, and `now` before the window
    /// ends.
    pub fn covers(
        &self,
        requester: &Identity,
        target: &str,
        classes: ClassSet,
        now: Timestamp,
    ) -> bool {
        self.grant_until().is_some_and(|until| now < until)
            && requester.subject == self.requester.subject
            && target == self.target
            && self.classes.is_superset(classes)
    }

    fn check_not_decided(&self) -> Result<(), ApprovalError> {
        if !self.status.is_pending() {
            return Err(ApprovalError::NotPending {
                id: self.id.clone(),
                status: self.status,
            });
        }
        Ok(())
    }

    fn check_pending(&self, now: Timestamp) -> Result<(), ApprovalError> {
        self.check_not_decided()?;
        if now >= self.expires_at {
            return Err(ApprovalError::Expired {
                id: self.id.clone(),
                expires_at: self.expires_at,
            });
        }
        Ok(())
    }

    fn finish(&mut self, status: Status, reason: Option<String>, now: Timestamp) {
        self.status = status;
        self.decided_at = Some(now);
        self.reason = reason;
        self.version += 1;
    }
}
