//! The stream masker on arbitrary bytes cut into arbitrary chunks: the output does not depend
//! on the chunking, matches whole-input masking when there are no escape sequences, and the
//! bytes held back stay bounded.

#![no_main]

use std::sync::{Arc, LazyLock};

use gatekit_core::mask::{BUILT_IN_DETECTORS, DetectorSpec, MaskSpec, Masker, StreamMasker};
use libfuzzer_sys::fuzz_target;

static MASKER: LazyLock<Arc<Masker>> = LazyLock::new(|| {
    let custom = [DetectorSpec::regex("employee_id", r"\bEMP-[0-9]{6}\b")];
    let mut spec = MaskSpec::new("fuzz", BUILT_IN_DETECTORS.iter().copied());
    spec.detectors.push("employee_id".into());
    Arc::new(Masker::compile(&spec, &custom).expect("profile"))
});

fn run(input: &[u8], sizes: &[u8]) -> Vec<u8> {
    let mut stream = StreamMasker::new(Arc::clone(&MASKER));
    let mut out = Vec::new();
    let mut rest = input;
    for &size in sizes
        .iter()
        .cycle()
        .take(if sizes.is_empty() { 0 } else { input.len() + 1 })
    {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(usize::from(size).min(rest.len()));
        stream.push(chunk, &mut out);
        assert!(stream.held() <= 64 * 1024 + 16 * 1024);
        rest = tail;
    }
    stream.push(rest, &mut out);
    stream.finish(&mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    // The first bytes give the chunk sizes, the rest is the stream.
    let split = usize::from(data.first().copied().unwrap_or(0) % 8);
    let (sizes, input) = data
        .get(1..)
        .unwrap_or_default()
        .split_at(split.min(data.len().saturating_sub(1)));
    let whole = run(input, &[]);
    assert_eq!(run(input, sizes), whole, "chunking changed the output");
    if !input.contains(&0x1b) {
        assert_eq!(MASKER.mask(input).as_ref(), whole.as_slice());
    }
});
