//! The one error type of the identity module.
//!
//! Messages never include the token itself. Values taken from a token (a `kid`, an `alg`, an
//! issuer) are cut to [`MAX_ECHO`] characters and shown escaped, so a hostile token cannot
//! flood or forge log lines.

use std::fmt;

/// The most characters of a token-supplied value an error message repeats.
pub const MAX_ECHO: usize = 64;

/// Why a token, a key set, a revocation list or a verifier configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The token is longer than the verifier accepts; nothing of it was parsed.
    #[error("token is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// The token's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The token is not a compact JWS (`header.payload.signature`, base64url JSON).
    #[error("malformed token {part}: {reason}")]
    Malformed {
        /// Which part of the token is at fault.
        part: TokenPart,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The token's header says `alg: none`: unsigned tokens are never accepted.
    #[error("unsigned token (`alg: none`) refused")]
    AlgNone,
    /// The token's `alg` is not one the verifier supports.
    #[error(
        "unsupported token algorithm {alg:?} (RS256/384/512, PS256/384/512, ES256/384, EdDSA, or HS256 with a configured secret)"
    )]
    UnsupportedAlgorithm {
        /// The `alg` from the token's header (cut to [`MAX_ECHO`] characters).
        alg: String,
    },
    /// The token's algorithm family has no key of that kind in the key set: an HMAC token
    /// against public keys only, or a public-key token against an HMAC secret only.
    #[error("algorithm confusion: {alg} token but the key set {have}")]
    AlgorithmConfusion {
        /// The token's `alg`.
        alg: &'static str,
        /// What the key set holds instead.
        have: &'static str,
    },
    /// The token names critical header extensions (`crit`), none of which are understood.
    #[error("token header lists critical extensions (`crit`), which are not supported")]
    UnsupportedCritical,
    /// No key in the set has the token's `kid`. The key set may be stale: refresh it and retry.
    #[error("unknown key id {kid:?} (refresh the JWKS if the issuer rotated its keys)")]
    UnknownKid {
        /// The token's `kid` (cut to [`MAX_ECHO`] characters).
        kid: String,
    },
    /// The token has no `kid` and no key in the set fits its algorithm.
    #[error("token has no `kid` and the key set has no key for {alg}")]
    NoKeyForAlgorithm {
        /// The token's `alg`.
        alg: &'static str,
    },
    /// The token has no `kid` and several keys fit its algorithm; the issuer must set `kid`.
    #[error("token has no `kid` and {candidates} keys fit {alg}: the token must name its key")]
    AmbiguousKey {
        /// The token's `alg`.
        alg: &'static str,
        /// How many keys would fit.
        candidates: usize,
    },
    /// The key the token names may not verify it: its JWK `alg`, `use`, `key_ops` or key type
    /// conflicts with the token's algorithm, or the key could not be loaded.
    #[error("key {kid:?} cannot verify a {alg} token: {conflict}")]
    KeyConflict {
        /// The key's `kid`, if it has one.
        kid: Option<String>,
        /// The token's `alg`.
        alg: &'static str,
        /// What conflicts.
        conflict: KeyConflict,
    },
    /// The signature does not verify with the selected key.
    #[error("bad token signature")]
    BadSignature,
    /// A required claim is absent.
    #[error("token lacks the required `{claim}` claim")]
    MissingClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// A claim has the wrong type or an impossible value.
    #[error("token claim `{claim}` is invalid: {reason}")]
    InvalidClaim {
        /// The claim's name.
        claim: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The token expired (`exp`, plus the leeway, is not after `now`).
    #[error("token expired at {expired_at}")]
    Expired {
        /// The token's `exp`.
        expired_at: jiff::Timestamp,
    },
    /// The token is not valid yet (`nbf`, less the leeway, is after `now`).
    #[error("token not valid before {not_before}")]
    NotYetValid {
        /// The token's `nbf`.
        not_before: jiff::Timestamp,
    },
    /// The token's `iss` is not the configured issuer.
    #[error("token issuer {found:?} is not the configured issuer {expected:?}")]
    WrongIssuer {
        /// The configured issuer.
        expected: String,
        /// The token's `iss` (cut to [`MAX_ECHO`] characters).
        found: String,
    },
    /// The token's `aud` does not contain the configured audience.
    #[error("token audience does not include {expected:?}")]
    WrongAudience {
        /// The configured audience.
        expected: String,
    },
    /// The configured groups claim is absent and the verifier requires it.
    #[error(
        "token lacks the groups claim `{claim}` (set `require_groups = false` to accept tokens without groups)"
    )]
    MissingGroups {
        /// The configured groups claim.
        claim: String,
    },
    /// The groups claim is neither an array of strings nor a space-separated string.
    #[error("token groups claim `{claim}` is invalid: {reason}")]
    InvalidGroups {
        /// The configured groups claim.
        claim: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The token is valid but revoked.
    #[error("token revoked: its {by} is on the revocation list")]
    Revoked {
        /// Which entry matched.
        by: RevokedBy,
    },
    /// A verifier configuration value is unusable.
    #[error("identity config `{field}`: {reason}")]
    InvalidConfig {
        /// The configuration key at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An HS256 secret is too short to be safe.
    #[error("HS256 secret is {len} bytes; at least {min} are required")]
    WeakSecret {
        /// The secret's length in bytes.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// A JWKS document could not be used.
    #[error("invalid JWKS: {reason}")]
    InvalidJwks {
        /// What is wrong with it.
        reason: String,
    },
    /// A line of a revocation list could not be used.
    #[error("revocation list line {line}: {reason}")]
    InvalidRevocation {
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A token could not be minted.
    #[error("cannot mint token: {reason}")]
    Mint {
        /// What went wrong.
        reason: String,
    },
}

impl IdentityError {
    /// Whether the caller should refresh its key set and try once more: the token names a
    /// key the set does not have (or, without a `kid`, no key fits). Rate-limit such refreshes.
    pub fn needs_key_refresh(&self) -> bool {
        matches!(
            self,
            IdentityError::UnknownKid { .. } | IdentityError::NoKeyForAlgorithm { .. }
        )
    }
}

/// The three parts of a compact JWS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenPart {
    /// The token as a whole (its shape).
    Token,
    /// The protected header.
    Header,
    /// The claims.
    Payload,
    /// The signature.
    Signature,
}

impl fmt::Display for TokenPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenPart::Token => "(shape)",
            TokenPart::Header => "header",
            TokenPart::Payload => "payload",
            TokenPart::Signature => "signature",
        })
    }
}

