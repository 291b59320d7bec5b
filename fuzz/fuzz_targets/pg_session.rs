//! The gateway session on arbitrary client and server bytes, in arbitrary chunks, with the
//! driver answering every event as a cooperative driver would. Nothing may panic, the
//! output stays bounded by the input, and an error leaves the session closed and sticky.
//! Bit 6 of the first byte masks the session (column lookups answered in turn with a name
//! and with a failure; COPY field lookups likewise), so the masking of rows, COPY data and
//! notices is fuzzed too.
#![no_main]

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use gatekit_core::Identity;
use gatekit_core::pg::codec::{CancelKey, ProtocolVersion, encode};
use gatekit_core::mask::{MaskSpec, Masker};
use gatekit_core::pg::{
    ColumnCache, CopyField, Decision, Event, Masking, Output, QualifiedColumn, Session, SessionConfig,
    UpstreamTls,
};
use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;

fn masking() -> Arc<Masking> {
    let mut spec = MaskSpec::new("fuzz", ["credit_card", "email", "us_ssn"]);
    spec.columns = vec!["ssn".into(), "*card*".into()];
    let masker = Masker::compile(&spec, &[]).expect("the fuzz profile compiles");
    Arc::new(
        Masking::new(vec![Arc::new(masker)], Arc::new(ColumnCache::default()))
            .expect("one profile"),
    )
}

fn drain(s: &mut Session, now: Timestamp, out: &mut usize, mask: &Option<Arc<Masking>>) {
    let mut lookups = 0u32;
    while let Some(o) = s.poll_output() {
        match o {
            Output::ToClient(b) | Output::ToUpstream(b) => *out += b.len(),
            Output::Event(e) => {
                let _ = match e {
                    Event::StartClientTls => s.handle_client_tls(now),
                    Event::Authenticate(req) => {
                        let mut id = Identity::new(req.user.clone(), ["dev"]);
                        id.email = None;
                        s.handle_login(now, Ok(id))
                    }
                    Event::ConnectUpstream => s.handle_upstream_connected(now),
                    Event::StartUpstreamTls => s.handle_upstream_tls(now),
                    // Hold some statements before allowing them, deny every other one, so
                    // every path runs.
                    Event::Statement(req) if req.id % 3 == 1 => s
                        .handle_decision(
                            now,
                            req.id,
                            Decision::Hold {
                                approval: "fuzz".into(),
                                notice: "awaiting approval".into(),
                            },
                        )
                        .and_then(|()| s.handle_decision(now, req.id, Decision::Allow)),
                    Event::Statement(req) if req.id % 2 == 0 => s.handle_decision(
                        now,
                        req.id,
                        Decision::Deny {
                            rule: None,
                            reason: "fuzz".into(),
                        },
                    ),
                    Event::Statement(req) => s.handle_decision(now, req.id, Decision::Allow),
                    Event::Established { .. } => s.handle_masking(now, mask.clone()),
                    Event::ResolveColumns(keys) => {
                        lookups += 1;
                        if lookups % 2 == 0 {
                            s.handle_columns(now, Err("fuzz".into()))
                        } else {
                            let names = keys
                                .iter()
                                .map(|k| (*k, QualifiedColumn::new("public", "t", "ssn")))
                                .collect();
                            s.handle_columns(now, Ok(names))
                        }
                    }
                    Event::ResolveCopy(_) => {
                        lookups += 1;
                        if lookups % 2 == 0 {
                            s.handle_copy_columns(now, Err("fuzz".into()))
                        } else {
                            let fields = vec![
                                CopyField {
                                    column: Some(QualifiedColumn::new("public", "t", "ssn")),
                                    type_oid: 25,
                                },
                                CopyField {
                                    column: None,
                                    type_oid: 23,
                                },
                            ];
                            s.handle_copy_columns(now, Ok(fields))
                        }
                    }
                    _ => Ok(()),
                };
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut c = SessionConfig::new("fuzz", "app");
    // Bit 7: start from a logged-in session, so the bytes exercise the relay.
    let logged_in = mode & 0x80 != 0;
    c.allow_plaintext_auth = logged_in || mode & 1 == 1;
    c.loopback_listener = logged_in || mode & 2 == 2;
    c.upstream_tls = if mode & 4 == 4 && !logged_in {
        UpstreamTls::Prefer
    } else {
        UpstreamTls::Disable
    };
    let now = Timestamp::UNIX_EPOCH;
    let mut s = Session::new(Arc::new(c), now, [5; Session::RANDOM_LEN]);
    let mask = (mode & 0x40 != 0).then(masking);
    let chunk = usize::from((mode >> 3) & 0x0f) + 1;
    let mut out = 0usize;
    if logged_in {
        let mut b = BytesMut::new();
        encode::startup_message(&mut b, ProtocolVersion::V3_0, [("user", "alice")]);
        encode::password(&mut b, b"token");
        let _ = s.handle_client_data(now, &b);
        drain(&mut s, now, &mut out, &mask);
        let mut b = BytesMut::new();
        encode::authentication_ok(&mut b);
        encode::backend_key_data(
            &mut b,
            &CancelKey {
                pid: 1,
                secret: Bytes::from_static(b"abcd"),
            },
        );
        encode::ready_for_query(&mut b, b'I');
        let _ = s.handle_upstream_data(now, &b);
        drain(&mut s, now, &mut out, &mask);
        assert!(s.is_ready());
        out = 0;
    }
    // Alternate chunks between the client and the server side.
    for (i, piece) in rest.chunks(chunk).enumerate() {
        let r = if i % 3 == 2 {
            s.handle_upstream_data(now, piece)
        } else {
            s.handle_client_data(now, piece)
        };
        drain(&mut s, now, &mut out, &mask);
        if let Err(e) = r {
            assert!(s.is_closed());
            assert_eq!(s.handle_client_data(now, b"x"), Err(e));
            break;
        }
    }
    // A masked value may be longer than the original (a marker for a one-byte value), by
    // a bounded factor.
    let growth = if mask.is_some() { 32 } else { 1 };
    assert!(out <= growth * data.len() + 4096);
});
