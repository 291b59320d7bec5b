//! Precision and recall of every built-in detector on the corpus under `tests/data/mask`:
//! per detector, true positives marked `⟦…⟧` in its own file, and look-alikes (a shared file
//! of negatives plus every other detector's samples outside their marked values).

use crate::mask::{BUILT_IN_DETECTORS, MaskSpec, Masker};

/// Positive samples by detector.
const POSITIVES: &[(&str, &str)] = &[
    (
        "credit_card",
        include_str!("../../../tests/data/mask/positives/credit_card.txt"),
    ),
    (
        "email",
        include_str!("../../../tests/data/mask/positives/email.txt"),
    ),
    (
        "phone",
        include_str!("../../../tests/data/mask/positives/phone.txt"),
    ),
    (
        "us_ssn",
        include_str!("../../../tests/data/mask/positives/us_ssn.txt"),
    ),
    (
        "iban",
        include_str!("../../../tests/data/mask/positives/iban.txt"),
    ),
    (
        "ipv4",
        include_str!("../../../tests/data/mask/positives/ipv4.txt"),
    ),
    (
        "ipv6",
        include_str!("../../../tests/data/mask/positives/ipv6.txt"),
    ),
    (
        "aws_access_key",
        include_str!("../../../tests/data/mask/positives/aws_access_key.txt"),
    ),
    (
        "jwt",
        include_str!("../../../tests/data/mask/positives/jwt.txt"),
    ),
    (
        "private_key",
        include_str!("../../../tests/data/mask/positives/private_key.txt"),
    ),
    (
        "bearer_token",
        include_str!("../../../tests/data/mask/positives/bearer_token.txt"),
    ),
    (
        "password_assignment",
        include_str!("../../../tests/data/mask/positives/password_assignment.txt"),
    ),
];

/// Look-alikes of every kind.
const NEGATIVES: &str = include_str!("../../../tests/data/mask/negatives.txt");

/// One line of a corpus file: the text and the marked values in it.
pub(crate) struct Sample {
    pub(crate) text: Vec<u8>,
    pub(crate) values: Vec<(usize, usize)>,
}

/// The samples of a corpus file: `#` lines are comments, `\n` and `\r` escapes, `⟦…⟧` marks.
pub(crate) fn samples(file: &str) -> Vec<Sample> {
    file.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let line = line.replace("\\n", "\n").replace("\\r", "\r");
            let mut text = Vec::new();
            let mut values = Vec::new();
            let mut open = None;
            for c in line.chars() {
                match c {
                    '⟦' => open = Some(text.len()),
                    '⟧' => values.extend(open.take().map(|s| (s, text.len()))),
                    c => text.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
            Sample { text, values }
        })
        .collect()
}

pub(crate) fn positives() -> impl Iterator<Item = (&'static str, Vec<Sample>)> {
    POSITIVES.iter().map(|&(d, file)| (d, samples(file)))
}

pub(crate) fn negatives() -> Vec<Sample> {
    samples(NEGATIVES)
}

fn masker(detectors: &[&str]) -> Masker {
    Masker::compile(&MaskSpec::new("corpus", detectors.iter().copied()), &[])
        .unwrap_or_else(|e| panic!("{e}"))
}

#[derive(Default)]
struct Score {
    samples: usize,
    found: usize,
    looked_alike: usize,
    false_positives: usize,
}

