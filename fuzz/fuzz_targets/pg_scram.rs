//! The upstream SCRAM-SHA-256 client on arbitrary server messages. The input is split at
//! its first NUL into the server-first and server-final messages; when it starts with
//! `+`, the client's own nonce is put in front of the server-first message, so that the
//! key derivation and the signature check are reached. Nothing may panic, and a refused
//! server-first message must end the exchange.
#![no_main]

use base64::Engine as _;
use gatekit_core::pg::scram::{KeyCache, ScramClient, ScramError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let random = [0x5a; 18];
    let (extend, data) = match data.split_first() {
        Some((b'+', rest)) => (true, rest),
        _ => (false, data),
    };
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (first, last) = data.split_at(split);
    let last = last.get(1..).unwrap_or_default();
    let mut message = Vec::new();
    if extend {
        message.extend_from_slice(b"r=");
        message.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(random)
                .as_bytes(),
        );
    }
    message.extend_from_slice(first);

    let cache = KeyCache::default();
    let mut client = ScramClient::new(&random);
    let answered = client.server_first(&message, b"password", &cache).is_ok();
    let finished = client.server_final(last);
    if !answered {
        assert_eq!(finished, Err(ScramError::OutOfOrder));
    }
});
