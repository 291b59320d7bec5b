//! Rendering of masked values.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::Strategy;

/// The default marker format of `redact`.
pub(crate) const DEFAULT_MARKER: &str = "[REDACTED:{detector}]";
/// The longest marker format.
pub(crate) const MARKER_MAX: usize = 256;
/// Letters and digits `partial` keeps at the end of a value.
const PARTIAL_KEEP: usize = 4;
/// Hex digits of a `hash` token.
const HASH_HEX: usize = 16;

/// A compiled strategy.
pub(crate) struct Renderer {
    strategy: Strategy,
    /// `redact` markers, by detector id.
    markers: Vec<Box<[u8]>>,
    /// The first bytes of the markers.
    marker_starts: [bool; 256],
    /// The keyed MAC, ready to clone per value.
    mac: Option<Hmac<Sha256>>,
}

impl Renderer {
    /// `names` are the detector names by id; `marker` a format already validated.
    pub(crate) fn new(
        strategy: Strategy,
        marker: &str,
        names: &[Box<str>],
        key: Option<&[u8]>,
    ) -> Renderer {
        let markers = names
            .iter()
            .map(|n| {
                marker
                    .replace("{detector}", n)
                    .into_bytes()
                    .into_boxed_slice()
            })
            .collect::<Vec<Box<[u8]>>>();
        let mut marker_starts = [false; 256];
        for m in &markers {
            if let Some(&b) = m.first() {
                marker_starts[usize::from(b)] = true;
            }
        }
        let mac = key.and_then(|k| Hmac::<Sha256>::new_from_slice(k).ok());
        Renderer {
            strategy,
            markers,
            marker_starts,
            mac,
        }
    }

    /// The marker `redact` writes for detector `det`.
    pub(crate) fn marker(&self, det: usize) -> &[u8] {
        self.markers.get(det).map_or(&[], |m| m)
    }

    /// Whether some `redact` marker starts with `b`.
    #[inline]
    pub(crate) fn marker_starts_with(&self, b: u8) -> bool {
        self.marker_starts[usize::from(b)]
    }

    /// Appends the masked form of `value`, found by detector `det`.
    pub(crate) fn render(&self, det: usize, value: &[u8], out: &mut Vec<u8>) {
        match self.strategy {
            Strategy::Redact => out.extend_from_slice(self.marker(det)),
            Strategy::Partial => partial(value, out),
            Strategy::Hash => {
                let tag = self.tag(b"hash", 0, value);
                let mut hex = [0u8; HASH_HEX];
                let half = HASH_HEX / 2;
                if hex::encode_to_slice(tag.get(..half).unwrap_or_default(), &mut hex).is_ok() {
                    out.extend_from_slice(&hex);
                }
            }
            Strategy::FormatPreserving => self.format_preserving(value, out),
        }
    }

    /// HMAC-SHA256 under the key of `domain || counter || value`; zeros without a key (the
    /// callers never ask then).
    fn tag(&self, domain: &[u8], counter: u32, value: &[u8]) -> [u8; 32] {
        match &self.mac {
            Some(mac) => {
                let mut mac = mac.clone();
                mac.update(domain);
                mac.update(&counter.to_be_bytes());
                mac.update(value);
                mac.finalize().into_bytes().into()
            }
            None => [0; 32],
        }
    }

