//! Who is asking: OIDC JWT verification into an [`Identity`].
//!
//! A [`Verifier`] checks a token's signature against a [`KeySet`] (public keys from a JWKS,
//! and optionally an HS256 secret for development), its claims against a [`VerifierConfig`]
//! at a `now` the caller passes in, and its `jti`/`sub` against [`Revocations`]. Nothing here
//! reads the clock, a file or the network: fetching and refreshing the JWKS and reading the
//! revocation file belong to the caller. [`mint_hs256`] makes development tokens.

mod claims;
mod error;
mod keys;
mod mint;
mod revocation;
mod verify;

#[cfg(test)]
mod tests;

pub use error::{IdentityError, KeyConflict, MAX_ECHO, RevokedBy, TokenPart};
pub use keys::{Hs256Secret, KeySet, MAX_JWKS_BYTES, MAX_JWKS_KEYS, MIN_HS256_SECRET_BYTES};
pub use mint::{MAX_MINT_TTL, MintClaims, mint_hs256};
pub use revocation::{MAX_REVOCATION_ENTRY, Revocations};
pub use verify::{DEFAULT_LEEWAY, MAX_LEEWAY, MAX_TOKEN_BYTES, Verifier, VerifierConfig};

/// An authenticated principal, as established from a verified token.
///
/// Sessions end or re-check at [`Identity::expires_at`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The token's `sub`.
    pub subject: String,
    /// The token's `email`, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The groups from the configured groups claim.
    #[serde(default)]
    pub groups: Vec<String>,
    /// When the token stops being valid (`exp`), if it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<jiff::Timestamp>,
    /// The token's `jti`, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
}

impl Identity {
    /// An identity with a subject and groups and nothing else (tests, dry runs).
    pub fn new(
        subject: impl Into<String>,
        groups: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Identity {
            subject: subject.into(),
            email: None,
            groups: groups.into_iter().map(Into::into).collect(),
            expires_at: None,
            token_id: None,
        }
    }

    /// Whether the identity belongs to `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// Whether the identity belongs to any of `groups`.
    pub fn in_any_group<S: AsRef<str>>(&self, groups: &[S]) -> bool {
        groups.iter().any(|g| self.in_group(g.as_ref()))
    }
}
