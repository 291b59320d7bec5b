//! The recorder alone: pairing, caps, errors and notices, both protocols, and a property
//! over arbitrary traffic.

use bytes::BytesMut;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::pg::codec::encode::{self, ErrorBuilder, MessageWriter, Severity};

/// id, name, note.
fn fixture() -> Vec<Vec<&'static str>> {
    include_str!("../../tests/data/record/rows.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect()
}

fn t0() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn recorder(limits: RecordLimits) -> SqlRecorder {
    let start = StartRecord {
        at: t0(),
        session: "s1".into(),
        target: "shop".into(),
        protocol: "postgres".into(),
        user: "alice".into(),
        groups: vec!["dev".into()],
        database: Some("shop".into()),
        client: None,
    };
    SqlRecorder::new(start, limits)
}

fn row_description(b: &mut BytesMut, names: &[&str], format: u16) {
    let mut w = MessageWriter::new(b, b'T');
    w.u16(names.len() as u16);
    for n in names {
        w.cstr(n.as_bytes())
            .u32(0)
            .u16(0)
            .u32(25)
            .u16(0xffff)
            .u32(u32::MAX)
            .u16(format);
    }
    w.finish();
}

fn data_row(b: &mut BytesMut, values: &[Option<&[u8]>]) {
    let mut w = MessageWriter::new(b, b'D');
    w.u16(values.len() as u16);
    for v in values {
        match v {
            Some(v) => {
                w.u32(v.len() as u32).bytes(v);
            }
            None => {
                w.u32(u32::MAX);
            }
        }
    }
    w.finish();
}

fn complete(b: &mut BytesMut, tag: &str) {
    MessageWriter::new(b, b'C').cstr(tag.as_bytes()).finish();
}

/// The fixture as a result, ending with `tag`.
fn fixture_result(b: &mut BytesMut) {
    row_description(b, &["id", "name", "note"], 0);
    for r in fixture() {
        let values: Vec<Option<&[u8]>> = r.iter().map(|v| Some(v.as_bytes())).collect();
        data_row(b, &values);
    }
    complete(b, "SELECT 5");
}

fn lines(rec: &mut SqlRecorder) -> Vec<RecordEvent> {
    let bytes = rec.poll_bytes().unwrap_or_default();
    assert!(bytes.is_empty() || bytes.ends_with(b"\n"));
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| parse_line(l).unwrap())
        .collect()
}

