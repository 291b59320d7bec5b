//! Minted development tokens verify with the same configuration and nothing else.

use super::*;
use crate::identity::{IdentityError, MintClaims, mint_hs256};

#[test]
fn minted_tokens_round_trip_with_every_field() {
    let groups = vec!["dev".to_owned(), "dba".to_owned()];
    for claim in ["groups", "realm_access.roles", "https://example.com/groups"] {
        let claims = MintClaims {
            groups_claim: claim,
            groups: &groups,
            email: Some("alice@example.com"),
            token_id: Some("tok-9"),
            ..MintClaims::new(ISSUER, AUDIENCE, "alice")
        };
        let token = mint_hs256(
            &claims,
            &secret(),
            now(),
            jiff::SignedDuration::from_mins(10),
        )
        .expect("mints");
        let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
        config.groups_claim = claim.to_owned();
        let verifier = Verifier::new(config, KeySet::from_hs256_secret(&secret())).expect("valid");
        let identity = verifier
            .verify(&token, now())
            .expect("minted token verifies");
        assert_eq!(identity.subject, "alice");
        assert_eq!(identity.groups, groups, "{claim}");
        assert_eq!(identity.email.as_deref(), Some("alice@example.com"));
        assert_eq!(identity.token_id.as_deref(), Some("tok-9"));
        assert_eq!(
            identity.expires_at.map(|t| t.as_second()),
            Some(now().as_second() + 600)
        );
        // Ten minutes and a leeway later it has expired.
        let later = now()
            .checked_add(jiff::SignedDuration::from_secs(630))
            .expect("in range");
        assert!(matches!(
            verifier.verify(&token, later),
            Err(IdentityError::Expired { .. })
        ));
    }
}

#[test]
fn minted_tokens_do_not_verify_with_another_secret_or_audience() {
    let claims = MintClaims::new(ISSUER, AUDIENCE, "alice");
    let token = mint_hs256(
        &claims,
        &secret(),
        now(),
        jiff::SignedDuration::from_hours(1),
    )
    .expect("mints");
    let other = Hs256Secret::new(b"another secret that is long enough!!".to_vec()).expect("long");
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.require_groups = false;
    let verifier = Verifier::new(config.clone(), KeySet::from_hs256_secret(&other)).expect("valid");
    assert_eq!(
        verifier.verify(&token, now()),
        Err(IdentityError::BadSignature)
    );
    config.audience = "elsewhere".into();
    let verifier = Verifier::new(config, KeySet::from_hs256_secret(&secret())).expect("valid");
    assert!(matches!(
        verifier.verify(&token, now()),
        Err(IdentityError::WrongAudience { .. })
    ));
}

#[test]
fn minting_refuses_bad_input() {
    let ok = MintClaims::new(ISSUER, AUDIENCE, "alice");
    let hour = jiff::SignedDuration::from_hours(1);
    let cases = [
        (MintClaims { subject: "", ..ok }, hour),
        (MintClaims { issuer: "", ..ok }, hour),
        (
            MintClaims {
                groups_claim: "",
                ..ok
            },
            hour,
        ),
        (ok, jiff::SignedDuration::ZERO),
        (ok, jiff::SignedDuration::from_hours(-1)),
        (ok, jiff::SignedDuration::from_hours(24 * 31)),
    ];
    for (claims, ttl) in cases {
        let result = mint_hs256(&claims, &secret(), now(), ttl);
        assert!(
            matches!(result, Err(IdentityError::Mint { .. })),
            "{claims:?} {ttl:?}: {result:?}"
        );
    }
}