/// Why a key may not verify a token.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyConflict {
    /// The JWK is marked for another use than signatures (`use` is not `sig`).
    NotForSignatures {
        /// The JWK's `use`.
        usage: String,
    },
    /// The JWK's `key_ops` do not include `verify`.
    NoVerifyOperation,
    /// The JWK declares another algorithm (`alg`).
    DeclaredAlgorithm {
        /// The JWK's `alg`.
        declared: String,
    },
    /// The key's type or curve cannot produce this algorithm's signatures.
    KeyType {
        /// The key's type and curve (`RSA`, `EC P-256`, `OKP Ed25519`, …).
        key: String,
    },
    /// The JWK could not be loaded at all.
    Unusable {
        /// Why.
        reason: String,
    },
}

impl fmt::Display for KeyConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyConflict::NotForSignatures { usage } => {
                write!(f, "the key's `use` is {usage:?}, not \"sig\"")
            }
            KeyConflict::NoVerifyOperation => f.write_str("the key's `key_ops` exclude \"verify\""),
            KeyConflict::DeclaredAlgorithm { declared } => {
                write!(f, "the key is declared for `alg` {declared}")
            }
            KeyConflict::KeyType { key } => write!(f, "a {key} key cannot verify it"),
            KeyConflict::Unusable { reason } => write!(f, "the key is unusable: {reason}"),
        }
    }
}

/// Which revocation entry refused a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokedBy {
    /// The token's `jti`.
    TokenId,
    /// The token's `sub`.
    Subject,
}

impl fmt::Display for RevokedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RevokedBy::TokenId => "token id (`jti`)",
            RevokedBy::Subject => "subject (`sub`)",
        })
    }
}

/// A token-supplied value cut to [`MAX_ECHO`] characters, for an error message.
pub(crate) fn echo(value: &str) -> String {
    match value.char_indices().nth(MAX_ECHO) {
        Some((end, _)) => {
            let mut cut = value.get(..end).unwrap_or_default().to_owned();
            cut.push('…');
            cut
        }
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_cuts_long_values_on_char_boundaries() {
        assert_eq!(echo("short"), "short");
        let long = "é".repeat(MAX_ECHO + 10);
        let cut = echo(&long);
        assert_eq!(cut.chars().count(), MAX_ECHO + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn only_missing_keys_ask_for_a_refresh() {
        assert!(IdentityError::UnknownKid { kid: "k".into() }.needs_key_refresh());
        assert!(IdentityError::NoKeyForAlgorithm { alg: "RS256" }.needs_key_refresh());
        assert!(!IdentityError::BadSignature.needs_key_refresh());
        assert!(!IdentityError::AlgNone.needs_key_refresh());
    }
}
