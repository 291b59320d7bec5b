use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::pg::error::{PgError, Side, Tag};

const MESSAGES: &str = include_str!("../../../tests/data/pg/messages.txt");

fn fixtures() -> impl Iterator<Item = (&'static str, &'static str, Vec<u8>)> {
    MESSAGES
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let side = parts.next().unwrap();
            let name = parts.next().unwrap();
            let bytes = hex::decode(parts.next().unwrap()).unwrap();
            (side, name, bytes)
        })
}

fn fixture(name: &str) -> Vec<u8> {
    fixtures().find(|(_, n, _)| *n == name).unwrap().2
}

/// Decodes one message of the given side and checks its typed view parses.
fn decode_one(side: &str, buf: &mut BytesMut) -> Result<Option<Bytes>, PgError> {
    let limits = Limits::default();
    match side {
        "S" => Ok(StartupPacket::decode(buf, &limits)?.map(|_| Bytes::new())),
        "F" => match Frame::decode_frontend(buf, &limits)? {
            Some(f) => {
                f.frontend()?;
                Ok(Some(f.into_raw()))
            }
            None => Ok(None),
        },
        _ => match Frame::decode_backend(buf, &limits)? {
            Some(f) => {
                f.backend()?;
                Ok(Some(f.into_raw()))
            }
            None => Ok(None),
        },
    }
}

#[test]
fn every_fixture_decodes_whole_and_forwards_byte_exact() {
    for (side, name, bytes) in fixtures() {
        let mut buf = BytesMut::from(&bytes[..]);
        let raw = decode_one(side, &mut buf)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("{name}: incomplete"));
        assert!(buf.is_empty(), "{name}: left {} bytes", buf.len());
        if side != "S" {
            assert_eq!(&raw[..], &bytes[..], "{name}: re-encoding differs");
        }
    }
}

#[test]
fn every_fixture_waits_for_its_last_byte() {
    for (side, name, bytes) in fixtures() {
        let mut buf = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            let got = decode_one(side, &mut buf).unwrap_or_else(|e| panic!("{name}@{i}: {e}"));
            assert_eq!(got.is_some(), i + 1 == bytes.len(), "{name} at byte {i}");
        }
    }
}

#[test]
fn every_fixture_truncated_body_is_malformed_not_a_panic() {
    // Shrink the body by one byte and fix the length: typed parsing must refuse or accept
    // cleanly, never read past the end.
    for (side, name, bytes) in fixtures() {
        if side == "S" || bytes.len() <= 5 {
            continue;
        }
        let mut cut = bytes[..bytes.len() - 1].to_vec();
        let len = (cut.len() - 1) as u32;
        cut[1..5].copy_from_slice(&len.to_be_bytes());
        let mut buf = BytesMut::from(&cut[..]);
        let _ =
            decode_one(side, &mut buf).map_err(|e| assert!(!e.to_string().is_empty(), "{name}"));
    }
}

#[test]
fn typed_views_read_the_fields() {
    let f = fixture("query_latin1");
    let frame = Frame::decode_frontend(&mut BytesMut::from(&f[..]), &Limits::default())
        .unwrap()
        .unwrap();
    // Statement text is kept as the exact bytes, not a lossy string.
    assert_eq!(
        frame.frontend().unwrap(),
        FrontendMessage::Query {
            sql: b"SELECT 'caf\xe9'"
        }
    );

    let f = fixture("bind");
    let frame = Frame::decode_frontend(&mut BytesMut::from(&f[..]), &Limits::default())
        .unwrap()
        .unwrap();
    let FrontendMessage::Bind(bind) = frame.frontend().unwrap() else {
        panic!("not a bind")
    };
    assert_eq!(bind.statement, b"s1");
    let params: Vec<_> = bind.params().collect();
    assert_eq!(params, [Some(&[0, 0, 0, 7][..]), None]);
    assert!(bind.param_is_binary(0) && bind.param_is_binary(1));
    assert!(bind.result_is_binary(5));

    let f = fixture("row_description");
    let frame = Frame::decode_backend(&mut BytesMut::from(&f[..]), &Limits::default())
        .unwrap()
        .unwrap();
    let BackendMessage::RowDescription(rd) = frame.backend().unwrap() else {
        panic!()
    };
    let cols: Vec<_> = rd
        .fields()
        .map(|c| (c.name, c.table_oid, c.column))
        .collect();
    assert_eq!(cols, [(&b"id"[..], 16384, 1), (&b"ssn"[..], 16384, 3)]);

    let f = fixture("data_row");
    let frame = Frame::decode_backend(&mut BytesMut::from(&f[..]), &Limits::default())
        .unwrap()
        .unwrap();
    let BackendMessage::DataRow(row) = frame.backend().unwrap() else {
        panic!()
    };
    let vals: Vec<_> = row.values().collect();
    assert_eq!(vals, [Some(&b"7"[..]), None, Some(&b"123-45-6789"[..])]);

    let f = fixture("error");
    let frame = Frame::decode_backend(&mut BytesMut::from(&f[..]), &Limits::default())
        .unwrap()
        .unwrap();
    let BackendMessage::ErrorResponse(e) = frame.backend().unwrap() else {
        panic!()
    };
    assert_eq!(e.get(b'C'), Some(&b"42P01"[..]));

    let f = fixture("auth_sasl");
    let frame = Frame::decode_backend(&mut BytesMut::from(&f[..]), &Limits::default())
        .unwrap()
        .unwrap();
    let BackendMessage::Authentication(a) = frame.backend().unwrap() else {
        panic!()
    };
    let mechs: Vec<_> = a.mechanisms().collect();
    assert_eq!(mechs, [&b"SCRAM-SHA-256-PLUS"[..], b"SCRAM-SHA-256"]);
}

