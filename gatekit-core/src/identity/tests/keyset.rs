//! Key sets, configuration checks and token shapes refused before any key is used.

use super::*;
use crate::identity::{IdentityError, MAX_JWKS_KEYS, MAX_TOKEN_BYTES, TokenPart};

#[test]
fn the_committed_jwks_loads_with_its_unusable_key_kept() {
    let keys = jwks();
    let ids: Vec<&str> = keys.key_ids().collect();
    assert_eq!(
        ids,
        [
            "rsa-1",
            "rsa-1-rs256",
            "rsa-enc",
            "ec-p256",
            "ec-p384",
            "ed-1"
        ]
    );
    // The encryption key is listed but cannot verify.
    assert_eq!(keys.usable_keys(), 5);
    assert!(!keys.has_hs256_secret());
    assert!(keys.with_hs256_secret(&secret()).has_hs256_secret());
}

#[test]
fn unusable_jwks_documents_are_refused() {
    let oversized = format!(
        "{{\"keys\": [], \"pad\": \"{}\"}}",
        "x".repeat(crate::identity::MAX_JWKS_BYTES)
    );
    let too_many = format!(
        "{{\"keys\": [{}]}}",
        vec![r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#; MAX_JWKS_KEYS + 1].join(",")
    );
    let cases = [
        ("not JSON", "{".to_owned()),
        ("no keys array", r#"{"key": []}"#.to_owned()),
        ("empty", r#"{"keys": []}"#.to_owned()),
        (
            "only a symmetric key",
            r#"{"keys": [{"kty":"oct","k":"c2VjcmV0","kid":"s"}]}"#.to_owned(),
        ),
        (
            "RSA modulus too small",
            r#"{"keys": [{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"small"}]}"#.to_owned(),
        ),
        (
            "EC point of the wrong size",
            r#"{"keys": [{"kty":"EC","crv":"P-256","x":"AQAB","y":"AQAB"}]}"#.to_owned(),
        ),
        (
            "unsupported curve",
            r#"{"keys": [{"kty":"OKP","crv":"X25519","x":"AQAB"}]}"#.to_owned(),
        ),
        ("oversized", oversized),
        ("too many keys", too_many),
    ];
    for (what, json) in cases {
        match KeySet::from_jwks_json(json.as_bytes()) {
            Err(IdentityError::InvalidJwks { .. }) => {}
            other => panic!("{what}: expected InvalidJwks, got {other:?}"),
        }
    }
}

#[test]
fn a_broken_key_does_not_spoil_the_rest_and_is_reported_by_kid() {
    let mut doc: serde_json::Value = serde_json::from_str(JWKS).expect("fixture is JSON");
    let keys = doc["keys"].as_array_mut().expect("fixture has keys");
    keys.push(json!({ "kty": "EC", "crv": "P-256", "kid": "broken", "x": "!!", "y": "!!" }));
    keys.push(json!({ "kty": "RSA", "kid": "typo", "n": 5, "e": "AQAB" }));
    let set = KeySet::from_jwks_json(doc.to_string().as_bytes()).expect("usable keys remain");
    let verifier = verifier(set);
    for kid in ["broken", "typo"] {
        let alg = if kid == "broken" { "ES256" } else { "RS256" };
        let key = if kid == "broken" { "ec-p256" } else { "rsa-1" };
        let token = sign(alg, key, Some(kid), &Value::Null, &base_claims(now()));
        match verifier.verify(&token, now()) {
            Err(IdentityError::KeyConflict {
                kid: Some(k),
                conflict: crate::identity::KeyConflict::Unusable { .. },
                ..
            }) => {
                assert_eq!(k, kid);
            }
            other => panic!("{kid}: expected an unusable-key conflict, got {other:?}"),
        }
    }
    let token = sign(
        "ES256",
        "ec-p256",
        Some("ec-p256"),
        &Value::Null,
        &base_claims(now()),
    );
    assert!(verifier.verify(&token, now()).is_ok());
}

#[test]
fn an_empty_key_set_refuses_everything() {
    let verifier = verifier(KeySet::empty());
    assert!(verifier.keys().is_empty());
    let claims = base_claims(now());
    for (alg, key, kid) in [
        ("RS256", "rsa-1", Some("rsa-1")),
        ("ES256", "ec-p256", None),
        ("HS256", "hs256", None),
    ] {
        let token = sign(alg, key, kid, &Value::Null, &claims);
        assert!(
            verifier.verify(&token, now()).is_err(),
            "{alg} accepted by an empty set"
        );
    }
}

#[test]
fn set_keys_and_verify_with_keys_use_the_new_keys() {
    let claims = base_claims(now());
    let token = sign("RS256", "rsa-1", Some("rsa-1"), &Value::Null, &claims);
    let mut verifier = verifier(KeySet::from_hs256_secret(&secret()));
    assert!(verifier.verify(&token, now()).is_err());
    assert!(verifier.verify_with_keys(&jwks(), &token, now()).is_ok());
    verifier.set_keys(jwks());
    assert!(verifier.verify(&token, now()).is_ok());
}

#[test]
fn secrets_stay_out_of_debug_output_and_short_ones_are_refused() {
    let text = format!("{:?} {:?}", secret(), keyset("jwks+hs256"));
    assert!(!text.contains("gatekit test secret"), "{text}");
    assert!(text.contains("redacted"), "{text}");
    let short = Hs256Secret::new(b"short".to_vec());
    assert!(matches!(
        short,
        Err(IdentityError::WeakSecret { len: 5, min: 32 })
    ));
}

#[test]
fn bad_configurations_name_their_field() {
    type Break = fn(&mut VerifierConfig);
    let cases: [(&str, Break); 5] = [
        ("issuer", |c| c.issuer.clear()),
        ("audience", |c| c.audience.clear()),
        ("groups_claim", |c| c.groups_claim = " ".into()),
        ("leeway", |c| c.leeway = jiff::SignedDuration::from_secs(-1)),
        ("leeway", |c| {
            c.leeway = jiff::SignedDuration::from_secs(301)
        }),
    ];
    for (field, break_it) in cases {
        let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
        break_it(&mut config);
        match Verifier::new(config, jwks()) {
            Err(IdentityError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected InvalidConfig, got {other:?}"),
        }
    }
}

#[test]
fn leeway_is_configurable() {
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.leeway = jiff::SignedDuration::ZERO;
    let strict = Verifier::new(config, jwks()).expect("zero leeway is valid");
    let mut claims = base_claims(now());
    claims["exp"] = (now().as_second() - 1).into();
    let token = sign("ES256", "ec-p256", Some("ec-p256"), &Value::Null, &claims);
    assert!(matches!(
        strict.verify(&token, now()),
        Err(IdentityError::Expired { .. })
    ));
    assert!(verifier(jwks()).verify(&token, now()).is_ok());
}

#[test]
fn oversized_and_misshapen_tokens_are_refused_without_echoing_them() {
    let good = sign(
        "ES256",
        "ec-p256",
        Some("ec-p256"),
        &Value::Null,
        &base_claims(now()),
    );
    let (header, rest) = good.split_once('.').expect("three segments");
    let (payload, signature) = rest.split_once('.').expect("three segments");
    let big = format!("{header}.{}.{signature}", "A".repeat(MAX_TOKEN_BYTES));
    let not_json = b64(b"not json");
    let array_payload = b64(b"[1,2]");
    let cases = [
        (big.clone(), "TooLarge"),
        (String::new(), "Malformed"),
        (format!("{header}.{payload}"), "Malformed"),
        (format!("{good}.extra"), "Malformed"),
        (format!(".{payload}.{signature}"), "Malformed"),
        (format!("{header}.{payload}."), "Malformed"),
        (format!("{header}=.{payload}.{signature}"), "Malformed"),
        (format!("{not_json}.{payload}.{signature}"), "Malformed"),
        (format!("{header}.{payload}.{signature}*"), "Malformed"),
        (
            format!("{header}.{array_payload}.{signature}"),
            "BadSignature",
        ),
    ];
    let verifier = verifier(jwks());
    for (token, want) in cases {
        let err = verifier
            .verify(&token, now())
            .expect_err("misshapen token refused");
        let name = format!("{err:?}");
        assert!(
            name.starts_with(want),
            "{token:.40}: expected {want}, got {name}"
        );
        let text = err.to_string();
        assert!(
            token.len() < 8 || !text.contains(&token),
            "error text repeats the token: {text}"
        );
        assert!(
            !text.contains(payload) && !text.contains(signature),
            "error text repeats token parts: {text}"
        );
    }
    let err = verifier.verify(&big, now()).expect_err("too large");
    assert_eq!(
        err,
        IdentityError::TooLarge {
            len: big.len(),
            max: MAX_TOKEN_BYTES
        }
    );
    let err = verifier
        .verify(&format!("{header}.{payload}."), now())
        .expect_err("no signature");
    assert_eq!(
        err,
        IdentityError::Malformed {
            part: TokenPart::Signature,
            reason: "empty"
        }
    );
}

#[test]
fn long_key_ids_match_in_full() {
    let mut doc: serde_json::Value = serde_json::from_str(JWKS).expect("fixture is JSON");
    let long = format!("{}-a", "k".repeat(100));
    let near = format!("{}-b", "k".repeat(100));
    assert_eq!(doc["keys"][3]["kid"], "ec-p256");
    doc["keys"][3]["kid"] = long.clone().into();
    let verifier = verifier(KeySet::from_jwks_json(doc.to_string().as_bytes()).expect("loads"));
    let claims = base_claims(now());
    let token = sign("ES256", "ec-p256", Some(&long), &Value::Null, &claims);
    assert!(verifier.verify(&token, now()).is_ok());
    let token = sign("ES256", "ec-p256", Some(&near), &Value::Null, &claims);
    assert!(matches!(
        verifier.verify(&token, now()),
        Err(IdentityError::UnknownKid { .. })
    ));
}

#[test]
fn token_supplied_values_in_errors_are_cut_short() {
    let kid = "k".repeat(500);
    let token = sign(
        "ES256",
        "ec-p256",
        Some(&kid),
        &Value::Null,
        &base_claims(now()),
    );
    let err = verifier(jwks())
        .verify(&token, now())
        .expect_err("unknown kid");
    assert!(err.needs_key_refresh());
    assert!(err.to_string().len() < 200, "{err}");
}
