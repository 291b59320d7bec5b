//! Reading individual claims out of a verified token's payload.

use serde_json::{Map, Value};

use super::error::IdentityError;

/// Where the groups are found: a claim name, or a dotted path into nested objects.
///
/// The whole name is tried as a top-level claim first, so namespaced claims that contain dots
/// (`https://example.com/groups`) work as written; only when that claim is absent is the name
/// split on `.` and walked (`realm_access.roles`).
#[derive(Clone, Debug)]
pub(crate) struct GroupsPath {
    full: String,
    segments: Vec<String>,
}

impl GroupsPath {
    pub(crate) fn new(claim: &str) -> Self {
        let segments = if claim.contains('.') {
            claim.split('.').map(str::to_owned).collect()
        } else {
            Vec::new()
        };
        GroupsPath {
            full: claim.to_owned(),
            segments,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.full
    }

    fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        if let Some(value) = claims.get(&self.full) {
            return Some(value);
        }
        let (first, rest) = self.segments.split_first()?;
        rest.iter()
            .try_fold(claims.get(first)?, |value, segment| value.get(segment))
    }

    /// The groups: an array of strings, or one string of space-separated names. Empty names
    /// are dropped. `Ok(None)` when the claim is absent or `null`.
    pub(crate) fn groups(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<Option<Vec<String>>, IdentityError> {
        let invalid = |reason| IdentityError::InvalidGroups {
            claim: self.full.clone(),
            reason,
        };
        match self.lookup(claims) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.split_whitespace().map(str::to_owned).collect())),
            Some(Value::Array(items)) => {
                let mut groups = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) if s.is_empty() => {}
                        Value::String(s) => groups.push(s.clone()),
                        _ => return Err(invalid("an array holding something other than strings")),
                    }
                }
                Ok(Some(groups))
            }
            Some(_) => Err(invalid(
                "neither an array of strings nor a space-separated string",
            )),
        }
    }
}

/// A string claim; `Ok(None)` when absent or `null`.
pub(crate) fn string<'a>(
    claims: &'a Map<String, Value>,
    claim: &'static str,
) -> Result<Option<&'a str>, IdentityError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(IdentityError::InvalidClaim {
            claim,
            reason: "not a string",
        }),
    }
}

/// A string claim that must be present and non-empty.
pub(crate) fn required_string<'a>(
    claims: &'a Map<String, Value>,
    claim: &'static str,
) -> Result<&'a str, IdentityError> {
    match string(claims, claim)? {
        None => Err(IdentityError::MissingClaim { claim }),
        Some("") => Err(IdentityError::InvalidClaim {
            claim,
            reason: "empty",
        }),
        Some(s) => Ok(s),
    }
}

/// A NumericDate claim (seconds since the epoch, integer or fractional; fractions are
/// truncated); `Ok(None)` when absent or `null`.
pub(crate) fn numeric_date(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<jiff::Timestamp>, IdentityError> {
    let invalid = |reason| IdentityError::InvalidClaim { claim, reason };
    let seconds = match claims.get(claim) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i,
            (None, Some(f)) if f.is_finite() && f.abs() < 1e15 => f.trunc() as i64,
            _ => return Err(invalid("a number out of range")),
        },
        Some(_) => return Err(invalid("not a number of seconds")),
    };
    jiff::Timestamp::from_second(seconds)
        .map(Some)
        .map_err(|_| invalid("a time out of range"))
}

/// Whether `aud` (a string or an array of strings) contains `audience`.
pub(crate) fn audience_contains(
    claims: &Map<String, Value>,
    audience: &str,
) -> Result<bool, IdentityError> {
    const CLAIM: &str = "aud";
    match claims.get(CLAIM) {
        None | Some(Value::Null) => Err(IdentityError::MissingClaim { claim: CLAIM }),
        Some(Value::String(s)) => Ok(s == audience),
        Some(Value::Array(items)) => {
            let mut found = false;
            for item in items {
                match item {
                    Value::String(s) => found |= s == audience,
                    _ => {
                        return Err(IdentityError::InvalidClaim {
                            claim: CLAIM,
                            reason: "an array holding something other than strings",
                        });
                    }
                }
            }
            Ok(found)
        }
        Some(_) => Err(IdentityError::InvalidClaim {
            claim: CLAIM,
            reason: "neither a string nor an array of strings",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).expect("test claims are JSON objects")
    }

    #[test]
    fn groups_from_array_string_and_nested_path() {
        let path = GroupsPath::new("groups");
        let c = claims(r#"{"groups": ["dev", "", "ops"]}"#);
        assert_eq!(
            path.groups(&c).unwrap(),
            Some(vec!["dev".into(), "ops".into()])
        );
        let c = claims(r#"{"groups": "  dev   ops "}"#);
        assert_eq!(
            path.groups(&c).unwrap(),
            Some(vec!["dev".into(), "ops".into()])
        );
        let c = claims(r#"{"groups": null}"#);
        assert_eq!(path.groups(&c).unwrap(), None);

        let nested = GroupsPath::new("realm_access.roles");
        let c = claims(r#"{"realm_access": {"roles": ["dba"]}}"#);
        assert_eq!(nested.groups(&c).unwrap(), Some(vec!["dba".into()]));
        let c = claims(r#"{"realm_access": ["roles"]}"#);
        assert_eq!(nested.groups(&c).unwrap(), None);
    }

    #[test]
    fn a_claim_named_with_dots_wins_over_the_path() {
        let path = GroupsPath::new("https://example.com/groups");
        let c = claims(r#"{"https://example.com/groups": ["dev"]}"#);
        assert_eq!(path.groups(&c).unwrap(), Some(vec!["dev".into()]));
        let path = GroupsPath::new("a.b");
        let c = claims(r#"{"a.b": ["flat"], "a": {"b": ["nested"]}}"#);
        assert_eq!(path.groups(&c).unwrap(), Some(vec!["flat".into()]));
    }

    #[test]
    fn groups_of_the_wrong_shape_are_refused() {
        let path = GroupsPath::new("groups");
        for json in [
            r#"{"groups": 3}"#,
            r#"{"groups": ["a", 1]}"#,
            r#"{"groups": {"a": 1}}"#,
        ] {
            let err = path.groups(&claims(json)).unwrap_err();
            assert!(
                matches!(err, IdentityError::InvalidGroups { .. }),
                "{json}: {err}"
            );
        }
    }

    #[test]
    fn numeric_dates_accept_integers_and_fractions_only() {
        let c = claims(r#"{"a": 1700000000, "b": 1700000000.9, "c": "1700000000", "d": 1e300}"#);
        let t = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(numeric_date(&c, "a").unwrap(), Some(t));
        assert_eq!(numeric_date(&c, "b").unwrap(), Some(t));
        assert!(numeric_date(&c, "c").is_err());
        assert!(numeric_date(&c, "d").is_err());
        assert_eq!(numeric_date(&c, "missing").unwrap(), None);
        let c = claims(r#"{"far": 99999999999999}"#);
        assert!(numeric_date(&c, "far").is_err());
    }

    #[test]
    fn audience_as_string_or_array() {
        assert!(audience_contains(&claims(r#"{"aud": "gk"}"#), "gk").unwrap());
        assert!(audience_contains(&claims(r#"{"aud": ["x", "gk"]}"#), "gk").unwrap());
        assert!(!audience_contains(&claims(r#"{"aud": ["x"]}"#), "gk").unwrap());
        assert!(audience_contains(&claims(r#"{"aud": ["gk", 2]}"#), "gk").is_err());
        assert!(audience_contains(&claims(r#"{}"#), "gk").is_err());
    }
}
