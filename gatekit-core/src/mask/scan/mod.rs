//! Candidate search and validation.
//!
//! Short inputs (result cells) take one pass with a 256-entry class table and a bigram table
//! of keyword stems, stopping only where a value can be anchored: a digit run, `@`, `:`, `+`,
//! `(`, a stem. Long inputs are classified a block at a time in passes the compiler
//! vectorizes ([`block`]): a digit run is an event only where a numeric value can start
//! with it, keyword stems are events too, and the inner parts of log timestamps are stepped
//! over ([`stamps`]); the events are then resolved one by one. Custom regexes run as one
//! multi-pattern regex, custom terms as one aho-corasick automaton. Validators (Luhn, issuer
//! ranges, mod-97, area rules, context words) run only on those candidates.
//!
//! Every check reads through [`Hay`], so on a buffer that is not the end of the input it can
//! answer "need more" instead of guessing; [`Scanner::scan`] turns those answers into the
//! offset before which everything is final, which is what lets a stream hold back only what
//! may still change.

mod block;
mod cands;
mod card;
mod custom;
mod hay;
mod keywords;
mod net;
mod numbers;
mod phone;
mod secrets;
mod shapes;
mod stamps;
mod swar;

pub(crate) use cands::{CandOut, Cands};
#[cfg(test)]
pub(crate) use card::luhn;
pub(crate) use custom::Custom;
pub(crate) use hay::{Hay, Span};

use block::Block;
use hay::{Check, NeedMore};
use keywords::Keywords;
use shapes::Shapes;

/// Bytes of already-emitted text a stream keeps for checks that look behind their anchor.
pub(crate) const LEFT_CONTEXT: usize = 128;

/// How far before its value a keyword may stand (`Authorization: "Bearer …`).
const KEYWORD_REACH: usize = 64;

/// The longest keyword stem (`-----BEGIN`).
const STEM_MAX: usize = 10;

/// Inputs up to this long that start at offset 0 take the one-pass scan (with keywords
/// located by their first two bytes); longer ones the block scan, which has a higher fixed
/// cost.
const SHORT_INPUT: usize = 96;

/// The longest digit run a numeric detector can start with (a compact IBAN's digits).
const NUMERIC_RUN_MAX: usize = 32;

/// The built-in detectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum BuiltIn {
    CreditCard,
    Email,
    Phone,
    UsSsn,
    Iban,
    Ipv4,
    Ipv6,
    AwsAccessKey,
    Jwt,
    PrivateKey,
    BearerToken,
    PasswordAssignment,
}

impl BuiltIn {
    pub(crate) const ALL: [BuiltIn; 12] = [
        BuiltIn::CreditCard,
        BuiltIn::Email,
        BuiltIn::Phone,
        BuiltIn::UsSsn,
        BuiltIn::Iban,
        BuiltIn::Ipv4,
        BuiltIn::Ipv6,
        BuiltIn::AwsAccessKey,
        BuiltIn::Jwt,
        BuiltIn::PrivateKey,
        BuiltIn::BearerToken,
        BuiltIn::PasswordAssignment,
    ];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            BuiltIn::CreditCard => "credit_card",
            BuiltIn::Email => "email",
            BuiltIn::Phone => "phone",
            BuiltIn::UsSsn => "us_ssn",
            BuiltIn::Iban => "iban",
            BuiltIn::Ipv4 => "ipv4",
            BuiltIn::Ipv6 => "ipv6",
            BuiltIn::AwsAccessKey => "aws_access_key",
            BuiltIn::Jwt => "jwt",
            BuiltIn::PrivateKey => "private_key",
            BuiltIn::BearerToken => "bearer_token",
            BuiltIn::PasswordAssignment => "password_assignment",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<BuiltIn> {
        BuiltIn::ALL.into_iter().find(|b| b.name() == name)
    }

    const fn bit(self) -> u16 {
        1 << self as u8
    }

    /// How far before its anchor a value of this kind may start.
    const fn lookback(self) -> usize {
        match self {
            BuiltIn::Email => net::EMAIL_LOCAL_MAX,
            BuiltIn::Iban => 2,
            BuiltIn::Ipv6 => 4,
            _ => 0,
        }
    }
}

/// A detector's index in its masker: built-ins by discriminant, custom ones after them.
pub(crate) type DetId = u16;

