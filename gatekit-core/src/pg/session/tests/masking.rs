//! Masking of the server's answers: rows (text and binary), NULLs with one notice, COPY,
//! notices and errors, the column lookup flow, streaming and malformed rows.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use proptest::prelude::*;

use super::harness::Pair;
use super::server::UpstreamAuth;
use super::*;
use crate::mask::{MaskSpec, Masker};
use crate::pg::codec::encode::{ErrorBuilder, MessageWriter, Severity};
use crate::pg::codec::{BackendMessage, encode};

pub(super) const CUSTOMERS: u32 = 16384;
pub(super) const TEXT: u32 = 25;
pub(super) const INT4: u32 = 23;
const INT8: u32 = 20;
const JSONB: u32 = 3802;

/// The rows of the fixture: id, email, ssn, card_no, note.
fn fixture() -> Vec<Vec<&'static str>> {
    include_str!("../../../../tests/data/pg_mask/customers.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect()
}

fn masker() -> Arc<Masker> {
    let mut spec = MaskSpec::new("pii", ["credit_card", "email", "us_ssn"]);
    spec.columns = vec!["ssn".into(), "*card*".into()];
    Arc::new(Masker::compile(&spec, &[]).unwrap())
}

pub(super) fn cache() -> Arc<ColumnCache> {
    Arc::new(ColumnCache::default())
}

/// A masked session, ready, whose server the test plays.
pub(super) fn masked_pair(cache: Arc<ColumnCache>) -> Pair {
    masked_pair_recorded(cache, None)
}

/// A masked session, recorded with these caps when given.
pub(super) fn masked_pair_recorded(
    cache: Arc<ColumnCache>,
    record: Option<crate::record::RecordLimits>,
) -> Pair {
    let mut p = super::pair(UpstreamAuth::Trust);
    p.record = record;
    p.masking = Masking::new(vec![masker()], cache).map(Arc::new);
    for (attnum, name) in [
        (1, "id"),
        (2, "email"),
        (3, "ssn"),
        (4, "card_no"),
        (5, "note"),
    ] {
        p.catalog.insert(
            ColumnKey {
                table_oid: CUSTOMERS,
                column: attnum,
            },
            QualifiedColumn::new("public", "customers", name),
        );
    }
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    assert!(p.session.is_ready());
    p.server.mute = true;
    p.client_messages();
    p
}

