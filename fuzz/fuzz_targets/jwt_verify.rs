//! Arbitrary bytes as a token against a fixed key set (the identity test JWKS plus an HS256
//! secret): verification must refuse or accept without panicking.

#![no_main]

use std::sync::LazyLock;

use gatekit_core::identity::{Hs256Secret, KeySet, Verifier, VerifierConfig};
use libfuzzer_sys::fuzz_target;

const JWKS: &str = include_str!("../../gatekit-core/tests/data/identity/jwks.json");

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    let secret = Hs256Secret::new(b"gatekit fuzz secret, long enough for HS256".to_vec())
        .expect("fuzz secret is long enough");
    let keys = KeySet::from_jwks_json(JWKS.as_bytes())
        .expect("test JWKS loads")
        .with_hs256_secret(&secret);
    Verifier::new(VerifierConfig::new("https://idp.example.com/", "gatekit"), keys)
        .expect("fuzz config is valid")
});

fuzz_target!(|data: &[u8]| {
    let now = jiff::Timestamp::from_second(1_700_000_000).expect("fixed time in range");
    let token = String::from_utf8_lossy(data);
    let _ = VERIFIER.verify(&token, now);
});