/// A validated value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cand {
    pub(crate) det: DetId,
    pub(crate) span: Span,
}

/// A set of built-in detectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BuiltIns(u16);

impl BuiltIns {
    pub(crate) fn insert(&mut self, b: BuiltIn) {
        self.0 |= b.bit();
    }

    pub(crate) const fn contains(self, b: BuiltIn) -> bool {
        self.0 & b.bit() != 0
    }

    pub(crate) const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

// Byte classes of the structural pass.
const C_DIGIT: u8 = 1;
const C_AT: u8 = 2;
const C_COLON: u8 = 3;
const C_PLUS: u8 = 4;
const C_PAREN: u8 = 5;

/// Where a scan puts what it finds.
pub(crate) struct Sink<'o> {
    out: &'o mut dyn CandOut,
    /// Values starting before this offset were dealt with by an earlier scan.
    from: usize,
    /// Everything before this offset is final.
    stable: usize,
}

impl Sink<'_> {
    #[inline]
    fn push(&mut self, det: DetId, span: Span) {
        if span.start >= self.from && span.start < span.end {
            self.out.push_cand(Cand { det, span });
        }
    }

    #[inline]
    fn hold(&mut self, at: usize) {
        self.stable = self.stable.min(at);
    }

    #[inline]
    fn take(&mut self, det: BuiltIn, anchor: usize, res: Check) {
        match res {
            Ok(Some(span)) => self.push(det as DetId, span),
            Ok(None) => {}
            Err(NeedMore) => self.hold(anchor.saturating_sub(det.lookback())),
        }
    }
}

/// The compiled detectors of one profile.
pub(crate) struct Scanner {
    on: BuiltIns,
    class: [u8; 256],
    shapes: Shapes,
    keywords: Option<Keywords>,
    custom: Custom,
}

impl Scanner {
    pub(crate) fn new(on: BuiltIns, custom: Custom) -> Scanner {
        let mut class = [0u8; 256];
        if [
            BuiltIn::CreditCard,
            BuiltIn::Phone,
            BuiltIn::UsSsn,
            BuiltIn::Iban,
            BuiltIn::Ipv4,
        ]
        .into_iter()
        .any(|b| on.contains(b))
        {
            for d in b'0'..=b'9' {
                class[usize::from(d)] = C_DIGIT;
            }
        }
        if on.contains(BuiltIn::Email) {
            class[usize::from(b'@')] = C_AT;
        }
        if on.contains(BuiltIn::Ipv6) {
            class[usize::from(b':')] = C_COLON;
        }
        if on.contains(BuiltIn::Phone) {
            class[usize::from(b'+')] = C_PLUS;
            class[usize::from(b'(')] = C_PAREN;
        }
        let mut keywords = Keywords::new(on);
        if let Some(k) = &mut keywords {
            for (pair, hit) in k.pairs.iter_mut().enumerate() {
                let c0 = class.get(pair & 0xFF).copied().unwrap_or(0);
                // A lone digit before anything but a digit or a separator (`9e37`, `x4a`)
                // starts no numeric value: the scan need not stop on it.
                let b1 = (pair >> 8) as u8;
                let lone =
                    c0 == C_DIGIT && !(b1.is_ascii_digit() || matches!(b1, b' ' | b'-' | b'.'));
                *hit |= c0 != 0 && !lone;
            }
        }
        Scanner {
            on,
            class,
            shapes: Shapes::new(on),
            keywords,
            custom,
        }
    }

    /// Whether any detector is enabled.
    pub(crate) fn is_empty(&self) -> bool {
        self.on.is_empty() && self.custom.is_empty()
    }

    /// For a whole input short enough to be scanned in one pass and not searched by custom
    /// detectors: the offset of the first byte the scan would stop at, `None` inside if
    /// there is none (so nothing in it can be found). `None` for other inputs.
    #[inline]
    pub(crate) fn short_first_stop(&self, input: &[u8]) -> Option<Option<usize>> {
        if input.len() > SHORT_INPUT || !self.custom.is_empty() {
            return None;
        }
        Some(match &self.keywords {
            None => first_anchor(&self.class, input),
            Some(k) => k.short_stop(&self.class, input, true),
        })
    }

