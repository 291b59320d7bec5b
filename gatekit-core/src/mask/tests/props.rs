//! Properties of masking over generated inputs.

use std::borrow::Cow;
use std::sync::Arc;

use proptest::prelude::*;

use crate::mask::scan::Hay;
use crate::mask::{
    BUILT_IN_DETECTORS, DetectorSpec, MaskSpec, Masker, Strategy as Rendering, StreamMasker,
};

fn custom() -> Vec<DetectorSpec> {
    vec![
        DetectorSpec::regex("employee_id", r"\bEMP-[0-9]{6}\b"),
        DetectorSpec::terms("codenames", ["falcon", "blue heron"]),
    ]
}

fn masker(strategy: Rendering) -> Masker {
    let mut spec = MaskSpec::new("props", BUILT_IN_DETECTORS.iter().copied());
    spec.detectors
        .extend(["employee_id".into(), "codenames".into()]);
    spec.strategy = strategy;
    spec.hash_key = Some(b"props-key".to_vec());
    Masker::compile(&spec, &custom()).unwrap_or_else(|e| panic!("{e}"))
}

fn luhn_complete(mut digits: Vec<u8>) -> String {
    let check = (0..10u8)
        .find(|&c| {
            digits.push(c);
            let ok = crate::mask::scan::luhn(&digits);
            digits.pop();
            ok
        })
        .unwrap_or(0);
    digits.push(check);
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

fn card() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            ("4", 16),
            ("51", 16),
            ("37", 15),
            ("6011", 16),
            ("3528", 16),
        ]),
        prop::collection::vec(0u8..10, 19),
        prop::sample::select(vec!["", " ", "-"]),
    )
        .prop_map(|((prefix, len), rest, sep)| {
            let mut digits: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
            digits.extend(rest.into_iter().take(len - 1 - digits.len()));
            let number = luhn_complete(digits);
            let layout: &[usize] = match (len, sep) {
                (_, "") => &[],
                (15, _) => &[4, 6, 5],
                _ => &[4, 4, 4, 4],
            };
            let mut out = String::new();
            let mut at = 0;
            for (k, g) in layout.iter().enumerate() {
                if k > 0 {
                    out.push_str(sep);
                }
                out.push_str(number.get(at..at + g).unwrap_or_default());
                at += g;
            }
            if layout.is_empty() { number } else { out }
        })
}

fn iban() -> impl Strategy<Value = String> {
    prop::collection::vec(0u8..10, 18).prop_map(|digits| {
        let bban: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        // DE: 18 digits; check digits make the rearranged number 1 mod 97.
        let rearranged = format!("{bban}131400");
        let r = rearranged
            .bytes()
            .fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97);
        format!("DE{:02}{bban}", 98 - r)
    })
}

/// A valid value of some detector, with a separator on each side.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        card(),
        "[a-z]{1,8}(\\.[a-z]{1,6})?@[a-z]{2,10}\\.(com|org|io|de)",
        (1u32..900, 1u32..100, 1u32..10000)
            .prop_filter("666", |(a, _, _)| *a != 666)
            .prop_map(|(a, g, s)| format!("{a:03}-{g:02}-{s:04}")),
        iban(),
        (1u8..=254, any::<u8>(), any::<u8>(), 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        (any::<u128>(), 1u16..).prop_map(|(x, low)| {
            std::net::Ipv6Addr::from((x & !0xFFFF) | u128::from(low)).to_string()
        }),
        "(415|212|646) 555-[0-9]{4}".prop_map(|s| format!("({}) {}", &s[..3], &s[4..])),
        "AKIA[A-Z2-7]{16}",
        "password=[A-Za-z0-9!#%]{4,16}",
        "EMP-[0-9]{6}",
        Just("falcon".to_owned()),
    ]
}

/// Text around values: words, numbers and punctuation that look a little like values.
fn filler() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .,:;@+()/=-]{0,24}"
}

fn text() -> impl Strategy<Value = (String, Vec<String>)> {
    prop::collection::vec((filler(), value()), 0..6).prop_map(|parts| {
        let mut text = String::new();
        let mut values = Vec::new();
        for (f, v) in parts {
            text.push_str(&f);
            text.push_str(" \n");
            text.push_str(&v);
            text.push_str(" \n");
            values.push(v);
        }
        (text, values)
    })
}

/// Log lines long enough for the block scan: timestamps (whole, cut short, or running on
/// into digits, colons, dots and values), values and filler.
fn log_lines() -> impl Strategy<Value = Vec<u8>> {
    let stamp = (
        "[0-9]{1,4}-[0-9]{1,3}-[0-9]{2}",
        prop::sample::select(vec![
            "T",
            " ",
            ".",
            "-",
            "Tx",
            "Tpassword=abc12345 ",
            "",
            " +",
        ]),
        "[0-9]{1,3}",
        prop::sample::select(vec![":", "::", "", " "]),
        "[0-9a-f]{2}(:[0-9a-f]{1,3}){0,3}",
        prop::sample::select(vec![
            "",
            ".123",
            ".1234",
            ".123.4",
            ".12",
            "Z",
            "a",
            ":5",
            " 1234 5678 90",
            ".12.34.56",
            " 415-555-2671",
            "-12",
            " ",
            "@example.com",
        ]),
    )
        .prop_map(|(date, t, hh, c, rest, tail)| format!("{date}{t}{hh}{c}{rest}{tail}"));
    // A clock alone, its seconds often with a trunk zero (`12:34:05 1234 5678 90` holds a
    // phone number from the seconds on).
    let clock = (
        "[0-9]{2}:[0-9]{2}:(0[0-9]|[0-9a-f]{2})",
        prop::sample::select(vec![
            "",
            ".123",
            ".123 ",
            ".1234",
            " 1234 5678 90",
            ".12.34.56",
            ":aa",
            " x",
            "-12",
        ]),
    )
        .prop_map(|(clock, tail)| format!("{clock}{tail}"));
    let piece = prop_oneof![3 => stamp, 2 => clock, 2 => value(), 1 => filler()];
    // Up to a few blocks, so inputs take both the one-pass and the block scan.
    prop::collection::vec(
        (piece, prop::sample::select(vec![" ", "\n", "", "-", ":"])),
        4..64,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .flat_map(|(p, sep)| [p, sep.to_owned()])
            .collect::<String>()
            .into_bytes()
    })
}

