//! Properties: no single-byte change to a valid token's payload verifies, and no input panics.

use proptest::prelude::*;

use super::*;

fn valid_tokens() -> Vec<String> {
    let claims = base_claims(now());
    vec![
        sign("RS256", "rsa-1", Some("rsa-1"), &Value::Null, &claims),
        sign("ES256", "ec-p256", Some("ec-p256"), &Value::Null, &claims),
        sign("EdDSA", "ed25519", Some("ed-1"), &Value::Null, &claims),
        sign("HS256", "hs256", None, &Value::Null, &claims),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn changing_one_payload_byte_never_verifies(
        which in 0usize..4,
        position in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
    ) {
        let verifier = verifier(keyset("jwks+hs256"));
        let token = valid_tokens().swap_remove(which);
        prop_assert!(verifier.verify(&token, now()).is_ok());
        let start = token.find('.').expect("header ends") + 1;
        let end = token.rfind('.').expect("signature starts");
        let at = start + position.index(end - start);
        let mut bytes = token.into_bytes();
        prop_assume!(bytes[at] != replacement);
        bytes[at] = replacement;
        let changed = String::from_utf8_lossy(&bytes);
        prop_assert!(verifier.verify(&changed, now()).is_err());
    }

    #[test]
    fn arbitrary_strings_never_panic(token in any::<String>()) {
        let verifier = verifier(keyset("jwks+hs256"));
        let _ = verifier.verify(&token, now());
    }

    #[test]
    fn token_shaped_strings_never_panic(
        token in "[A-Za-z0-9_=-]{0,60}\\.[A-Za-z0-9_-]{0,200}\\.[A-Za-z0-9_-]{0,120}",
    ) {
        let verifier = verifier(keyset("jwks+hs256"));
        prop_assert!(verifier.verify(&token, now()).is_err());
    }

    #[test]
    fn arbitrary_headers_and_payloads_never_panic(
        header in any::<String>(),
        payload in any::<String>(),
        kid in proptest::option::of("[a-z0-9-]{0,12}"),
        alg in prop::sample::select(vec!["RS256", "ES256", "EdDSA", "HS256", "none", "PS512", "XX"]),
    ) {
        let verifier = verifier(keyset("jwks+hs256"));
        let mut h = json!({ "alg": alg, "junk": header });
        if let Some(kid) = kid {
            h["kid"] = kid.into();
        }
        let token = format!("{}.{}.{}", b64(h.to_string().as_bytes()), b64(payload.as_bytes()), b64(b"sig"));
        prop_assert!(verifier.verify(&token, now()).is_err());
        let raw = format!("{}.{}.c2ln", b64(header.as_bytes()), b64(payload.as_bytes()));
        prop_assert!(verifier.verify(&raw, now()).is_err());
    }
}
