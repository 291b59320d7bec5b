//! A JSON writer for the lines written once per command (audit and recording records):
//! the bytes `serde_json` writes for the same values, without its per-field calls, its
//! byte-at-a-time escaping and `fmt` for timestamps. Other records keep using serde.

use std::cell::RefCell;

use jiff::Timestamp;

/// Broadcasts a byte to the eight lanes of a word.
const fn lanes(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// Whether any byte of `x` needs escaping in a JSON string: below 0x20, `"` or `\`.
fn needs_escape(x: u64) -> bool {
    const HIGH: u64 = lanes(0x80);
    let below_space = x.wrapping_sub(lanes(0x20)) & !x;
    let quote = x ^ lanes(b'"');
    let backslash = x ^ lanes(b'\\');
    let has_quote = quote.wrapping_sub(lanes(1)) & !quote;
    let has_backslash = backslash.wrapping_sub(lanes(1)) & !backslash;
    (below_space | has_quote | has_backslash) & HIGH != 0
}

/// Appends the escape of one byte that [`needs_escape`] flags, as serde_json writes it.
fn escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x09 => out.extend_from_slice(b"\\t"),
        0x0a => out.extend_from_slice(b"\\n"),
        0x0c => out.extend_from_slice(b"\\f"),
        0x0d => out.extend_from_slice(b"\\r"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]),
    }
}

/// Appends `s` as a JSON string, quotes included.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time while none needs escaping.
        if let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !needs_escape(u64::from_ne_bytes(word)) {
                i += 8;
                continue;
            }
        }
        let end = (i + 8).min(bytes.len());
        for (j, &b) in bytes.iter().enumerate().take(end).skip(i) {
            if b < 0x20 || b == b'"' || b == b'\\' {
                out.extend_from_slice(&bytes[start..j]);
                escape(out, b);
                start = j + 1;
            }
        }
        i = end;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends one of our own names (an event kind, a class, a verdict) as a JSON string:
/// plain ASCII that never needs escaping, so it is copied as is.
pub(crate) fn name(out: &mut Vec<u8>, name: &'static str) {
    debug_assert!(
        name.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'),
        "{name:?} is not a plain name"
    );
    out.reserve(name.len() + 2);
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.push(b'"');
}

/// Appends a JSON array of our own names (see [`name`]).
pub(crate) fn names(out: &mut Vec<u8>, items: impl IntoIterator<Item = &'static str>) {
    array(out, items, name);
}

/// Appends a number.
pub(crate) fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends a JSON array of strings.
pub(crate) fn strings<'a>(out: &mut Vec<u8>, items: impl IntoIterator<Item = &'a str>) {
    array(out, items, string);
}

/// Appends a JSON array, each item written by `item`.
fn array<T>(out: &mut Vec<u8>, items: impl IntoIterator<Item = T>, item: fn(&mut Vec<u8>, T)) {
    out.push(b'[');
    for (i, x) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, x);
    }
    out.push(b']');
}

/// Formats timestamps as jiff displays them (RFC 3339 in UTC, the fraction without trailing
/// zeros), formatting the date and time of day only for a second not seen lately: it keeps
/// two, so a line mixing "now" and a fixed time (a token's expiry) formats neither again.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimestampWriter {
    slots: [(Option<i64>, Vec<u8>); 2],
    /// The slot to replace next.
    next: usize,
}