fn commands(rec: &mut SqlRecorder) -> Vec<CommandRecord> {
    lines(rec)
        .into_iter()
        .filter_map(|e| match e {
            RecordEvent::Command(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn simple(rec: &mut SqlRecorder, at: Timestamp, sql: &str) {
    rec.decided(sql.as_bytes(), RecordedVerdict::Allow);
    let mut q = BytesMut::new();
    encode::query(&mut q, sql);
    rec.to_server(at, &q);
}

#[test]
fn a_simple_query_records_columns_rows_tag_and_duration() {
    let mut rec = recorder(RecordLimits::default());
    assert!(matches!(lines(&mut rec)[..], [RecordEvent::Start(_)]));
    simple(&mut rec, t0(), "SELECT id, name, note FROM people");
    let mut b = BytesMut::new();
    fixture_result(&mut b);
    encode::ready_for_query(&mut b, b'I');
    rec.to_client(t0() + SignedDuration::from_micros(1500), &b);
    let c = &commands(&mut rec)[0];
    assert_eq!(c.sql, "SELECT id, name, note FROM people");
    assert_eq!(
        (c.kind, c.verdict),
        (CommandKind::Query, RecordedVerdict::Allow)
    );
    assert_eq!(c.duration_us, 1500);
    assert!(!c.truncated);
    let r = &c.results[0];
    assert_eq!(r.columns, ["id", "name", "note"]);
    assert_eq!(r.row_count, 5);
    assert_eq!(r.rows.len(), 5);
    assert_eq!(
        r.rows[1],
        [
            Some("2".into()),
            Some("brian".into()),
            Some("second".into())
        ]
    );
    assert_eq!(r.tag.as_deref(), Some("SELECT 5"));
}

#[test]
fn the_row_cap_keeps_the_first_rows_and_counts_the_rest() {
    let mut rec = recorder(RecordLimits {
        rows: 2,
        bytes: 1 << 20,
    });
    simple(&mut rec, t0(), "SELECT * FROM people");
    let mut b = BytesMut::new();
    fixture_result(&mut b);
    encode::ready_for_query(&mut b, b'I');
    rec.to_client(t0(), &b);
    let c = &commands(&mut rec)[0];
    assert!(c.truncated);
    let r = &c.results[0];
    assert!(r.truncated);
    assert_eq!((r.rows.len(), r.row_count), (2, 5));
    assert_eq!(r.rows[1][1].as_deref(), Some("brian"));
    let sent: usize = fixture().iter().flatten().map(|v| v.len()).sum();
    assert_eq!(r.bytes, sent as u64);
    assert_eq!(r.tag.as_deref(), Some("SELECT 5"));
}

#[test]
fn the_byte_cap_stops_keeping_rows_that_do_not_fit() {
    // Column names (10 bytes) and the first two rows (1+3+5 = 9, 1+5+6 = 12) fit in 32.
    let mut rec = recorder(RecordLimits {
        rows: 1000,
        bytes: 32,
    });
    simple(&mut rec, t0(), "SELECT * FROM people");
    let mut b = BytesMut::new();
    fixture_result(&mut b);
    encode::ready_for_query(&mut b, b'I');
    rec.to_client(t0(), &b);
    let c = &commands(&mut rec)[0];
    let r = &c.results[0];
    assert_eq!((r.rows.len(), r.row_count), (2, 5));
    assert!(r.truncated && c.truncated);
    // The tag no longer fits either; the count says what happened.
    assert_eq!(r.tag, None);
}

#[test]
fn a_multi_statement_query_has_a_result_per_statement() {
    let mut rec = recorder(RecordLimits::default());
    simple(
        &mut rec,
        t0(),
        "SELECT 1 AS a; UPDATE t SET x = 1; SELECT 'b' AS b",
    );
    let mut b = BytesMut::new();
    row_description(&mut b, &["a"], 0);
    data_row(&mut b, &[Some(b"1")]);
    complete(&mut b, "SELECT 1");
    complete(&mut b, "UPDATE 7");
    row_description(&mut b, &["b"], 0);
    data_row(&mut b, &[None]);
    complete(&mut b, "SELECT 1");
    encode::ready_for_query(&mut b, b'I');
    rec.to_client(t0(), &b);
    let cmds = commands(&mut rec);
    assert_eq!(cmds.len(), 1);
    let tags: Vec<_> = cmds[0].results.iter().map(|r| r.tag.as_deref()).collect();
    assert_eq!(tags, [Some("SELECT 1"), Some("UPDATE 7"), Some("SELECT 1")]);
    assert!(cmds[0].results[1].columns.is_empty());
    assert_eq!(cmds[0].results[2].rows, [[None]]);
}

#[test]
fn errors_and_notices_are_recorded_with_their_command() {
    let mut rec = recorder(RecordLimits::default());
    simple(&mut rec, t0(), "DROP TABLE IF EXISTS gone; SELECT 1/0");
    let mut b = BytesMut::new();
    ErrorBuilder::new(
        Severity::Notice,
        "00000",
        "table \"gone\" does not exist, skipping",
    )
    .encode(&mut b);
    complete(&mut b, "DROP TABLE");
    row_description(&mut b, &["?column?"], 0);
    ErrorBuilder::new(Severity::Error, "22012", "division by zero").encode(&mut b);
    encode::ready_for_query(&mut b, b'I');
    rec.to_client(t0(), &b);
    // A notice outside any command (a hold's, an asynchronous one) is a line of its own.
    let mut n = BytesMut::new();
    ErrorBuilder::new(Severity::Notice, "00000", "awaiting approval").encode(&mut n);
    rec.to_client(t0(), &n);
    let evs = lines(&mut rec);
    let RecordEvent::Command(c) = &evs[1] else {
        panic!("{evs:?}")
    };
    assert_eq!(c.notices, ["table \"gone\" does not exist, skipping"]);
    let e = c.error.as_ref().unwrap();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("22012", "division by zero")
    );
    assert_eq!(e.severity, "ERROR");
    assert_eq!(c.results[0].tag.as_deref(), Some("DROP TABLE"));
    assert!(matches!(&evs[2], RecordEvent::Message(m) if m.message == "awaiting approval"));
}

fn parse(b: &mut BytesMut, name: &str, sql: &str) {
    MessageWriter::new(b, b'P')
        .cstr(name.as_bytes())
        .cstr(sql.as_bytes())
        .u16(0)
        .finish();
}

fn bind_describe_execute_sync(b: &mut BytesMut, name: &str, formats: &[u16]) {
    let mut w = MessageWriter::new(b, b'B');
    w.cstr(b"").cstr(name.as_bytes()).u16(0).u16(0);
    w.u16(formats.len() as u16);
    for f in formats {
        w.u16(*f);
    }
    w.finish();
    MessageWriter::new(b, b'D').u8(b'P').cstr(b"").finish();
    MessageWriter::new(b, b'E').cstr(b"").u32(0).finish();
    MessageWriter::new(b, b'S').finish();
}

#[test]
fn the_extended_protocol_records_each_execution_and_refused_prepares() {
    let mut rec = recorder(RecordLimits::default());
    // A denied Parse: the stand-in goes out; the gateway's error comes back.
    rec.decided(b"DELETE FROM people", RecordedVerdict::Deny);
    let mut c = BytesMut::new();
    parse(&mut c, "", "gatekit_denied");
    MessageWriter::new(&mut c, b'S').finish();
    rec.to_server(t0(), &c);
    let mut s = BytesMut::new();
    ErrorBuilder::new(Severity::Error, "42501", "gatekit denied this statement").encode(&mut s);
    encode::ready_for_query(&mut s, b'I');
    rec.to_client(t0(), &s);

    // Allowed, then executed twice (binary results once).
    let sql = "SELECT name, id FROM people WHERE id = $1";
    rec.decided(sql.as_bytes(), RecordedVerdict::Allow);
    let mut c = BytesMut::new();
    parse(&mut c, "q", sql);
    bind_describe_execute_sync(&mut c, "q", &[]);
    rec.to_server(t0(), &c);
    let mut s = BytesMut::new();
    MessageWriter::new(&mut s, b'1').finish();
    MessageWriter::new(&mut s, b'2').finish();
    row_description(&mut s, &["name", "id"], 0);
    data_row(&mut s, &[Some(b"ada"), Some(b"1")]);
    complete(&mut s, "SELECT 1");
    encode::ready_for_query(&mut s, b'I');
    rec.to_client(t0(), &s);
    let mut c = BytesMut::new();
    bind_describe_execute_sync(&mut c, "q", &[1]);
    rec.to_server(t0(), &c);
    let mut s = BytesMut::new();
    MessageWriter::new(&mut s, b'2').finish();
    row_description(&mut s, &["name", "id"], 1);
    data_row(&mut s, &[Some(b"ada"), Some(&[0, 0, 0, 1])]);
    complete(&mut s, "SELECT 1");
    encode::ready_for_query(&mut s, b'I');
    rec.to_client(t0(), &s);

    let cmds = commands(&mut rec);
    assert_eq!(cmds.len(), 3, "{cmds:#?}");
    assert_eq!(cmds[0].kind, CommandKind::Prepare);
    assert_eq!(cmds[0].sql, "DELETE FROM people");
    assert_eq!(cmds[0].verdict, RecordedVerdict::Deny);
    assert_eq!(cmds[0].error.as_ref().unwrap().code, "42501");
    executions_of_people(
        &cmds[1..],
        sql,
        &[["ada", "1"], ["\\x616461", "\\x00000001"]],
    );
}

/// Each command executed `sql` over the columns `name, id` and got the one row.
fn executions_of_people(cmds: &[CommandRecord], sql: &str, rows: &[[&str; 2]]) {
    assert_eq!(cmds.len(), rows.len(), "{cmds:#?}");
    for (c, row) in cmds.iter().zip(rows) {
        assert_eq!((c.kind, c.sql.as_str()), (CommandKind::Execute, sql));
        assert_eq!(c.results[0].columns, ["name", "id"]);
        let want: Vec<Option<String>> = row.iter().map(|v| Some((*v).to_owned())).collect();
        assert_eq!(c.results[0].rows, [want]);
    }
}

#[test]
fn a_statement_described_once_is_recorded_in_each_bind_s_result_formats() {
    let mut rec = recorder(RecordLimits::default());
    let sql = "SELECT name, id FROM people WHERE id = $1";
    rec.decided(sql.as_bytes(), RecordedVerdict::Allow);
    let mut c = BytesMut::new();
    parse(&mut c, "q", sql);
    MessageWriter::new(&mut c, b'D')
        .u8(b'S')
        .cstr(b"q")
        .finish();
    MessageWriter::new(&mut c, b'S').finish();
    rec.to_server(t0(), &c);
    let mut s = BytesMut::new();
    MessageWriter::new(&mut s, b'1').finish();
    row_description(&mut s, &["name", "id"], 0);
    encode::ready_for_query(&mut s, b'I');
    rec.to_client(t0(), &s);
    // Executed without a Describe: per-column codes, then one code for every column.
    for formats in [&[0u16, 1][..], &[1]] {
        let mut c = BytesMut::new();
        let mut w = MessageWriter::new(&mut c, b'B');
        w.cstr(b"")
            .cstr(b"q")
            .u16(0)
            .u16(0)
            .u16(formats.len() as u16);
        for f in formats {
            w.u16(*f);
        }
        w.finish();
        MessageWriter::new(&mut c, b'E').cstr(b"").u32(0).finish();
        MessageWriter::new(&mut c, b'S').finish();
        rec.to_server(t0(), &c);
        let mut s = BytesMut::new();
        MessageWriter::new(&mut s, b'2').finish();
        data_row(&mut s, &[Some(b"ada"), Some(&[0, 0, 0, 1])]);
        complete(&mut s, "SELECT 1");
        encode::ready_for_query(&mut s, b'I');
        rec.to_client(t0(), &s);
    }
    executions_of_people(
        &commands(&mut rec),
        sql,
        &[["ada", "\\x00000001"], ["\\x616461", "\\x00000001"]],
    );
}

#[test]
fn password_literals_are_redacted_and_copy_out_is_recorded_by_line() {
    let mut rec = recorder(RecordLimits::default());
    simple(&mut rec, t0(), "ALTER ROLE app PASSWORD 'hunter2'");
    let mut b = BytesMut::new();
    complete(&mut b, "ALTER ROLE");
    encode::ready_for_query(&mut b, b'I');
    rec.to_client(t0(), &b);
    simple(&mut rec, t0(), "COPY people TO STDOUT");
    let mut b = BytesMut::new();
    MessageWriter::new(&mut b, b'H')
        .u8(0)
        .u16(1)
        .u16(0)
        .finish();
    MessageWriter::new(&mut b, b'd').bytes(b"1\tada\n").finish();
    MessageWriter::new(&mut b, b'd')
        .bytes(b"2\tbrian\n")
        .finish();
    MessageWriter::new(&mut b, b'c').finish();
    complete(&mut b, "COPY 2");
    encode::ready_for_query(&mut b, b'I');
    rec.to_client(t0(), &b);
    rec.finish(t0(), Some("server closed the connection"));
    let evs = lines(&mut rec);
    let RecordEvent::Command(alter) = &evs[1] else {
        panic!()
    };
    assert!(!alter.sql.contains("hunter2"), "{}", alter.sql);
    let RecordEvent::Command(copy) = &evs[2] else {
        panic!()
    };
    let r = &copy.results[0];
    assert_eq!(r.columns, ["copy"]);
    assert_eq!(r.rows, [[Some("1\tada".into())], [Some("2\tbrian".into())]]);
    assert_eq!(r.tag.as_deref(), Some("COPY 2"));
    assert!(
        matches!(&evs[3], RecordEvent::End(e) if e.error.as_deref() == Some("server closed the connection"))
    );
    // After the end, nothing more is recorded.
    simple(&mut rec, t0(), "SELECT 1");
    assert!(rec.poll_bytes().is_none());
}

/// One step of arbitrary traffic.
#[derive(Clone, Debug)]
enum Step {
    Query(String),
    Parse(String),
    BindExecute(bool),
    Sync,
    Rows(Vec<Vec<Option<Vec<u8>>>>),
    Describe(u8),
    Complete,
    Error,
    Notice,
    Ready,
    ParseComplete,
    BindComplete,
    Garbage(Vec<u8>),
}

fn step() -> impl Strategy<Value = Step> {
    let value = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12));
    let row = proptest::collection::vec(value, 0..4);
    prop_oneof![
        "[a-zA-Z0-9 ;'*]{0,20}".prop_map(Step::Query),
        "[a-zA-Z0-9 $]{0,20}".prop_map(Step::Parse),
        any::<bool>().prop_map(Step::BindExecute),
        Just(Step::Sync),
        proptest::collection::vec(row, 0..6).prop_map(Step::Rows),
        (1u8..4).prop_map(Step::Describe),
        Just(Step::Complete),
        Just(Step::Error),
        Just(Step::Notice),
        Just(Step::Ready),
        Just(Step::ParseComplete),
        Just(Step::BindComplete),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Step::Garbage),
    ]
}

