//! Masking of byte streams: terminal output, logs, `COPY` data.

use std::sync::Arc;

use super::Masker;
use super::ansi::{Ansi, Escapes};
use super::scan::{Cand, Hay, LEFT_CONTEXT};

/// Input is taken in pieces of at most this many bytes, whatever the caller pushes.
const BLOCK: usize = 16 * 1024;
/// When more than this is held back (a flood of escape sequences behind a value still
/// growing), the stream flushes rather than grow.
const HELD_MAX: usize = 64 * 1024;
/// Above this much held back, small chunks are gathered before the next scan.
const DEFER_FROM: usize = 1024;

/// Masks a byte stream pushed in chunks of any size.
///
/// A value cut across chunks is still found: the stream holds back the bytes that may still
/// be part of a value (at most the longest detector match, 16 KiB for a PEM key, usually
/// nothing or a partial word) and emits everything else at once. ANSI escape sequences in
/// terminal output are taken out before detection and put back around the masked value, so
/// colouring a value does not hide it. Output never ends inside a UTF-8 character; bytes
/// that are not UTF-8 pass through unless they are part of a value.
///
/// Pushing any chunking of an input and then calling [`finish`](StreamMasker::finish)
/// yields the same bytes as pushing it whole. Without escape sequences that is also what
/// [`Masker::mask`] yields for the whole input. Call [`flush`](StreamMasker::flush) when the
/// source goes idle (an interactive shell waiting for input) to emit what is held.
///
/// ```
/// use std::sync::Arc;
/// use gatekit_core::mask::{Masker, MaskSpec, StreamMasker};
///
/// let masker = Arc::new(Masker::compile(&MaskSpec::new("pii", ["credit_card"]), &[])?);
/// let mut stream = StreamMasker::new(masker);
/// let mut out = Vec::new();
/// stream.push(b"card: 4111 1111 ", &mut out);
/// stream.push(b"1111 1111\r\n", &mut out);
/// stream.finish(&mut out);
/// assert_eq!(out, b"card: [REDACTED:credit_card]\r\n");
/// # Ok::<(), gatekit_core::mask::MaskError>(())
/// ```
#[derive(Debug)]
pub struct StreamMasker {
    masker: Arc<Masker>,
    ansi: Ansi,
    /// Visible text: `ctx` bytes already emitted (context for look-behind), then the
    /// pending ones.
    vis: Vec<u8>,
    ctx: usize,
    /// Escape sequences among the pending text.
    esc: Escapes,
    cands: Vec<Cand>,
    /// Bytes pushed since the last scan.
    fresh: usize,
}

impl StreamMasker {
    /// A stream masked with `masker`.
    pub fn new(masker: Arc<Masker>) -> StreamMasker {
        StreamMasker {
            masker,
            ansi: Ansi::default(),
            vis: Vec::new(),
            ctx: 0,
            esc: Escapes::default(),
            cands: Vec::new(),
            fresh: 0,
        }
    }

    /// The masker this stream uses.
    pub fn masker(&self) -> &Arc<Masker> {
        &self.masker
    }

    /// Bytes held back so far, waiting for what follows.
    pub fn held(&self) -> usize {
        self.vis.len() - self.ctx + self.esc.pending()
    }

