//! Verification keys: a JWKS's public keys and an optional HS256 secret, and the choice of
//! the one key that may verify a given token.

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use zeroize::Zeroizing;

use super::error::{IdentityError, KeyConflict, echo};

/// The largest JWKS document [`KeySet::from_jwks_json`] reads.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// The most keys a JWKS may hold.
pub const MAX_JWKS_KEYS: usize = 256;
/// The shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash's 256 bits).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// A shared secret for HS256 tokens. Its `Debug` output is redacted and its bytes are wiped
/// when dropped.
#[derive(Clone)]
pub struct Hs256Secret(Zeroizing<Vec<u8>>);

impl Hs256Secret {
    /// Wraps a secret of at least [`MIN_HS256_SECRET_BYTES`] bytes.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, IdentityError> {
        let secret = Zeroizing::new(secret.into());
        if secret.len() < MIN_HS256_SECRET_BYTES {
            return Err(IdentityError::WeakSecret {
                len: secret.len(),
                min: MIN_HS256_SECRET_BYTES,
            });
        }
        Ok(Hs256Secret(secret))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Hs256Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hs256Secret(<redacted>)")
    }
}

/// The keys a [`Verifier`](super::Verifier) checks signatures with: public keys from a JWKS
/// and, for development, an HS256 secret. Cheap to clone.
///
/// An empty set refuses every token.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Arc<[KeyEntry]>,
    hs256: Option<DecodingKey>,
}

impl KeySet {
    /// A set with no keys: every token is refused.
    pub fn empty() -> Self {
        KeySet::default()
    }

    /// Reads a JWKS document (`{"keys": [...]}`, RFC 7517).
    ///
    /// Keys that cannot verify signatures (encryption keys, symmetric `oct` keys, unsupported
    /// curves, malformed values) are kept as unusable so that a token naming one gets a precise
    /// error, not "unknown kid". The document must hold at least one usable signing key.
    pub fn from_jwks_json(json: &[u8]) -> Result<Self, IdentityError> {
        if json.len() > MAX_JWKS_BYTES {
            return Err(IdentityError::InvalidJwks {
                reason: format!(
                    "{} bytes, more than the {MAX_JWKS_BYTES} accepted",
                    json.len()
                ),
            });
        }
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let doc: Document =
            serde_json::from_slice(json).map_err(|e| IdentityError::InvalidJwks {
                reason: format!("not a JWKS object with a `keys` array: {e}"),
            })?;
        if doc.keys.len() > MAX_JWKS_KEYS {
            return Err(IdentityError::InvalidJwks {
                reason: format!(
                    "{} keys, more than the {MAX_JWKS_KEYS} accepted",
                    doc.keys.len()
                ),
            });
        }
        let keys: Arc<[KeyEntry]> = doc.keys.into_iter().map(KeyEntry::from_value).collect();
        if !keys.iter().any(KeyEntry::is_usable) {
            return Err(IdentityError::InvalidJwks {
                reason: format!("none of its {} keys can verify signatures", keys.len()),
            });
        }
        Ok(KeySet { keys, hs256: None })
    }

    /// A set holding only an HS256 secret.
    pub fn from_hs256_secret(secret: &Hs256Secret) -> Self {
        KeySet::empty().with_hs256_secret(secret)
    }

    /// This set plus an HS256 secret (replacing any earlier one). HS256 tokens are checked
    /// against the secret whatever their `kid`.
    pub fn with_hs256_secret(mut self, secret: &Hs256Secret) -> Self {
        self.hs256 = Some(DecodingKey::from_secret(secret.bytes()));
        self
    }

    /// How many public keys can verify signatures (the HS256 secret not counted).
    pub fn usable_keys(&self) -> usize {
        self.keys.iter().filter(|k| k.is_usable()).count()
    }

    /// Whether the set has neither a usable public key nor an HS256 secret.
    pub fn is_empty(&self) -> bool {
        self.hs256.is_none() && self.usable_keys() == 0
    }

    /// Whether an HS256 secret is configured.
    pub fn has_hs256_secret(&self) -> bool {
        self.hs256.is_some()
    }