proptest! {
    #[test]
    fn any_traffic_gives_valid_lines_within_the_caps(
        steps in proptest::collection::vec(step(), 0..40),
        rows in 0u64..4,
        bytes in 0u64..64,
    ) {
        let limits = RecordLimits { rows, bytes };
        let mut rec = recorder(limits);
        let mut out = Vec::new();
        let mut at = t0();
        for s in steps {
            at += SignedDuration::from_millis(1);
            let mut b = BytesMut::new();
            match s {
                Step::Query(q) => {
                    simple(&mut rec, at, &q);
                }
                Step::Parse(q) => {
                    rec.decided(q.as_bytes(), RecordedVerdict::Allow);
                    parse(&mut b, "", &q);
                    rec.to_server(at, &b);
                }
                Step::BindExecute(binary) => {
                    bind_describe_execute_sync(&mut b, "", if binary { &[1] } else { &[] });
                    rec.to_server(at, &b);
                }
                Step::Sync => {
                    MessageWriter::new(&mut b, b'S').finish();
                    rec.to_server(at, &b);
                }
                Step::Rows(rs) => {
                    for r in &rs {
                        let values: Vec<Option<&[u8]>> = r.iter().map(|v| v.as_deref()).collect();
                        data_row(&mut b, &values);
                    }
                    rec.to_client(at, &b);
                }
                Step::Describe(n) => {
                    let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    row_description(&mut b, &names, u16::from(n % 2));
                    rec.to_client(at, &b);
                }
                Step::Complete => {
                    complete(&mut b, "SELECT 0");
                    rec.to_client(at, &b);
                }
                Step::Error => {
                    ErrorBuilder::new(Severity::Error, "XX000", "boom").encode(&mut b);
                    rec.to_client(at, &b);
                }
                Step::Notice => {
                    ErrorBuilder::new(Severity::Notice, "00000", "hello").encode(&mut b);
                    rec.to_client(at, &b);
                }
                Step::Ready => {
                    encode::ready_for_query(&mut b, b'I');
                    rec.to_client(at, &b);
                }
                Step::ParseComplete => {
                    MessageWriter::new(&mut b, b'1').finish();
                    rec.to_client(at, &b);
                }
                Step::BindComplete => {
                    MessageWriter::new(&mut b, b'2').finish();
                    rec.to_client(at, &b);
                }
                Step::Garbage(g) => {
                    rec.to_client(at, &g);
                    rec.to_server(at, &g);
                }
            }
            if let Some(l) = rec.poll_bytes() {
                out.extend_from_slice(&l);
            }
        }
        rec.finish(at, None);
        out.extend_from_slice(&rec.poll_bytes().unwrap_or_default());
        prop_assert!(out.ends_with(b"\n"));
        let events: Vec<RecordEvent> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| parse_line(l).unwrap())
            .collect();
        prop_assert!(matches!(events.first(), Some(RecordEvent::Start(_))));
        prop_assert!(matches!(events.last(), Some(RecordEvent::End(_))));
        for e in &events {
            let RecordEvent::Command(c) = e else { continue };
            let kept: usize = c.results.iter().map(|r| r.rows.len()).sum();
            prop_assert!(kept as u64 <= limits.rows);
            let mut cost = c.notices.iter().map(String::len).sum::<usize>();
            for r in &c.results {
                cost += r.columns.iter().map(String::len).sum::<usize>();
                cost += r.tag.as_ref().map_or(0, String::len);
                cost += r.rows.iter().flatten().flatten().map(String::len).sum::<usize>();
                prop_assert!(r.rows.len() as u64 <= r.row_count);
                prop_assert_eq!(r.truncated, (r.rows.len() as u64) < r.row_count || r.truncated && c.truncated);
            }
            prop_assert!(cost as u64 <= limits.bytes, "{} > {}", cost, limits.bytes);
        }
    }
}

