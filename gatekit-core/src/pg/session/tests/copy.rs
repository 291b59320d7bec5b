//! Column rules on COPY TO STDOUT (text, CSV, binary, column lists, queries, refused
//! options, failing closed), FunctionCall results, and the COPY data codecs.

use bytes::{BufMut, BytesMut};
use proptest::prelude::*;

use super::harness::Pair;
use super::masking::{INT4, TEXT, bind_execute_sync, cache, complete, parse_describe_sync, query};
use super::*;
use crate::mask::{MaskSpec, Masker};
use crate::pg::codec::encode::{self, MessageWriter};
use crate::pg::session::copy_data::{CopyFormat, mask_copy_data, text_decode, text_encode};
use crate::pg::session::mask::Cell;

fn field(table: &str, column: &str, type_oid: u32) -> CopyField {
    CopyField {
        column: Some(QualifiedColumn::new("public", table, column)),
        type_oid,
    }
}

/// A pair whose profile masks `internal_code` (no detector knows it) and e-mails.
fn code_pair() -> Pair {
    let mut spec = MaskSpec::new("codes", ["email"]);
    spec.columns = vec!["internal_code".into()];
    let m = Arc::new(Masker::compile(&spec, &[]).unwrap());
    let mut p = super::pair(super::server::UpstreamAuth::Trust);
    p.masking = Masking::new(vec![m], cache()).map(Arc::new);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    p.server.mute = true;
    p.client_messages();
    with_fields(p)
}

fn with_fields(mut p: Pair) -> Pair {
    p.copy_fields = Some(vec![
        field("t", "id", INT4),
        field("t", "email", TEXT),
        field("t", "ssn", TEXT),
        field("t", "internal_code", TEXT),
    ]);
    p
}

/// The server's answer to a COPY OUT of `rows` (each one CopyData message).
fn copy_out(binary: bool, columns: u16, rows: &[&[u8]]) -> BytesMut {
    let mut s = BytesMut::new();
    let mut w = MessageWriter::new(&mut s, b'H');
    w.u8(u8::from(binary)).u16(columns);
    for _ in 0..columns {
        w.u16(u16::from(binary));
    }
    w.finish();
    for r in rows {
        MessageWriter::new(&mut s, b'd').bytes(r).finish();
    }
    MessageWriter::new(&mut s, b'c').finish();
    complete(&mut s, "COPY 2");
    encode::ready_for_query(&mut s, b'I');
    s
}

fn copy_data(p: &mut Pair) -> Vec<u8> {
    p.client_messages()
        .into_iter()
        .filter(|(t, _)| *t == b'd')
        .flat_map(|(_, b)| b)
        .collect()
}

fn lines(text: &str) -> Vec<&[u8]> {
    text.split_inclusive('\n').map(str::as_bytes).collect()
}

#[test]
fn text_copy_masks_the_rule_column_and_runs_detectors_on_the_rest() {
    let mut p = code_pair();
    query(&mut p, "COPY t TO STDOUT");
    let rows = include_str!("../../../../tests/data/pg_copy/rows.tsv");
    p.upstream_send(&copy_out(false, 4, &lines(rows)));
    assert_eq!(p.copy_lookups.len(), 1);
    assert_eq!(p.copy_lookups[0].source, CopySource::Table("t".into()));
    let out = String::from_utf8(copy_data(&mut p)).unwrap();
    assert_eq!(
        out,
        "1\t[REDACTED:email]\t234-56-7890\t[REDACTED:column]\n\
         2\t[REDACTED:email]\t\\N\t[REDACTED:column]\n"
    );
}

#[test]
fn csv_copy_with_quoted_delimiters_and_newlines() {
    let mut p = code_pair();
    p.copy_fields = Some(vec![
        field("t", "id", INT4),
        field("t", "note", TEXT),
        field("t", "internal_code", TEXT),
    ]);
    query(
        &mut p,
        "COPY t (id, note, internal_code) TO STDOUT (FORMAT csv)",
    );
    let rows = include_str!("../../../../tests/data/pg_copy/rows.csv");
    let (first, second) = rows.split_at(rows.find("2,").unwrap());
    p.upstream_send(&copy_out(false, 3, &[first.as_bytes(), second.as_bytes()]));
    assert_eq!(
        p.copy_lookups[0].source,
        CopySource::Query("SELECT id, note, internal_code FROM t".into())
    );
    let out = String::from_utf8(copy_data(&mut p)).unwrap();
    assert_eq!(
        out,
        "1,\"a,b\nc\",\"[REDACTED:column]\"\n2,,\"[REDACTED:column]\"\n"
    );
}

