//! PostgreSQL codec: decode + typed parse + forward (re-encode) of typical messages, and a
//! whole pgbench-like extended-protocol exchange relayed through a session.

use std::hint::black_box;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatekit_core::pg::codec::{Frame, Limits, MessageWriter, encode};

fn frontend_batch() -> BytesMut {
    // What `pgbench -S -M extended` sends per transaction.
    let mut b = BytesMut::new();
    MessageWriter::new(&mut b, b'P')
        .cstr(b"")
        .cstr(b"SELECT abalance FROM pgbench_accounts WHERE aid = $1;")
        .u16(0)
        .finish();
    MessageWriter::new(&mut b, b'B')
        .cstr(b"")
        .cstr(b"")
        .u16(0)
        .u16(1)
        .u32(5)
        .bytes(b"12345")
        .u16(0)
        .finish();
    MessageWriter::new(&mut b, b'D').u8(b'P').cstr(b"").finish();
    MessageWriter::new(&mut b, b'E').cstr(b"").u32(0).finish();
    MessageWriter::new(&mut b, b'S').finish();
    encode::query(&mut b, "SELECT id, email FROM customers WHERE id = 42");
    b
}

fn backend_batch() -> BytesMut {
    let mut b = BytesMut::new();
    MessageWriter::new(&mut b, b'1').finish();
    MessageWriter::new(&mut b, b'2').finish();
    MessageWriter::new(&mut b, b'T')
        .u16(1)
        .cstr(b"abalance")
        .u32(16397)
        .u16(3)
        .u32(23)
        .u16(4)
        .u32(u32::MAX)
        .u16(0)
        .finish();
    for i in 0..20u32 {
        let v = format!("{}", i * 7919);
        MessageWriter::new(&mut b, b'D')
            .u16(2)
            .u32(v.len() as u32)
            .bytes(v.as_bytes())
            .u32(21)
            .bytes(b"user42@example.com   ")
            .finish();
    }
    MessageWriter::new(&mut b, b'C').cstr(b"SELECT 20").finish();
    encode::ready_for_query(&mut b, b'I');
    b
}

fn codec(c: &mut Criterion) {
    let limits = Limits::default();
    let front = frontend_batch();
    let back = backend_batch();
    let mut g = c.benchmark_group("pg_codec");
    g.throughput(Throughput::Bytes(front.len() as u64));
    g.bench_function("frontend decode+parse+forward", |b| {
        let mut out = BytesMut::with_capacity(front.len());
        b.iter(|| {
            let mut buf = front.clone();
            out.clear();
            while let Ok(Some(f)) = Frame::decode_frontend(&mut buf, &limits) {
                black_box(f.frontend().ok());
                out.put_slice(f.raw());
            }
            black_box(out.len())
        })
    });
    g.throughput(Throughput::Bytes(back.len() as u64));
    g.bench_function("backend decode+parse+forward", |b| {
        let mut out = BytesMut::with_capacity(back.len());
        b.iter(|| {
            let mut buf = back.clone();
            out.clear();
            while let Ok(Some(f)) = Frame::decode_backend(&mut buf, &limits) {
                black_box(f.backend().ok());
                out.put_slice(f.raw());
            }
            black_box(out.len())
        })
    });
    g.bench_function("backend decode+forward (relay path)", |b| {
        let mut out = BytesMut::with_capacity(back.len());
        b.iter(|| {
            let mut buf = back.clone();
            out.clear();
            while let Ok(Some(f)) = Frame::decode_backend(&mut buf, &limits) {
                out.put_slice(f.raw());
            }
            black_box(out.len())
        })
    });
    g.finish();
}

/// A session logged in and ready, masked with `masking` (or not).
fn ready_session(masking: Option<Arc<gatekit_core::pg::Masking>>) -> gatekit_core::pg::Session {
    use gatekit_core::Identity;
    use gatekit_core::pg::codec::ProtocolVersion;
    use gatekit_core::pg::{Event, Output, Session, SessionConfig, UpstreamTls};

    let now = jiff::Timestamp::UNIX_EPOCH;
    let mut cfg = SessionConfig::new("bench", "app");
    cfg.allow_plaintext_auth = true;
    cfg.loopback_listener = true;
    cfg.upstream_tls = UpstreamTls::Disable;
    let mut s = Session::new(Arc::new(cfg), now, [1; Session::RANDOM_LEN]);
    let mut b = BytesMut::new();
    encode::startup_message(&mut b, ProtocolVersion::V3_0, [("user", "alice")]);
    encode::password(&mut b, b"token");
    s.handle_client_data(now, &b).unwrap();
    loop {
        match s.poll_output() {
            Some(Output::Event(Event::Authenticate(_))) => s
                .handle_login(now, Ok(Identity::new("alice", ["dev"])))
                .unwrap(),
            Some(Output::Event(Event::ConnectUpstream)) => {
                s.handle_upstream_connected(now).unwrap()
            }
            Some(_) => {}
            None => break,
        }
    }
    let mut login = BytesMut::new();
    MessageWriter::new(&mut login, b'R').u32(0).finish();
    encode::ready_for_query(&mut login, b'I');
    s.handle_upstream_data(now, &login).unwrap();
    while let Some(o) = s.poll_output() {
        if let Output::Event(Event::Established { .. }) = o {
            s.handle_masking(now, masking.clone()).unwrap();
        }
    }
    assert!(s.is_ready());
    s
}

