//! Verifying a compact JWS token at a given `now` into an [`Identity`].

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

use super::Identity;
use super::claims::{self, GroupsPath};
use super::error::{IdentityError, TokenPart, echo};
use super::keys::{KeySet, parse_alg};
use super::revocation::Revocations;

/// The longest token accepted, in bytes; longer ones are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The default allowance for clock skew on `exp` and `nbf`.
pub const DEFAULT_LEEWAY: SignedDuration = SignedDuration::from_secs(30);
/// The largest leeway a [`VerifierConfig`] may set.
pub const MAX_LEEWAY: SignedDuration = SignedDuration::from_secs(300);

/// What a token must say to be accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifierConfig {
    /// The `iss` every token must carry, compared exactly.
    pub issuer: String,
    /// A value the token's `aud` (a string or an array) must contain.
    pub audience: String,
    /// The claim holding the groups: a name, or a dotted path into nested objects
    /// (`realm_access.roles`). A claim whose name itself contains dots is found first.
    pub groups_claim: String,
    /// Allowance for clock skew on `exp` and `nbf`, from zero to [`MAX_LEEWAY`].
    pub leeway: SignedDuration,
    /// Whether a token without the groups claim is refused ([`IdentityError::MissingGroups`]).
    ///
    /// On by default: a missing claim usually means the identity provider is not set up to
    /// send groups, and a silently group-less user would slip past group-scoped deny and
    /// review rules. Turn it off for providers that omit the claim for users with no groups;
    /// such tokens then yield an identity with no groups.
    pub require_groups: bool,
}

impl VerifierConfig {
    /// A configuration for an issuer and audience, with the groups in `groups`, the
    /// [`DEFAULT_LEEWAY`] and groups required.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        VerifierConfig {
            issuer: issuer.into(),
            audience: audience.into(),
            groups_claim: "groups".to_owned(),
            leeway: DEFAULT_LEEWAY,
            require_groups: true,
        }
    }
}

/// Verifies tokens against a [`VerifierConfig`], a [`KeySet`] and [`Revocations`].
///
/// Checks, in order: size, shape, header (`alg: none`, supported algorithm, no `crit`), key
/// choice (by `kid`, or the only key fitting the algorithm; HS256 only against a configured
/// secret), signature, `iss`, `aud`, `exp`, `nbf`, `sub`, revocation, groups.
///
/// ```
/// use gatekit_core::identity::{Hs256Secret, KeySet, MintClaims, Verifier, VerifierConfig, mint_hs256};
///
/// let secret = Hs256Secret::new(b"a development secret of 32+ bytes!".to_vec())?;
/// let config = VerifierConfig::new("https://idp.example.com/", "gatekit");
/// let verifier = Verifier::new(config, KeySet::from_hs256_secret(&secret))?;
///
/// let now = jiff::Timestamp::from_second(1_700_000_000)?;
/// let groups = ["dev".to_owned()];
/// let claims = MintClaims {
///     groups: &groups,
///     ..MintClaims::new("https://idp.example.com/", "gatekit", "alice")
/// };
/// let token = mint_hs256(&claims, &secret, now, jiff::SignedDuration::from_hours(1))?;
///
/// let identity = verifier.verify(&token, now)?;
/// assert_eq!(identity.subject, "alice");
/// assert!(identity.in_group("dev"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Verifier {
    config: VerifierConfig,
    groups: GroupsPath,
    keys: KeySet,
    revocations: Revocations,
}

