//! Masks stdin to stdout with every built-in detector, as a stream: the way an embedding tool
//! would put gatekit's masker in front of terminal output or a log.
//!
//! ```text
//! $ printf 'card 4111 1111 1111 1111, mail jane@example.com\n' | cargo run -q --example mask
//! card [REDACTED:credit_card], mail [REDACTED:email]
//! $ cargo run -q --example mask -- partial < app.log
//! ```
//!
//! The optional argument is the strategy: `redact` (default), `partial` or
//! `format_preserving`.

use std::io::{self, Read, Write};
use std::sync::Arc;

use gatekit_core::mask::{BUILT_IN_DETECTORS, MaskSpec, Masker, Strategy, StreamMasker};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut spec = MaskSpec::new("example", BUILT_IN_DETECTORS.iter().copied());
    spec.strategy = match std::env::args().nth(1).as_deref() {
        None | Some("redact") => Strategy::Redact,
        Some("partial") => Strategy::Partial,
        Some("format_preserving") => Strategy::FormatPreserving,
        Some(other) => return Err(format!("unknown strategy `{other}`").into()),
    };
    let masker = Arc::new(Masker::compile(&spec, &[])?);
    let mut stream = StreamMasker::new(masker);

    let mut stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(buf.len() + 1024);
    loop {
        let n = stdin.read(&mut buf)?;
        out.clear();
        if n == 0 {
            stream.finish(&mut out);
            stdout.write_all(&out)?;
            return Ok(stdout.flush()?);
        }
        stream.push(buf.get(..n).unwrap_or_default(), &mut out);
        stdout.write_all(&out)?;
    }
}