fn session_relay(c: &mut Criterion) {
    use gatekit_core::pg::{Decision, Event, Output};

    let now = jiff::Timestamp::UNIX_EPOCH;
    let mut s = ready_session(None);
    let front = frontend_batch();
    let back = backend_batch();
    let mut g = c.benchmark_group("pg_session");
    g.throughput(Throughput::Bytes((front.len() + back.len()) as u64));
    g.bench_function("relay one extended round trip with decisions", |b| {
        b.iter(|| {
            s.handle_client_data(now, &front).unwrap();
            // One decision per statement (the Parse and the Query), as the driver gives.
            while let Some(o) = s.poll_output() {
                if let Output::Event(Event::Statement(req)) = o {
                    s.handle_decision(now, req.id, Decision::Allow).unwrap();
                } else {
                    black_box(o);
                }
            }
            s.handle_upstream_data(now, &back).unwrap();
            while let Some(o) = s.poll_output() {
                black_box(o);
            }
            while let Some(o) = s.poll_outcome() {
                black_box(o);
            }
        })
    });
    g.finish();
}

/// Rows of `SELECT id, email, ssn FROM customers`: 100 per result.
const ROWS: usize = 100;
const CUSTOMERS: u32 = 16384;

fn result_rows() -> BytesMut {
    let mut b = BytesMut::new();
    let mut w = MessageWriter::new(&mut b, b'T');
    w.u16(3);
    for (name, attnum, ty) in [("id", 1u16, 23u32), ("email", 2, 25), ("ssn", 3, 25)] {
        w.cstr(name.as_bytes())
            .u32(CUSTOMERS)
            .u16(attnum)
            .u32(ty)
            .u16(0xffff)
            .u32(u32::MAX)
            .u16(0);
    }
    w.finish();
    for i in 0..ROWS {
        let id = i.to_string();
        let email = format!("user{i}@example.com");
        let ssn = format!("234-56-{:04}", i + 1);
        let mut w = MessageWriter::new(&mut b, b'D');
        w.u16(3);
        for v in [&id, &email, &ssn] {
            w.u32(v.len() as u32).bytes(v.as_bytes());
        }
        w.finish();
    }
    MessageWriter::new(&mut b, b'C')
        .cstr(b"SELECT 100")
        .finish();
    encode::ready_for_query(&mut b, b'I');
    b
}

fn masked_relay(c: &mut Criterion) {
    use gatekit_core::mask::{MaskSpec, Masker};
    use gatekit_core::pg::{
        ColumnCache, ColumnKey, Decision, Event, Masking, Output, QualifiedColumn,
    };

    let now = jiff::Timestamp::UNIX_EPOCH;
    let mut spec = MaskSpec::new("pii", ["credit_card", "email", "us_ssn"]);
    spec.columns = vec!["ssn".into(), "*card*".into()];
    let masker = Arc::new(Masker::compile(&spec, &[]).unwrap());
    // Names cached, as after the first result: no lookups while measuring.
    let cache = Arc::new(ColumnCache::default());
    for (attnum, name) in [(1, "id"), (2, "email"), (3, "ssn")] {
        let key = ColumnKey {
            table_oid: CUSTOMERS,
            column: attnum,
        };
        cache.insert(
            now,
            key,
            Arc::new(QualifiedColumn::new("public", "customers", name)),
        );
    }
    let masking = Masking::new(vec![masker], cache).map(Arc::new);
    let mut query = BytesMut::new();
    encode::query(&mut query, "SELECT id, email, ssn FROM customers");
    let rows = result_rows();
    let mut g = c.benchmark_group("pg_rows");
    g.throughput(Throughput::Elements(ROWS as u64));
    for (name, masking) in [("unmasked", None), ("masked", masking)] {
        let mut s = ready_session(masking);
        g.bench_function(format!("relay {ROWS} rows, {name}"), |b| {
            b.iter(|| {
                s.handle_client_data(now, &query).unwrap();
                while let Some(o) = s.poll_output() {
                    if let Output::Event(Event::Statement(req)) = o {
                        s.handle_decision(now, req.id, Decision::Allow).unwrap();
                    }
                }
                s.handle_upstream_data(now, &rows).unwrap();
                while let Some(o) = s.poll_output() {
                    black_box(o);
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, codec, session_relay, masked_relay);
criterion_main!(benches);