#[test]
fn a_statement_sent_again_is_recorded_again_with_its_own_verdict_and_redaction() {
    let mut rec = recorder(RecordLimits::default());
    let done = |rec: &mut SqlRecorder| {
        let mut b = BytesMut::new();
        complete(&mut b, "ALTER ROLE");
        encode::ready_for_query(&mut b, b'I');
        rec.to_client(t0(), &b);
    };
    let alter = "ALTER ROLE app PASSWORD 'hunter2'";
    simple(&mut rec, t0(), alter);
    done(&mut rec);
    // The same text again, refused this time; then a different statement; then the first.
    rec.decided(alter.as_bytes(), RecordedVerdict::Deny);
    let mut q = BytesMut::new();
    encode::query(&mut q, alter);
    rec.to_server(t0(), &q);
    done(&mut rec);
    simple(&mut rec, t0(), "ALTER ROLE app PASSWORD 'other'");
    done(&mut rec);
    simple(&mut rec, t0(), alter);
    done(&mut rec);
    let cmds = commands(&mut rec);
    let seen: Vec<(&str, RecordedVerdict)> =
        cmds.iter().map(|c| (c.sql.as_str(), c.verdict)).collect();
    let redacted = "ALTER ROLE app PASSWORD '***'";
    assert_eq!(
        seen,
        [
            (redacted, RecordedVerdict::Allow),
            (redacted, RecordedVerdict::Deny),
            (redacted, RecordedVerdict::Allow),
            (redacted, RecordedVerdict::Allow),
        ]
    );
    assert!(
        cmds.iter()
            .all(|c| !c.sql.contains("hunter2") && !c.sql.contains("other"))
    );
}
