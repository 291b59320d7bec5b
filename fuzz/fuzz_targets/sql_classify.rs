//! Arbitrary bytes into the SQL classifier: it must not panic, must stay within its budget,
//! and must classify any non-empty text as something.

#![no_main]

use std::sync::OnceLock;

use gatekit_core::sql::{ClassifierCache, SqlClassifier, SqlContext, SqlOptions, redact_secrets};
use libfuzzer_sys::fuzz_target;

fn classifier() -> &'static SqlClassifier {
    static C: OnceLock<SqlClassifier> = OnceLock::new();
    C.get_or_init(|| SqlClassifier::new(SqlOptions::default()))
}

fuzz_target!(|data: &[u8]| {
    let ctx = SqlContext::default();
    let analysis = classifier().classify(data, &ctx);
    assert!(data.is_empty() || !analysis.classes().is_empty(), "no class for {data:?}");
    let mut cache = ClassifierCache::new(4, 1 << 10);
    let cached = cache.get_or_classify(classifier(), data, &ctx);
    assert_eq!(*cached, analysis);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = redact_secrets(text);
    }
});