impl Verifier {
    /// A verifier with no revocations. Refuses an empty issuer, audience or groups claim and
    /// a leeway outside zero to [`MAX_LEEWAY`].
    pub fn new(config: VerifierConfig, keys: KeySet) -> Result<Self, IdentityError> {
        let invalid = |field, reason: &str| IdentityError::InvalidConfig {
            field,
            reason: reason.to_owned(),
        };
        if config.issuer.is_empty() {
            return Err(invalid("issuer", "must not be empty"));
        }
        if config.audience.is_empty() {
            return Err(invalid("audience", "must not be empty"));
        }
        if config.groups_claim.trim().is_empty() {
            return Err(invalid("groups_claim", "must not be empty"));
        }
        if config.leeway.is_negative() || config.leeway > MAX_LEEWAY {
            return Err(IdentityError::InvalidConfig {
                field: "leeway",
                reason: format!("{:#} is outside 0s to {MAX_LEEWAY:#}", config.leeway),
            });
        }
        Ok(Verifier {
            groups: GroupsPath::new(&config.groups_claim),
            config,
            keys,
            revocations: Revocations::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// The keys [`Verifier::verify`] uses.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Replaces the keys (after a JWKS refresh).
    pub fn set_keys(&mut self, keys: KeySet) {
        self.keys = keys;
    }

    /// The revocation list.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Replaces the revocation list.
    pub fn set_revocations(&mut self, revocations: Revocations) {
        self.revocations = revocations;
    }

    /// Verifies `token` at `now` with the verifier's own keys.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Identity, IdentityError> {
        self.verify_with_keys(&self.keys, token, now)
    }

    /// Verifies `token` at `now` with `keys` instead of the verifier's own, for callers that
    /// keep and refresh the key set themselves.
    pub fn verify_with_keys(
        &self,
        keys: &KeySet,
        token: &str,
        now: Timestamp,
    ) -> Result<Identity, IdentityError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(IdentityError::TooLarge {
                len: token.len(),
                max: MAX_TOKEN_BYTES,
            });
        }
        let (header_b64, payload_b64, signature_b64) = split(token)?;

        let header_json = decode_b64(header_b64, TokenPart::Header)?;
        let header: Header<'_> = serde_json::from_slice(&header_json)
            .map_err(|_| malformed(TokenPart::Header, "not a JSON object with a string `alg`"))?;
        let alg = parse_alg(&header.alg)?;
        if header.crit.is_some() {
            return Err(IdentityError::UnsupportedCritical);
        }
        let key = keys.select(alg, header.kid.as_deref())?;

        if signature_b64.is_empty() {
            return Err(malformed(TokenPart::Signature, "empty"));
        }
        let signed_len = header_b64.len() + 1 + payload_b64.len();
        let message = token.get(..signed_len).unwrap_or_default().as_bytes();
        match jsonwebtoken::crypto::verify(signature_b64, message, key, alg) {
            Ok(true) => {}
            Ok(false) => return Err(IdentityError::BadSignature),
            Err(e) => {
                return Err(match e.kind() {
                    jsonwebtoken::errors::ErrorKind::Base64(_) => {
                        malformed(TokenPart::Signature, "not base64url")
                    }
                    _ => IdentityError::BadSignature,
                });
            }
        }

        let payload = decode_b64(payload_b64, TokenPart::Payload)?;
        let claims: Map<String, Value> = serde_json::from_slice(&payload)
            .map_err(|_| malformed(TokenPart::Payload, "not a JSON object"))?;
        self.identity(&claims, now)
    }

    /// Checks the claims of a token whose signature holds.
    fn identity(
        &self,
        claims: &Map<String, Value>,
        now: Timestamp,
    ) -> Result<Identity, IdentityError> {
        let config = &self.config;
        let issuer = claims::required_string(claims, "iss")?;
        if issuer != config.issuer {
            return Err(IdentityError::WrongIssuer {
                expected: config.issuer.clone(),
                found: echo(issuer),
            });
        }
        if !claims::audience_contains(claims, &config.audience)? {
            return Err(IdentityError::WrongAudience {
                expected: config.audience.clone(),
            });
        }
        let expires_at = claims::numeric_date(claims, "exp")?
            .ok_or(IdentityError::MissingClaim { claim: "exp" })?;
        // An `exp` so late that adding the leeway overflows never passes.
        if expires_at
            .checked_add(config.leeway)
            .is_ok_and(|end| now >= end)
        {
            return Err(IdentityError::Expired {
                expired_at: expires_at,
            });
        }
        if let Some(not_before) = claims::numeric_date(claims, "nbf")?
            && not_before
                .checked_sub(config.leeway)
                .is_ok_and(|start| now < start)
        {
            return Err(IdentityError::NotYetValid { not_before });
        }
        let subject = claims::required_string(claims, "sub")?;
        let token_id = claims::string(claims, "jti")?;
        if let Some(by) = self.revocations.check(subject, token_id) {
            return Err(IdentityError::Revoked { by });
        }
        let email = claims::string(claims, "email")?;
        let groups = match self.groups.groups(claims)? {
            Some(groups) => groups,
            None if config.require_groups => {
                return Err(IdentityError::MissingGroups {
                    claim: self.groups.name().to_owned(),
                });
            }
            None => Vec::new(),
        };
        Ok(Identity {
            subject: subject.to_owned(),
            email: email.map(str::to_owned),
            groups,
            expires_at: Some(expires_at),
            token_id: token_id.map(str::to_owned),
        })
    }
}

/// The header fields the verifier reads; others are ignored.
#[derive(serde::Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

fn malformed(part: TokenPart, reason: &'static str) -> IdentityError {
    IdentityError::Malformed { part, reason }
}

/// The three segments of a compact JWS.
fn split(token: &str) -> Result<(&str, &str, &str), IdentityError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => Ok((h, p, s)),
        _ => Err(malformed(
            TokenPart::Token,
            "expected `header.payload.signature`",
        )),
    }
}

fn decode_b64(segment: &str, part: TokenPart) -> Result<Vec<u8>, IdentityError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| malformed(part, "not unpadded base64url"))
}