    /// Finds values in a whole input for which [`Scanner::short_first_stop`] answered
    /// `Some(Some(at))`, resuming the scan at `at`; appends them to `out` as
    /// [`Scanner::scan`] does.
    pub(crate) fn scan_short_from(&self, input: &[u8], at: usize, out: &mut Cands) {
        let h = Hay::new(input, true);
        let mut sink = Sink {
            out,
            from: 0,
            stable: h.len(),
        };
        self.structural_short(&h, 0, at, &mut sink);
    }

    /// Finds values in `h` starting at or after `from` (bytes before it are context) and
    /// appends them to `out`, unordered and possibly overlapping. Returns the offset before
    /// which every value is decided: `h.len()` at the end of the input, less when a value
    /// may still be growing at the end of the buffer.
    pub(crate) fn scan(&self, h: &Hay<'_>, from: usize, out: &mut Vec<Cand>) -> usize {
        let mut sink = Sink {
            out,
            from,
            stable: h.len(),
        };
        let short = from == 0 && h.len() <= SHORT_INPUT;
        self.structural(h, from, from, short, &mut sink);
        if !short && let Some(k) = &self.keywords {
            // Keywords in the context before `from`; the structural pass finds those after.
            let mut pos = from.saturating_sub(KEYWORD_REACH);
            let to = (from + STEM_MAX - 1).min(h.len());
            while let Some(at) = k.stems.find(h.bytes, pos, to).filter(|&at| at < from) {
                self.keyword_at(h, at, &mut sink);
                pos = at + 1;
            }
        }
        self.custom.scan(h, from, &mut sink);
        if !h.eof && !self.on.is_empty() {
            // The tail may be the front of a value whose anchor has not arrived yet: the local
            // part before an `@`, an IBAN's country code, a keyword cut in two.
            sink.hold(h.run_back(h.len(), net::EMAIL_LOCAL_MAX, net::is_local));
        }
        sink.stable.max(from).min(h.len())
    }

    /// The structural pass, from `start` (at or after `from`; the bytes between them
    /// anchor nothing).
    fn structural(&self, h: &Hay<'_>, from: usize, start: usize, short: bool, sink: &mut Sink<'_>) {
        // Fewer new bytes than two blocks (a stream's small chunks) do not pay for the block
        // scan's fixed cost.
        if short || h.len().saturating_sub(start.max(from)) < 2 * block::BYTES {
            self.structural_short(h, from, start, sink);
        } else {
            self.structural_long(h, start.max(from), sink);
        }
    }

    /// The structural pass over a short input (or the few new bytes of a stream's buffer),
    /// which also locates keyword stems (by their first two bytes) when the profile has
    /// keyword-anchored detectors.
    fn structural_short(&self, h: &Hay<'_>, from: usize, start: usize, sink: &mut Sink<'_>) {
        let class = &self.class;
        let keys = self.keywords.as_ref();
        let bytes = h.bytes;
        let mut i = start.max(from);
        loop {
            // Most bytes anchor nothing: skip them in a tight loop.
            let rest = bytes.get(i..).unwrap_or_default();
            let skip = match keys {
                None => first_anchor(class, rest),
                Some(k) => k.short_stop(class, rest, h.eof),
            };
            let Some(skip) = skip else { break };
            i += skip;
            let Some(&b) = bytes.get(i) else { break };
            let c = class[usize::from(b)];
            if c == C_DIGIT {
                let tail = bytes.get(i + 1..).unwrap_or_default();
                let end = i
                    + 1
                    + tail
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .unwrap_or(tail.len());
                // Every numeric shape needs seven digits in a row or a separator after its
                // first run and, but for a country code `1`, a digit after that separator;
                // most runs in text (`01T`, `55ms`, `=200 `, hex ids) have neither. After a
                // capital the run may be an IBAN's check digits.
                let next = bytes.get(end).copied();
                let prev = h.before(i);
                let shaped = match next {
                    None => true,
                    Some(b' ' | b'-' | b'.') => {
                        end - i == 1 || bytes.get(end + 1).is_none_or(u8::is_ascii_digit)
                    }
                    Some(_) => false,
                };
                let worth = shaped || end - i >= 7 || prev.is_some_and(|b| b.is_ascii_uppercase());
                if worth && !prev.is_some_and(|b| b.is_ascii_digit()) {
                    self.digit_run(h, i, end - i, sink);
                }
                // The scan reads every word: keyword stems may stand in it.
                i = end;
                continue;
            }
            match c {
                C_AT => {
                    sink.take(BuiltIn::Email, i, net::email(h, i));
                    i += 1;
                }
                C_COLON => {
                    sink.take(BuiltIn::Ipv6, i, net::ipv6(h, i));
                    i += 1;
                }
                C_PLUS => {
                    sink.take(BuiltIn::Phone, i, phone::phone_plus(h, i));
                    i += 1;
                }
                C_PAREN => {
                    // `(415) 555-2671`; not `(X11` or `(active=`.
                    if bytes.get(i + 1).is_none_or(u8::is_ascii_digit) {
                        sink.take(BuiltIn::Phone, i, phone::phone_paren(h, i));
                    }
                    i += 1;
                }
                _ => {
                    // A keyword stem.
                    self.keyword_at(h, i, sink);
                    i += 1;
                }
            }
        }
    }

