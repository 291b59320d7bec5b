//! The masker on arbitrary bytes: findings are ordered, disjoint and in bounds; the output is
//! the input with exactly the findings replaced; cells of every kind are handled.

#![no_main]

use std::sync::LazyLock;

use gatekit_core::mask::{
    BUILT_IN_DETECTORS, ColumnRef, DetectorSpec, MaskSpec, Masker, ValueKind,
};
use libfuzzer_sys::fuzz_target;

static MASKER: LazyLock<Masker> = LazyLock::new(|| {
    let custom = [
        DetectorSpec::regex("employee_id", r"\bEMP-[0-9]{6}\b"),
        DetectorSpec::terms("codenames", ["falcon", "blue heron"]),
    ];
    let mut spec = MaskSpec::new("fuzz", BUILT_IN_DETECTORS.iter().copied());
    spec.detectors
        .extend(["employee_id".into(), "codenames".into()]);
    Masker::compile(&spec, &custom).expect("profile")
});

fuzz_target!(|data: &[u8]| {
    let m = &*MASKER;
    let found = m.find(data);
    let mut at = 0;
    for f in &found {
        assert!(at <= f.start && f.start < f.end && f.end <= data.len());
        at = f.end;
    }
    // The output is the input with each finding replaced by its marker, nothing else.
    let masked = m.mask(data);
    let mut expected = Vec::new();
    let mut at = 0;
    for f in &found {
        expected.extend_from_slice(&data[at..f.start]);
        expected.extend_from_slice(format!("[REDACTED:{}]", f.detector).as_bytes());
        at = f.end;
    }
    expected.extend_from_slice(&data[at..]);
    assert_eq!(&*masked, expected.as_slice());
    for kind in [
        ValueKind::Text,
        ValueKind::Int64,
        ValueKind::Numeric,
        ValueKind::Json,
    ] {
        let column = m.column(&ColumnRef::named("note"), kind);
        let _ = m.mask_cell(&column, data);
    }
});
