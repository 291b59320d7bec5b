//! The structural pass's view of a block of a long input: which of its bytes are events,
//! computed for the whole block in straight-line passes over byte arrays that the compiler
//! turns into vector code, then read eight bytes at a time.
//!
//! Events are a superset of the places a structural check must look at, cheap to tell
//! apart byte by byte; the scanner resolves each one exactly:
//!
//! - a digit followed by the end of the input, or by a space, dash or dot and then a digit
//!   or the end of the input, or a single digit followed by one of those: where a run that
//!   a numeric value can start with ends;
//! - the seventh digit in a row: a run long enough to be a number on its own;
//! - a digit after a capital: an IBAN's check digits;
//! - a `:`, `@`, `+` or `(`;
//! - where a keyword stem may start: `pa`, `pw`, `be`, `au` in any case, an `A` with another
//!   three bytes on (`AKIA`), `ey`, `--`.

/// Bytes in a block.
pub(super) const BYTES: usize = 256;

/// Bytes of context kept on each side of a block.
const PAD: usize = 8;

/// Bytes the classes are kept for: context, the block, context.
const SPAN: usize = BYTES + 2 * PAD;

/// `0xFF` for `true`, `0` for `false`: byte masks the vector code combines.
#[inline(always)]
const fn all(b: bool) -> u8 {
    (b as u8).wrapping_neg()
}

/// Byte classes and events of one block.
pub(super) struct Block {
    raw: [u8; SPAN],
    digit: [u8; SPAN],
    /// Past the end of the input (only a block near the end has any).
    past: [u8; SPAN],
    any: [u8; BYTES],
}

impl Block {
    pub(super) const fn new() -> Block {
        Block {
            raw: [0; SPAN],
            digit: [0; SPAN],
            past: [0; SPAN],
            any: [0; BYTES],
        }
    }

    /// The events among the block's bytes `k..k + 8`, as lane masks (see
    /// [`swar`](super::swar)).
    #[inline(always)]
    pub(super) fn events(&self, k: usize) -> u64 {
        self.any
            .get(k..)
            .and_then(|r| r.first_chunk::<8>())
            .map_or(0, |w| u64::from_le_bytes(*w) & super::swar::HIGH)
    }