#[test]
fn startup_packets_decode() {
    let limits = Limits::default();
    let dec = |name| StartupPacket::decode(&mut BytesMut::from(&fixture(name)[..]), &limits);
    assert_eq!(dec("ssl_request").unwrap(), Some(StartupPacket::SslRequest));
    assert_eq!(
        dec("gssenc_request").unwrap(),
        Some(StartupPacket::GssEncRequest)
    );
    let Some(StartupPacket::Cancel(k)) = dec("cancel_request_3_2").unwrap() else {
        panic!()
    };
    assert_eq!((k.pid, k.secret.len()), (4242, 32));
    let Some(StartupPacket::Startup { version, params }) = dec("startup_psql").unwrap() else {
        panic!()
    };
    assert_eq!(version, ProtocolVersion::V3_0);
    assert_eq!(params.get("user"), Some("alice@example.com"));
    let Some(StartupPacket::Startup { version, .. }) = dec("startup_3_2").unwrap() else {
        panic!()
    };
    assert_eq!(version, ProtocolVersion::V3_2);
}

#[test]
fn huge_length_is_refused_at_the_header() {
    let limits = Limits::default();
    // 2 GiB in a Query header: refused with 5 bytes in, nothing reserved.
    let mut buf = BytesMut::from(&[b'Q', 0x80, 0, 0, 0][..]);
    let cap = buf.capacity();
    assert_eq!(
        Frame::decode_frontend(&mut buf, &limits),
        Err(PgError::TooLong {
            side: Side::Client,
            tag: Tag(b'Q'),
            len: 0x8000_0000,
            max: limits.statement
        })
    );
    assert_eq!(buf.capacity(), cap);
    let mut buf = BytesMut::from(&[0x80, 0, 0, 0][..]);
    assert!(matches!(
        StartupPacket::decode(&mut buf, &limits),
        Err(PgError::BadStartupLength { .. })
    ));
    let mut buf = BytesMut::from(&[b'D', 0x7f, 0xff, 0xff, 0xff][..]);
    assert!(matches!(
        Frame::decode_backend(&mut buf, &limits),
        Err(PgError::TooLong { .. })
    ));
    // Sync carries no body: a longer one is refused.
    let mut buf = BytesMut::from(&[b'S', 0, 0, 0, 5, 0][..]);
    assert!(matches!(
        Frame::decode_frontend(&mut buf, &limits),
        Err(PgError::TooLong { .. })
    ));
    let mut buf = BytesMut::from(&[b'Q', 0, 0, 0, 3][..]);
    assert!(matches!(
        Frame::decode_frontend(&mut buf, &limits),
        Err(PgError::BadLength { .. })
    ));
}

#[test]
fn unknown_types_are_refused_on_the_first_byte() {
    let limits = Limits::default();
    let mut buf = BytesMut::from(&b"G"[..]);
    assert_eq!(
        Frame::decode_frontend(&mut buf, &limits),
        Err(PgError::UnknownMessage {
            side: Side::Client,
            tag: Tag(b'G')
        })
    );
    let mut buf = BytesMut::from(&b"Q"[..]);
    assert!(Frame::decode_backend(&mut buf, &limits).is_err());
}

