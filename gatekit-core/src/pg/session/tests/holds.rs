//! Review holds: a statement waits for a person, the client is told, and the session goes
//! on in order once the decision comes; terminating a session from outside.

use bytes::BytesMut;

use super::harness::Pair;
use super::pair;
use super::server::UpstreamAuth;
use crate::pg::codec::{BackendMessage, ProtocolVersion, encode};
use crate::pg::error::PgError;
use crate::pg::session::Decision;

fn held_pair() -> Pair {
    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    assert!(p.session.is_ready());
    p.client_messages();
    p.hold_statements = true;
    p
}

/// Holds the `nth` statement decided on.
fn hold(p: &mut Pair, nth: usize) {
    let now = p.now;
    let id = p.statements[nth].id;
    p.session
        .handle_decision(
            now,
            id,
            Decision::Hold {
                approval: "a1b2".into(),
                notice: "awaiting approval a1b2 from dba".into(),
            },
        )
        .unwrap();
    p.drain();
}

/// Answers the `nth` statement decided on.
fn decide(p: &mut Pair, nth: usize, d: Decision) {
    let now = p.now;
    let id = p.statements[nth].id;
    p.session.handle_decision(now, id, d).unwrap();
    p.drain();
}

fn field(body: &[u8], tag: u8, code: u8) -> String {
    let f = match BackendMessage::parse(tag, body).unwrap() {
        BackendMessage::ErrorResponse(f) | BackendMessage::NoticeResponse(f) => f,
        other => panic!("not an error or notice: {other:?}"),
    };
    String::from_utf8(f.get(code).unwrap_or_default().to_vec()).unwrap()
}

#[test]
fn a_held_statement_notifies_the_client_and_runs_after_approval_with_what_followed() {
    let mut p = held_pair();
    let mut b = BytesMut::new();
    encode::query(&mut b, "BEGIN");
    p.client_send(&b);
    decide(&mut p, 0, Decision::Allow);
    p.client_messages();
    let mut b = BytesMut::new();
    encode::query(&mut b, "ALTER TABLE t ADD c int");
    encode::query(&mut b, "SELECT 2");
    p.client_send(&b);
    let alter = 1;
    hold(&mut p, alter);
    assert_eq!(p.session.awaiting_approval(), Some("a1b2"));

    // The client has the notice and nothing else; the server has seen only BEGIN.
    let msgs = p.client_messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].0, b'N');
    assert_eq!(
        field(&msgs[0].1, b'N', b'M'),
        "awaiting approval a1b2 from dba"
    );
    assert_eq!(field(&msgs[0].1, b'N', b'V'), "NOTICE");
    let mut begin = BytesMut::new();
    encode::query(&mut begin, "BEGIN");
    assert_eq!(p.server.received_after_login, begin.to_vec());
    assert_eq!(
        p.session.transaction_status(),
        b'T',
        "the transaction stays open"
    );

    // More pipelining while held waits too.
    let mut c = BytesMut::new();
    encode::query(&mut c, "SELECT 3");
    p.client_send(&c);
    assert_eq!(p.statements.len(), 2);

    decide(&mut p, alter, Decision::Allow);
    assert_eq!(p.session.awaiting_approval(), None);
    // The two queued statements are then decided in order.
    assert_eq!(p.statements.len(), 3);
    decide(&mut p, 2, Decision::Allow);
    decide(&mut p, 3, Decision::Allow);
    let mut want = begin.clone();
    want.extend_from_slice(&b);
    want.extend_from_slice(&c);
    assert_eq!(p.server.received_after_login, want.to_vec());
    let tags: Vec<u8> = p.client_messages().iter().map(|(t, _)| *t).collect();
    assert_eq!(tags, b"TDCZTDCZTDCZ", "three results, in order");
}

#[test]
fn a_held_statement_denied_by_the_reviewer_fails_in_its_transaction() {
    let mut p = held_pair();
    let mut b = BytesMut::new();
    encode::query(&mut b, "BEGIN");
    p.client_send(&b);
    decide(&mut p, 0, Decision::Allow);
    let mut b = BytesMut::new();
    encode::query(&mut b, "DROP TABLE t");
    p.client_send(&b);
    let drop = 1;
    hold(&mut p, drop);
    p.client_messages();
    decide(
        &mut p,
        drop,
        Decision::Deny {
            rule: Some("risky-needs-review".into()),
            reason: "approval a1b2 denied by bob: not during the freeze".into(),
        },
    );
    let msgs = p.client_messages();
    let tags: Vec<u8> = msgs.iter().map(|(t, _)| *t).collect();
    assert_eq!(tags, b"EZ");
    assert_eq!(field(&msgs[0].1, b'E', b'C'), "42501");
    assert!(field(&msgs[0].1, b'E', b'M').contains("not during the freeze"));
    assert_eq!(
        msgs[1].1, b"E",
        "the open transaction is failed on both sides"
    );
    let seen = String::from_utf8_lossy(&p.server.received_after_login).into_owned();
    assert!(!seen.contains("DROP"));
}

#[test]
fn a_held_parse_in_the_extended_protocol_holds_the_whole_batch() {
    let mut p = held_pair();
    let mut b = BytesMut::new();
    encode::MessageWriter::new(&mut b, b'P')
        .cstr(b"")
        .cstr(b"CREATE INDEX i ON t (c)")
        .u16(0)
        .finish();
    encode::MessageWriter::new(&mut b, b'B')
        .cstr(b"")
        .cstr(b"")
        .u16(0)
        .u16(0)
        .u16(0)
        .finish();
    encode::MessageWriter::new(&mut b, b'E')
        .cstr(b"")
        .u32(0)
        .finish();
    encode::MessageWriter::new(&mut b, b'S').finish();
    p.client_send(&b);
    let id = 0;
    hold(&mut p, id);
    assert!(p.server.received_after_login.is_empty());
    decide(&mut p, id, Decision::Allow);
    assert_eq!(p.server.received_after_login, b.to_vec());
}

#[test]
fn a_client_that_hangs_up_while_held_ends_the_session_without_running_it() {
    let mut p = held_pair();
    let mut b = BytesMut::new();
    encode::query(&mut b, "TRUNCATE t");
    p.client_send(&b);
    hold(&mut p, 0);
    let now = p.now;
    p.session.handle_client_eof(now).unwrap();
    p.drain();
    assert!(p.closed && p.session.is_closed());
    assert!(p.server.terminated);
    assert!(!String::from_utf8_lossy(&p.server.received_after_login).contains("TRUNCATE"));
    // The late approval is refused: the statement is gone with the session.
    assert!(p.session.handle_decision(now, 1, Decision::Allow).is_err());
}

#[test]
fn terminate_tells_the_client_and_closes_both_sides() {
    let mut p = held_pair();
    let now = p.now;
    let e = p.session.handle_terminate(now, "killed by carol");
    assert_eq!(
        e,
        PgError::Terminated {
            reason: "killed by carol".into()
        }
    );
    p.drain();
    assert!(p.closed && p.server.terminated);
    let msgs = p.client_messages();
    assert_eq!(msgs.last().map(|m| m.0), Some(b'E'));
    let body = &msgs.last().unwrap().1;
    assert_eq!(field(body, b'E', b'C'), "57P01");
    assert_eq!(field(body, b'E', b'V'), "FATAL");
    assert!(field(body, b'E', b'M').contains("killed by carol"));
    // Sticky.
    assert_eq!(p.session.handle_terminate(now, "again"), e);
}
