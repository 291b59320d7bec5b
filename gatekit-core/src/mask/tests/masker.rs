//! Compiling profiles, finding and masking whole inputs, result cells.

use crate::mask::{
    BUILT_IN_DETECTORS, CellOutcome, ColumnRef, DetectorSpec, Finding, MaskError, MaskSpec, Masker,
    Strategy, ValueKind,
};

fn compile(spec: &MaskSpec, custom: &[DetectorSpec]) -> Masker {
    Masker::compile(spec, custom).unwrap_or_else(|e| panic!("{e}"))
}

fn err(spec: &MaskSpec, custom: &[DetectorSpec]) -> MaskError {
    match Masker::compile(spec, custom) {
        Ok(m) => panic!("compiled: {m:?}"),
        Err(e) => e,
    }
}

#[test]
fn errors_name_the_profile_and_the_detector() {
    let e = err(&MaskSpec::new("pii", ["email", "emial"]), &[]);
    assert!(
        matches!(&e, MaskError::UnknownDetector { profile, detector } if profile == "pii" && detector == "emial")
    );
    assert!(e.to_string().contains("credit_card, email"), "{e}");

    let bad = [DetectorSpec::regex("emp", "EMP-[0-9")];
    let e = err(&MaskSpec::new("pii", ["emp"]), &bad);
    assert!(
        matches!(&e, MaskError::BadRegex { detector, .. } if detector == "emp"),
        "{e}"
    );

    let empty = [DetectorSpec::regex("opt", "x?")];
    assert!(matches!(
        err(&MaskSpec::new("p", ["opt"]), &empty),
        MaskError::RegexMatchesEmpty { .. }
    ));

    let no_terms = [DetectorSpec::terms("names", Vec::<String>::new())];
    assert!(matches!(
        err(&MaskSpec::new("p", ["names"]), &no_terms),
        MaskError::EmptyTerms { .. }
    ));
    let blank = [DetectorSpec::terms("names", ["ok", ""])];
    assert!(matches!(
        err(&MaskSpec::new("p", ["names"]), &blank),
        MaskError::BadTerm { index: 1, .. }
    ));

    let clash = [DetectorSpec::regex("email", "x+")];
    assert!(matches!(
        err(&MaskSpec::new("p", ["phone"]), &clash),
        MaskError::DuplicateDetector { .. }
    ));

    let mut hash = MaskSpec::new("p", ["email"]);
    hash.strategy = Strategy::Hash;
    assert!(matches!(err(&hash, &[]), MaskError::HashKeyMissing { .. }));
    hash.hash_key = Some(Vec::new());
    assert!(matches!(err(&hash, &[]), MaskError::EmptyHashKey { .. }));

    let mut glob = MaskSpec::new("p", ["email"]);
    glob.columns = vec!["ca[rd".into()];
    assert!(
        matches!(err(&glob, &[]), MaskError::BadColumnGlob { pattern, .. } if pattern == "ca[rd")
    );

    let mut marker = MaskSpec::new("p", ["credit_card"]);
    marker.marker = Some("<{detector} 4111111111111111>".into());
    assert!(
        matches!(err(&marker, &[]), MaskError::MarkerDetectable { detector, .. } if detector == "credit_card")
    );
    marker.marker = Some(String::new());
    assert!(matches!(err(&marker, &[]), MaskError::BadMarker { .. }));

    assert!(matches!(
        err(&MaskSpec::new("p", Vec::<String>::new()), &[]),
        MaskError::NothingToMask { .. }
    ));
}

#[test]
fn hash_keys_do_not_leak_through_debug() {
    let mut spec = MaskSpec::new("p", ["email"]);
    spec.hash_key = Some(b"super-secret".to_vec());
    assert!(!format!("{spec:?}").contains("super"));
    let m = compile(&spec, &[]);
    assert!(!format!("{m:?}").contains("super"));
}

#[test]
fn findings_name_their_detector() {
    let custom = [
        DetectorSpec::regex("employee_id", r"\bEMP-[0-9]{6}\b"),
        DetectorSpec::terms("codenames", ["Blue Heron", "falcon"]),
    ];
    let mut spec = MaskSpec::new("p", BUILT_IN_DETECTORS.iter().copied());
    spec.detectors
        .extend(["employee_id".into(), "codenames".into()]);
    let m = compile(&spec, &custom);
    let input = b"EMP-001234 (FALCON, blue heron, falconry) mailed bob@example.com from 10.1.2.3";
    let found = m.find(input);
    let named: Vec<(&str, &str)> = found
        .iter()
        .map(|f: &Finding<'_>| {
            (
                f.detector,
                std::str::from_utf8(&input[f.start..f.end]).unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            ("employee_id", "EMP-001234"),
            ("codenames", "FALCON"),
            ("codenames", "blue heron"),
            ("email", "bob@example.com"),
            ("ipv4", "10.1.2.3"),
        ]
    );
    assert_eq!(m.detectors().count(), BUILT_IN_DETECTORS.len() + 2);
}

#[test]
fn overlapping_values_mask_as_one() {
    let m = compile(&MaskSpec::new("p", ["jwt", "bearer_token"]), &[]);
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
    let line = format!("Authorization: Bearer {jwt}\r\n");
    assert_eq!(
        m.mask(line.as_bytes()).as_ref(),
        b"Authorization: Bearer [REDACTED:jwt]\r\n"
    );
}

