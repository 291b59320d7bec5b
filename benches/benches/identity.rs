//! Token verification per algorithm family, with the identity test keys.

use criterion::{Criterion, criterion_group, criterion_main};
use gatekit_core::identity::{Hs256Secret, KeySet, Verifier, VerifierConfig};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../gatekit-core/tests/data/identity/", $name))
    };
}

const SECRET: &[u8] = b"gatekit bench secret, long enough for HS256";

fn verify(c: &mut Criterion) {
    let now = jiff::Timestamp::from_second(1_700_000_000).expect("fixed time in range");
    let secret = Hs256Secret::new(SECRET.to_vec()).expect("long enough");
    let keys = KeySet::from_jwks_json(fixture!("jwks.json"))
        .expect("fixture JWKS loads")
        .with_hs256_secret(&secret);
    let verifier = Verifier::new(
        VerifierConfig::new("https://idp.example.com/", "gatekit"),
        keys,
    )
    .expect("valid config");
    let claims = serde_json::json!({
        "iss": "https://idp.example.com/", "aud": ["gatekit", "other"], "sub": "alice",
        "email": "alice@example.com", "jti": "tok-1", "groups": ["dev", "ops", "dba"],
        "iat": now.as_second(), "exp": now.as_second() + 300,
    });
    let rsa = fixture!("rsa-1.pem");
    let families = [
        (
            "RS256",
            Algorithm::RS256,
            Some("rsa-1"),
            EncodingKey::from_rsa_pem(rsa),
        ),
        (
            "PS256",
            Algorithm::PS256,
            Some("rsa-1"),
            EncodingKey::from_rsa_pem(rsa),
        ),
        (
            "ES256",
            Algorithm::ES256,
            Some("ec-p256"),
            EncodingKey::from_ec_pem(fixture!("ec-p256.pem")),
        ),
        (
            "ES384",
            Algorithm::ES384,
            Some("ec-p384"),
            EncodingKey::from_ec_pem(fixture!("ec-p384.pem")),
        ),
        (
            "EdDSA",
            Algorithm::EdDSA,
            Some("ed-1"),
            EncodingKey::from_ed_pem(fixture!("ed25519.pem")),
        ),
        (
            "HS256",
            Algorithm::HS256,
            None,
            Ok(EncodingKey::from_secret(SECRET)),
        ),
    ];
    let mut group = c.benchmark_group("identity_verify");
    for (name, alg, kid, key) in families {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        let key = key.expect("fixture key loads");
        let token = jsonwebtoken::encode(&header, &claims, &key).expect("signs");
        assert!(
            verifier.verify(&token, now).is_ok(),
            "{name} token verifies"
        );
        group.bench_function(name, |b| {
            b.iter(|| verifier.verify(std::hint::black_box(&token), now))
        });
    }
    let garbage = "x".repeat(4000);
    group.bench_function("refused_malformed", |b| {
        b.iter(|| verifier.verify(std::hint::black_box(&garbage), now))
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