#[test]
fn binary_copy_masks_fields_by_column() {
    let mut p = code_pair();
    p.copy_fields = Some(vec![
        field("t", "id", INT4),
        field("t", "internal_code", TEXT),
    ]);
    query(
        &mut p,
        "COPY t (id, internal_code) TO STDOUT WITH (FORMAT binary)",
    );
    let mut first = BytesMut::new();
    first.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    first.put_u32(0);
    first.put_u32(0);
    first.put_i16(2);
    first.put_i32(4);
    first.put_i32(7);
    first.put_i32(4);
    first.extend_from_slice(b"A-77");
    p.upstream_send(&copy_out(true, 2, &[&first, &(-1i16).to_be_bytes()]));
    let out = copy_data(&mut p);
    let mut want = first[..first.len() - 8].to_vec();
    want.put_i32(17);
    want.extend_from_slice(b"[REDACTED:column]");
    want.extend_from_slice(&(-1i16).to_be_bytes());
    assert_eq!(out, want);
}

#[test]
fn copy_of_a_query_follows_the_alias_to_the_column() {
    let mut p = code_pair();
    p.copy_fields = Some(vec![field("t", "internal_code", TEXT)]);
    query(&mut p, "COPY (SELECT internal_code AS x FROM t) TO STDOUT");
    p.upstream_send(&copy_out(false, 1, &[b"A-77\n"]));
    assert_eq!(
        p.copy_lookups[0].source,
        CopySource::Query("SELECT internal_code AS x FROM t".into())
    );
    assert_eq!(copy_data(&mut p), b"[REDACTED:column]\n");
}

#[test]
fn copy_of_a_prepared_statement_is_paired_through_its_portal() {
    // tokio-postgres `copy_out`: prepare (Parse, Describe, Sync), then Bind, Execute, Sync.
    let mut p = code_pair();
    p.copy_fields = Some(vec![field("t", "internal_code", TEXT)]);
    let mut c = BytesMut::new();
    parse_describe_sync(&mut c, "s1", "COPY t (internal_code) TO STDOUT");
    p.client_send(&c);
    let mut s = BytesMut::new();
    MessageWriter::new(&mut s, b'1').finish();
    MessageWriter::new(&mut s, b't').u16(0).finish();
    MessageWriter::new(&mut s, b'n').finish();
    encode::ready_for_query(&mut s, b'I');
    p.upstream_send(&s);
    p.client_messages();
    for _ in 0..2 {
        let mut c = BytesMut::new();
        bind_execute_sync(&mut c, "s1", &[]);
        p.client_send(&c);
        let mut s = BytesMut::new();
        MessageWriter::new(&mut s, b'2').finish();
        s.extend_from_slice(&copy_out(false, 1, &[b"A-77\n"]));
        p.upstream_send(&s);
        assert_eq!(copy_data(&mut p), b"[REDACTED:column]\n");
    }
    assert_eq!(
        p.copy_lookups.len(),
        2,
        "each execution is looked up: {:?}",
        p.copy_lookups
    );
}

#[test]
fn a_later_copy_in_a_batch_gets_its_own_fields() {
    let mut p = code_pair();
    p.copy_fields = Some(vec![field("t", "id", INT4)]);
    query(
        &mut p,
        "COPY (SELECT id FROM t) TO STDOUT; COPY (SELECT internal_code FROM t) TO STDOUT",
    );
    let mut s = copy_out(false, 1, &[b"7\n"]);
    // The first COPY's CommandComplete and ReadyForQuery are not sent before the second.
    s.truncate(s.len() - 6 - 12);
    p.upstream_send(&s);
    assert_eq!(copy_data(&mut p), b"7\n");
    p.copy_fields = Some(vec![field("t", "internal_code", TEXT)]);
    p.upstream_send(&copy_out(false, 1, &[b"A-77\n"]));
    assert_eq!(copy_data(&mut p), b"[REDACTED:column]\n");
    let sources: Vec<_> = p.copy_lookups.iter().map(|r| r.source.clone()).collect();
    assert_eq!(
        sources,
        [
            CopySource::Query("SELECT id FROM t".into()),
            CopySource::Query("SELECT internal_code FROM t".into()),
        ]
    );
}