impl TimestampWriter {
    /// Appends `ts` without quotes.
    pub(crate) fn write(&mut self, ts: Timestamp, out: &mut Vec<u8>) {
        let second = ts.as_second();
        let nanos = ts.subsec_nanosecond();
        if second < 0 || nanos < 0 {
            out.extend_from_slice(ts.to_string().as_bytes());
            return;
        }
        let slot = match self.slots.iter().position(|(s, _)| *s == Some(second)) {
            Some(i) => i,
            None => {
                let i = self.next;
                self.next = 1 - i;
                let (s, text) = &mut self.slots[i];
                text.clear();
                let whole = Timestamp::from_second(second).unwrap_or(ts).to_string();
                text.extend_from_slice(whole.strip_suffix('Z').unwrap_or(&whole).as_bytes());
                *s = Some(second);
                i
            }
        };
        out.extend_from_slice(&self.slots[slot].1);
        if nanos > 0 {
            let mut digits = *b"000000000";
            let mut n = nanos.unsigned_abs();
            for d in digits.iter_mut().rev() {
                *d = b'0' + (n % 10) as u8;
                n /= 10;
            }
            let mut len = digits.len();
            while len > 1 && digits[len - 1] == b'0' {
                len -= 1;
            }
            out.push(b'.');
            out.extend_from_slice(&digits[..len]);
        }
        out.push(b'Z');
    }
}

thread_local! {
    static TIMESTAMPS: RefCell<TimestampWriter> = RefCell::new(TimestampWriter::default());
}

/// Appends `ts` as a JSON string, as serde writes a jiff timestamp.
pub(crate) fn timestamp(out: &mut Vec<u8>, ts: Timestamp) {
    out.push(b'"');
    TIMESTAMPS.with(|t| match t.try_borrow_mut() {
        Ok(mut t) => t.write(ts, out),
        Err(_) => TimestampWriter::default().write(ts, out),
    });
    out.push(b'"');
}

/// An object being written: `{`, then members, then [`Object::end`].
pub(crate) struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    /// Opens an object.
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, first: true }
    }

    /// Continues an object whose `{` and first members are already in `out`.
    pub(crate) fn resume(out: &'a mut Vec<u8>) -> Object<'a> {
        Object { out, first: false }
    }

    /// Starts a member: its key (plain ASCII, never escaped), then the caller writes the
    /// value into the returned buffer.
    pub(crate) fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// The buffer, for members written elsewhere, each after a comma (the object must
    /// already have a member).
    pub(crate) fn out(&mut self) -> &mut Vec<u8> {
        self.out
    }

    /// A string member.
    pub(crate) fn str(&mut self, key: &str, value: &str) {
        string(self.key(key), value);
    }

    /// A member whose value is one of our own names (see [`name`]).
    pub(crate) fn name(&mut self, key: &str, value: &'static str) {
        name(self.key(key), value);
    }

    /// A string member, left out when `None`.
    pub(crate) fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    /// A number member.
    pub(crate) fn num(&mut self, key: &str, value: u64) {
        number(self.key(key), value);
    }

    /// A number member, left out when `None`.
    pub(crate) fn opt_num(&mut self, key: &str, value: Option<u64>) {
        if let Some(v) = value {
            self.num(key, v);
        }
    }

    /// A timestamp member.
    pub(crate) fn ts(&mut self, key: &str, value: Timestamp) {
        timestamp(self.key(key), value);
    }

    /// Closes the object.
    pub(crate) fn end(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ours(s: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_as_serde_json_does() {
        for s in [
            "",
            "plain",
            "a\"b\\c",
            "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} \u{7f}",
            "exactly8",
            "sixteen bytes!!!",
            "é ü 字 🎉 \"quoted\" at the end\"",
        ] {
            assert_eq!(ours(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn any_string_escapes_as_serde_json_does(s in any::<String>()) {
            prop_assert_eq!(ours(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn ascii_with_controls_escapes_as_serde_json_does(s in "[\\x00-\\x7f]{0,40}") {
            prop_assert_eq!(ours(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn timestamps_write_as_serde_writes_them(
            second in -100_000i64..253_402_300_799,
            nanos in 0i32..1_000_000_000,
        ) {
            // Two seconds alternating (both cached), then a third (one replaced).
            let ts = Timestamp::new(second, nanos).unwrap();
            let other = Timestamp::new(second / 2, nanos / 3).unwrap();
            let third = Timestamp::new(second / 3 + 1, 0).unwrap();
            let mut out = Vec::new();
            let mut expected = String::new();
            for t in [ts, other, ts, other, third, ts, third, other] {
                timestamp(&mut out, t);
                expected.push_str(&serde_json::to_string(&t).unwrap());
            }
            prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }
}
