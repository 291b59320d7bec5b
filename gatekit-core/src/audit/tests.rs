use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::{Class, ClassSet, Identity, Protocol};

const EVENTS: &str = include_str!("../../tests/data/audit/events.jsonl");
const GOLDEN: &str = include_str!("../../tests/data/audit/golden.jsonl");
const GOLDEN_KEYED: &str = include_str!("../../tests/data/audit/golden-keyed.jsonl");
const TEST_KEY: &[u8] = b"gatekit-test-chain-key-0123456789";

fn key() -> ChainKey {
    ChainKey::new(TEST_KEY).unwrap()
}

fn events() -> Vec<AuditEvent> {
    EVENTS
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The i-th record's time: 1.25 s apart, so some carry fractional seconds.
fn ts(i: usize) -> jiff::Timestamp {
    let base: jiff::Timestamp = "2024-06-01T12:00:00Z".parse().unwrap();
    base + jiff::SignedDuration::from_millis(1250 * i as i64)
}

/// Encodes `events` into lines (each with its newline) and returns the final head.
fn encode(key: Option<ChainKey>, events: &[AuditEvent]) -> (Vec<Vec<u8>>, ChainHead) {
    let mut enc = ChainEncoder::new(key);
    let lines = events
        .iter()
        .enumerate()
        .map(|(i, e)| enc.encode(ts(i), e))
        .collect();
    (lines, enc.head())
}

fn verify<L: AsRef<[u8]>>(
    lines: &[L],
    key: Option<ChainKey>,
    checkpoint: Option<ChainHead>,
) -> Result<ChainHead, VerifyError> {
    let mut v = ChainVerifier::new(key);
    if let Some(cp) = checkpoint {
        v = v.with_checkpoint(cp);
    }
    for l in lines {
        // Errors are sticky, so `finish` reports the first one.
        let _ = v.push_line(l.as_ref());
    }
    v.finish()
}

fn command(subject: &str, text: &str, verdict: Verdict) -> AuditEvent {
    AuditEvent::Command(CommandEvent {
        session: "s-1".into(),
        identity: Arc::new(Identity::new(subject, ["dev"])),
        target: "shop".into(),
        protocol: Protocol::Postgres,
        number: 1,
        command: text.into(),
        classes: ClassSet::of(Class::Read),
        objects: vec!["public.t".into()],
        verdict,
        rule: None,
        reason: None,
        rows: None,
        bytes: None,
        duration_us: None,
        error: None,
    })
}

fn replace_once(line: &[u8], from: &str, to: &str) -> Vec<u8> {
    let s = std::str::from_utf8(line).unwrap();
    assert!(s.contains(from), "{from} not in {s}");
    s.replacen(from, to, 1).into_bytes()
}

#[test]
fn round_trip_without_and_with_key() {
    let events = events();
    for key in [None, Some(key())] {
        let (lines, head) = encode(key.clone(), &events);
        assert_eq!(head.seq, events.len() as u64);
        assert_eq!(verify(&lines, key.clone(), Some(head)), Ok(head));
        for (i, (line, event)) in lines.iter().zip(&events).enumerate() {
            assert_eq!(line.last(), Some(&b'\n'));
            assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
            let rec = AuditRecord::parse(line).unwrap();
            assert_eq!(rec.seq, i as u64 + 1);
            assert_eq!(rec.ts, ts(i));
            assert_eq!(rec.kind, event.kind());
            assert_eq!(rec.event.as_ref(), Some(event));
            assert!(!rec.truncated);
        }
    }
}

#[test]
fn keyed_and_unkeyed_chains_differ_and_need_their_key() {
    let events = events();
    let (plain, _) = encode(None, &events);
    let (keyed, _) = encode(Some(key()), &events);
    // The first line is the same (genesis prev); the chains part from seq 2 on.
    assert_eq!(plain[0], keyed[0]);
    assert_ne!(plain[1], keyed[1]);
    assert_eq!(
        verify(&keyed, None, None),
        Err(VerifyError::PrevMismatch { seq: 2 })
    );
    let other = ChainKey::new(b"another-key-of-enough-length").unwrap();
    assert_eq!(
        verify(&keyed, Some(other), None),
        Err(VerifyError::PrevMismatch { seq: 2 })
    );
    assert_eq!(
        verify(&plain, Some(key()), None),
        Err(VerifyError::PrevMismatch { seq: 2 })
    );
}

#[test]
fn line_layout_is_fixed() {
    let (lines, _) = encode(None, &events()[2..3]);
    let line = std::str::from_utf8(&lines[0]).unwrap();
    let zeros = "0".repeat(64);
    assert!(
        line.starts_with(&format!(
            r#"{{"seq":1,"ts":"2024-06-01T12:00:00Z","prev":"{zeros}","event":"command","session":"pg-7f3a","identity":{{"subject":"alice""#
        )),
        "{line}"
    );
    assert!(!line.contains("truncated"));
}

#[test]
fn committed_trails_still_encode_and_verify_byte_for_byte() {
    let events = events();
    for (key, golden) in [(None, GOLDEN), (Some(key()), GOLDEN_KEYED)] {
        let golden_lines: Vec<&str> = golden.split_inclusive('\n').collect();
        assert_eq!(golden_lines.len(), events.len());
        let (lines, head) = encode(key.clone(), &events);
        for (ours, theirs) in lines.iter().zip(&golden_lines) {
            assert_eq!(std::str::from_utf8(ours).unwrap(), *theirs);
        }
        assert_eq!(verify(&golden_lines, key, Some(head)), Ok(head));
    }
}

#[test]
fn edited_field_names_the_next_seq_or_the_checkpoint() {
    let events = events();
    let (mut lines, head) = encode(Some(key()), &events);
    // One byte of the command text of seq 3.
    lines[2] = replace_once(&lines[2], "WHERE id = 42", "WHERE id = 43");
    assert_eq!(
        verify(&lines, Some(key()), Some(head)),
        Err(VerifyError::PrevMismatch { seq: 4 })
    );

    // The last line has no successor: only the checkpoint shows the edit.
    let (mut lines, head) = encode(Some(key()), &events);
    let last = lines.len() - 1;
    lines[last] = replace_once(&lines[last], "line 12", "line 13");
    assert!(verify(&lines, Some(key()), None).is_ok());
    assert_eq!(
        verify(&lines, Some(key()), Some(head)),
        Err(VerifyError::CheckpointMismatch { seq: head.seq })
    );
}

#[test]
fn edited_chain_fields_name_their_own_seq() {
    let (lines, head) = encode(None, &events());
    let mut edited = lines.clone();
    edited[4] = replace_once(&lines[4], r#""seq":5,"#, r#""seq":6,"#);
    assert_eq!(
        verify(&edited, None, Some(head)),
        Err(VerifyError::SeqMismatch {
            expected: 5,
            found: 6
        })
    );
    let mut edited = lines.clone();
    let text = std::str::from_utf8(&lines[4]).unwrap();
    let at = text.find(r#""prev":""#).unwrap() + 8;
    let prev = text[at..at + 6].to_string();
    let flipped: String = prev
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    edited[4] = replace_once(&lines[4], &prev, &flipped);
    assert_eq!(
        verify(&edited, None, Some(head)),
        Err(VerifyError::PrevMismatch { seq: 5 })
    );
    let mut edited = lines;
    edited[4] = replace_once(&edited[4], r#""prev":""#, r#""prev":"zz"#);
    assert!(matches!(
        verify(&edited, None, Some(head)),
        Err(VerifyError::BadRecord { seq: 5, .. })
    ));
}

#[test]
fn deleted_line_names_the_missing_seq() {
    let (mut lines, head) = encode(None, &events());
    lines.remove(6);
    assert_eq!(
        verify(&lines, None, Some(head)),
        Err(VerifyError::SeqMismatch {
            expected: 7,
            found: 8
        })
    );
}

#[test]
fn forged_line_under_a_key_fails_even_with_a_correct_sha256() {
    let events = events();
    let (lines, head) = encode(Some(key()), &events);
    // The forger knows SHA-256 but not the key: the forged seq 5 chains to seq 4 by SHA-256.
    let after4 = ChainHead {
        seq: 4,
        hash: line_hash(None, lines[3].strip_suffix(b"\n").unwrap()),
    };
    let mut forger = ChainEncoder::resume(after4, None);
    let forged = forger.encode(ts(4), &command("mallory", "SELECT 1", Verdict::Allow));
    let mut tampered = lines.clone();
    tampered.insert(4, forged.clone());
    assert_eq!(
        verify(&tampered, Some(key()), Some(head)),
        Err(VerifyError::PrevMismatch { seq: 5 })
    );

    // Without a key the same forgery, with every later line rewritten, passes the chain:
    // only the checkpoint catches it.
    let (plain, plain_head) = encode(None, &events);
    let mut forger = ChainEncoder::resume(
        ChainHead {
            seq: 4,
            hash: line_hash(None, plain[3].strip_suffix(b"\n").unwrap()),
        },
        None,
    );
    let mut rewritten: Vec<Vec<u8>> = plain[..4].to_vec();
    rewritten.push(forger.encode(ts(4), &command("mallory", "SELECT 1", Verdict::Allow)));
    for (i, e) in events.iter().enumerate().skip(4) {
        rewritten.push(forger.encode(ts(i), e));
    }
    assert!(verify(&rewritten, None, None).is_ok());
    assert_eq!(
        verify(&rewritten, None, Some(plain_head)),
        Err(VerifyError::CheckpointMismatch {
            seq: plain_head.seq
        })
    );
}

#[test]
fn swapped_lines_name_the_first_displaced_seq() {
    let (mut lines, head) = encode(Some(key()), &events());
    lines.swap(2, 3);
    assert_eq!(
        verify(&lines, Some(key()), Some(head)),
        Err(VerifyError::SeqMismatch {
            expected: 3,
            found: 4
        })
    );
}

#[test]
fn truncated_tail_needs_the_checkpoint() {
    let (lines, head) = encode(Some(key()), &events());
    let n = lines.len() as u64;
    let cut = &lines[..lines.len() - 2];
    // Without a checkpoint a trail cut at a line boundary looks whole.
    assert_eq!(verify(cut, Some(key()), None).map(|h| h.seq), Ok(n - 2));
    assert_eq!(
        verify(cut, Some(key()), Some(head)),
        Err(VerifyError::Truncated {
            next: n - 1,
            last: n - 2,
            checkpoint: n
        })
    );
    // Everything gone.
    assert_eq!(
        verify::<Vec<u8>>(&[], Some(key()), Some(head)),
        Err(VerifyError::Truncated {
            next: 1,
            last: 0,
            checkpoint: n
        })
    );
    // Cut inside a line: the partial line is not a record.
    let mut torn = lines.clone();
    let last = torn.len() - 1;
    torn[last].truncate(30);
    assert!(matches!(
        verify(&torn, Some(key()), None),
        Err(VerifyError::BadRecord { seq, .. }) if seq == n
    ));
}

#[test]
fn checkpoint_behind_the_tail_is_checked_where_it_points() {
    let (lines, _) = encode(None, &events());
    let mut v = ChainVerifier::new(None);
    for l in &lines[..3] {
        v.push_line(l).unwrap();
    }
    let at3 = v.head();
    assert_eq!(at3.seq, 3);
    assert!(verify(&lines, None, Some(at3)).is_ok());
    let wrong = ChainHead {
        seq: 3,
        hash: [7; 32],
    };
    assert_eq!(
        verify(&lines, None, Some(wrong)),
        Err(VerifyError::CheckpointMismatch { seq: 3 })
    );
    assert_eq!(
        verify::<Vec<u8>>(&[], None, Some(ChainHead::GENESIS)),
        Ok(ChainHead::GENESIS)
    );
}

#[test]
fn resumed_verifier_checks_the_rest_of_a_trail() {
    let (lines, head) = encode(None, &events());
    let mut first = ChainVerifier::new(None);
    for l in &lines[..5] {
        first.push_line(l).unwrap();
    }
    let mid = first.finish().unwrap();
    let mut rest = ChainVerifier::resume(mid, None).with_checkpoint(head);
    for l in &lines[5..] {
        rest.push_line(l).unwrap();
    }
    assert_eq!(rest.finish(), Ok(head));
    // A checkpoint before the resumed part cannot be checked.
    let early = ChainVerifier::resume(mid, None).with_checkpoint(ChainHead {
        seq: 2,
        hash: [0; 32],
    });
    assert_eq!(
        early.finish(),
        Err(VerifyError::CheckpointUnreachable {
            checkpoint: 2,
            start: 5
        })
    );
    // Resuming from the wrong head fails at the first line.
    let mut wrong = ChainVerifier::resume(
        ChainHead {
            seq: 5,
            hash: [1; 32],
        },
        None,
    );
    assert_eq!(
        wrong.push_line(&lines[5]),
        Err(VerifyError::PrevMismatch { seq: 6 })
    );
}

#[test]
fn malformed_lines_are_errors_and_errors_are_sticky() {
    let (lines, _) = encode(None, &events());
    let cases: [&[u8]; 8] = [
        b"",
        b"not json",
        b"[1,2,3]",
        b"{\"seq\":1}",
        b"{\"seq\":1,\"seq\":1,\"ts\":\"2024-06-01T12:00:00Z\",\"prev\":\"00\",\"event\":\"x\"}",
        b"{\"seq\":\"1\",\"ts\":\"2024-06-01T12:00:00Z\",\"prev\":\"00\",\"event\":\"x\"}",
        b"{\"seq\":1,\"ts\":\"yesterday\",\"prev\":\"00\",\"event\":\"x\"}",
        b"\xff\xfe{\"seq\":1}",
    ];
    for bad in cases {
        let mut v = ChainVerifier::new(None);
        let err = v.push_line(bad).unwrap_err();
        assert!(
            matches!(err, VerifyError::BadRecord { seq: 1, .. }),
            "{err}"
        );
        assert_eq!(v.push_line(&lines[0]), Err(err.clone()));
        assert_eq!(v.finish(), Err(err));
    }
    let mut v = ChainVerifier::new(None);
    let mut two = lines[0].clone();
    two.extend_from_slice(&lines[1]);
    assert!(matches!(
        v.push_line(&two),
        Err(VerifyError::BadRecord { seq: 1, .. })
    ));
    let mut v = ChainVerifier::new(None);
    let long = vec![b' '; MAX_LINE_BYTES];
    assert!(matches!(
        v.push_line(&long),
        Err(VerifyError::LineTooLong { seq: 1, .. })
    ));
}

#[test]
fn oversized_events_are_cut_to_fit_and_still_chain() {
    let huge = "é".repeat(MAX_LINE_BYTES);
    let mut event = command(&"u".repeat(10_000), &huge, Verdict::Allow);
    if let AuditEvent::Command(c) = &mut event {
        c.objects = (0..10_000).map(|i| format!("public.t{i}")).collect();
        c.error = Some("\u{1}".repeat(100_000));
    }
    let (lines, head) = encode(Some(key()), &[event.clone(), event]);
    for line in &lines {
        assert!(line.len() <= MAX_LINE_BYTES, "{}", line.len());
        let rec = AuditRecord::parse(line).unwrap();
        assert!(rec.truncated);
        let Some(AuditEvent::Command(c)) = rec.event else {
            panic!("not a command")
        };
        assert!(c.command.len() <= 64 * 1024 && c.command.starts_with("éé"));
        assert_eq!(c.objects.len(), 32);
        assert_eq!(c.identity.subject.len(), 512);
    }
    assert_eq!(verify(&lines, Some(key()), Some(head)), Ok(head));
}

#[test]
fn records_read_back_for_listing_and_search() {
    let (lines, _) = encode(None, &events());
    let recs: Vec<AuditRecord> = lines
        .iter()
        .map(|l| AuditRecord::parse(l).unwrap())
        .collect();
    let denied = &recs[3];
    assert_eq!(denied.user(), Some("alice"));
    assert_eq!(denied.target(), Some("shop"));
    assert_eq!(denied.session(), Some("pg-7f3a"));
    assert_eq!(denied.verdict(), Some(Verdict::Deny));
    assert!(denied.concerns_user("alice@example.com"));
    assert!(!denied.concerns_user("bob"));
    assert_eq!(denied.summary(), "DELETE FROM orders");
    assert_eq!(recs[6].user(), Some("alice"));
    assert_eq!(
        recs[6].summary(),
        "apr-19 denied by bob: use the migration pipeline"
    );
    assert_eq!(recs[0].user(), None);
    assert_eq!(recs[0].verdict(), None);

    // A kind from a newer writer is listed, not rejected.
    let line =
        br#"{"seq":9,"ts":"2024-06-01T12:00:00Z","prev":"00","event":"key_rotated","by":"x"}"#;
    let rec = AuditRecord::parse(line).unwrap();
    assert_eq!(
        (rec.seq, rec.kind.as_str(), rec.event),
        (9, "key_rotated", None)
    );
    // A known kind with a malformed body is an error naming the seq.
    let line = br#"{"seq":9,"ts":"2024-06-01T12:00:00Z","prev":"00","event":"command"}"#;
    assert!(matches!(
        AuditRecord::parse(line),
        Err(VerifyError::BadRecord { seq: 9, .. })
    ));
}

#[test]
fn heads_and_keys() {
    let head = ChainHead {
        seq: 42,
        hash: [0xab; 32],
    };
    let json = head.to_json();
    assert_eq!(json, serde_json::to_string(&head).unwrap());
    assert_eq!(ChainHead::parse(json.as_bytes()), Ok(head));
    assert_eq!(ChainHead::GENESIS.hash_hex(), "0".repeat(64));
    for bad in [
        &br#"{"seq":1,"hash":"abc"}"#[..],
        br#"{"seq":1}"#,
        br#"{"seq":-1,"hash":"00"}"#,
        br#"{"seq":1,"hash":"0000000000000000000000000000000000000000000000000000000000000000","x":1}"#,
        b"",
    ] {
        assert!(matches!(
            ChainHead::parse(bad),
            Err(VerifyError::BadHead { .. })
        ));
    }
    assert_eq!(
        ChainKey::new(b"short").unwrap_err(),
        VerifyError::KeyTooShort { len: 5, min: 16 }
    );
    assert_eq!(format!("{:?}", key()), "ChainKey(..)");
    assert_ne!(line_hash(None, b"x"), line_hash(Some(&key()), b"x"));
}

#[derive(Clone, Debug)]
enum Tamper {
    /// Adds `delta` (never 0) to the byte at `at` (modulo the trail's length).
    Byte { at: usize, delta: u8 },
    /// Deletes line `line` (modulo the line count).
    Delete { line: usize },
    /// Swaps two different lines.
    Swap { a: usize, b: usize },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, delta)| Tamper::Byte { at, delta }),
        any::<usize>().prop_map(|line| Tamper::Delete { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::Swap { a, b }),
    ]
}

fn generated_events() -> impl Strategy<Value = Vec<AuditEvent>> {
    let verdict = prop_oneof![
        Just(Verdict::Allow),
        Just(Verdict::Deny),
        Just(Verdict::Review)
    ];
    prop::collection::vec(("[a-z]{1,8}", ".{0,40}", verdict), 2..10).prop_map(|v| {
        v.into_iter()
            .map(|(user, text, verdict)| command(&user, &text, verdict))
            .collect()
    })
}

proptest! {
    #[test]
    fn any_single_tamper_is_detected_at_the_right_seq(
        events in generated_events(),
        keyed in any::<bool>(),
        t in tamper(),
    ) {
        let key = keyed.then(key);
        let (lines, head) = encode(key.clone(), &events);
        let n = lines.len();
        let (tampered, first_bad): (Vec<u8>, Vec<u64>) = match t {
            Tamper::Byte { at, delta } => {
                let mut bytes = lines.concat();
                let at = at % bytes.len();
                bytes[at] = bytes[at].wrapping_add(delta);
                let line = bytes[..at].iter().filter(|b| **b == b'\n').count() as u64 + 1;
                (bytes, vec![line, line + 1])
            }
            Tamper::Delete { line } => {
                let mut l = lines.clone();
                let i = line % n;
                l.remove(i);
                (l.concat(), vec![i as u64 + 1])
            }
            Tamper::Swap { a, b } => {
                let (a, b) = (a % n, b % n);
                let (a, b) = if a == b { (a, (a + 1) % n) } else { (a, b) };
                let mut l = lines.clone();
                l.swap(a, b);
                (l.concat(), vec![a.min(b) as u64 + 1])
            }
        };
        let pieces: Vec<&[u8]> = tampered.split_inclusive(|b| *b == b'\n').collect();
        let err = verify(&pieces, key, Some(head)).unwrap_err();
        let seq = err.seq().unwrap();
        prop_assert!(first_bad.contains(&seq), "{err} not at {first_bad:?}");
    }
}

const RESULTS: &str = include_str!("../../tests/data/audit/results.jsonl");

#[test]
fn command_results_pair_with_numbered_commands_and_chain() {
    let events: Vec<AuditEvent> = RESULTS
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    // Written as read: `number` and the result fields survive a round trip.
    for (event, line) in events.iter().zip(RESULTS.lines()) {
        assert_eq!(serde_json::to_string(event).unwrap(), line);
    }
    let AuditEvent::Command(cmd) = &events[2] else {
        panic!("{:?}", events[2]);
    };
    let AuditEvent::CommandResult(res) = &events[3] else {
        panic!("{:?}", events[3]);
    };
    assert_eq!((cmd.number, res.number), (4, 4));
    assert_eq!(res.error.as_deref().map(|e| &e[..6]), Some("23505:"));
    assert_eq!(events[3].kind(), "command_result");
    assert_eq!(events[3].session(), Some("pg-7f3a"));
    assert_eq!(events[3].user(), None);

    let (lines, head) = encode(Some(key()), &events);
    assert_eq!(verify(&lines, Some(key()), Some(head)), Ok(head));
    let recs: Vec<AuditRecord> = lines
        .iter()
        .map(|l| AuditRecord::parse(l).unwrap())
        .collect();
    assert_eq!(recs[0].summary(), "#3 SELECT id FROM orders LIMIT 3");
    assert_eq!(recs[1].summary(), "#3 -> 3 rows 412 µs");
    assert_eq!(
        recs[3].summary(),
        "#4 -> error 23505: duplicate key value violates unique constraint \"orders_pkey\" (1310 µs)"
    );
}

#[test]
fn commands_of_older_trails_have_number_zero_and_write_none() {
    for event in events() {
        if let AuditEvent::Command(c) = &event {
            assert_eq!(c.number, 0);
            assert!(
                !serde_json::to_string(&event)
                    .unwrap()
                    .contains("\"number\"")
            );
        }
    }
}

#[test]
fn result_errors_are_cut_on_a_character_boundary() {
    let long = "é".repeat(RESULT_ERROR_BYTES);
    let text = CommandResultEvent::error_text("22001", &long);
    assert!(text.starts_with("22001: é"));
    assert!(text.len() <= RESULT_ERROR_BYTES + "22001: ".len());
    assert_eq!(CommandResultEvent::error_text("23505", "dup"), "23505: dup");
}

proptest! {
    #[test]
    fn line_timestamps_are_written_as_jiff_writes_them(
        seconds in prop::collection::vec((0i64..253_402_300_799, 0i32..1_000_000_000), 1..8),
        repeat in any::<bool>(),
    ) {
        let mut enc = ChainEncoder::new(None);
        let event = AuditEvent::ConfigReload(ConfigReloadEvent { path: None, sha256: None, error: None });
        for (second, nanos) in seconds {
            // The same second twice (the cache's hit) and a whole second (no fraction).
            let mut stamps = vec![jiff::Timestamp::new(second, nanos).unwrap()];
            if repeat {
                stamps.push(jiff::Timestamp::new(second, (nanos + 1) % 1_000_000_000).unwrap());
                stamps.push(jiff::Timestamp::new(second, 0).unwrap());
            }
            for ts in stamps {
                let line = enc.encode(ts, &event);
                let record = AuditRecord::parse(&line).unwrap();
                prop_assert_eq!(record.ts, ts);
                let expected = format!(r#","ts":"{ts}","#);
                prop_assert!(
                    String::from_utf8_lossy(&line).contains(&expected),
                    "{} lacks {}", String::from_utf8_lossy(&line), expected
                );
            }
        }
    }
}

#[test]
fn timestamps_before_1970_are_written_too() {
    let mut enc = ChainEncoder::new(None);
    let event = AuditEvent::ConfigReload(ConfigReloadEvent {
        path: None,
        sha256: None,
        error: None,
    });
    let ts = jiff::Timestamp::new(-1, -250_000_000).unwrap();
    let line = enc.encode(ts, &event);
    assert!(String::from_utf8_lossy(&line).contains(&format!(r#""ts":"{ts}""#)));
    assert_eq!(AuditRecord::parse(&line).unwrap().ts, ts);
}

#[test]
fn a_prepared_event_encodes_as_the_event_does() {
    let events = events();
    let mut direct = ChainEncoder::new(Some(key()));
    let mut prepared = ChainEncoder::new(Some(key()));
    for (i, e) in events.iter().enumerate() {
        let p = PreparedEvent::new(e);
        assert!(!p.is_empty());
        let mut a = Vec::new();
        let mut b = Vec::new();
        direct.encode_into(ts(i), e, &mut a);
        prepared.encode_prepared(ts(i), &p, &mut b);
        assert_eq!(a, b);
    }
    assert_eq!(direct.head(), prepared.head());
}

fn any_identity() -> impl Strategy<Value = Identity> {
    (
        any::<String>(),
        proptest::option::of(any::<String>()),
        prop::collection::vec(any::<String>(), 0..3),
        proptest::option::of((0i64..4_000_000_000, 0i32..1_000_000_000)),
        proptest::option::of(any::<String>()),
    )
        .prop_map(|(subject, email, groups, exp, token_id)| Identity {
            subject,
            email,
            groups,
            expires_at: exp.map(|(s, n)| jiff::Timestamp::new(s, n).unwrap()),
            token_id,
        })
}

fn any_command() -> impl Strategy<Value = AuditEvent> {
    let verdict = prop_oneof![
        Just(Verdict::Allow),
        Just(Verdict::Deny),
        Just(Verdict::Review)
    ];
    let texts = (
        any::<String>(),
        any::<String>(),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
    );
    let numbers = (
        0u64..3,
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
    );
    (
        any_identity(),
        texts,
        numbers,
        prop::collection::vec(any::<String>(), 0..3),
        any::<u16>(),
        verdict,
        0usize..3,
    )
        .prop_map(
            |(identity, texts, numbers, objects, class_bits, verdict, protocol)| {
                let (session, command, rule, reason, error) = texts;
                let (number, rows, bytes, duration_us) = numbers;
                let classes: ClassSet = Class::ALL
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| class_bits & (1 << i) != 0)
                    .map(|(_, c)| c)
                    .collect();
                AuditEvent::Command(CommandEvent {
                    session: session.into(),
                    identity: Arc::new(identity),
                    target: "shop\"\n".into(),
                    protocol: Protocol::ALL[protocol],
                    number,
                    command,
                    classes,
                    objects,
                    verdict,
                    rule: rule.map(Into::into),
                    reason: reason.map(Into::into),
                    rows,
                    bytes,
                    duration_us,
                    error,
                })
            },
        )
}

fn any_result() -> impl Strategy<Value = AuditEvent> {
    (
        any::<String>(),
        any::<[u64; 4]>(),
        proptest::option::of(any::<String>()),
    )
        .prop_map(|(session, [number, rows, bytes, duration_us], error)| {
            AuditEvent::CommandResult(CommandResultEvent {
                session: session.into(),
                number,
                rows,
                bytes,
                duration_us,
                error,
            })
        })
}

proptest! {
    #[test]
    fn per_command_events_are_written_as_serde_writes_them(
        event in prop_oneof![any_command(), any_result()],
    ) {
        let mut fast = Vec::new();
        prop_assert!(event.write_json(&mut fast));
        prop_assert_eq!(
            String::from_utf8(fast).unwrap(),
            serde_json::to_string(&event).unwrap()
        );
    }
}