    /// The structural pass over a long input, from `start`, a block of bytes at a time:
    /// the block's events (see [`Block`]) are resolved exactly, a digit run at a time.
    #[inline(never)]
    fn structural_long(&self, h: &Hay<'_>, start: usize, sink: &mut Sink<'_>) {
        let bytes = h.bytes;
        let mut block = Block::new();
        let mut base = start;
        // Bytes before this offset were dealt with (a digit run resolved whole).
        let mut resume = start;
        while base < bytes.len() {
            block.classify(bytes, base);
            resume = self.events(h, start, base, &block, resume, sink);
            base += block::BYTES;
        }
    }

    /// Resolves the events of `block` (at `base`), skipping those before `resume`; returns
    /// where the next events resume.
    #[inline(never)]
    fn events(
        &self,
        h: &Hay<'_>,
        start: usize,
        base: usize,
        block: &Block,
        mut resume: usize,
        sink: &mut Sink<'_>,
    ) -> usize {
        let bytes = h.bytes;
        // A bit per eight-byte word with events.
        const { assert!(block::BYTES / 8 <= 32) };
        let mut words = 0u32;
        for k in 0..block::BYTES / 8 {
            words |= u32::from(block.events(8 * k) != 0) << k;
        }
        while words != 0 {
            let at = base + 8 * words.trailing_zeros() as usize;
            let mut events = block.events(at - base);
            words &= words - 1;
            while events != 0 {
                let p = at + swar::first_lane(events);
                events &= events - 1;
                if p < resume {
                    continue;
                }
                let Some(&b) = bytes.get(p) else { break };
                match self.class[usize::from(b)] {
                    C_DIGIT => {
                        let end = if bytes.get(p + 1).is_some_and(u8::is_ascii_digit) {
                            swar::digits_end(bytes, p + 2)
                        } else {
                            p + 1
                        };
                        self.run(h, start, p, end, sink);
                        resume = stamps::after_date(bytes, end).unwrap_or(end);
                    }
                    C_COLON => match stamps::after_clock(bytes, p) {
                        Some(past) => resume = resume.max(past),
                        None => sink.take(BuiltIn::Ipv6, p, net::ipv6(h, p)),
                    },
                    C_AT => sink.take(BuiltIn::Email, p, net::email(h, p)),
                    C_PLUS => sink.take(BuiltIn::Phone, p, phone::phone_plus(h, p)),
                    // `(415) 555-2671`; not `(X11` or `(active=`.
                    C_PAREN => {
                        if bytes.get(p + 1).is_none_or(u8::is_ascii_digit) {
                            sink.take(BuiltIn::Phone, p, phone::phone_paren(h, p));
                        }
                    }
                    // A keyword stem.
                    _ => self.keyword_at(h, p, sink),
                }
            }
        }
        resume
    }

    /// Runs the numeric checks for the digit run around `p` that ends at `end`, unless it
    /// began before `start`.
    #[inline]
    fn run(&self, h: &Hay<'_>, start: usize, p: usize, end: usize, sink: &mut Sink<'_>) {
        let bytes = h.bytes;
        let mut s = p;
        while s > start && bytes.get(s - 1).is_some_and(u8::is_ascii_digit) {
            s -= 1;
        }
        let prev = h.before(s);
        if prev.is_some_and(|b| b.is_ascii_digit()) {
            return;
        }
        // Every numeric shape needs seven digits in a row or a separator after its first
        // run and, but for a country code `1`, a digit after that separator; most runs in
        // text (`01T`, `55ms`, `=200 `) have neither. After a capital the run may be an
        // IBAN's check digits.
        let shaped = match bytes.get(end) {
            None => true,
            Some(b' ' | b'-' | b'.') => {
                end - s == 1 || bytes.get(end + 1).is_none_or(u8::is_ascii_digit)
            }
            Some(_) => false,
        };
        if shaped || end - s >= 7 || prev.is_some_and(|b| b.is_ascii_uppercase()) {
            self.digit_run(h, s, end - s, sink);
        }
    }