#[test]
fn copy_to_stdin_is_a_copy_to_the_client_and_keeps_the_batch_in_step() {
    // `TO STDIN` sends data to the client like `TO STDOUT`: it must take its own place in
    // the batch, or the harmless COPY's fields would be used for the ruled one.
    let mut p = code_pair();
    p.copy_fields = Some(vec![field("t", "internal_code", TEXT)]);
    query(
        &mut p,
        "COPY t (internal_code) TO STDIN; COPY (SELECT 'x') TO STDOUT",
    );
    let mut s = copy_out(false, 1, &[b"A-77\n"]);
    s.truncate(s.len() - 6 - 12);
    p.upstream_send(&s);
    assert_eq!(copy_data(&mut p), b"[REDACTED:column]\n");
    let sources: Vec<_> = p.copy_lookups.iter().map(|r| r.source.clone()).collect();
    assert_eq!(
        sources,
        [CopySource::Query("SELECT internal_code FROM t".into())]
    );
}

#[test]
fn inline_copy_data_cannot_hide_a_statement_from_the_pairing() {
    // sqlparser alone reads everything after `FROM STDIN;` up to `\.` as data; the server
    // runs the COPY inside it. The checked parse refuses the text, so every COPY of the
    // query fails closed.
    let mut p = code_pair();
    p.copy_fields = Some(vec![field("t", "note", TEXT)]);
    query(
        &mut p,
        "COPY s FROM STDIN;\nCOPY (SELECT internal_code FROM t) TO STDOUT; /*\n\\.\nCOPY (SELECT note FROM t) TO STDOUT; -- */",
    );
    p.upstream_send(&copy_out(false, 1, &[b"A-77\n"]));
    assert!(p.copy_lookups.is_empty(), "{:?}", p.copy_lookups);
    assert_eq!(copy_data(&mut p), b"\\N\n");
}

#[test]
fn an_oversized_copy_query_fails_closed_without_parsing() {
    // A chain deep enough to overflow a recursive walk of sqlparser's tree is refused by
    // the classifier's budget before it is parsed.
    let mut p = code_pair();
    let chain = "+1".repeat(15_000);
    query(&mut p, &format!("COPY (SELECT 1{chain}) TO STDOUT"));
    p.upstream_send(&copy_out(false, 1, &[b"15001\n"]));
    assert!(p.copy_lookups.is_empty());
    assert_eq!(copy_data(&mut p), b"\\N\n");
}

#[test]
fn copy_fields_are_resolved_as_the_sessions_role() {
    // `$user` in the search_path and the privileges must be the session's, not the held
    // account's: the lookup carries the role `roles` gave the session.
    let mut spec = MaskSpec::new("codes", ["email"]);
    spec.columns = vec!["internal_code".into()];
    let m = Arc::new(Masker::compile(&spec, &[]).unwrap());
    let mut c = config(&UpstreamAuth::Trust);
    c.roles = vec![("dev".into(), "shop_readonly".into())];
    let mut p = Pair::new(c, UpstreamAuth::Trust);
    p.masking = Masking::new(vec![m], cache()).map(Arc::new);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    p.server.mute = true;
    p.client_messages();
    p.copy_fields = Some(vec![field("t", "internal_code", TEXT)]);
    query(&mut p, "COPY (SELECT internal_code FROM t) TO STDOUT");
    p.upstream_send(&copy_out(false, 1, &[b"A-77\n"]));
    assert_eq!(copy_data(&mut p), b"[REDACTED:column]\n");
    let roles: Vec<_> = p.copy_lookups.iter().map(|r| r.role.clone()).collect();
    assert_eq!(roles, [Some("shop_readonly".to_owned())]);
    // A statement that may change the role makes unqualified COPYs fail closed.
    query(&mut p, "SET ROLE shop_admin");
    let mut s = BytesMut::new();
    complete(&mut s, "SET");
    encode::ready_for_query(&mut s, b'I');
    p.upstream_send(&s);
    p.client_messages();
    query(&mut p, "COPY t (internal_code) TO STDOUT");
    p.upstream_send(&copy_out(false, 1, &[b"A-77\n"]));
    assert_eq!(p.copy_lookups.len(), 1);
    assert_eq!(copy_data(&mut p), b"\\N\n");
}