    /// The `kid`s of the public keys, usable or not, in document order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    /// The one key that may verify a token with this `alg` and `kid`.
    pub(crate) fn select(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<&DecodingKey, IdentityError> {
        let name = alg_name(alg);
        if alg == Algorithm::HS256 {
            return self
                .hs256
                .as_ref()
                .ok_or_else(|| confusion(name, "holds public keys only"));
        }
        if matches!(alg, Algorithm::HS384 | Algorithm::HS512) {
            if self.hs256.is_some() {
                return Err(IdentityError::UnsupportedAlgorithm {
                    alg: name.to_owned(),
                });
            }
            return Err(confusion(name, "holds public keys only"));
        }
        if self.hs256.is_some() && !self.keys.iter().any(KeyEntry::is_usable) {
            return Err(confusion(name, "holds an HS256 secret only"));
        }
        match kid {
            Some(kid) => {
                let mut first_conflict = None;
                for entry in self.keys.iter().filter(|e| e.kid.as_deref() == Some(kid)) {
                    match entry.check(alg) {
                        Ok(key) => return Ok(key),
                        Err(conflict) => {
                            first_conflict.get_or_insert(conflict);
                        }
                    }
                }
                Err(match first_conflict {
                    Some(conflict) => IdentityError::KeyConflict {
                        kid: Some(echo(kid)),
                        alg: name,
                        conflict,
                    },
                    None => IdentityError::UnknownKid { kid: echo(kid) },
                })
            }
            None => {
                let mut fitting = self.keys.iter().filter_map(|e| e.check(alg).ok());
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    (None, _) => Err(IdentityError::NoKeyForAlgorithm { alg: name }),
                    (Some(_), Some(_)) => Err(IdentityError::AmbiguousKey {
                        alg: name,
                        candidates: 2 + fitting.count(),
                    }),
                }
            }
        }
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys)
            .field("hs256", &self.hs256.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn confusion(alg: &'static str, have: &'static str) -> IdentityError {
    IdentityError::AlgorithmConfusion { alg, have }
}

/// The name of an algorithm as written in a JWS header.
pub(crate) fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        _ => "unknown",
    }
}

/// A JWS header's `alg`, refusing `none` in any spelling.
pub(crate) fn parse_alg(alg: &str) -> Result<Algorithm, IdentityError> {
    if alg.eq_ignore_ascii_case("none") {
        return Err(IdentityError::AlgNone);
    }
    alg.parse::<Algorithm>()
        .map_err(|_| IdentityError::UnsupportedAlgorithm { alg: echo(alg) })
}

/// What kind of key a JWK holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    Other,
}

impl KeyKind {
    fn fits(self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (
                KeyKind::Rsa,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (KeyKind::EcP256, Algorithm::ES256)
                | (KeyKind::EcP384, Algorithm::ES384)
                | (KeyKind::Ed25519, Algorithm::EdDSA)
        )
    }
}

/// One JWK and what it may verify.
#[derive(Clone)]
struct KeyEntry {
    kid: Option<String>,
    /// `use`, when present.
    usage: Option<String>,
    /// `key_ops` is present and lacks `verify`.
    no_verify: bool,
    /// `alg`, when present: a signing algorithm, or the name of something else.
    declared: Option<Result<Algorithm, String>>,
    /// Key type and curve, for messages.
    label: String,
    kind: KeyKind,
    key: Result<DecodingKey, String>,
}

impl KeyEntry {
    fn from_value(value: serde_json::Value) -> KeyEntry {
        let kid = value
            .get("kid")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        match serde_json::from_value::<Jwk>(value) {
            Ok(jwk) => KeyEntry::from_jwk(&jwk),
            Err(e) => KeyEntry {
                kid,
                usage: None,
                no_verify: false,
                declared: None,
                label: "malformed".to_owned(),
                kind: KeyKind::Other,
                key: Err(format!("malformed JWK: {e}")),
            },
        }
    }

