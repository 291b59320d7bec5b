//! What the engine is asked ([`Request`]) and what it answers ([`Decision`]).

use std::sync::Arc;

use jiff::Timestamp;

use crate::{Classification, Identity, Protocol};

use super::{ApprovalScope, Verdict};

/// One classified command to decide on.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Who sends the command.
    pub identity: &'a Identity,
    /// The target's name.
    pub target: &'a str,
    /// The protocol the command arrived on.
    pub protocol: Protocol,
    /// The command's classes and objects.
    pub command: &'a Classification,
    /// The command's text, as `pattern` rules see it.
    pub text: &'a str,
    /// The current time, for `hours` rules.
    pub now: Timestamp,
}

/// The engine's answer for a session or a command.
///
/// Strings are shared with the compiled [`Policy`](super::Policy), so producing a decision
/// copies no rule data.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    /// What to do.
    pub verdict: Verdict,
    /// The rule that decided, `None` when the default verdict applied or the session check
    /// decided.
    #[serde(serialize_with = "ser_opt_str")]
    pub rule: Option<Arc<str>>,
    /// Why, for the user and the audit trail.
    #[serde(serialize_with = "ser_str")]
    pub reason: Arc<str>,
    /// Who may approve; empty unless the verdict is `review`.
    #[serde(serialize_with = "ser_list")]
    pub approvers: Arc<[String]>,
    /// How far an approval reaches; `Once` unless the verdict is `review`.
    pub approval: ApprovalScope,
    /// Approvals needed; 0 unless the verdict is `review`.
    pub min_approvals: u32,
}

impl Decision {
    /// A decision not made by a rule (default verdicts, session checks, failing closed).
    pub fn without_rule(verdict: Verdict, reason: impl Into<Arc<str>>) -> Self {
        Decision {
            verdict,
            rule: None,
            reason: reason.into(),
            approvers: Arc::from([]),
            approval: ApprovalScope::Once,
            min_approvals: 0,
        }
    }

    /// A denial not made by a rule, for failing closed (`"audit trail unwritable"`).
    pub fn deny(reason: impl Into<Arc<str>>) -> Self {
        Decision::without_rule(Verdict::Deny, reason)
    }
}

/// Serializes an `Arc<str>` as a string.
fn ser_str<S: serde::Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

/// Serializes an optional `Arc<str>` as a string or null.
fn ser_opt_str<S: serde::Serializer>(v: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&**v),
        None => s.serialize_none(),
    }
}

/// Serializes a shared list of strings as an array.
fn ser_list<S: serde::Serializer>(v: &Arc<[String]>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter())
}