#[test]
fn malformed_bodies_are_refused() {
    let cases: &[(u8, &[u8])] = &[
        (b'Q', b"no nul"),
        (b'Q', b"two\0parts\0"),
        (b'D', b"X\0"),
        (b'B', b"\0\0\0\x02\0\x01\0\x01"),
        (b'E', b"unterminated"),
    ];
    for (tag, body) in cases {
        assert!(FrontendMessage::parse(*tag, body).is_err(), "{}", Tag(*tag));
    }
    assert!(BackendMessage::parse(b'K', &[0, 0, 0, 1, 0, 0]).is_err());
    assert!(BackendMessage::parse(b'D', &[0, 1, 0xff, 0xff, 0xff, 0xfe]).is_err());
    assert!(BackendMessage::parse(b'E', b"Cxx").is_err());
}

#[test]
fn encoders_produce_what_the_decoders_read() {
    let mut buf = BytesMut::new();
    ErrorBuilder::new(Severity::Fatal, "28P01", "bad\0 token")
        .detail("d")
        .hint("h")
        .encode(&mut buf);
    encode::backend_key_data(
        &mut buf,
        &CancelKey {
            pid: 7,
            secret: Bytes::from_static(&[9; 32]),
        },
    );
    encode::negotiate_protocol_version(&mut buf, 2, &["_pq_.x"]);
    encode::ready_for_query(&mut buf, b'T');
    let limits = Limits::default();
    let e = Frame::decode_backend(&mut buf, &limits).unwrap().unwrap();
    let BackendMessage::ErrorResponse(f) = e.backend().unwrap() else {
        panic!()
    };
    assert_eq!(f.get(b'C'), Some(&b"28P01"[..]));
    assert_eq!(f.get(b'M'), Some(&b"bad token"[..]));
    assert_eq!(f.get(b'S'), Some(&b"FATAL"[..]));
    let k = Frame::decode_backend(&mut buf, &limits).unwrap().unwrap();
    assert_eq!(
        k.backend().unwrap(),
        BackendMessage::BackendKeyData {
            pid: 7,
            secret: &[9; 32]
        }
    );
    let v = Frame::decode_backend(&mut buf, &limits).unwrap().unwrap();
    assert_eq!(
        v.backend().unwrap(),
        BackendMessage::NegotiateProtocolVersion {
            minor: 2,
            unrecognized: 1
        }
    );
    let z = Frame::decode_backend(&mut buf, &limits).unwrap().unwrap();
    assert_eq!(
        z.backend().unwrap(),
        BackendMessage::ReadyForQuery { status: b'T' }
    );

    let mut buf = BytesMut::new();
    encode::startup_message(
        &mut buf,
        ProtocolVersion::V3_2,
        [("user", "u"), ("database", "d")],
    );
    encode::cancel_request(
        &mut buf,
        &CancelKey {
            pid: 1,
            secret: Bytes::from_static(b"abcd"),
        },
    );
    let Some(StartupPacket::Startup { version, params }) =
        StartupPacket::decode(&mut buf, &limits).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (version, params.get("database")),
        (ProtocolVersion::V3_2, Some("d"))
    );
    assert!(matches!(
        StartupPacket::decode(&mut buf, &limits).unwrap(),
        Some(StartupPacket::Cancel(CancelKey { pid: 1, .. }))
    ));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        for side in ["S", "F", "B"] {
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = decode_one(side, &mut buf) {}
        }
    }

    #[test]
    fn split_points_do_not_change_the_result(
        idx in 0usize..55, cut in 0usize..64,
    ) {
        let all: Vec<_> = fixtures().collect();
        let (side, _, bytes) = &all[idx % all.len()];
        let mut doubled = bytes.clone();
        doubled.extend_from_slice(bytes);
        let cut = cut.min(doubled.len());
        let mut buf = BytesMut::from(&doubled[..cut]);
        let mut got = 0;
        while decode_one(side, &mut buf).unwrap().is_some() { got += 1; }
        buf.extend_from_slice(&doubled[cut..]);
        while decode_one(side, &mut buf).unwrap().is_some() { got += 1; }
        prop_assert_eq!(got, 2);
        prop_assert!(buf.is_empty());
    }
}