#[test]
fn unqualified_table_copies_fail_closed_after_any_schema_change() {
    for change in [
        "SET search_path TO hr, public",
        "SET SCHEMA 'hr'",
        "SELECT set_config(E'search\\137path', 'hr', false)",
    ] {
        let mut p = code_pair();
        query(&mut p, change);
        let mut s = BytesMut::new();
        complete(&mut s, "SET");
        encode::ready_for_query(&mut s, b'I');
        p.upstream_send(&s);
        p.client_messages();
        p.copy_fields = Some(vec![field("t", "id", INT4)]);
        query(&mut p, "COPY t TO STDOUT");
        p.upstream_send(&copy_out(false, 1, &[b"A-77\n"]));
        assert!(p.copy_lookups.is_empty(), "{change}");
        assert_eq!(copy_data(&mut p), b"\\N\n", "{change}");
    }
}

#[test]
fn after_a_search_path_change_unqualified_copies_fail_closed() {
    let mut p = code_pair();
    query(&mut p, "SET search_path TO app");
    let mut s = BytesMut::new();
    complete(&mut s, "SET");
    encode::ready_for_query(&mut s, b'I');
    p.upstream_send(&s);
    p.client_messages();
    p.copy_fields = Some(vec![field("t", "internal_code", TEXT)]);
    query(&mut p, "COPY (SELECT internal_code FROM t) TO STDOUT");
    p.upstream_send(&copy_out(false, 1, &[b"A-77\n"]));
    assert!(
        p.copy_lookups.is_empty(),
        "resolved elsewhere would be wrong"
    );
    assert_eq!(copy_data(&mut p), b"\\N\n");
    query(&mut p, "COPY (SELECT internal_code FROM app.t) TO STDOUT");
    p.upstream_send(&copy_out(false, 1, &[b"A-77\n"]));
    assert_eq!(p.copy_lookups.len(), 1, "qualified names still resolve");
    assert_eq!(copy_data(&mut p), b"[REDACTED:column]\n");
}

#[test]
fn unresolved_copy_fails_closed_with_nulls_and_one_notice() {
    let mut p = code_pair();
    p.copy_fields = None;
    query(
        &mut p,
        "COPY (SELECT internal_code AS x, 1 FROM pg_temp.t) TO STDOUT",
    );
    p.upstream_send(&copy_out(false, 2, &[b"A-77\t1\n", b"\\N\t2\n"]));
    let msgs = p.client_messages();
    let data: Vec<u8> = msgs
        .iter()
        .filter(|(t, _)| *t == b'd')
        .flat_map(|(_, b)| b.clone())
        .collect();
    assert_eq!(data, b"\\N\t\\N\n\\N\t\\N\n");
    assert_eq!(msgs.iter().filter(|(t, _)| *t == b'N').count(), 1);
}

#[test]
fn unsupported_copy_options_are_refused_before_the_server() {
    let mut p = code_pair();
    p.server.mute = false;
    query(&mut p, "COPY t TO STDOUT (FORMAT csv, ENCODING 'LATIN1')");
    let (code, message) = p.last_error_fields();
    assert_eq!(code, "42501");
    assert!(message.contains("ENCODING"), "{message}");
    assert!(p.copy_lookups.is_empty());
    // The caller learnt the refusal with the statement, so its audit record can say so.
    let refusal = p.statements.last().and_then(|s| s.refusal.as_deref());
    assert!(
        refusal.is_some_and(|r| r.contains("ENCODING")),
        "{refusal:?}"
    );
}

#[test]
fn profiles_without_column_rules_keep_the_row_path() {
    let mut p = super::pair(super::server::UpstreamAuth::Trust);
    let m = Arc::new(Masker::compile(&MaskSpec::new("pii", ["email"]), &[]).unwrap());
    p.masking = Masking::new(vec![m], cache()).map(Arc::new);
    p.client_tls_startup(ProtocolVersion::V3_0, &[("user", "alice")]);
    p.send_token("good");
    p.server.mute = true;
    p.client_messages();
    query(&mut p, "COPY t TO STDOUT");
    p.upstream_send(&copy_out(false, 2, &[b"1\tjane@example.com\n"]));
    assert!(p.copy_lookups.is_empty(), "no catalog lookup");
    assert_eq!(copy_data(&mut p), b"1\t[REDACTED:email]\n");
}

