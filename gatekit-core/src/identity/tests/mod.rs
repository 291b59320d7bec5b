//! Verification tests against committed keys: the case table in
//! `tests/data/identity/cases.json`, key-set behaviour, minting and properties.

mod keyset;
mod mint;
mod props;
mod table;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{Hs256Secret, KeySet, Verifier, VerifierConfig};

const JWKS: &str = include_str!("../../../tests/data/identity/jwks.json");
const RSA_1: &str = include_str!("../../../tests/data/identity/rsa-1.pem");
const RSA_1_PUBLIC: &str = include_str!("../../../tests/data/identity/rsa-1.pub.pem");
const RSA_2: &str = include_str!("../../../tests/data/identity/rsa-2.pem");
const EC_P256: &str = include_str!("../../../tests/data/identity/ec-p256.pem");
const EC_P384: &str = include_str!("../../../tests/data/identity/ec-p384.pem");
const ED25519: &str = include_str!("../../../tests/data/identity/ed25519.pem");

const ISSUER: &str = "https://idp.example.com/";
const AUDIENCE: &str = "gatekit";
const HS256_SECRET: &[u8] = b"gatekit test secret, long enough for HS256";

fn now() -> Timestamp {
    Timestamp::from_second(1_700_000_000).expect("fixed test time is in range")
}

fn secret() -> Hs256Secret {
    Hs256Secret::new(HS256_SECRET).expect("test secret is long enough")
}

fn jwks() -> KeySet {
    KeySet::from_jwks_json(JWKS.as_bytes()).expect("committed JWKS loads")
}

/// The key sets the case table names.
fn keyset(name: &str) -> KeySet {
    match name {
        "jwks+hs256" => jwks().with_hs256_secret(&secret()),
        "jwks" => jwks(),
        "hs256" => KeySet::from_hs256_secret(&secret()),
        other => panic!("unknown key set {other:?} in the case table"),
    }
}

fn verifier(keys: KeySet) -> Verifier {
    Verifier::new(VerifierConfig::new(ISSUER, AUDIENCE), keys).expect("test config is valid")
}

/// The claims every case starts from, at `now`.
fn base_claims(now: Timestamp) -> Value {
    let t = now.as_second();
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "email": "alice@example.com",
        "jti": "tok-1",
        "groups": ["dev", "ops"],
        "iat": t,
        "exp": t + 300,
    })
}

/// The signing key the case table names, for `alg`.
fn encoding_key(name: &str) -> EncodingKey {
    let key = match name {
        "rsa-1" => EncodingKey::from_rsa_pem(RSA_1.as_bytes()),
        "rsa-2" => EncodingKey::from_rsa_pem(RSA_2.as_bytes()),
        "ec-p256" => EncodingKey::from_ec_pem(EC_P256.as_bytes()),
        "ec-p384" => EncodingKey::from_ec_pem(EC_P384.as_bytes()),
        "ed25519" => EncodingKey::from_ed_pem(ED25519.as_bytes()),
        "hs256" => Ok(EncodingKey::from_secret(HS256_SECRET)),
        "rsa-1-public-as-hmac" => Ok(EncodingKey::from_secret(RSA_1_PUBLIC.as_bytes())),
        other => panic!("unknown signing key {other:?} in the case table"),
    };
    key.expect("committed test key loads")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token over `claims`: signed with the named key, or, for key `none`, unsigned with the
/// given `alg` written verbatim into the header.
fn sign(alg: &str, key: &str, kid: Option<&str>, extra_header: &Value, claims: &Value) -> String {
    if key == "none" {
        let mut header = json!({ "alg": alg, "typ": "JWT" });
        if let Some(kid) = kid {
            header["kid"] = kid.into();
        }
        let header = b64(header.to_string().as_bytes());
        let payload = b64(claims.to_string().as_bytes());
        let signature = if alg.eq_ignore_ascii_case("none") {
            ""
        } else {
            "c2ln"
        };
        return format!("{header}.{payload}.{signature}");
    }
    let alg: Algorithm = alg
        .parse()
        .expect("case table algorithm is known to jsonwebtoken");
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    if let Some(crit) = extra_header.get("crit") {
        header.crit = serde_json::from_value(crit.clone()).ok();
    }
    jsonwebtoken::encode(&header, claims, &encoding_key(key)).expect("test token signs")
}

/// `token` with its payload replaced by `claims`, header and signature kept.
fn with_payload(token: &str, claims: &Value) -> String {
    let mut parts = token.split('.');
    let header = parts.next().unwrap_or_default();
    let _ = parts.next();
    let signature = parts.next().unwrap_or_default();
    format!(
        "{header}.{}.{signature}",
        b64(claims.to_string().as_bytes())
    )
}

/// `token` with the first byte of its signature flipped.
fn with_flipped_signature(token: &str) -> String {
    let (message, signature) = token.rsplit_once('.').expect("token has a signature");
    let mut bytes = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("signature is base64url");
    bytes[0] ^= 0x01;
    format!("{message}.{}", b64(&bytes))
}
