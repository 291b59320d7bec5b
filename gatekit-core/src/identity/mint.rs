//! Minting HS256 tokens for development and tests (`gatekit token`).

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

use super::error::IdentityError;
use super::keys::Hs256Secret;

/// The longest lifetime a minted token may have.
pub const MAX_MINT_TTL: SignedDuration = SignedDuration::from_hours(24 * 30);

/// The claims of a token to mint.
#[derive(Clone, Copy, Debug)]
pub struct MintClaims<'a> {
    /// `iss`.
    pub issuer: &'a str,
    /// `aud`.
    pub audience: &'a str,
    /// `sub`.
    pub subject: &'a str,
    /// The claim the groups go in, written as one top-level claim of that exact name (which a
    /// [`Verifier`](super::Verifier) with the same `groups_claim` finds, dotted or not).
    pub groups_claim: &'a str,
    /// The groups.
    pub groups: &'a [String],
    /// `email`, if any.
    pub email: Option<&'a str>,
    /// `jti`, if any: set one to be able to revoke this token alone.
    pub token_id: Option<&'a str>,
}

impl<'a> MintClaims<'a> {
    /// Claims for a subject, with groups in `groups` (none yet), no email and no token id.
    pub fn new(issuer: &'a str, audience: &'a str, subject: &'a str) -> Self {
        MintClaims {
            issuer,
            audience,
            subject,
            groups_claim: "groups",
            groups: &[],
            email: None,
            token_id: None,
        }
    }
}

/// Mints an HS256 token valid from `now` (`iat`) for `ttl` (`exp`), at most [`MAX_MINT_TTL`].
pub fn mint_hs256(
    claims: &MintClaims<'_>,
    secret: &Hs256Secret,
    now: Timestamp,
    ttl: SignedDuration,
) -> Result<String, IdentityError> {
    let refuse = |reason: &str| IdentityError::Mint {
        reason: reason.to_owned(),
    };
    for (value, what) in [
        (claims.issuer, "empty issuer"),
        (claims.audience, "empty audience"),
        (claims.subject, "empty subject"),
        (claims.groups_claim, "empty groups claim"),
    ] {
        if value.is_empty() {
            return Err(refuse(what));
        }
    }
    if ttl <= SignedDuration::ZERO || ttl > MAX_MINT_TTL {
        return Err(IdentityError::Mint {
            reason: format!("ttl {ttl:#} is outside 1s to {MAX_MINT_TTL:#}"),
        });
    }
    let expires = now
        .checked_add(ttl)
        .map_err(|_| refuse("now + ttl is out of range"))?;

    let mut body = Map::new();
    body.insert("iss".into(), claims.issuer.into());
    body.insert("aud".into(), claims.audience.into());
    body.insert("sub".into(), claims.subject.into());
    body.insert("iat".into(), now.as_second().into());
    body.insert("exp".into(), expires.as_second().into());
    body.insert(
        claims.groups_claim.into(),
        Value::from(claims.groups.to_vec()),
    );
    if let Some(email) = claims.email {
        body.insert("email".into(), email.into());
    }
    if let Some(id) = claims.token_id {
        body.insert("jti".into(), id.into());
    }
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let key = jsonwebtoken::EncodingKey::from_secret(secret.bytes());
    jsonwebtoken::encode(&header, &body, &key).map_err(|e| IdentityError::Mint {
        reason: e.to_string(),
    })
}
