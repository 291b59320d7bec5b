//! Recording through the session: what the client saw (masked), denials, the extended
//! protocol, and nothing at all when recording is off.

use bytes::BytesMut;

use super::masking::{
    CUSTOMERS, INT4, TEXT, bind_execute_sync, cache, complete, customers_result, data_row,
    masked_pair, masked_pair_recorded, parse_describe_sync, query, row_description,
};
use crate::pg::codec::encode;
use crate::pg::codec::encode::MessageWriter;
use crate::record::{
    CommandKind, CommandRecord, RecordEvent, RecordLimits, RecordedVerdict, parse_line,
};

fn events(bytes: &[u8]) -> Vec<RecordEvent> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| parse_line(l).unwrap())
        .collect()
}

fn commands(bytes: &[u8]) -> Vec<CommandRecord> {
    events(bytes)
        .into_iter()
        .filter_map(|e| match e {
            RecordEvent::Command(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn recording_session() -> super::harness::Pair {
    masked_pair_recorded(cache(), Some(RecordLimits::default()))
}

#[test]
fn a_masked_select_is_recorded_as_the_client_saw_it() {
    let mut p = recording_session();
    query(&mut p, "SELECT ssn AS x, email, id, note FROM customers");
    p.now += jiff::SignedDuration::from_millis(3);
    let mut b = BytesMut::new();
    customers_result(&mut b);
    p.upstream_send(&b);
    let text = String::from_utf8(p.recorded.clone()).unwrap();
    for raw in ["234-56-7890", "jane@example.com", "4111 1111 1111 1111"] {
        assert!(!text.contains(raw), "a raw value was recorded: {text}");
    }
    let evs = events(&p.recorded);
    assert!(matches!(&evs[0], RecordEvent::Start(s) if s.session == "s1"));
    let cmds = commands(&p.recorded);
    assert_eq!(cmds.len(), 1);
    let c = &cmds[0];
    assert_eq!(c.kind, CommandKind::Query);
    assert_eq!(c.sql, "SELECT ssn AS x, email, id, note FROM customers");
    assert_eq!(c.verdict, RecordedVerdict::Allow);
    assert_eq!(c.duration_us, 3000);
    let r = &c.results[0];
    assert_eq!(r.columns, ["x", "email", "id", "note"]);
    assert_eq!(r.row_count, 3);
    assert_eq!(r.tag.as_deref(), Some("SELECT 3"));
    assert_eq!(
        r.rows[0],
        [
            Some("[REDACTED:column]".to_owned()),
            Some("[REDACTED:email]".to_owned()),
            Some("1".to_owned()),
            Some("paid with [REDACTED:credit_card]".to_owned()),
        ]
    );
    p.session.finish_recording(p.now);
    let tail = p.session.poll_recording().unwrap();
    assert!(matches!(events(&tail)[..], [RecordEvent::End(ref e)] if e.error.is_none()));
}

#[test]
fn a_denied_statement_is_recorded_with_its_verdict_and_error() {
    let mut p = recording_session();
    p.deny_containing = Some("DELETE");
    query(&mut p, "DELETE FROM customers");
    // The server fails the stand-in; the gateway's 42501 replaces its error.
    let mut s = BytesMut::new();
    encode::ErrorBuilder::new(
        encode::Severity::Error,
        "42601",
        "syntax error at or near \"gatekit_denied\"",
    )
    .encode(&mut s);
    encode::ready_for_query(&mut s, b'I');
    p.upstream_send(&s);
    let cmds = commands(&p.recorded);
    assert_eq!(cmds.len(), 1, "{}", String::from_utf8_lossy(&p.recorded));
    assert_eq!(cmds[0].sql, "DELETE FROM customers");
    assert_eq!(cmds[0].verdict, RecordedVerdict::Deny);
    let e = cmds[0].error.as_ref().unwrap();
    assert_eq!(e.code, "42501");
    assert!(e.message.contains("no-bulk-writes"), "{}", e.message);
}

#[test]
fn a_prepared_statement_is_recorded_per_execution_with_its_text() {
    let mut p = recording_session();
    let sql = "SELECT email, ssn, id FROM customers WHERE id = $1";
    let mut c = BytesMut::new();
    parse_describe_sync(&mut c, "s1", sql);
    p.client_send(&c);
    let mut s = BytesMut::new();
    MessageWriter::new(&mut s, b'1').finish();
    MessageWriter::new(&mut s, b't').u16(0).finish();
    row_description(
        &mut s,
        &[
            ("email", CUSTOMERS, 2, TEXT, 0),
            ("ssn", CUSTOMERS, 3, TEXT, 0),
            ("id", CUSTOMERS, 1, INT4, 0),
        ],
    );
    encode::ready_for_query(&mut s, b'I');
    p.upstream_send(&s);
    for _ in 0..2 {
        let mut c = BytesMut::new();
        bind_execute_sync(&mut c, "s1", &[1]);
        p.client_send(&c);
        let mut s = BytesMut::new();
        MessageWriter::new(&mut s, b'2').finish();
        data_row(
            &mut s,
            &[
                Some(b"jane@example.com"),
                Some(b"234-56-7890"),
                Some(&7i32.to_be_bytes()),
            ],
        );
        complete(&mut s, "SELECT 1");
        encode::ready_for_query(&mut s, b'I');
        p.upstream_send(&s);
    }
    let cmds = commands(&p.recorded);
    assert_eq!(cmds.len(), 2, "{}", String::from_utf8_lossy(&p.recorded));
    for c in &cmds {
        assert_eq!(c.kind, CommandKind::Execute);
        assert_eq!(c.sql, sql);
        let r = &c.results[0];
        assert_eq!(r.columns, ["email", "ssn", "id"]);
        // Binary format: text-like values are hex too; masked before they were recorded.
        assert_eq!(
            r.rows[0],
            [
                Some(format!("\\x{}", hex::encode("[REDACTED:email]"))),
                Some(format!("\\x{}", hex::encode("[REDACTED:column]"))),
                Some("\\x00000007".to_owned()),
            ]
        );
    }
}

#[test]
fn an_unrecorded_session_records_nothing() {
    let mut p = masked_pair(cache());
    query(&mut p, "SELECT ssn AS x, email, id, note FROM customers");
    let mut b = BytesMut::new();
    customers_result(&mut b);
    p.upstream_send(&b);
    assert!(p.recorded.is_empty());
    p.session.finish_recording(p.now);
    assert!(p.session.poll_recording().is_none());
}