    fn format_preserving(&self, value: &[u8], out: &mut Vec<u8>) {
        let keyed = self.mac.is_some();
        let mut block = [0u8; 32];
        let mut used = block.len();
        let mut counter = 0u32;
        let mut next = || {
            if !keyed {
                return 0u8;
            }
            if used == block.len() {
                block = self.tag(b"format", counter, value);
                counter = counter.wrapping_add(1);
                used = 0;
            }
            let b = block.get(used).copied().unwrap_or_default();
            used += 1;
            b
        };
        for chunk in value.utf8_chunks() {
            for c in chunk.valid().chars() {
                let replaced = if c.is_ascii_digit() || c.is_numeric() {
                    Some(if keyed { b'0' + next() % 10 } else { b'0' })
                } else if c.is_ascii_uppercase() {
                    Some(if keyed { b'A' + next() % 26 } else { b'X' })
                } else if c.is_alphabetic() {
                    Some(if keyed { b'a' + next() % 26 } else { b'x' })
                } else {
                    None
                };
                match replaced {
                    Some(b) => out.push(b),
                    None => push_char(out, c),
                }
            }
            out.extend(chunk.invalid().iter().map(|_| b'*'));
        }
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Stars for every letter and digit but the last four (all of them in values with fewer
/// than eight, where four would give most of it away); everything else kept.
fn partial(value: &[u8], out: &mut Vec<u8>) {
    let alnum: usize = value
        .utf8_chunks()
        .map(|c| c.valid().chars().filter(|c| c.is_alphanumeric()).count())
        .sum();
    let keep = if alnum >= 2 * PARTIAL_KEEP {
        PARTIAL_KEEP
    } else {
        0
    };
    let hide = alnum - keep;
    let mut seen = 0;
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_alphanumeric() {
                seen += 1;
                if seen > hide {
                    push_char(out, c);
                } else {
                    out.push(b'*');
                }
            } else {
                push_char(out, c);
            }
        }
        out.extend(chunk.invalid().iter().map(|_| b'*'));
    }
}

/// Checks a marker format: not empty, not too long, no control characters.
pub(crate) fn check_marker(marker: &str) -> Result<(), &'static str> {
    if marker.is_empty() {
        return Err("it is empty");
    }
    if marker.len() > MARKER_MAX {
        return Err("it is longer than 256 bytes");
    }
    if marker.chars().any(char::is_control) {
        return Err("it contains control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<Box<str>> {
        vec!["credit_card".into(), "email".into()]
    }

    fn render(r: &Renderer, det: usize, v: &str) -> String {
        let mut out = Vec::new();
        r.render(det, v.as_bytes(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn redact_uses_the_marker_format() {
        let r = Renderer::new(Strategy::Redact, DEFAULT_MARKER, &names(), None);
        assert_eq!(render(&r, 0, "4111"), "[REDACTED:credit_card]");
        let r = Renderer::new(Strategy::Redact, "<{detector}>", &names(), None);
        assert_eq!(render(&r, 1, "a@b.cd"), "<email>");
    }

    #[test]
    fn partial_keeps_the_tail_and_the_format() {
        let r = Renderer::new(Strategy::Partial, DEFAULT_MARKER, &names(), None);
        assert_eq!(render(&r, 0, "4111-1111-1111-1234"), "****-****-****-1234");
        assert_eq!(render(&r, 0, "234-56-7890"), "***-**-7890");
        assert_eq!(render(&r, 1, "ab@x.io"), "**@*.**");
        assert_eq!(render(&r, 1, "jürgen.m@x.io"), "******.m@x.io");
    }

    #[test]
    fn hash_is_keyed_and_stable() {
        let a = Renderer::new(Strategy::Hash, DEFAULT_MARKER, &names(), Some(b"k1"));
        let b = Renderer::new(Strategy::Hash, DEFAULT_MARKER, &names(), Some(b"k2"));
        let x = render(&a, 1, "bob@example.com");
        assert_eq!(x.len(), 16);
        assert!(x.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            x,
            render(&a, 0, "bob@example.com"),
            "same value, same token"
        );
        assert_ne!(
            x,
            render(&b, 1, "bob@example.com"),
            "other key, other token"
        );
        assert_ne!(x, render(&a, 1, "alice@example.com"));
    }

    #[test]
    fn format_preserving_keeps_classes() {
        let keyed = Renderer::new(
            Strategy::FormatPreserving,
            DEFAULT_MARKER,
            &names(),
            Some(b"k"),
        );
        let v = "Card 4111-1111-1111-1111!";
        let out = render(&keyed, 0, v);
        assert_eq!(out.len(), v.len());
        for (a, b) in v.bytes().zip(out.bytes()) {
            assert_eq!(a.is_ascii_digit(), b.is_ascii_digit());
            assert_eq!(a.is_ascii_uppercase(), b.is_ascii_uppercase());
            assert_eq!(a.is_ascii_lowercase(), b.is_ascii_lowercase());
            if !a.is_ascii_alphanumeric() {
                assert_eq!(a, b);
            }
        }
        assert_ne!(out, v);
        assert_eq!(out, render(&keyed, 0, v), "deterministic under the key");
        let plain = Renderer::new(Strategy::FormatPreserving, DEFAULT_MARKER, &names(), None);
        assert_eq!(render(&plain, 0, v), "Xxxx 0000-0000-0000-0000!");
    }

    #[test]
    fn marker_formats_are_checked() {
        assert!(check_marker("[x]").is_ok());
        assert!(check_marker("").is_err());
        assert!(check_marker("a\nb").is_err());
        assert!(check_marker(&"x".repeat(300)).is_err());
    }
}