    /// Takes the next chunk; appends to `out` whatever is final.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for piece in chunk.chunks(BLOCK) {
            self.ansi.split(piece, &mut self.vis, &mut self.esc);
            self.fresh += piece.len();
            let held = self.held();
            // While a long value is held back, scanning it again for every small chunk would
            // cost its length each time: wait until an eighth more has arrived.
            if held > DEFER_FROM && self.fresh * 8 < held && held <= HELD_MAX {
                continue;
            }
            self.fresh = 0;
            self.process(held > HELD_MAX, out);
        }
    }

    /// Emits everything held, deciding values at the end of what arrived as if the input
    /// ended there. The stream goes on afterwards.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        self.fresh = 0;
        self.process(true, out);
    }

    /// Ends the input: emits everything held and resets the stream for reuse.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.flush(out);
        self.ansi = Ansi::default();
        self.vis.clear();
        self.ctx = 0;
        self.esc = Escapes::default();
    }

    /// Scans the pending text, emits what is final (everything, when draining) and keeps
    /// the rest plus some context.
    fn process(&mut self, drain: bool, out: &mut Vec<u8>) {
        let masker = &*self.masker;
        self.cands.clear();
        let hay = Hay::new(&self.vis, drain);
        let stable = masker.scanner().scan(&hay, self.ctx, &mut self.cands);
        masker.settle(&self.vis, &mut self.cands);
        let len = self.vis.len();
        let mut commit = if drain {
            len
        } else {
            char_start(&self.vis, stable, self.ctx)
        };
        // A value across the commit point waits whole for the next round.
        if let Some(c) = self
            .cands
            .iter()
            .find(|c| c.span.start < commit && commit < c.span.end)
        {
            commit = c.span.start;
        }
        self.emit(commit, drain, out);
    }

    /// Writes visible text up to `commit` with its values masked and its escapes in place,
    /// then forgets it (but for the context).
    fn emit(&mut self, commit: usize, drain: bool, out: &mut Vec<u8>) {
        let masker = &*self.masker;
        let (vis, esc) = (&self.vis, &self.esc);
        let mut next_esc = 0;
        // Text in [from, to) with the escapes before each of its bytes, and those at `to`.
        let plain = |from: usize, to: usize, next_esc: &mut usize, out: &mut Vec<u8>| {
            let mut at = from;
            while let Some(e) = esc.list.get(*next_esc).filter(|e| e.at <= to) {
                out.extend_from_slice(vis.get(at..e.at).unwrap_or_default());
                out.extend_from_slice(esc.bytes.get(e.start..e.end).unwrap_or_default());
                at = e.at.max(at);
                *next_esc += 1;
            }
            out.extend_from_slice(vis.get(at..to).unwrap_or_default());
        };
        let mut pos = self.ctx;
        for c in self.cands.iter().filter(|c| c.span.end <= commit) {
            plain(pos, c.span.start, &mut next_esc, out);
            let value = vis.get(c.span.start..c.span.end).unwrap_or_default();
            masker.render(c.det, value, out);
            while let Some(e) = esc.list.get(next_esc).filter(|e| e.at < c.span.end) {
                out.extend_from_slice(esc.bytes.get(e.start..e.end).unwrap_or_default());
                next_esc += 1;
            }
            pos = c.span.end;
        }
        plain(pos, commit, &mut next_esc, out);
        // Bytes of escapes emitted: a prefix of the buffer.
        let mut cut = esc
            .list
            .get(next_esc)
            .map(|e| e.start)
            .or(esc.open)
            .unwrap_or(esc.bytes.len());
        if drain {
            // Whatever is left is at the very end: complete escapes, then an open one.
            for e in esc.list.get(next_esc..).unwrap_or_default() {
                out.extend_from_slice(esc.bytes.get(e.start..e.end).unwrap_or_default());
            }
            next_esc = esc.list.len();
            if let Some(open) = esc.open {
                out.extend_from_slice(esc.bytes.get(open..).unwrap_or_default());
            }
            cut = esc.bytes.len();
        }
        self.esc.bytes.drain(..cut);
        self.esc.list.drain(..next_esc);
        let keep = commit.saturating_sub(LEFT_CONTEXT);
        for e in &mut self.esc.list {
            e.start -= cut;
            e.end -= cut;
            e.at -= keep;
        }
        self.esc.open = self.esc.open.map(|o| o.saturating_sub(cut));
        self.vis.drain(..keep);
        self.ctx = commit - keep;
    }
}

/// `at` moved back to the start of the UTF-8 character it falls in or that is incomplete
/// before it, but not before `floor`.
fn char_start(bytes: &[u8], at: usize, floor: usize) -> usize {
    for back in 1..=3 {
        let Some(lead) = at.checked_sub(back).filter(|&i| i >= floor) else {
            break;
        };
        let Some(&b) = bytes.get(lead) else { break };
        if b & 0xC0 == 0x80 {
            continue;
        }
        let len = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if lead + len > at { lead } else { at };
    }
    at
}
