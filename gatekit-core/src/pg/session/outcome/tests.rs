use bytes::BytesMut;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::pg::codec::encode::{ErrorBuilder, MessageWriter, Severity};

const SCRIPTS: [(&str, &str); 4] = [
    (
        "simple",
        include_str!("../../../../tests/data/pg_outcome/simple.txt"),
    ),
    (
        "error_mid_batch",
        include_str!("../../../../tests/data/pg_outcome/error_mid_batch.txt"),
    ),
    (
        "extended",
        include_str!("../../../../tests/data/pg_outcome/extended.txt"),
    ),
    (
        "copy",
        include_str!("../../../../tests/data/pg_outcome/copy.txt"),
    ),
];

fn base() -> Timestamp {
    "2024-06-01T12:00:00Z".parse().unwrap()
}

/// `-` stands for the empty (unnamed) name.
fn name(s: &str) -> &[u8] {
    if s == "-" { b"" } else { s.as_bytes() }
}

/// One frontend message of a script line (`> Q SELECT 1`).
fn frontend(buf: &mut BytesMut, line: &str) {
    let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
    let mut words = rest.splitn(2, ' ');
    let mut next = || words.next().unwrap_or("");
    match tag {
        "Q" => MessageWriter::new(buf, b'Q').cstr(rest.as_bytes()).finish(),
        "P" => {
            let stmt = next();
            MessageWriter::new(buf, b'P')
                .cstr(name(stmt))
                .cstr(next().as_bytes())
                .u16(0)
                .finish();
        }
        "B" => {
            let portal = next();
            MessageWriter::new(buf, b'B')
                .cstr(name(portal))
                .cstr(name(next()))
                .u16(0)
                .u16(0)
                .u16(0)
                .finish();
        }
        "E" => MessageWriter::new(buf, b'E')
            .cstr(name(rest))
            .u32(0)
            .finish(),
        "D" | "C" => {
            let target = next().as_bytes()[0];
            MessageWriter::new(buf, tag.as_bytes()[0])
                .u8(target)
                .cstr(name(next()))
                .finish();
        }
        "S" => MessageWriter::new(buf, b'S').finish(),
        "F" => MessageWriter::new(buf, b'F')
            .u32(1598)
            .u16(0)
            .u16(0)
            .u16(0)
            .finish(),
        "d" => MessageWriter::new(buf, b'd')
            .bytes(format!("{rest}\n").as_bytes())
            .finish(),
        "c" => MessageWriter::new(buf, b'c').finish(),
        other => panic!("unknown frontend message `{other}`"),
    }
}

/// One backend message of a script line (`< C SELECT 3`).
fn backend(buf: &mut BytesMut, line: &str) {
    let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
    match tag {
        "T" => MessageWriter::new(buf, b'T')
            .u16(1)
            .cstr(b"a")
            .u32(0)
            .u16(0)
            .u32(23)
            .u16(4)
            .u32(u32::MAX)
            .u16(0)
            .finish(),
        "D" => MessageWriter::new(buf, b'D')
            .u16(1)
            .u32(1)
            .bytes(b"1")
            .finish(),
        "C" => MessageWriter::new(buf, b'C').cstr(rest.as_bytes()).finish(),
        "E" => {
            let (code, message) = rest.split_once(' ').unwrap();
            ErrorBuilder::new(Severity::Error, code, message).encode(buf);
        }
        "Z" => MessageWriter::new(buf, b'Z')
            .u8(rest.as_bytes()[0])
            .finish(),
        "G" | "H" => MessageWriter::new(buf, tag.as_bytes()[0])
            .u8(0)
            .u16(1)
            .u16(0)
            .finish(),
        "d" => MessageWriter::new(buf, b'd')
            .bytes(format!("{rest}\n").as_bytes())
            .finish(),
        "V" => MessageWriter::new(buf, b'V').u32(1).bytes(b"t").finish(),
        "1" | "2" | "3" | "n" | "s" | "I" => MessageWriter::new(buf, tag.as_bytes()[0]).finish(),
        other => panic!("unknown backend message `{other}`"),
    }
}

/// Runs a script: consecutive `>` (or `<`) lines go to the tracker as one chunk.
fn run(script_name: &str, script: &str) {
    let mut t = Tracker::new(base());
    let mut to_server = BytesMut::new();
    let mut to_client = BytesMut::new();
    let flush = |t: &mut Tracker, s: &mut BytesMut, c: &mut BytesMut| {
        if !s.is_empty() {
            t.sent_to_server(&s.split());
        }
        if !c.is_empty() {
            t.sent_to_client(&c.split());
        }
    };
    for (n, line) in script.lines().enumerate() {
        let at = format!("{script_name}.txt:{}: {line}", n + 1);
        if let Some(m) = line.strip_prefix("> ") {
            if !to_client.is_empty() {
                flush(&mut t, &mut to_server, &mut to_client);
            }
            frontend(&mut to_server, m);
            continue;
        }
        if let Some(m) = line.strip_prefix("< ") {
            if !to_server.is_empty() {
                flush(&mut t, &mut to_server, &mut to_client);
            }
            backend(&mut to_client, m);
            continue;
        }
        flush(&mut t, &mut to_server, &mut to_client);
        let words: Vec<&str> = line.split(' ').collect();
        match words[0] {
            "" | "#" => {}
            "decide" => t.decided(words[1].parse().unwrap(), words[2] == "allow"),
            "at" => {
                let us: i64 = words[1].parse().unwrap();
                t.clock(base() + SignedDuration::from_micros(us));
            }
            "expect" => {
                let got = t.poll().unwrap_or_else(|| panic!("{at}: no outcome"));
                let (rest, error) = line.split_once(" error=").unwrap();
                let want: Vec<&str> = rest.split(' ').collect();
                assert_eq!(got.command, want[1].parse::<u64>().unwrap(), "{at}");
                assert_eq!(format!("rows={}", got.rows), want[2], "{at}");
                assert_eq!(format!("us={}", got.duration_us()), want[3], "{at}");
                let error = (error != "-").then_some(error);
                assert_eq!(got.error.as_deref(), error, "{at}");
                assert!(got.bytes > 0, "{at}");
            }
            other => panic!("{at}: unknown directive `{other}`"),
        }
    }
    flush(&mut t, &mut to_server, &mut to_client);
    assert_eq!(t.poll(), None, "{script_name}: outcomes nobody expected");
    assert_eq!(t.pending(), 0, "{script_name}: requests left unanswered");
}