/// (label, table OID, attnum, type OID, format)
type Col = (&'static str, u32, i16, u32, u16);

pub(super) fn row_description(b: &mut BytesMut, cols: &[Col]) {
    let mut w = MessageWriter::new(b, b'T');
    w.u16(cols.len() as u16);
    for &(name, oid, attnum, ty, format) in cols {
        w.cstr(name.as_bytes())
            .u32(oid)
            .u16(attnum as u16)
            .u32(ty)
            .u16(0xffff)
            .u32(u32::MAX)
            .u16(format);
    }
    w.finish();
}

pub(super) fn data_row(b: &mut BytesMut, values: &[Option<&[u8]>]) {
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

pub(super) fn complete(b: &mut BytesMut, tag: &str) {
    MessageWriter::new(b, b'C').cstr(tag.as_bytes()).finish();
}

pub(super) fn query(p: &mut Pair, sql: &str) {
    let mut b = BytesMut::new();
    encode::query(&mut b, sql);
    p.client_send(&b);
}

/// The values of every DataRow the client got.
fn rows(msgs: &[(u8, Vec<u8>)]) -> Vec<Vec<Option<Vec<u8>>>> {
    msgs.iter()
        .filter(|(t, _)| *t == b'D')
        .map(|(_, body)| {
            let BackendMessage::DataRow(r) = BackendMessage::parse(b'D', body).unwrap() else {
                unreachable!()
            };
            r.values().map(|v| v.map(<[u8]>::to_vec)).collect()
        })
        .collect()
}

fn text(v: &Option<Vec<u8>>) -> &str {
    std::str::from_utf8(v.as_deref().unwrap()).unwrap()
}

fn notices(msgs: &[(u8, Vec<u8>)]) -> Vec<String> {
    msgs.iter()
        .filter(|(t, _)| *t == b'N')
        .map(|(_, body)| {
            let BackendMessage::NoticeResponse(f) = BackendMessage::parse(b'N', body).unwrap()
            else {
                unreachable!()
            };
            String::from_utf8(f.get(b'M').unwrap().to_vec()).unwrap()
        })
        .collect()
}

/// `SELECT ssn AS x, email, id, note FROM customers` in text format.
pub(super) fn customers_result(b: &mut BytesMut) {
    row_description(
        b,
        &[
            ("x", CUSTOMERS, 3, TEXT, 0),
            ("email", CUSTOMERS, 2, TEXT, 0),
            ("id", CUSTOMERS, 1, INT4, 0),
            ("note", 0, 0, TEXT, 0),
        ],
    );
    for r in fixture() {
        let [id, email, ssn, _, note] = r[..] else {
            panic!()
        };
        data_row(
            b,
            &[
                Some(ssn.as_bytes()),
                Some(email.as_bytes()),
                Some(id.as_bytes()),
                Some(note.as_bytes()),
            ],
        );
    }
    complete(b, "SELECT 3");
    encode::ready_for_query(b, b'I');
}

#[test]
fn text_rows_follow_the_real_column_and_detectors() {
    let cache = cache();
    let mut p = masked_pair(Arc::clone(&cache));
    query(&mut p, "SELECT ssn AS x, email, id, note FROM customers");
    let mut b = BytesMut::new();
    customers_result(&mut b);
    p.upstream_send(&b);
    let msgs = p.client_messages();
    let got = rows(&msgs);
    assert_eq!(got.len(), 3);
    // The alias does not hide the ssn column; e-mails and the card in a note are found.
    assert_eq!(text(&got[0][0]), "[REDACTED:column]");
    assert_eq!(text(&got[0][1]), "[REDACTED:email]");
    assert_eq!(text(&got[0][2]), "1");
    assert_eq!(text(&got[0][3]), "paid with [REDACTED:credit_card]");
    assert_eq!(text(&got[1][3]), "no card on file");
    assert_eq!(p.lookups.len(), 1, "one lookup for the unknown columns");
    assert_eq!(p.lookups[0].len(), 3, "expressions are not looked up");
    assert!(notices(&msgs).is_empty());
    assert_eq!(msgs.last().unwrap().0, b'Z');

    // The same columns again: answered from the cache, no event; a second session too.
    query(&mut p, "SELECT ssn AS x, email, id, note FROM customers");
    p.upstream_send(&b);
    assert_eq!(rows(&p.client_messages()).len(), 3);
    assert_eq!(p.lookups.len(), 1);
    let mut q = masked_pair(Arc::clone(&cache));
    query(&mut q, "SELECT ssn AS x, email, id, note FROM customers");
    q.upstream_send(&b);
    assert!(q.lookups.is_empty());
    assert_eq!(text(&rows(&q.client_messages())[2][0]), "[REDACTED:column]");

    // DDL through the session forgets the names.
    query(&mut p, "ALTER TABLE customers RENAME ssn TO tax_id");
    let mut ddl = BytesMut::new();
    complete(&mut ddl, "ALTER TABLE");
    encode::ready_for_query(&mut ddl, b'I');
    p.upstream_send(&ddl);
    assert!(cache.is_empty());
}

#[test]
fn values_that_do_not_fit_become_null_with_one_notice() {
    let mut p = masked_pair(cache());
    query(&mut p, "SELECT id, card_no FROM customers");
    let mut b = BytesMut::new();
    row_description(
        &mut b,
        &[
            ("id", CUSTOMERS, 1, INT4, 0),
            ("card_no", CUSTOMERS, 4, INT8, 0),
        ],
    );
    for r in fixture() {
        data_row(&mut b, &[Some(r[0].as_bytes()), Some(r[3].as_bytes())]);
    }
    complete(&mut b, "SELECT 3");
    encode::ready_for_query(&mut b, b'I');
    p.upstream_send(&b);
    let msgs = p.client_messages();
    let got = rows(&msgs);
    assert!(got.iter().all(|r| r[1].is_none() && r[0].is_some()));
    let n = notices(&msgs);
    assert_eq!(n.len(), 1, "{n:?}");
    assert!(n[0].contains("public.customers.card_no"), "{}", n[0]);
    let tags: Vec<u8> = msgs.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        tags, b"TDDDNCZ",
        "the notice closes the result, before its tag"
    );
}

pub(super) fn parse_describe_sync(b: &mut BytesMut, name: &str, sql: &str) {
    MessageWriter::new(b, b'P')
        .cstr(name.as_bytes())
        .cstr(sql.as_bytes())
        .u16(0)
        .finish();
    MessageWriter::new(b, b'D')
        .u8(b'S')
        .cstr(name.as_bytes())
        .finish();
    MessageWriter::new(b, b'S').finish();
}

pub(super) fn bind_execute_sync(b: &mut BytesMut, name: &str, formats: &[u16]) {
    let mut w = MessageWriter::new(b, b'B');
    w.cstr(b"").cstr(name.as_bytes()).u16(0).u16(0);
    w.u16(formats.len() as u16);
    for f in formats {
        w.u16(*f);
    }
    w.finish();
    MessageWriter::new(b, b'E').cstr(b"").u32(0).finish();
    MessageWriter::new(b, b'S').finish();
}

#[test]
fn binary_rows_of_a_prepared_statement_are_masked_by_the_statement_description() {
    // tokio-postgres: prepare (Parse, Describe statement, Sync), then Bind with binary
    // results and Execute, with no RowDescription before the rows.
    let mut p = masked_pair(cache());
    let mut c = BytesMut::new();
    parse_describe_sync(&mut c, "s1", "SELECT email, ssn, id, doc FROM customers");
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
            ("doc", 0, 0, JSONB, 0),
        ],
    );
    encode::ready_for_query(&mut s, b'I');
    p.upstream_send(&s);
    let mut c = BytesMut::new();
    bind_execute_sync(&mut c, "s1", &[1]);
    p.client_send(&c);
    let mut s = BytesMut::new();
    MessageWriter::new(&mut s, b'2').finish();
    let mut jsonb = vec![1u8];
    jsonb.extend_from_slice(br#"{"mail": "jane@example.com"}"#);
    data_row(
        &mut s,
        &[
            Some(b"jane@example.com"),
            Some(b"234-56-7890"),
            Some(&7i32.to_be_bytes()),
            Some(&jsonb),
        ],
    );
    complete(&mut s, "SELECT 1");
    encode::ready_for_query(&mut s, b'I');
    p.upstream_send(&s);
    let msgs = p.client_messages();
    let got = rows(&msgs);
    assert_eq!(got.len(), 1, "{:?}", p.session.error());
    assert_eq!(text(&got[0][0]), "[REDACTED:email]");
    assert_eq!(text(&got[0][1]), "[REDACTED:column]");
    assert_eq!(got[0][2].as_deref(), Some(&7i32.to_be_bytes()[..]));
    let doc = got[0][3].as_deref().unwrap();
    assert_eq!(doc[0], 1, "jsonb keeps its version byte");
    assert_eq!(&doc[1..], br#"{"mail": "[REDACTED:email]"}"#);
}

#[test]
fn binary_non_text_types_with_a_masked_value_become_null() {
    let mut p = masked_pair(cache());
    let mut c = BytesMut::new();
    MessageWriter::new(&mut c, b'P')
        .cstr(b"")
        .cstr(b"SELECT card_no FROM customers")
        .u16(0)
        .finish();
    let mut w = MessageWriter::new(&mut c, b'B');
    w.cstr(b"").cstr(b"").u16(0).u16(0).u16(1).u16(1).finish();
    MessageWriter::new(&mut c, b'D').u8(b'P').cstr(b"").finish();
    MessageWriter::new(&mut c, b'E').cstr(b"").u32(0).finish();
    MessageWriter::new(&mut c, b'S').finish();
    p.client_send(&c);
    let mut s = BytesMut::new();
    MessageWriter::new(&mut s, b'1').finish();
    MessageWriter::new(&mut s, b'2').finish();
    row_description(&mut s, &[("card_no", CUSTOMERS, 4, INT8, 1)]);
    data_row(&mut s, &[Some(&4111111111111111i64.to_be_bytes())]);
    complete(&mut s, "SELECT 1");
    encode::ready_for_query(&mut s, b'I');
    p.upstream_send(&s);
    let msgs = p.client_messages();
    assert_eq!(rows(&msgs), vec![vec![None]]);
    assert_eq!(notices(&msgs).len(), 1);
}

#[test]
fn rows_of_an_undescribed_portal_are_null() {
    let mut p = masked_pair(cache());
    let mut c = BytesMut::new();
    MessageWriter::new(&mut c, b'P')
        .cstr(b"")
        .cstr(b"SELECT email FROM customers")
        .u16(0)
        .finish();
    bind_execute_sync(&mut c, "", &[]);
    p.client_send(&c);
    let mut s = BytesMut::new();
    MessageWriter::new(&mut s, b'1').finish();
    MessageWriter::new(&mut s, b'2').finish();
    data_row(&mut s, &[Some(b"jane@example.com")]);
    complete(&mut s, "SELECT 1");
    encode::ready_for_query(&mut s, b'I');
    p.upstream_send(&s);
    let msgs = p.client_messages();
    assert_eq!(rows(&msgs), vec![vec![None]]);
    assert!(notices(&msgs)[0].contains("could not be identified"));
}

#[test]
fn copy_out_text_and_binary_are_masked() {
    let mut p = masked_pair(cache());
    p.copy_fields = Some(vec![
        CopyField {
            column: Some(QualifiedColumn::new("public", "customers", "id")),
            type_oid: INT4,
        },
        CopyField {
            column: Some(QualifiedColumn::new("public", "customers", "email")),
            type_oid: TEXT,
        },
    ]);
    query(&mut p, "COPY customers TO STDOUT");
    let mut s = BytesMut::new();
    MessageWriter::new(&mut s, b'H')
        .u8(0)
        .u16(2)
        .u16(0)
        .u16(0)
        .finish();
    for r in fixture() {
        let line = format!("{}\t{}\n", r[0], r[1]);
        MessageWriter::new(&mut s, b'd')
            .bytes(line.as_bytes())
            .finish();
    }
    MessageWriter::new(&mut s, b'c').finish();
    complete(&mut s, "COPY 3");
    encode::ready_for_query(&mut s, b'I');
    p.upstream_send(&s);
    let data: Vec<u8> = p
        .client_messages()
        .into_iter()
        .filter(|(t, _)| *t == b'd')
        .flat_map(|(_, b)| b)
        .collect();
    assert_eq!(
        String::from_utf8(data).unwrap(),
        "1\t[REDACTED:email]\n2\t[REDACTED:email]\n3\t[REDACTED:email]\n"
    );

    query(&mut p, "COPY customers TO STDOUT (FORMAT binary)");
    let mut s = BytesMut::new();
    MessageWriter::new(&mut s, b'H')
        .u8(1)
        .u16(2)
        .u16(1)
        .u16(1)
        .finish();
    let mut first = BytesMut::new();
    first.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    first.put_u32(0);
    first.put_u32(0);
    first.put_i16(2);
    first.put_i32(4);
    first.put_i32(1);
    first.put_i32(16);
    first.extend_from_slice(b"jane@example.com");
    MessageWriter::new(&mut s, b'd').bytes(&first).finish();
    MessageWriter::new(&mut s, b'd')
        .bytes(&(-1i16).to_be_bytes())
        .finish();
    MessageWriter::new(&mut s, b'c').finish();
    complete(&mut s, "COPY 1");
    encode::ready_for_query(&mut s, b'I');
    p.upstream_send(&s);
    let msgs = p.client_messages();
    let datas: Vec<&Vec<u8>> = msgs
        .iter()
        .filter(|(t, _)| *t == b'd')
        .map(|(_, b)| b)
        .collect();
    let mut want = first[..first.len() - 16].to_vec();
    want.extend_from_slice(b"[REDACTED:email]");
    assert_eq!(
        datas[0], &want,
        "the binary text field is masked in place, the framing intact"
    );
    assert_eq!(datas[1], &(-1i16).to_be_bytes().to_vec());
}

#[test]
fn notices_errors_and_notifications_are_masked() {
    let mut p = masked_pair(cache());
    query(
        &mut p,
        "INSERT INTO customers (email) VALUES ('jane@example.com')",
    );
    let mut s = BytesMut::new();
    ErrorBuilder::new(Severity::Notice, "00000", "saw jane@example.com").encode(&mut s);
    ErrorBuilder::new(
        Severity::Error,
        "23505",
        "duplicate key value violates unique constraint \"customers_email_key\"",
    )
    .detail("Key (email)=(jane@example.com) already exists.")
    .encode(&mut s);
    MessageWriter::new(&mut s, b'A')
        .u32(1)
        .cstr(b"ch")
        .cstr(b"card 4111 1111 1111 1111")
        .finish();
    encode::ready_for_query(&mut s, b'I');
    p.upstream_send(&s);
    let msgs = p.client_messages();
    assert_eq!(notices(&msgs), vec!["saw [REDACTED:email]".to_owned()]);
    let (code, _) = p.last_error_fields();
    assert_eq!(code, "23505");
    let (_, body) = msgs.iter().find(|(t, _)| *t == b'E').unwrap();
    let BackendMessage::ErrorResponse(f) = BackendMessage::parse(b'E', body).unwrap() else {
        unreachable!()
    };
    assert_eq!(
        f.get(b'D'),
        Some(&b"Key (email)=([REDACTED:email]) already exists."[..])
    );
    let (_, body) = msgs.iter().find(|(t, _)| *t == b'A').unwrap();
    assert!(body.ends_with(b"card [REDACTED:credit_card]\0"));
}

#[test]
fn lookups_hold_the_server_until_answered_and_failures_fail_closed() {
    let mut p = masked_pair(cache());
    p.hold_columns = true;
    query(&mut p, "SELECT ssn AS x, email, id, note FROM customers");
    let mut b = BytesMut::new();
    customers_result(&mut b);
    p.upstream_send(&b);
    assert_eq!(p.lookups.len(), 1);
    assert!(
        p.client_messages().is_empty(),
        "nothing passes while names are unknown"
    );
    // The client's traffic still flows.
    let mut c = BytesMut::new();
    MessageWriter::new(&mut c, b'H').finish();
    let before = p.server.received_after_login.len();
    p.client_send(&c);
    assert_eq!(p.server.received_after_login.len(), before + 5);
    // The catalog fails: every table column is masked whole.
    p.catalog_fails = true;
    p.release_columns();
    let got = rows(&p.client_messages());
    assert_eq!(got.len(), 3);
    assert_eq!(text(&got[0][0]), "[REDACTED:column]");
    assert_eq!(text(&got[0][1]), "[REDACTED:column]");
    assert_eq!(
        got[0][2], None,
        "an int column masked whole cannot hold the marker"
    );
    assert_eq!(
        text(&got[1][3]),
        "no card on file",
        "expressions: detectors only"
    );
}

#[test]
fn ten_thousand_rows_stream_one_by_one() {
    let mut p = masked_pair(cache());
    query(&mut p, "SELECT email FROM customers");
    let mut b = BytesMut::new();
    row_description(&mut b, &[("email", CUSTOMERS, 2, TEXT, 0)]);
    p.upstream_send(&b);
    p.client_messages();
    for i in 0..10_000 {
        let mut b = BytesMut::new();
        data_row(&mut b, &[Some(format!("user{i}@example.com").as_bytes())]);
        let before = p.client_rx.len();
        p.upstream_send(&b);
        // Each row leaves at once, masked ([REDACTED:email] is 16 bytes), nothing is kept.
        assert_eq!(p.client_rx.len() - before, 5 + 2 + 4 + 16);
        assert!(p.session.upstream_in.is_empty());
        assert!(p.session.to_client.is_empty());
    }
    let got = rows(&p.client_messages());
    assert_eq!(got.len(), 10_000);
    assert!(got.iter().all(|r| text(&r[0]) == "[REDACTED:email]"));
}

#[test]
fn malformed_rows_end_the_session_with_an_error() {
    for body in [
        // Two values where the description has one.
        [
            &2u16.to_be_bytes()[..],
            &1u32.to_be_bytes(),
            b"a",
            &1u32.to_be_bytes(),
            b"b",
        ]
        .concat(),
        // A length running past the message.
        [&1u16.to_be_bytes()[..], &100u32.to_be_bytes(), b"abc"].concat(),
        // A negative length other than -1.
        [&1u16.to_be_bytes()[..], &(-5i32).to_be_bytes()].concat(),
    ] {
        let mut p = masked_pair(cache());
        query(&mut p, "SELECT email FROM customers");
        let mut b = BytesMut::new();
        row_description(&mut b, &[("email", CUSTOMERS, 2, TEXT, 0)]);
        MessageWriter::new(&mut b, b'D').bytes(&body).finish();
        p.upstream_send(&b);
        assert!(p.session.error().is_some());
        assert!(p.closed);
        assert_eq!(p.last_error_fields().0, "08P01");
    }
}

#[test]
fn the_encoding_is_pinned_at_connect_and_a_change_ends_the_session() {
    let mut p = super::pair(UpstreamAuth::Trust);
    p.client_tls_startup(
        ProtocolVersion::V3_0,
        &[("user", "alice"), ("client_encoding", "LATIN1")],
    );
    p.send_token("good");
    let startup = p.server.startup.clone().unwrap();
    assert_eq!(startup.get("client_encoding"), Some("UTF8"));
    assert_eq!(startup.get("standard_conforming_strings"), Some("on"));
    p.client_messages();
    let mut s = BytesMut::new();
    MessageWriter::new(&mut s, b'S')
        .cstr(b"client_encoding")
        .cstr(b"SJIS")
        .finish();
    p.upstream_send(&s);
    assert!(matches!(
        p.session.error(),
        Some(PgError::EncodingChanged { .. })
    ));
    assert!(p.closed);
}

fn arb_masked_session() -> Pair {
    masked_pair(cache())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes from either side of a masked session, after a query: no panic, and
    /// an error closes the session.
    #[test]
    fn arbitrary_bytes_in_a_masked_relay(
        client in proptest::collection::vec(any::<u8>(), 0..128),
        server in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut p = arb_masked_session();
        query(&mut p, "SELECT * FROM customers");
        let mut b = BytesMut::new();
        row_description(&mut b, &[("email", CUSTOMERS, 2, TEXT, 0), ("note", 0, 0, TEXT, 1)]);
        b.extend_from_slice(&server);
        p.client_send(&client);
        p.upstream_send(&b);
        if p.session.error().is_some() {
            prop_assert!(p.closed);
        }
    }

    /// Any DataRow body after a two-column description: an error, or a well-formed
    /// DataRow with two values.
    #[test]
    fn any_data_row_is_an_error_or_a_well_formed_row(body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut p = arb_masked_session();
        query(&mut p, "SELECT email, id FROM customers");
        let mut b = BytesMut::new();
        row_description(&mut b, &[("email", CUSTOMERS, 2, TEXT, 0), ("id", 0, 0, INT4, 0)]);
        MessageWriter::new(&mut b, b'D').bytes(&body).finish();
        p.upstream_send(&b);
        if p.session.error().is_none() {
            let msgs = p.client_messages();
            let (_, d) = msgs.iter().find(|(t, _)| *t == b'D').unwrap();
            let BackendMessage::DataRow(r) = BackendMessage::parse(b'D', d).unwrap() else {
                unreachable!()
            };
            prop_assert_eq!(r.len(), 2);
            prop_assert_eq!(r.values().count(), 2);
        }
    }
}