/// Text with escape sequences, invalid UTF-8 and multi-byte characters sprinkled in.
fn terminal_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => text().prop_map(|(t, _)| t.into_bytes()),
        1 => Just(b"\x1b[31m".to_vec()),
        1 => Just(b"\x1b]0;title\x07".to_vec()),
        1 => Just(b"\x1b".to_vec()),
        1 => Just("é€😀".as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

fn stream(m: &Arc<Masker>, input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut s = StreamMasker::new(Arc::clone(m));
    let mut out = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts {
        s.push(input.get(at..c).unwrap_or_default(), &mut out);
        at = c;
    }
    s.push(input.get(at..).unwrap_or_default(), &mut out);
    s.finish(&mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn masking_is_idempotent((text, _) in text(), partial in any::<bool>()) {
        let m = masker(if partial { Rendering::Partial } else { Rendering::Redact });
        let once = m.mask(text.as_bytes()).into_owned();
        let twice = m.mask(&once).into_owned();
        prop_assert_eq!(String::from_utf8_lossy(&once), String::from_utf8_lossy(&twice));
    }

    #[test]
    fn no_detected_value_survives((text, values) in text()) {
        let m = masker(Rendering::Redact);
        let out = m.mask(text.as_bytes());
        let out = String::from_utf8_lossy(&out);
        for v in &values {
            prop_assert!(!out.contains(v.as_str()), "{v:?} survived in {out:?}");
        }
        prop_assert!(m.find(out.as_bytes()).is_empty());
    }

    #[test]
    fn only_findings_change(input in prop_oneof![
        text().prop_map(|(t, _)| t.into_bytes()),
        prop::collection::vec(any::<u8>(), 0..200),
        "[0-9 .:@+()-]{0,80}".prop_map(String::into_bytes),
    ]) {
        let m = masker(Rendering::Redact);
        let found = m.find(&input);
        let out = m.mask(&input);
        if found.is_empty() {
            prop_assert!(matches!(out, Cow::Borrowed(_)));
            prop_assert_eq!(out.as_ref(), input.as_slice());
        } else {
            // Splicing the markers in by hand gives the same bytes.
            let mut expected = Vec::new();
            let mut at = 0;
            for f in &found {
                expected.extend_from_slice(&input[at..f.start]);
                expected.extend_from_slice(format!("[REDACTED:{}]", f.detector).as_bytes());
                at = f.end;
            }
            expected.extend_from_slice(&input[at..]);
            prop_assert_eq!(out.as_ref(), expected.as_slice());
        }
    }

    #[test]
    fn prefilters_miss_nothing(input in prop_oneof![
        text().prop_map(|(t, _)| t.into_bytes()),
        terminal_bytes(),
        "[0-9 .:@+()A-Z-]{0,200}".prop_map(String::into_bytes),
        // Short inputs (scanned in one pass) with digits glued to words: ids, hex, cells.
        "[0-9a-fA-FxyzKPS _.:@+()-]{0,90}".prop_map(String::into_bytes),
        log_lines(),
    ]) {
        let m = masker(Rendering::Redact);
        let h = Hay::new(&input, true);
        let mut fast = Vec::new();
        m.scanner().scan(&h, 0, &mut fast);
        m.settle(&input, &mut fast);
        let mut all = Vec::new();
        m.scanner().scan_exhaustively(&h, &mut all);
        m.settle(&input, &mut all);
        prop_assert_eq!(fast, all);
    }

    #[test]
    fn stream_chunking_does_not_matter(
        input in prop_oneof![terminal_bytes(), log_lines()],
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let m = Arc::new(masker(Rendering::Redact));
        let whole = stream(&m, &input, &[]);
        let chunked = stream(&m, &input, &cuts);
        prop_assert_eq!(String::from_utf8_lossy(&chunked), String::from_utf8_lossy(&whole));
        if !input.contains(&0x1b) {
            prop_assert_eq!(whole, m.mask(&input).into_owned());
        }
    }

    #[test]
    fn any_bytes_are_safe(input in prop::collection::vec(any::<u8>(), 0..600), chunk in 1usize..64) {
        let m = Arc::new(masker(Rendering::FormatPreserving));
        let _ = m.find(&input);
        let _ = m.mask(&input);
        let mut s = StreamMasker::new(Arc::clone(&m));
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            s.push(c, &mut out);
            prop_assert!(s.held() <= 64 * 1024);
        }
        s.finish(&mut out);
    }
}

#[test]
fn stream_output_never_ends_inside_a_character() {
    let m = Arc::new(masker(Rendering::Redact));
    let text = "naïve café — 4111 1111 1111 1111 😀 ok\n".repeat(20);
    let mut s = StreamMasker::new(Arc::clone(&m));
    for size in [1, 2, 3, 5, 7] {
        let mut out = Vec::new();
        for chunk in text.as_bytes().chunks(size) {
            s.push(chunk, &mut out);
            assert!(std::str::from_utf8(&out).is_ok(), "chunks of {size}");
        }
        s.finish(&mut out);
        assert_eq!(out, m.mask(text.as_bytes()).as_ref());
    }
}