#[test]
fn recorded_conversations_give_their_outcomes() {
    for (name, script) in SCRIPTS {
        run(name, script);
    }
}

#[test]
fn bytes_are_the_answer_sent_to_the_client() {
    let mut t = Tracker::new(base());
    t.decided(1, true);
    let mut q = BytesMut::new();
    frontend(&mut q, "Q SELECT a FROM t");
    t.sent_to_server(&q);
    let mut answer = BytesMut::new();
    for m in ["T", "D", "D", "C SELECT 2", "Z I"] {
        backend(&mut answer, m);
    }
    t.sent_to_client(&answer);
    let got = t.poll().unwrap();
    assert_eq!((got.rows, got.bytes), (2, answer.len() as u64));
}

#[test]
fn command_tags_give_their_counts() {
    assert_eq!(tag_rows(b"SELECT 3\0"), Some(3));
    assert_eq!(tag_rows(b"INSERT 0 12\0"), Some(12));
    assert_eq!(tag_rows(b"COPY 5\0"), Some(5));
    assert_eq!(tag_rows(b"CREATE TABLE\0"), None);
    assert_eq!(tag_rows(b"SELECT 99999999999999999999999\0"), None);
    assert_eq!(tag_rows(b""), None);
}

#[test]
fn outcomes_and_requests_stay_bounded() {
    let mut t = Tracker::new(base());
    let mut q = BytesMut::new();
    frontend(&mut q, "Q SELECT 1");
    let mut answer = BytesMut::new();
    backend(&mut answer, "Z I");
    for id in 0..(MAX_OUTCOMES as u64 + 10) {
        t.decided(id, true);
        t.sent_to_server(&q);
        t.sent_to_client(&answer);
    }
    assert_eq!(t.outcomes.len(), MAX_OUTCOMES);
    assert_eq!(t.poll().map(|o| o.command), Some(10));
    let mut sync = BytesMut::new();
    frontend(&mut sync, "S");
    for _ in 0..(MAX_PENDING + 10) {
        t.sent_to_server(&sync);
        t.decided(0, true);
    }
    assert_eq!(t.pending.len(), MAX_PENDING);
    assert_eq!(t.decided.len(), MAX_PENDING);
}

#[test]
fn names_are_bounded() {
    let mut n = Names::default();
    for i in 0..(MAX_NAMED + 5) {
        n.set(format!("s{i}").as_bytes(), Some(i as u64));
    }
    assert!(n.named.len() <= MAX_NAMED);
    assert_eq!(
        n.get(format!("s{}", MAX_NAMED + 4).as_bytes()),
        Some(MAX_NAMED as u64 + 4)
    );
}

/// A message with an arbitrary tag and body, or arbitrary bytes.
fn chunk() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (
            prop::sample::select(b"CDEIZ123nTsVPBSQFGH".to_vec()),
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(tag, body)| {
                let mut m = vec![tag];
                m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
                m.extend_from_slice(&body);
                m
            }),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #[test]
    fn hostile_bytes_never_panic_and_stay_bounded(
        steps in prop::collection::vec((any::<bool>(), any::<bool>(), chunk()), 0..200)
    ) {
        let mut t = Tracker::new(base());
        for (i, (server, decide, bytes)) in steps.iter().enumerate() {
            if *decide {
                t.decided(i as u64, i % 3 != 0);
            }
            if *server {
                t.sent_to_server(bytes);
            } else {
                t.sent_to_client(bytes);
            }
            while let Some(o) = t.poll() {
                prop_assert!(o.error.as_ref().is_none_or(|e| e.len() <= RESULT_LIMIT));
            }
        }
        prop_assert!(t.pending.len() <= steps.len());
        prop_assert!(t.decided.len() <= steps.len());
    }
}

const RESULT_LIMIT: usize = crate::audit::RESULT_ERROR_BYTES + 16 + 2;

#[test]
fn names_are_keyed_as_the_server_keys_them() {
    // PostgreSQL tells statements and portals apart by their first 63 bytes: so must the
    // tracker, and a long name costs no more than that to remember.
    let mut names = Names::default();
    let mut first = vec![b's'; 63];
    first.extend_from_slice(b"-one");
    let mut second = vec![b's'; 63];
    second.extend_from_slice(&vec![b'x'; 10_000]);
    names.set(&first, Some(7));
    assert_eq!(names.get(&second), Some(7));
    assert!(names.named.keys().all(|k| k.len() <= 63));
    names.set(&second, None);
    assert_eq!(names.get(&first), None);
}