    /// Dispatches the digit run `[p, p + r)` to the numeric detectors whose shape can start
    /// with it.
    #[inline(always)]
    fn digit_run(&self, h: &Hay<'_>, p: usize, r: usize, sink: &mut Sink<'_>) {
        let on = self.on;
        let prev = h.before(p);
        if prev.is_some_and(hay::is_word) {
            // Glued to a word: only an IBAN's check digits stand there (after its country).
            if on.contains(BuiltIn::Iban)
                && r >= 2
                && prev.is_some_and(|b| b.is_ascii_uppercase())
                && h.before(p - 1).is_some_and(|b| b.is_ascii_uppercase())
            {
                sink.take(BuiltIn::Iban, p, numbers::iban(h, p));
            }
            return;
        }
        let next = h.bytes.get(p + r).copied();
        if next.is_none() && !h.eof {
            if r <= NUMERIC_RUN_MAX {
                sink.hold(p);
            }
            return;
        }
        let first = h.bytes.get(p).copied();
        let shapes = self.shapes.of(r, first, next);
        if shapes == 0 {
            return;
        }
        let (space, dash, dot) = (next == Some(b' '), next == Some(b'-'), next == Some(b'.'));
        // Digits at `i..i + n`, or the end of a buffer that may go on.
        let digits_at = |i: usize, n: usize| {
            (i..i + n).all(|k| h.bytes.get(k).map_or(!h.eof, u8::is_ascii_digit))
        };
        if shapes & Shapes::CARD != 0 && (r != 4 || digits_at(p + 5, 4)) {
            sink.take(BuiltIn::CreditCard, p, card::card(h, p));
        }
        if shapes & Shapes::SSN != 0 && (r != 3 || digits_at(p + 4, 2)) {
            sink.take(BuiltIn::UsSsn, p, numbers::ssn(h, p));
        }
        if shapes & Shapes::PHONE != 0
            && (r == 3 && (space || dash || dot) && digits_at(p + 4, 3)
                || r == 1 && first == Some(b'1') && (space || dash || dot)
                || first == Some(b'0')
                    && (2..=5).contains(&r)
                    && (space || dash)
                    && digits_at(p + r + 1, 2)
                || (7..=15).contains(&r))
        {
            sink.take(BuiltIn::Phone, p, phone::phone_digits(h, p));
        }
        if shapes & Shapes::IPV4 != 0 && octet_then_dot(h, p + r + 1) {
            sink.take(BuiltIn::Ipv4, p, numbers::ipv4(h, p));
        }
    }

    /// Runs the keyword-anchored detectors that can start with the byte at `k`.
    fn keyword_at(&self, h: &Hay<'_>, k: usize, sink: &mut Sink<'_>) {
        let on = self.on;
        let Some(&b) = h.bytes.get(k) else { return };
        match b.to_ascii_lowercase() {
            b'p' if on.contains(BuiltIn::PasswordAssignment) => {
                sink.take(BuiltIn::PasswordAssignment, k, secrets::password(h, k));
            }
            b'b' if on.contains(BuiltIn::BearerToken) => {
                sink.take(BuiltIn::BearerToken, k, secrets::bearer(h, k));
            }
            b'a' => {
                if on.contains(BuiltIn::BearerToken) {
                    sink.take(BuiltIn::BearerToken, k, secrets::authorization(h, k));
                }
                if b == b'A' && on.contains(BuiltIn::AwsAccessKey) {
                    sink.take(BuiltIn::AwsAccessKey, k, secrets::aws_access_key(h, k));
                }
            }
            b'e' if b == b'e' && on.contains(BuiltIn::Jwt) => {
                sink.take(BuiltIn::Jwt, k, secrets::jwt(h, k));
            }
            b'-' if on.contains(BuiltIn::PrivateKey) => {
                sink.take(BuiltIn::PrivateKey, k, secrets::private_key(h, k));
            }
            _ => {}
        }
    }