    /// Classifies the block of `bytes` that starts at `base` (the bytes before it are read
    /// as context, bytes past the end as nothing).
    pub(super) fn classify(&mut self, bytes: &[u8], base: usize) {
        let lo = base.checked_sub(PAD);
        if let Some(span) = lo.and_then(|lo| bytes.get(lo..lo + SPAN)) {
            self.raw.copy_from_slice(span);
            self.mark::<false>();
            return;
        }
        // `raw[k]` holds `bytes[base + k - PAD]`: zero before the input and past its end.
        self.raw = [0; SPAN];
        let first = base.saturating_sub(PAD);
        let k0 = first + PAD - base;
        let avail = bytes.get(first..).unwrap_or_default();
        let n = avail.len().min(SPAN - k0);
        if let (Some(dst), Some(src)) = (self.raw.get_mut(k0..k0 + n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        let end = (bytes.len() + PAD).saturating_sub(base).min(SPAN);
        let (inside, past) = self.past.split_at_mut(end);
        inside.fill(0);
        past.fill(0xFF);
        self.mark::<true>();
    }

    /// Computes the events from the raw bytes (and, near the end, the past-the-end marks).
    #[inline(always)]
    fn mark<const END: bool>(&mut self) {
        for (&r, d) in self.raw.iter().zip(&mut self.digit) {
            *d = all(r.wrapping_sub(b'0') < 10);
        }
        let (raw, digit, past) = (&self.raw, &self.digit, &self.past);
        let at = |a: &[u8; SPAN], i: usize| a.get(i).copied().unwrap_or(0);
        for (i, any) in self.any.iter_mut().enumerate() {
            let j = i + PAD;
            let d = |n: usize| at(digit, j - n);
            let next = at(raw, j + 1);
            let sep = all((next == b' ') | (next.wrapping_sub(b'-') < 2));
            let then = !d(1) | at(digit, j + 2);
            let mut end = sep & then;
            if END {
                end = at(past, j + 1) | sep & (then | at(past, j + 2));
            }
            let seven = d(1) & d(2) & d(3) & d(4) & d(5) & d(6);
            let cap = all(at(raw, j - 1).wrapping_sub(b'A') < 26);
            let b = at(raw, j);
            let other = all((b == b':') | (b == b'@') | (b == b'+') | (b == b'('));
            let (l0, l1) = (b | 0x20, next | 0x20);
            let stem = all((l0 == b'p') & ((l1 == b'a') | (l1 == b'w'))
                | (l0 == b'b') & (l1 == b'e')
                | (l0 == b'a') & (l1 == b'u')
                | (b == b'A') & (at(raw, j + 3) == b'A')
                | (b == b'e') & (next == b'y')
                | (b == b'-') & (next == b'-'));
            *any = d(0) & (end | seven | cap) | other | stem;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    /// The events of a block, one byte at a time.
    fn bytewise(bytes: &[u8], base: usize) -> Vec<usize> {
        let digit = |i: Option<usize>| i.and_then(|i| bytes.get(i)).is_some_and(u8::is_ascii_digit);
        let mut out = Vec::new();
        for i in base..(base + BYTES).min(bytes.len()) {
            let b = bytes.get(i).copied();
            if matches!(b, Some(b':' | b'@' | b'+' | b'(')) {
                out.push(i);
                continue;
            }
            let pair = |k: usize| bytes.get(i + k).map(u8::to_ascii_lowercase);
            let stem = match (pair(0), pair(1)) {
                (Some(b'p'), Some(b'a' | b'w'))
                | (Some(b'b'), Some(b'e'))
                | (Some(b'a'), Some(b'u')) => true,
                _ => {
                    b == Some(b'A') && bytes.get(i + 3) == Some(&b'A')
                        || b == Some(b'e') && bytes.get(i + 1) == Some(&b'y')
                        || b == Some(b'-') && bytes.get(i + 1) == Some(&b'-')
                }
            };
            if stem {
                out.push(i);
                continue;
            }
            if !digit(Some(i)) {
                continue;
            }
            let end = match bytes.get(i + 1) {
                None => true,
                Some(b' ' | b'-' | b'.') => {
                    !digit(i.checked_sub(1)) || bytes.get(i + 2).is_none_or(u8::is_ascii_digit)
                }
                Some(_) => false,
            };
            let seven = (1..=6).all(|n| digit(i.checked_sub(n)));
            let cap = i
                .checked_sub(1)
                .and_then(|p| bytes.get(p))
                .is_some_and(u8::is_ascii_uppercase);
            if end || seven || cap {
                out.push(i);
            }
        }
        out
    }

    fn check(bytes: &[u8], base: usize) {
        let mut b = Block::new();
        b.classify(bytes, base);
        let mut got = Vec::new();
        for k in (0..BYTES).step_by(8) {
            let m = b.events(k);
            for lane in 0..8 {
                if m >> (8 * lane + 7) & 1 == 1 {
                    got.push(base + k + lane);
                }
            }
        }
        assert_eq!(
            got,
            bytewise(bytes, base),
            "events of {bytes:?} from {base}"
        );
    }

    #[test]
    fn events_at_block_edges() {
        let text = b"AB12 x 2024-05-01T12:34:56.789Z 1234567 12.5 7 x9 DE89370400440532013000 \
            1 2- 3. 44-4 55 66. a@b +1 (2 Pass pWd bE AU AKIA eyJ -- -";
        for cut in 0..text.len() {
            let bytes = &text[..cut];
            for base in [0, 1, 3, 7, 8, 9, 15, 16, 17] {
                check(bytes, base.min(bytes.len()));
            }
        }
        let long: Vec<u8> = b"x 12-3 4567890 AB12 "
            .iter()
            .copied()
            .cycle()
            .take(700)
            .collect();
        for base in [0, 5, 8, 100, 255, 256, 257, 400, 690, 700] {
            check(&long, base);
        }
    }

    proptest! {
        #[test]
        fn events_match_bytewise(
            bytes in prop::collection::vec(
                prop_oneof![
                    4 => b'0'..=b'9',
                    1 => prop::sample::select(b" -.:@+(AZazPpwWbBeEuUyJ/".to_vec()),
                    1 => any::<u8>(),
                ],
                0..600,
            ),
            base in 0usize..600,
        ) {
            check(&bytes, base.min(bytes.len()));
        }
    }
}
