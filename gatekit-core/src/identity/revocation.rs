//! Revoked token ids and subjects: tokens refused even while their signature and times hold.

use std::collections::HashSet;

use super::error::{IdentityError, RevokedBy};

/// The longest entry a revocation list accepts, in bytes.
pub const MAX_REVOCATION_ENTRY: usize = 1024;

/// Token ids (`jti`) and subjects (`sub`) whose tokens are refused.
///
/// The text form ([`Revocations::parse`]) has one entry per line: `jti:ID` revokes one token,
/// `sub:SUBJECT` every token of a subject, and a bare entry matches either a token id or a
/// subject. Lines starting with `#` and blank lines are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Revocations {
    token_ids: HashSet<String>,
    subjects: HashSet<String>,
}

impl Revocations {
    /// An empty list: nothing is revoked.
    pub fn new() -> Self {
        Revocations::default()
    }

    /// Reads the text form. Linear in the input; refuses entries longer than
    /// [`MAX_REVOCATION_ENTRY`] bytes and entries with inner whitespace, naming the line.
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        let mut list = Revocations::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let invalid = |reason| IdentityError::InvalidRevocation {
                line: index + 1,
                reason,
            };
            if line.len() > MAX_REVOCATION_ENTRY {
                return Err(invalid("entry longer than 1024 bytes"));
            }
            if line.contains(char::is_whitespace) {
                return Err(invalid(
                    "entry contains whitespace (comments go on their own line, after `#`)",
                ));
            }
            if let Some(id) = line.strip_prefix("jti:") {
                if id.is_empty() {
                    return Err(invalid("empty token id after `jti:`"));
                }
                list.revoke_token_id(id);
            } else if let Some(subject) = line.strip_prefix("sub:") {
                if subject.is_empty() {
                    return Err(invalid("empty subject after `sub:`"));
                }
                list.revoke_subject(subject);
            } else {
                list.revoke_token_id(line);
                list.revoke_subject(line);
            }
        }
        Ok(list)
    }

    /// Revokes one token by its `jti`.
    pub fn revoke_token_id(&mut self, token_id: impl Into<String>) {
        self.token_ids.insert(token_id.into());
    }

    /// Revokes every token of a subject.
    pub fn revoke_subject(&mut self, subject: impl Into<String>) {
        self.subjects.insert(subject.into());
    }

    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.token_ids.is_empty() && self.subjects.is_empty()
    }

    /// Which entry, if any, revokes a token with this subject and token id.
    pub fn check(&self, subject: &str, token_id: Option<&str>) -> Option<RevokedBy> {
        if token_id.is_some_and(|id| self.token_ids.contains(id)) {
            Some(RevokedBy::TokenId)
        } else if self.subjects.contains(subject) {
            Some(RevokedBy::Subject)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = include_str!("../../tests/data/identity/revoked.txt");

    #[test]
    fn parses_prefixed_bare_comment_and_blank_lines() {
        let list = Revocations::parse(LIST).expect("fixture parses");
        assert_eq!(list.check("alice", Some("tok-1")), Some(RevokedBy::TokenId));
        assert_eq!(list.check("alice", Some("other")), None);
        assert_eq!(list.check("mallory", None), Some(RevokedBy::Subject));
        // `jti:` entries never match a subject, `sub:` entries never a token id.
        assert_eq!(list.check("tok-1", None), None);
        assert_eq!(list.check("bob", Some("mallory")), None);
        // Bare entries match either.
        assert_eq!(list.check("leaked", None), Some(RevokedBy::Subject));
        assert_eq!(list.check("bob", Some("leaked")), Some(RevokedBy::TokenId));
        // Commented-out entries are not revoked.
        assert_eq!(list.check("carol", Some("tok-commented")), None);
    }

    #[test]
    fn errors_name_the_line() {
        let err = Revocations::parse("# ok\njti:a\nsub:b c\n").unwrap_err();
        assert!(
            matches!(err, IdentityError::InvalidRevocation { line: 3, .. }),
            "{err}"
        );
        let err = Revocations::parse("\n\njti:\n").unwrap_err();
        assert!(
            matches!(err, IdentityError::InvalidRevocation { line: 3, .. }),
            "{err}"
        );
        let long = "x".repeat(MAX_REVOCATION_ENTRY + 1);
        let err = Revocations::parse(&long).unwrap_err();
        assert!(
            matches!(err, IdentityError::InvalidRevocation { line: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn empty_and_comment_only_lists_revoke_nothing() {
        for text in ["", "\n\n", "# nothing\n   # still nothing\n"] {
            let list = Revocations::parse(text).expect("parses");
            assert!(list.is_empty());
            assert_eq!(list.check("anyone", Some("any")), None);
        }
    }
}