#[test]
fn cells_are_masked_by_column_or_by_content() {
    let mut spec = MaskSpec::new("p", ["credit_card", "email"]);
    spec.columns = vec!["ssn".into(), "*card*".into(), "hr.salaries.amount".into()];
    let m = compile(&spec, &[]);

    let ssn = m.column(
        &ColumnRef::of_table(Some("public"), "people", "ssn"),
        ValueKind::Text,
    );
    assert!(ssn.masked_whole());
    assert_eq!(
        m.mask_cell(&ssn, b"whatever"),
        CellOutcome::Masked(b"[REDACTED:column]".to_vec())
    );

    let note = m.column(&ColumnRef::named("note"), ValueKind::Text);
    assert_eq!(m.mask_cell(&note, b"nothing here"), CellOutcome::Unchanged);
    assert_eq!(
        m.mask_cell(&note, b"mail bob@example.com"),
        CellOutcome::Masked(b"mail [REDACTED:email]".to_vec())
    );

    // An alias does not hide the real column: the gateway passes the real identity.
    let aliased = m.column(
        &ColumnRef::of_table(Some("hr"), "salaries", "amount"),
        ValueKind::Numeric,
    );
    assert_eq!(m.mask_cell(&aliased, b"1200.50"), CellOutcome::DoesNotFit);

    let id = m.column(&ColumnRef::named("id"), ValueKind::Int64);
    assert_eq!(m.mask_cell(&id, b"42"), CellOutcome::Unchanged);
    assert_eq!(
        m.mask_cell(&id, b"4111111111111111"),
        CellOutcome::DoesNotFit
    );

    let doc = m.column(&ColumnRef::named("doc"), ValueKind::Json);
    assert_eq!(
        m.mask_cell(&doc, br#"{"to":"bob@example.com"}"#),
        CellOutcome::Masked(br#"{"to":"[REDACTED:email]"}"#.to_vec())
    );
}

#[test]
fn format_preserving_numbers_still_fit() {
    let mut spec = MaskSpec::new("p", ["credit_card"]);
    spec.strategy = Strategy::FormatPreserving;
    spec.hash_key = Some(b"k".to_vec());
    spec.columns = vec!["pin".into()];
    let m = compile(&spec, &[]);
    let card = m.column(&ColumnRef::named("card"), ValueKind::Int64);
    match m.mask_cell(&card, b"4111111111111111") {
        CellOutcome::Masked(v) => {
            assert_eq!(v.len(), 16);
            assert!(v.iter().all(u8::is_ascii_digit));
            assert_ne!(v, b"4111111111111111");
        }
        other => panic!("{other:?}"),
    }
    let pin = m.column(&ColumnRef::named("pin"), ValueKind::Int16);
    assert!(matches!(m.mask_cell(&pin, b"1234"), CellOutcome::Masked(v) if v.len() == 4));
}

#[test]
fn hash_tokens_are_stable_across_maskers() {
    let mut spec = MaskSpec::new("p", ["email"]);
    spec.strategy = Strategy::Hash;
    spec.hash_key = Some(b"shared".to_vec());
    let a = compile(&spec, &[]);
    let b = compile(&spec, &[]);
    let line = b"from bob@example.com";
    assert_eq!(a.mask(line), b.mask(line));
    assert_ne!(a.mask(line), a.mask(b"from eve@example.com"));
}

/// Inputs the fuzzer found masking differently on a second pass.
#[test]
fn masked_output_masks_to_itself() {
    let m = compile(&MaskSpec::new("p", BUILT_IN_DETECTORS.iter().copied()), &[]);
    for input in [
        // The credential runs on past the token the bearer check takes.
        "curl -H \"Authorization: Bearer tok_3m_HhcgQIvPUIMmI33Rs\u{27e7}\\n\"",
        // A bare number after a marker that names a context word.
        "Tel.: (497) 606-4313 6216974706",
        // A value too long to be a password, after a short one.
        &format!(
            "password=hunter2\nmysql_pwd={}",
            "Wq4bLw6nquSOI092".repeat(40)
        ),
    ] {
        let once = m.mask(input.as_bytes()).into_owned();
        assert_eq!(m.mask(&once).as_ref(), once.as_slice(), "{input:?}");
    }
}

#[test]
fn short_digit_runs_anchor_values_only_with_a_separated_digit_after_them() {
    let m = compile(&MaskSpec::new("p", BUILT_IN_DETECTORS.iter().copied()), &[]);
    // Padding past the short-input size runs both scanning paths.
    let pad = " status=200 dur=12ms bytes=4567 at 12:34:56".repeat(3);
    for (value, detector) in [
        ("1 (415) 555-2671", "phone"),
        ("1 415 555 2671", "phone"),
        ("234-56-7890", "us_ssn"),
        ("192.168.1.20", "ipv4"),
        ("4111 1111 1111 1111", "credit_card"),
        ("020 7946 0958", "phone"),
    ] {
        for text in [format!("x {value} y"), format!("x {value} y{pad}")] {
            let found = m.find(text.as_bytes());
            let spans: Vec<_> = found
                .iter()
                .map(|f| (f.detector, &text[f.start..f.end]))
                .collect();
            assert_eq!(spans, [(detector, value)], "{text:?}");
        }
    }
}