    fn from_jwk(jwk: &Jwk) -> KeyEntry {
        let common = &jwk.common;
        let usage = common.public_key_use.as_ref().map(|u| match u {
            PublicKeyUse::Signature => "sig".to_owned(),
            PublicKeyUse::Encryption => "enc".to_owned(),
            PublicKeyUse::Other(other) => echo(other),
        });
        let no_verify = common
            .key_operations
            .as_ref()
            .is_some_and(|ops| !ops.contains(&KeyOperations::Verify));
        let declared = common.key_algorithm.map(|a| match a {
            KeyAlgorithm::UNKNOWN_ALGORITHM => Err("an unknown algorithm".to_owned()),
            other => Algorithm::try_from(other).map_err(|_| other.to_string()),
        });
        let (kind, label) = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => (KeyKind::Rsa, "RSA".to_owned()),
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => (KeyKind::EcP256, "EC P-256".to_owned()),
                EllipticCurve::P384 => (KeyKind::EcP384, "EC P-384".to_owned()),
                ref other => (KeyKind::Other, format!("EC {other:?}")),
            },
            AlgorithmParameters::OctetKeyPair(p) => match p.curve {
                EllipticCurve::Ed25519 => (KeyKind::Ed25519, "OKP Ed25519".to_owned()),
                ref other => (KeyKind::Other, format!("OKP {other:?}")),
            },
            AlgorithmParameters::OctetKey(_) => (KeyKind::Other, "symmetric (oct)".to_owned()),
            _ => (KeyKind::Other, "unknown key type".to_owned()),
        };
        let key = match (&jwk.algorithm, kind) {
            (AlgorithmParameters::OctetKey(_), _) => Err(
                "symmetric keys are not taken from a JWKS; configure an HS256 secret instead"
                    .to_owned(),
            ),
            (_, KeyKind::Other) => Err(format!("{label} keys are not supported")),
            _ => DecodingKey::from_jwk(jwk)
                .map_err(|e| format!("cannot load the key: {e}"))
                .and_then(|key| check_size(kind, key)),
        };
        KeyEntry {
            kid: common.key_id.clone(),
            usage,
            no_verify,
            declared,
            label,
            kind,
            key,
        }
    }

    fn is_usable(&self) -> bool {
        self.key.is_ok()
            && self.usage.as_deref().is_none_or(|u| u == "sig")
            && !self.no_verify
            && !matches!(self.declared, Some(Err(_)))
    }

    /// The key, when this entry may verify an `alg` token.
    fn check(&self, alg: Algorithm) -> Result<&DecodingKey, KeyConflict> {
        let key = self.key.as_ref().map_err(|reason| KeyConflict::Unusable {
            reason: reason.clone(),
        })?;
        if let Some(usage) = self.usage.as_deref().filter(|u| *u != "sig") {
            return Err(KeyConflict::NotForSignatures {
                usage: usage.to_owned(),
            });
        }
        if self.no_verify {
            return Err(KeyConflict::NoVerifyOperation);
        }
        match &self.declared {
            Some(Ok(declared)) if *declared != alg => {
                return Err(KeyConflict::DeclaredAlgorithm {
                    declared: alg_name(*declared).to_owned(),
                });
            }
            Some(Err(declared)) => {
                return Err(KeyConflict::DeclaredAlgorithm {
                    declared: declared.clone(),
                });
            }
            _ => {}
        }
        if !self.kind.fits(alg) {
            return Err(KeyConflict::KeyType {
                key: self.label.clone(),
            });
        }
        Ok(key)
    }
}

/// Refuses keys whose sizes cannot be right, so they fail at load time, not per token.
fn check_size(kind: KeyKind, key: DecodingKey) -> Result<DecodingKey, String> {
    let ok = match (kind, key.kind()) {
        (KeyKind::Rsa, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            let bits = significant_bits(n);
            if !(2048..=8192).contains(&bits) {
                return Err(format!(
                    "RSA modulus of {bits} bits (2048 to 8192 accepted)"
                ));
            }
            !e.is_empty() && e.len() <= 8
        }
        (KeyKind::EcP256, DecodingKeyKind::SecretOrDer(point)) => point.len() == 65,
        (KeyKind::EcP384, DecodingKeyKind::SecretOrDer(point)) => point.len() == 97,
        (KeyKind::Ed25519, DecodingKeyKind::SecretOrDer(x)) => x.len() == 32,
        _ => false,
    };
    if ok {
        Ok(key)
    } else {
        Err("key parameters have the wrong length".to_owned())
    }
}

fn significant_bits(be: &[u8]) -> usize {
    match be.iter().position(|b| *b != 0) {
        Some(i) => {
            let lead = be.get(i).copied().unwrap_or(0);
            (be.len() - i - 1) * 8 + (8 - lead.leading_zeros() as usize)
        }
        None => 0,
    }
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid.as_deref().map(echo))
            .field("type", &self.label)
            .field("use", &self.usage)
            .field(
                "alg",
                &self.declared.as_ref().map(|d| match d {
                    Ok(a) => alg_name(*a).to_owned(),
                    Err(other) => other.clone(),
                }),
            )
            .field("usable", &self.is_usable())
            .finish()
    }
}
