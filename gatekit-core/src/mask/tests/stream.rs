//! The stream masker on terminal-like input.

use std::sync::Arc;

use crate::mask::{BUILT_IN_DETECTORS, MaskSpec, Masker, StreamMasker};

fn stream() -> StreamMasker {
    let spec = MaskSpec::new("tty", BUILT_IN_DETECTORS.iter().copied());
    StreamMasker::new(Arc::new(
        Masker::compile(&spec, &[]).unwrap_or_else(|e| panic!("{e}")),
    ))
}

fn run(s: &mut StreamMasker, chunks: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        s.push(c, &mut out);
    }
    s.finish(&mut out);
    out
}

#[test]
fn escapes_inside_a_value_do_not_hide_it() {
    let mut s = stream();
    let out = run(
        &mut s,
        &[b"\x1b[1mcard\x1b[0m: 4111 \x1b[31m1111\x1b[0m 1111 1111\r\n"],
    );
    assert_eq!(
        out,
        b"\x1b[1mcard\x1b[0m: [REDACTED:credit_card]\x1b[31m\x1b[0m\r\n".as_slice()
    );
    // Escapes right before and after a value stay where they were.
    let out = run(&mut s, &[b"\x1b[32mbob@example.com\x1b[0m\n"]);
    assert_eq!(out, b"\x1b[32m[REDACTED:email]\x1b[0m\n".as_slice());
}

#[test]
fn a_value_split_across_chunks_is_caught() {
    let mut s = stream();
    let mut out = Vec::new();
    s.push(b"export AWS_ACCESS_KEY_ID=AKIAIOSF", &mut out);
    assert!(
        !out.windows(4).any(|w| w == b"AKIA"),
        "the key prefix is held back"
    );
    s.push(b"ODNN7EXAMPLE\n$ ", &mut out);
    assert_eq!(
        out,
        b"export AWS_ACCESS_KEY_ID=[REDACTED:aws_access_key]\n$ ".as_slice()
    );
    assert_eq!(s.held(), 0, "a prompt is not held back");
}

#[test]
fn plain_text_is_not_held_back() {
    let mut s = stream();
    let mut out = Vec::new();
    s.push(b"total 42\ndrwxr-xr-x  2 root root 4096 etc\n", &mut out);
    assert_eq!(
        out,
        b"total 42\ndrwxr-xr-x  2 root root 4096 etc\n".as_slice()
    );
    // A partial word may be the start of an address or key, so it waits.
    s.push(b"$ ls", &mut out);
    assert_eq!(s.held(), 2);
    s.flush(&mut out);
    assert_eq!(s.held(), 0);
    assert!(out.ends_with(b"$ ls"));
}

#[test]
fn private_keys_across_many_chunks() {
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDz0Lk3cMcVv5l5QvD7Xo2HnYl3d7d5o6qfK1r1r2x0AAAAAA==\n-----END OPENSSH PRIVATE KEY-----\n";
    let input = format!("$ cat id_ed25519\n{key}$ ");
    let mut s = stream();
    let chunks: Vec<&[u8]> = input.as_bytes().chunks(7).collect();
    let out = run(&mut s, &chunks);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "$ cat id_ed25519\n[REDACTED:private_key]\n$ "
    );
}

#[test]
fn memory_stays_bounded() {
    let mut s = stream();
    let mut out = Vec::new();
    // An unterminated key block, an endless word, an endless string sequence.
    for chunk in [
        b"-----BEGIN PRIVATE KEY-----\n".as_slice(),
        &[b'A'; 100_000],
        &[b'x'; 100_000],
        b"\x1b]0;",
        &[b'y'; 100_000],
    ] {
        for piece in chunk.chunks(1000) {
            s.push(piece, &mut out);
            assert!(s.held() <= 20 * 1024, "held {}", s.held());
        }
    }
    s.finish(&mut out);
    assert!(out.starts_with(b"[REDACTED:private_key]"));
}

#[test]
fn invalid_utf8_passes_through() {
    let mut s = stream();
    let input = b"\xff\xfe raw \xc3 bytes \x80 4111111111111111 \xe2\x82";
    let out = run(&mut s, &[&input[..9], &input[9..]]);
    assert_eq!(
        out,
        b"\xff\xfe raw \xc3 bytes \x80 [REDACTED:credit_card] \xe2\x82".as_slice()
    );
}

#[test]
fn a_character_cut_by_a_chunk_waits_for_its_end() {
    let mut s = stream();
    let mut out = Vec::new();
    let smile = "\u{1F600}".as_bytes();
    s.push(b"ok ", &mut out);
    s.push(&smile[..1], &mut out);
    assert_eq!(out, b"ok ");
    assert_eq!(s.held(), 1);
    s.push(&smile[1..], &mut out);
    s.push(b" z\n", &mut out);
    assert_eq!(out, "ok \u{1F600} z\n".as_bytes());
}

#[test]
fn a_key_block_a_byte_at_a_time() {
    // Small chunks behind a long held value are gathered before each scan (see `push`).
    let body = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n".repeat(300);
    let input = format!("-----BEGIN PRIVATE KEY-----\n{body}-----END PRIVATE KEY-----\nok\n");
    let mut s = stream();
    let mut out = Vec::new();
    for b in input.as_bytes() {
        s.push(std::slice::from_ref(b), &mut out);
        assert!(s.held() <= 12 * 1024);
    }
    s.finish(&mut out);
    assert_eq!(out, b"[REDACTED:private_key]\nok\n".as_slice());
}
