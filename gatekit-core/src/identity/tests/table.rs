//! Runs `tests/data/identity/cases.json`: every family against every per-family case, then
//! the single cases.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::*;
use crate::identity::{IdentityError, Revocations};

const CASES: &str = include_str!("../../../tests/data/identity/cases.json");

#[derive(Deserialize)]
struct Table {
    families: Vec<Family>,
    per_family: Vec<Case>,
    single: Vec<Case>,
}

#[derive(Deserialize)]
struct Family {
    alg: String,
    key: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    alg: Option<String>,
    key: Option<String>,
    /// Absent: the family's kid; `null`: no kid; a string: that kid.
    #[serde(default, deserialize_with = "present")]
    kid: Option<Option<String>>,
    #[serde(default)]
    header: Value,
    #[serde(default)]
    set: BTreeMap<String, Value>,
    tamper: Option<String>,
    revoked: Option<String>,
    keyset: Option<String>,
    groups_claim: Option<String>,
    require_groups: Option<bool>,
    expect: String,
    #[serde(default)]
    expect_by_alg: BTreeMap<String, String>,
    groups: Option<Vec<String>>,
}

/// Tells an absent field (outer `None`, via `default`) from an explicit `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The variant's name, as the table writes it. Exhaustive, so a new variant needs a name here.
fn variant(error: &IdentityError) -> &'static str {
    match error {
        IdentityError::TooLarge { .. } => "TooLarge",
        IdentityError::Malformed { .. } => "Malformed",
        IdentityError::AlgNone => "AlgNone",
        IdentityError::UnsupportedAlgorithm { .. } => "UnsupportedAlgorithm",
        IdentityError::AlgorithmConfusion { .. } => "AlgorithmConfusion",
        IdentityError::UnsupportedCritical => "UnsupportedCritical",
        IdentityError::UnknownKid { .. } => "UnknownKid",
        IdentityError::NoKeyForAlgorithm { .. } => "NoKeyForAlgorithm",
        IdentityError::AmbiguousKey { .. } => "AmbiguousKey",
        IdentityError::KeyConflict { .. } => "KeyConflict",
        IdentityError::BadSignature => "BadSignature",
        IdentityError::MissingClaim { .. } => "MissingClaim",
        IdentityError::InvalidClaim { .. } => "InvalidClaim",
        IdentityError::Expired { .. } => "Expired",
        IdentityError::NotYetValid { .. } => "NotYetValid",
        IdentityError::WrongIssuer { .. } => "WrongIssuer",
        IdentityError::WrongAudience { .. } => "WrongAudience",
        IdentityError::MissingGroups { .. } => "MissingGroups",
        IdentityError::InvalidGroups { .. } => "InvalidGroups",
        IdentityError::Revoked { .. } => "Revoked",
        IdentityError::InvalidConfig { .. } => "InvalidConfig",
        IdentityError::WeakSecret { .. } => "WeakSecret",
        IdentityError::InvalidJwks { .. } => "InvalidJwks",
        IdentityError::InvalidRevocation { .. } => "InvalidRevocation",
        IdentityError::Mint { .. } => "Mint",
    }
}

/// Runs one case; returns a description of the mismatch, if any.
fn run(case: &Case, alg: &str, key: &str, family_kid: Option<&str>) -> Option<String> {
    let now = now();
    let mut claims = base_claims(now);
    for (name, value) in &case.set {
        match (name.as_str(), value) {
            (_, Value::Null) => {
                claims
                    .as_object_mut()
                    .expect("claims are an object")
                    .remove(name);
            }
            ("exp" | "nbf" | "iat", Value::Number(offset)) => {
                let offset = offset.as_i64().expect("time offsets are whole seconds");
                claims[name] = (now.as_second() + offset).into();
            }
            _ => claims[name] = value.clone(),
        }
    }
    let kid = match &case.kid {
        None => family_kid,
        Some(kid) => kid.as_deref(),
    };
    let mut token = sign(alg, key, kid, &case.header, &claims);
    match case.tamper.as_deref() {
        None => {}
        Some("signature") => token = with_flipped_signature(&token),
        Some("payload") => {
            let mut forged = claims.clone();
            forged["sub"] = "mallory".into();
            token = with_payload(&token, &forged);
        }
        Some(other) => panic!("unknown tamper {other:?}"),
    }

    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    if let Some(claim) = &case.groups_claim {
        config.groups_claim = claim.clone();
    }
    if let Some(required) = case.require_groups {
        config.require_groups = required;
    }
    let keys = keyset(case.keyset.as_deref().unwrap_or("jwks+hs256"));
    let mut verifier = Verifier::new(config, keys).expect("case config is valid");
    if let Some(text) = &case.revoked {
        verifier.set_revocations(Revocations::parse(text).expect("case revocations parse"));
    }

    let expected = case.expect_by_alg.get(alg).unwrap_or(&case.expect);
    match (verifier.verify(&token, now), expected.as_str()) {
        (Ok(identity), "ok") => {
            let want = case.groups.as_deref().unwrap_or_default();
            let ok = identity.subject == "alice"
                && identity.groups == want
                && identity.email.as_deref() == Some("alice@example.com")
                && identity.token_id.as_deref() == Some("tok-1")
                && identity.expires_at.map(|t| t.as_second()) == claims["exp"].as_i64();
            (!ok).then(|| format!("accepted, but with the wrong identity {identity:?}"))
        }
        (Ok(identity), want) => Some(format!("accepted as {identity:?}, expected {want}")),
        (Err(e), want) if variant(&e) == want => None,
        (Err(e), want) => Some(format!(
            "refused with {} ({e}), expected {want}",
            variant(&e)
        )),
    }
}

#[test]
fn case_table() {
    let table: Table = serde_json::from_str(CASES).expect("case table parses");
    let mut failures = Vec::new();
    let mut ran = 0;
    for family in &table.families {
        for case in &table.per_family {
            ran += 1;
            if let Some(why) = run(case, &family.alg, &family.key, family.kid.as_deref()) {
                failures.push(format!("{} / {}: {why}", family.alg, case.name));
            }
        }
    }
    for case in &table.single {
        ran += 1;
        let alg = case.alg.as_deref().expect("single cases name their alg");
        let key = case.key.as_deref().expect("single cases name their key");
        if let Some(why) = run(case, alg, key, None) {
            failures.push(format!("{}: {why}", case.name));
        }
    }
    assert!(ran > 200, "the table shrank to {ran} cases");
    assert!(
        failures.is_empty(),
        "{} of {ran} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