    /// Every built-in check at every offset, then the custom detectors: what
    /// [`Scanner::scan`] must find, without its prefilters. For tests.
    #[cfg(test)]
    pub(crate) fn scan_exhaustively(&self, h: &Hay<'_>, out: &mut Vec<Cand>) {
        let mut sink = Sink {
            out,
            from: 0,
            stable: h.len(),
        };
        let on = self.on;
        type CheckFn = fn(&Hay<'_>, usize) -> Check;
        let checks: [(BuiltIn, CheckFn); 15] = [
            (BuiltIn::CreditCard, card::card),
            (BuiltIn::UsSsn, numbers::ssn),
            (BuiltIn::Ipv4, numbers::ipv4),
            (BuiltIn::Iban, numbers::iban),
            (BuiltIn::Phone, phone::phone_digits),
            (BuiltIn::Phone, phone::phone_plus),
            (BuiltIn::Phone, phone::phone_paren),
            (BuiltIn::Email, net::email),
            (BuiltIn::Ipv6, net::ipv6),
            (BuiltIn::PasswordAssignment, secrets::password),
            (BuiltIn::BearerToken, secrets::bearer),
            (BuiltIn::BearerToken, secrets::authorization),
            (BuiltIn::AwsAccessKey, secrets::aws_access_key),
            (BuiltIn::Jwt, secrets::jwt),
            (BuiltIn::PrivateKey, secrets::private_key),
        ];
        for p in 0..h.len() {
            for (det, check) in checks {
                if on.contains(det) {
                    sink.take(det, p, check(h, p));
                }
            }
        }
        self.custom.scan(h, 0, &mut sink);
    }
}

/// The offset of the first byte of `bytes` with a class, looking at four at a time.
#[inline]
fn first_anchor(class: &[u8; 256], bytes: &[u8]) -> Option<usize> {
    let cls = |b: u8| class[usize::from(b)];
    let mut chunks = bytes.chunks_exact(4);
    let mut at = 0;
    for chunk in &mut chunks {
        if let [a, b, c, d] = *chunk
            && cls(a) | cls(b) | cls(c) | cls(d) != 0
        {
            return chunk.iter().position(|&b| cls(b) != 0).map(|k| at + k);
        }
        at += 4;
    }
    let tail = chunks.remainder().iter().position(|&b| cls(b) != 0);
    tail.map(|k| at + k)
}

/// Whether a dotted quad's second octet can stand at `i`: one to three digits and a dot
/// (or the end of a buffer that may go on). Seconds with milliseconds (`56.789Z`) and
/// durations (`12.345s`) fail here, before [`numbers::ipv4`] runs.
#[inline]
fn octet_then_dot(h: &Hay<'_>, i: usize) -> bool {
    for k in i..i + 4 {
        match h.bytes.get(k) {
            Some(b) if b.is_ascii_digit() => {}
            Some(&b) => return k > i && b == b'.',
            None => return !h.eof,
        }
    }
    false
}

/// Sorts values by start and merges overlapping ones into the first, in place: the merged
/// values are the first of `cands`; returns their number.
pub(crate) fn merge_slice(cands: &mut [Cand]) -> usize {
    cands.sort_unstable_by(|a, b| {
        a.span
            .start
            .cmp(&b.span.start)
            .then(b.span.end.cmp(&a.span.end))
            .then(a.det.cmp(&b.det))
    });
    let mut kept = 0usize;
    for k in 0..cands.len() {
        let Some(&next) = cands.get(k) else { break };
        match kept.checked_sub(1).and_then(|p| cands.get_mut(p)) {
            Some(prev) if next.span.start < prev.span.end => {
                prev.span.end = prev.span.end.max(next.span.end);
            }
            _ => {
                if let Some(slot) = cands.get_mut(kept) {
                    *slot = next;
                }
                kept += 1;
            }
        }
    }
    kept
}

/// Widens a span so it does not cut a UTF-8 character in two.
pub(crate) fn widen_to_chars(bytes: &[u8], mut span: Span) -> Span {
    let cont = |i: usize| bytes.get(i).is_some_and(|b| b & 0xC0 == 0x80);
    for _ in 0..3 {
        if span.start > 0 && cont(span.start) {
            span.start -= 1;
        }
        if cont(span.end) {
            span.end += 1;
        }
    }
    span
}
