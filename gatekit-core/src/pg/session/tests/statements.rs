//! Statements: decisions, denials in both protocols, pipelining behind a decision.

use bytes::{Bytes, BytesMut};

use super::harness::Pair;
use super::server::UpstreamAuth;
use super::{config, pair};
use crate::pg::codec::{BackendMessage, ProtocolVersion, encode};
use crate::pg::error::PgError;
use crate::pg::session::{Decision, StatementKind};

fn ready_pair() -> Pair {
    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    assert!(p.session.is_ready());
    p.client_messages();
    p
}

fn parse(b: &mut BytesMut, name: &str, sql: &str) {
    encode::MessageWriter::new(b, b'P')
        .cstr(name.as_bytes())
        .cstr(sql.as_bytes())
        .u16(0)
        .finish();
}

/// Bind + Describe portal + Execute + Sync for `statement`.
fn bind_execute_sync(b: &mut BytesMut, statement: &str) {
    encode::MessageWriter::new(b, b'B')
        .cstr(b"")
        .cstr(statement.as_bytes())
        .u16(0)
        .u16(0)
        .u16(0)
        .finish();
    encode::MessageWriter::new(b, b'D')
        .u8(b'P')
        .cstr(b"")
        .finish();
    encode::MessageWriter::new(b, b'E')
        .cstr(b"")
        .u32(0)
        .finish();
    encode::MessageWriter::new(b, b'S').finish();
}

fn error_code(body: &[u8]) -> String {
    let BackendMessage::ErrorResponse(f) = BackendMessage::parse(b'E', body).unwrap() else {
        panic!("not an error")
    };
    String::from_utf8(f.get(b'C').unwrap().to_vec()).unwrap()
}

#[test]
fn statements_are_decided_with_their_exact_text() {
    let mut p = ready_pair();
    let mut b = BytesMut::new();
    encode::MessageWriter::new(&mut b, b'Q')
        .cstr(b"SELECT 'caf\xe9'")
        .finish();
    parse(&mut b, "s1", "SELECT $1");
    bind_execute_sync(&mut b, "s1");
    p.client_send(&b);
    let kinds: Vec<_> = p
        .statements
        .iter()
        .map(|s| (s.kind.clone(), s.sql.to_vec()))
        .collect();
    assert_eq!(
        kinds,
        [
            (StatementKind::Simple, b"SELECT 'caf\xe9'".to_vec()),
            (
                StatementKind::Parse {
                    name: Bytes::from_static(b"s1")
                },
                b"SELECT $1".to_vec()
            ),
        ]
    );
    // Allowed: the server got every byte as sent.
    assert_eq!(p.server.received_after_login, b.to_vec());
}

#[test]
fn denied_query_fails_on_both_sides_in_order() {
    let mut p = ready_pair();
    p.deny_containing = Some("DELETE");
    let mut b = BytesMut::new();
    encode::query(&mut b, "BEGIN");
    encode::query(&mut b, "DELETE FROM customers");
    encode::query(&mut b, "SELECT 1");
    p.client_send(&b);
    let msgs = p.client_messages();
    let tags: Vec<u8> = msgs.iter().map(|(t, _)| *t).collect();
    // BEGIN ok; the denial is an ERROR and the transaction is failed on both sides, so the
    // next statement gets the server's own 25P02.
    assert_eq!(tags, b"CZEZEZ");
    assert_eq!(error_code(&msgs[2].1), "42501");
    let text = String::from_utf8_lossy(&msgs[2].1).into_owned();
    assert!(text.contains("no-bulk-writes") && text.contains("bulk writes are not allowed"));
    assert_eq!(msgs[3].1, b"E");
    assert_eq!(error_code(&msgs[4].1), "25P02");
    let seen = String::from_utf8_lossy(&p.server.received_after_login).into_owned();
    assert!(
        !seen.contains("DELETE"),
        "the denied text never reaches the server"
    );
    assert!(seen.contains("gatekit_denied"));
}

#[test]
fn denied_parse_discards_until_sync_and_the_batch_after_runs() {
    let mut p = ready_pair();
    p.deny_containing = Some("DELETE");
    let mut b = BytesMut::new();
    parse(&mut b, "s1", "DELETE FROM customers");
    bind_execute_sync(&mut b, "s1");
    parse(&mut b, "", "SELECT 1");
    bind_execute_sync(&mut b, "");
    p.client_send(&b);
    let msgs = p.client_messages();
    let tags: Vec<u8> = msgs.iter().map(|(t, _)| *t).collect();
    assert_eq!(tags, b"EZ12nCZ");
    assert_eq!(error_code(&msgs[0].1), "42501");
    assert_eq!(
        msgs[1].1, b"I",
        "the implicit transaction is over on both sides"
    );
    // The server saw the stand-in Parse under the same name, then Sync: no Bind/Execute
    // of the denied statement.
    let mut want = BytesMut::new();
    parse(&mut want, "s1", "gatekit_denied");
    encode::MessageWriter::new(&mut want, b'S').finish();
    parse(&mut want, "", "SELECT 1");
    bind_execute_sync(&mut want, "");
    assert_eq!(p.server.received_after_login, want.to_vec());
}

#[test]
fn denied_function_call_gets_an_error_and_ready() {
    let mut p = ready_pair();
    p.deny_containing = Some("");
    let mut b = BytesMut::new();
    encode::MessageWriter::new(&mut b, b'F')
        .u32(1598)
        .u16(0)
        .u16(0)
        .u16(0)
        .finish();
    p.client_send(&b);
    assert_eq!(
        p.statements[0].kind,
        StatementKind::FunctionCall { function: 1598 }
    );
    let tags: Vec<u8> = p.client_messages().iter().map(|(t, _)| *t).collect();
    assert_eq!(tags, b"EZ");
}

#[test]
fn pipelined_messages_wait_behind_a_pending_decision() {
    let mut p = ready_pair();
    p.hold_statements = true;
    let mut b = BytesMut::new();
    encode::query(&mut b, "SELECT 1");
    encode::query(&mut b, "SELECT 2");
    p.client_send(&b);
    assert_eq!(p.statements.len(), 1);
    assert!(p.server.received_after_login.is_empty());
    p.release_statement();
    assert_eq!(p.statements.len(), 2);
    assert_eq!(p.server.received_after_login.len(), b.len() / 2);
    p.release_statement();
    assert_eq!(p.server.received_after_login, b.to_vec());
    // A wrong id is a driver bug, not a way around the decision.
    let now = p.now;
    assert!(matches!(
        p.session.handle_decision(now, 999, Decision::Allow),
        Err(PgError::BadInput { .. })
    ));
}

#[test]
fn pipelining_is_bounded_while_a_decision_is_pending() {
    let mut c = config(&UpstreamAuth::Trust);
    c.limits.pipeline = 1000;
    let mut p = Pair::new(c, UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    p.hold_statements = true;
    let mut b = BytesMut::new();
    for _ in 0..100 {
        encode::query(&mut b, "SELECT 1");
    }
    p.client_send(&b);
    assert_eq!(
        p.session.error(),
        Some(&PgError::PipelineTooLong { max: 1000 })
    );
    assert_eq!(p.last_error_fields().0, "54000");
}
