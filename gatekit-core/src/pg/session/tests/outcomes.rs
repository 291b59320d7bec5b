//! Outcomes through the whole session: numbered by the statement ids the driver decided,
//! none for denials.

use bytes::BytesMut;

use super::pair;
use super::server::UpstreamAuth;
use crate::pg::codec::{ProtocolVersion, encode};

#[test]
fn allowed_commands_get_outcomes_under_their_statement_ids() {
    let mut p = pair(UpstreamAuth::Trust);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    assert!(p.session.is_ready());
    p.deny_containing = Some("DELETE");
    let mut b = BytesMut::new();
    encode::query(&mut b, "SELECT 1");
    encode::query(&mut b, "DELETE FROM orders");
    encode::MessageWriter::new(&mut b, b'P')
        .cstr(b"s1")
        .cstr(b"SELECT 1")
        .u16(0)
        .finish();
    for _ in 0..2 {
        encode::MessageWriter::new(&mut b, b'B')
            .cstr(b"")
            .cstr(b"s1")
            .u16(0)
            .u16(0)
            .u16(0)
            .finish();
        encode::MessageWriter::new(&mut b, b'E')
            .cstr(b"")
            .u32(0)
            .finish();
    }
    encode::MessageWriter::new(&mut b, b'S').finish();
    p.client_send(&b);

    let ids: Vec<u64> = p.statements.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), 3);
    let mut outcomes = Vec::new();
    while let Some(o) = p.session.poll_outcome() {
        outcomes.push(o);
    }
    let got: Vec<(u64, u64, bool)> = outcomes
        .iter()
        .map(|o| (o.command, o.rows, o.error.is_some()))
        .collect();
    // The SELECT, then each Execute of s1; the denied DELETE has none.
    assert_eq!(
        got,
        [(ids[0], 1, false), (ids[2], 1, false), (ids[2], 1, false)]
    );
    assert!(outcomes.iter().all(|o| o.bytes > 0));
}
