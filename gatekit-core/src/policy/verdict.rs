//! Verdicts and approval scopes.

use std::fmt;
use std::str::FromStr;

use jiff::SignedDuration;

use super::PolicyError;
use super::duration::{format_duration, parse_duration};

/// What the gateway does with a session or a command.
///
/// Ordered by severity, `Allow < Review < Deny`, so the strictest of several verdicts is
/// their maximum.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Forward the command.
    Allow,
    /// Hold the command until enough approvers agree.
    Review,
    /// Refuse the command.
    Deny,
}

impl Verdict {
    /// Every verdict, strictest first (the order in which rules are evaluated).
    pub const BY_PRECEDENCE: [Verdict; 3] = [Verdict::Deny, Verdict::Review, Verdict::Allow];

    /// The verdict's name as written in config (`allow`, `deny`, `review`).
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Review => "review",
            Verdict::Deny => "deny",
        }
    }
}

/// Fails closed: a spec built with `Default` denies.
impl Default for Verdict {
    fn default() -> Self {
        Verdict::Deny
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Verdict {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" => Ok(Verdict::Allow),
            "review" => Ok(Verdict::Review),
            "deny" => Ok(Verdict::Deny),
            _ => Err(PolicyError::InvalidVerdict {
                input: s.chars().take(64).collect(),
            }),
        }
    }
}

/// How far an approval reaches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ApprovalScope {
    /// The approval covers the one command that was held.
    #[default]
    Once,
    /// For this long after the approval, the requester may repeat commands held by the same
    /// rule on the same target without asking again.
    Window(SignedDuration),
}

impl FromStr for ApprovalScope {
    type Err = PolicyError;

    /// Parses `once` or `window:<duration>` (`window:30m`); the window must be positive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_scope(s).map_err(|reason| PolicyError::InvalidApprovalScope {
            input: s.chars().take(64).collect(),
            reason,
        })
    }
}

/// Parses an approval scope, returning what is wrong on failure.
pub(crate) fn parse_scope(s: &str) -> Result<ApprovalScope, String> {
    if s == "once" {
        return Ok(ApprovalScope::Once);
    }
    let Some(duration) = s.strip_prefix("window:") else {
        return Err("expected `once` or `window:<duration>` such as `window:30m`".to_owned());
    };
    match parse_duration(duration) {
        Ok(d) if d.is_positive() => Ok(ApprovalScope::Window(d)),
        Ok(_) => Err("the window must be longer than zero".to_owned()),
        Err(PolicyError::InvalidDuration { reason, .. }) => Err(reason),
        Err(other) => Err(other.to_string()),
    }
}

impl fmt::Display for ApprovalScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApprovalScope::Once => f.write_str("once"),
            ApprovalScope::Window(d) => write!(f, "window:{}", format_duration(*d)),
        }
    }
}

/// Serialized as written in config: `"once"` or `"window:30m"`.
impl serde::Serialize for ApprovalScope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_order_and_names() {
        assert!(Verdict::Deny > Verdict::Review);
        assert!(Verdict::Review > Verdict::Allow);
        for v in Verdict::BY_PRECEDENCE {
            assert_eq!(v.name().parse::<Verdict>().unwrap(), v);
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                format!("\"{}\"", v.name())
            );
            let back: Verdict = serde_json::from_str(&format!("\"{v}\"")).unwrap();
            assert_eq!(back, v);
        }
        assert!(matches!(
            "Allow".parse::<Verdict>(),
            Err(PolicyError::InvalidVerdict { input }) if input == "Allow"
        ));
    }

    #[test]
    fn approval_scopes() {
        assert_eq!(
            "once".parse::<ApprovalScope>().unwrap(),
            ApprovalScope::Once
        );
        let w: ApprovalScope = "window:30m".parse().unwrap();
        assert_eq!(w, ApprovalScope::Window(SignedDuration::from_mins(30)));
        assert_eq!(w.to_string(), "window:30m");
        assert_eq!(serde_json::to_string(&w).unwrap(), "\"window:30m\"");
        for bad in [
            "",
            "twice",
            "window:",
            "window:0s",
            "window:-5m",
            "window 30m",
        ] {
            assert!(
                matches!(
                    bad.parse::<ApprovalScope>(),
                    Err(PolicyError::InvalidApprovalScope { .. })
                ),
                "{bad}"
            );
        }
    }
}