/// A FunctionCall of OID 1 with no arguments, asking for a `format` result.
fn function_call(p: &mut Pair, format: u16) {
    let mut b = BytesMut::new();
    MessageWriter::new(&mut b, b'F')
        .u32(1)
        .u16(0)
        .u16(0)
        .u16(format)
        .finish();
    p.client_send(&b);
}

fn function_response(p: &mut Pair, value: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut s = BytesMut::new();
    MessageWriter::new(&mut s, b'V')
        .u32(value.len() as u32)
        .bytes(value)
        .finish();
    encode::ready_for_query(&mut s, b'I');
    p.upstream_send(&s);
    p.client_messages()
}

#[test]
fn function_call_results_are_masked() {
    let mut p = code_pair();
    function_call(&mut p, 0);
    let msgs = function_response(&mut p, b"mail jane@example.com");
    let v = &msgs.iter().find(|(t, _)| *t == b'V').unwrap().1;
    assert_eq!(&v[4..], b"mail [REDACTED:email]");
    assert_eq!(v[..4], 21u32.to_be_bytes());

    function_call(&mut p, 1);
    let msgs = function_response(&mut p, b"jane@example.com");
    let v = &msgs.iter().find(|(t, _)| *t == b'V').unwrap().1;
    assert_eq!(v, &(-1i32).to_be_bytes().to_vec(), "binary: NULL");
    assert_eq!(msgs.iter().filter(|(t, _)| *t == b'N').count(), 1);

    function_call(&mut p, 1);
    let msgs = function_response(&mut p, b"nothing here");
    let v = &msgs.iter().find(|(t, _)| *t == b'V').unwrap().1;
    assert_eq!(&v[4..], b"nothing here");
}

#[test]
fn text_escapes_round_trip() {
    let raw = b"a\\\\b\\tc\\nd\\x41\\101\\,e";
    let decoded = text_decode(raw);
    assert_eq!(&*decoded, b"a\\b\tc\ndAA,e");
    let mut out = Vec::new();
    text_encode(&decoded, b',', &mut out);
    assert_eq!(text_decode(&out), decoded);
}

fn count_text_fields(line: &[u8]) -> usize {
    let mut n = 1;
    let mut i = 0;
    while let Some(&b) = line.get(i) {
        if b == b'\\' {
            i += 2;
            continue;
        }
        n += usize::from(b == b'\t');
        i += 1;
    }
    n
}

proptest! {
    #[test]
    fn arbitrary_copy_data_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256),
                                        columns in 0usize..6) {
        let formats = [
            CopyFormat::default_for(false),
            CopyFormat::default_for(true),
            CopyFormat::Csv { delimiter: b',', quote: b'"', escape: b'\\', null: Box::new([]), header: false },
        ];
        for f in &formats {
            let mut mismatch = false;
            let _ = mask_copy_data(f, &body, columns, &mut mismatch, &mut |_, v: &[u8]| {
                if v.is_empty() { Cell::Null } else { Cell::Replace(b"x\t\\\n\"".to_vec()) }
            });
        }
    }

    #[test]
    fn masked_text_rows_keep_their_field_count(
        fields in proptest::collection::vec("[a-z\\\\\t\n,]{0,8}", 1..6),
    ) {
        let mut line = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                line.push(b'\t');
            }
            text_encode(f.as_bytes(), b'\t', &mut line);
        }
        line.push(b'\n');
        let mut mismatch = false;
        let out = mask_copy_data(
            &CopyFormat::default_for(false),
            &line,
            fields.len(),
            &mut mismatch,
            &mut |i, _| if i % 2 == 0 { Cell::Replace(b"\t\\x\n".to_vec()) } else { Cell::Null },
        ).unwrap().unwrap_or(line.clone());
        prop_assert!(!mismatch);
        let row = out.strip_suffix(b"\n").unwrap();
        prop_assert!(!row.contains(&b'\n'));
        prop_assert_eq!(count_text_fields(row), fields.len());
    }
}