#[test]
fn every_detector_meets_recall_and_false_positive_targets() {
    let corpus: Vec<(&str, Vec<Sample>)> = positives().collect();
    let negatives = negatives();
    assert_eq!(
        corpus.len(),
        BUILT_IN_DETECTORS.len(),
        "a file per built-in detector"
    );
    let mut failures = Vec::new();
    println!(
        "{:<20} {:>9} {:>8} {:>10} {:>6} {:>9} {:>7}",
        "detector", "positives", "found", "negatives", "FP", "precision", "recall"
    );
    for &(detector, ref own) in &corpus {
        assert!(own.len() >= 50, "{detector}: {} samples", own.len());
        let m = masker(&[detector]);
        let mut score = Score::default();
        for sample in own {
            let found = m.find(&sample.text);
            for &(s, e) in &sample.values {
                score.samples += 1;
                if found.iter().any(|f| f.start == s && f.end == e) {
                    score.found += 1;
                } else {
                    println!(
                        "  missed {detector}: {:?} in {:?}",
                        String::from_utf8_lossy(sample.text.get(s..e).unwrap_or_default()),
                        String::from_utf8_lossy(&sample.text)
                    );
                }
            }
            // Anything found beside the marked values is a false positive too.
            for f in found {
                if !sample.values.iter().any(|&(s, e)| f.start < e && s < f.end) {
                    score.false_positives += 1;
                    println!(
                        "  extra {detector}: {:?}",
                        String::from_utf8_lossy(
                            sample.text.get(f.start..f.end).unwrap_or_default()
                        )
                    );
                }
            }
        }
        let others = corpus
            .iter()
            .filter(|(d, _)| *d != detector)
            .flat_map(|(_, s)| s.iter());
        for sample in negatives.iter().chain(others) {
            score.looked_alike += 1;
            for f in m.find(&sample.text) {
                if !sample.values.iter().any(|&(s, e)| f.start < e && s < f.end) {
                    score.false_positives += 1;
                    println!(
                        "  false {detector}: {:?} in {:?}",
                        String::from_utf8_lossy(
                            sample.text.get(f.start..f.end).unwrap_or_default()
                        ),
                        String::from_utf8_lossy(&sample.text)
                    );
                }
            }
        }
        let recall = score.found as f64 / score.samples as f64;
        let precision = score.found as f64 / (score.found + score.false_positives).max(1) as f64;
        let fp_rate = score.false_positives as f64 / score.looked_alike as f64;
        println!(
            "{detector:<20} {:>9} {:>8} {:>10} {:>6} {:>9.3} {:>7.3}",
            score.samples,
            score.found,
            score.looked_alike,
            score.false_positives,
            precision,
            recall
        );
        if recall < 0.98 || fp_rate > 0.01 {
            failures.push(format!(
                "{detector}: recall {recall:.3}, false positives {fp_rate:.4}"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn all_detectors_together_leave_negatives_alone() {
    let m = masker(BUILT_IN_DETECTORS);
    let negatives = negatives();
    assert!(negatives.len() >= 300);
    let flagged: Vec<String> = negatives
        .iter()
        .filter(|s| !m.find(&s.text).is_empty())
        .map(|s| String::from_utf8_lossy(&s.text).into_owned())
        .collect();
    let rate = flagged.len() as f64 / negatives.len() as f64;
    assert!(
        rate <= 0.01,
        "{:.4} of negatives flagged: {flagged:#?}",
        rate
    );
}

#[test]
fn a_whole_file_finds_what_its_lines_find() {
    // Lines of a corpus file are short; a file in one piece is long enough for the block
    // scan, with the lines' values (and look-alikes, timestamps among them) at every offset
    // of its blocks.
    let m = masker(BUILT_IN_DETECTORS);
    let files = positives().map(|(_, samples)| samples).chain([negatives()]);
    for samples in files {
        let mut whole = Vec::new();
        let mut expected = Vec::new();
        for s in &samples {
            let at = whole.len();
            expected.extend(
                m.find(&s.text)
                    .into_iter()
                    .map(|f| (f.detector, at + f.start, at + f.end)),
            );
            whole.extend_from_slice(&s.text);
            whole.push(b'\n');
        }
        assert!(whole.len() > 2048, "{} bytes", whole.len());
        let found: Vec<_> = m
            .find(&whole)
            .into_iter()
            .map(|f| (f.detector, f.start, f.end))
            .collect();
        assert_eq!(found, expected);
    }
}
