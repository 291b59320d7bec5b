//! The SQL session recorder on arbitrary traffic: the input is cut into steps (a decided
//! statement, bytes to the server, bytes to the client) under small caps. Nothing may
//! panic, and every line written is one JSON record that reads back, within the caps.
#![no_main]

use gatekit_core::record::{
    RecordEvent, RecordLimits, RecordedVerdict, SqlRecorder, StartRecord, parse_line,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&caps, mut rest)) = data.split_first() else {
        return;
    };
    let limits = RecordLimits {
        rows: u64::from(caps & 0x0f),
        bytes: u64::from(caps >> 4) * 16,
    };
    let at: jiff::Timestamp = "2024-06-01T12:00:00Z".parse().unwrap();
    let start = StartRecord {
        at,
        session: "s".into(),
        target: "t".into(),
        protocol: "postgres".into(),
        user: "u".into(),
        groups: vec![],
        database: None,
        client: None,
    };
    let mut rec = SqlRecorder::new(start, limits);
    let mut out = Vec::new();
    // Each step: a kind byte, a length byte, then that many bytes.
    while let Some((&[kind, len], tail)) = rest.split_first_chunk::<2>() {
        let n = usize::from(len).min(tail.len());
        let (step, tail) = tail.split_at(n);
        rest = tail;
        match kind % 4 {
            0 => rec.decided(step, RecordedVerdict::Allow),
            1 => rec.decided(step, RecordedVerdict::Deny),
            2 => rec.to_server(at, step),
            _ => rec.to_client(at, step),
        }
        if let Some(b) = rec.poll_bytes() {
            out.extend_from_slice(&b);
        }
    }
    rec.finish(at, None);
    out.extend_from_slice(&rec.poll_bytes().unwrap_or_default());
    assert!(out.ends_with(b"\n"));
    for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let event = parse_line(line).expect("every recorded line reads back");
        if let RecordEvent::Command(c) = event {
            let kept: usize = c.results.iter().map(|r| r.rows.len()).sum();
            assert!(kept as u64 <= limits.rows);
        }
    }
});
