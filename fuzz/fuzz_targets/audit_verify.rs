//! Untrusted trail bytes through the chain verifier and the record reader: errors, never
//! panics, whatever the lines hold.

#![no_main]

use gatekit_core::audit::{AuditRecord, ChainHead, ChainKey, ChainVerifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = ChainKey::new(b"fuzz-chain-key-0123456789abcdef").ok();
    let checkpoint = data
        .get(..8)
        .map(|b| ChainHead {
            seq: u64::from(b[0]),
            hash: [b[1]; 32],
        })
        .unwrap_or(ChainHead::GENESIS);
    let mut plain = ChainVerifier::new(None).with_checkpoint(checkpoint);
    let mut keyed = ChainVerifier::new(key);
    for line in data.split_inclusive(|b| *b == b'\n') {
        // Errors are sticky: once broken, every later line reports the same first break.
        if let Err(e) = plain.push_line(line) {
            assert_eq!(plain.push_line(b"{}"), Err(e));
        }
        let _ = keyed.push_line(line);
        let _ = AuditRecord::parse(line);
    }
    let _ = plain.finish();
    let _ = keyed.finish();
    let _ = ChainHead::parse(data);
});
