//! Internet identifiers anchored on a punctuation byte: e-mail addresses (on `@`) and IPv6
//! addresses (on their first `:`).

use std::net::Ipv6Addr;

use super::hay::{Check, Hay, NeedMore, Span, is_word};

/// The longest local part of an address (RFC 5321).
pub(crate) const EMAIL_LOCAL_MAX: usize = 64;
/// The longest domain (RFC 1035).
const DOMAIN_MAX: usize = 253;
/// The longest domain label.
const LABEL_MAX: usize = 63;

/// Bit of [`BYTE_KINDS`]: a byte of the local part of an address in the common, unquoted
/// form.
const LOCAL: u8 = 1;
/// Bit of [`BYTE_KINDS`]: a byte of a domain label.
const LABEL: u8 = 2;

/// [`LOCAL`] and [`LABEL`] by byte, so the runs of an address cost a lookup a byte.
const BYTE_KINDS: [u8; 256] = {
    let mut kinds = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'-' {
            kinds[b] = LOCAL | LABEL;
        } else if matches!(c, b'.' | b'_' | b'%' | b'+') {
            kinds[b] = LOCAL;
        }
        b += 1;
    }
    kinds
};

/// Bytes of the local part of an address in the common, unquoted form.
#[inline]
pub(crate) const fn is_local(b: u8) -> bool {
    BYTE_KINDS[b as usize] & LOCAL != 0
}

#[inline]
const fn is_label(b: u8) -> bool {
    BYTE_KINDS[b as usize] & LABEL != 0
}

/// Last labels that name files (`icon@2x.png`), not mail domains.
const FILE_EXTENSIONS: &[&[u8]] = &[
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"bmp", b"ico", b"css", b"js", b"mjs", b"ts",
    b"tsx", b"jsx", b"json", b"html", b"htm", b"xml", b"txt", b"pdf", b"gz", b"tgz", b"tar", b"rs",
    b"py", b"rb", b"java", b"php", b"exe", b"dll", b"so", b"log", b"csv", b"yml", b"yaml", b"toml",
    b"lock", b"map", b"wasm",
];

/// Up to four ASCII letters packed into a `u32`, lowercased; distinct for distinct strings
/// without NUL bytes.
const fn pack_lower(mut s: &[u8]) -> u32 {
    let mut key = 0u32;
    while let [b, rest @ ..] = s {
        key = key << 8 | b.to_ascii_lowercase() as u32;
        s = rest;
    }
    key
}

/// [`FILE_EXTENSIONS`] packed and sorted, so a last label is looked up by binary search.
const FILE_EXTENSION_KEYS: [u32; FILE_EXTENSIONS.len()] = {
    let mut keys = [0u32; FILE_EXTENSIONS.len()];
    let mut k = 0;
    while k < keys.len() {
        // Insertion sort: shift the larger keys up, then place this one.
        let key = pack_lower(FILE_EXTENSIONS[k]);
        let mut j = k;
        while j > 0 && keys[j - 1] > key {
            keys[j] = keys[j - 1];
            j -= 1;
        }
        keys[j] = key;
        k += 1;
    }
    keys
};

/// Whether a last label names a file type (`png`, `JSON`).
#[inline]
fn is_file_extension(tld: &[u8]) -> bool {
    tld.len() <= 4 && FILE_EXTENSION_KEYS.binary_search(&pack_lower(tld)).is_ok()
}

/// An e-mail address around the `@` at `a`.
pub(crate) fn email(h: &Hay<'_>, a: usize) -> Check {
    let bytes = h.bytes;
    if bytes.get(a) != Some(&b'@') {
        return Ok(None);
    }
    let Some(start) = local_start(bytes, a) else {
        return Ok(None);
    };
    // Labels separated by single dots; a trailing dot is punctuation, not part of it.
    let mut i = a + 1;
    let mut labels = 0;
    let mut last;
    loop {
        let end = label_end(h, i)?;
        let n = end - i;
        if n == 0 || n > LABEL_MAX || end - (a + 1) > DOMAIN_MAX {
            return Ok(None);
        }
        if bytes.get(i) == Some(&b'-') || bytes.get(end - 1) == Some(&b'-') {
            return Ok(None);
        }
        labels += 1;
        last = (i, end);
        i = end;
        if h.at(i)? == Some(b'.') && h.is(i + 1, is_label)? {
            i += 1;
        } else {
            break;
        }
    }
    if labels < 2 || matches!(h.at(i)?, Some(b'_' | b'@')) {
        return Ok(None);
    }
    let tld = bytes.get(last.0..last.1).unwrap_or_default();
    if !is_mail_tld(tld) {
        return Ok(None);
    }
    Ok(Some(Span::new(start, i)))
}

/// The start of the local part that ends at the `@` at `a`, if it is one: 1 to
/// [`EMAIL_LOCAL_MAX`] local bytes, no dot first, last or twice in a row. Reads at most
/// `EMAIL_LOCAL_MAX + 1` bytes back.
#[inline]
fn local_start(bytes: &[u8], a: usize) -> Option<usize> {
    let window = bytes.get(a.saturating_sub(EMAIL_LOCAL_MAX + 1)..a)?;
    let len = window
        .iter()
        .rev()
        .position(|&b| !is_local(b))
        .unwrap_or(window.len());
    let local = window.get(window.len() - len..)?;
    let bad = local.is_empty()
        || local.len() > EMAIL_LOCAL_MAX
        || local.first() == Some(&b'.')
        || local.last() == Some(&b'.')
        || local.contains(&b'.') && local.windows(2).any(|w| w == b"..");
    (!bad).then_some(a - len)
}

/// The end of the run of label bytes from `i`, reading at most `LABEL_MAX + 1` of them
/// (`Hay::run(i, LABEL_MAX, is_label)` on a slice).
#[inline]
fn label_end(h: &Hay<'_>, i: usize) -> Result<usize, NeedMore> {
    let cap = i + LABEL_MAX + 1;
    let lim = cap.min(h.len());
    let seg = h.bytes.get(i..lim).unwrap_or_default();
    match seg.iter().position(|&b| !is_label(b)) {
        Some(n) => Ok(i + n),
        None if lim == cap || h.eof => Ok(i + seg.len()),
        None => Err(NeedMore),
    }
}

/// Whether a last label can end a mail domain: 2 to 24 letters or punycode, and not a file
/// type.
#[inline]
fn is_mail_tld(tld: &[u8]) -> bool {
    let alphabetic = tld.iter().all(u8::is_ascii_alphabetic);
    let punycode = tld.len() > 4
        && tld
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"));
    (alphabetic && (2..=24).contains(&tld.len()) || punycode) && !is_file_extension(tld)
}

/// The longest textual IPv6 address (with an embedded IPv4 tail).
const IPV6_MAX: usize = 45;

#[inline]
const fn is_ipv6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// A cheap reject for the colons of times (`12:34:56`) and ports: an address has `::` or at
/// least six colons among the hex digits and colons from `c` on. `false` only where
/// [`ipv6`] answers `None`; reads no further than its run of address bytes.
#[inline]
fn may_be_ipv6(h: &Hay<'_>, start: usize, c: usize) -> Result<bool, NeedMore> {
    let mut colons = 1;
    let mut j = c + 1;
    while j - start <= IPV6_MAX {
        match h.at(j)? {
            Some(b':') if h.bytes.get(j - 1) == Some(&b':') => return Ok(true),
            Some(b':') => colons += 1,
            Some(b) if b.is_ascii_hexdigit() => {}
            _ => break,
        }
        j += 1;
    }
    Ok(colons >= 6)
}

/// An IPv6 address whose first `:` is at `c`. The cheap rejects (`T12:34`, `12:34:56`) are
/// inlined into the scanner's loop; the rest is not.
#[inline(always)]
pub(crate) fn ipv6(h: &Hay<'_>, c: usize) -> Check {
    if h.bytes.get(c) != Some(&b':') {
        return Ok(None);
    }
    let start = h.run_back(c, 4, |b| b.is_ascii_hexdigit());
    if c - start > 4 {
        return Ok(None);
    }
    // The first colon of the address: nothing address-like or word-like glued before it.
    if h.before(start)
        .is_some_and(|b| is_word(b) || b == b':' || b == b'.')
    {
        return Ok(None);
    }
    if !may_be_ipv6(h, start, c)? {
        return Ok(None);
    }
    ipv6_from(h, start, c)
}

/// [`ipv6`] once its first group starts at `start` and the colons allow an address.
#[inline(never)]
fn ipv6_from(h: &Hay<'_>, start: usize, c: usize) -> Check {
    let run = h.run(start, IPV6_MAX, is_ipv6_byte)?;
    if run - start > IPV6_MAX {
        return Ok(None);
    }
    if h.is(run, is_word)? {
        return Ok(None);
    }
    let mut end = run;
    // `fe80::1.` ends a sentence; `[fe80::1]:` and `fe80::1:` a host part.
    while end > c + 1 && h.bytes.get(end - 1) == Some(&b'.') {
        end -= 1;
    }
    if end > c + 2 && h.bytes.get(end - 1) == Some(&b':') && h.bytes.get(end - 2) != Some(&b':') {
        end -= 1;
    }
    let text = h.bytes.get(start..end).unwrap_or_default();
    let colons = text.iter().filter(|&&b| b == b':').count();
    let compressed = text.windows(2).any(|w| w == b"::");
    if !(compressed || colons == 7 || colons == 6 && text.contains(&b'.')) {
        return Ok(None);
    }
    // `ab::cd` is a path in code; an address carries a digit.
    if !text.iter().any(u8::is_ascii_digit) {
        return Ok(None);
    }
    let parsed = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<Ipv6Addr>().ok());
    Ok(parsed.map(|_| Span::new(start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::mask::scan::hay::first_match as find;
    use proptest::prelude::*;

    /// The address check as first written, one step at a time: the oracle for [`email`].
    fn email_reference(h: &Hay<'_>, a: usize) -> Check {
        if h.bytes.get(a) != Some(&b'@') {
            return Ok(None);
        }
        let start = h.run_back(a, EMAIL_LOCAL_MAX, is_local);
        let local = h.bytes.get(start..a).unwrap_or_default();
        if local.is_empty()
            || local.len() > EMAIL_LOCAL_MAX
            || local.first() == Some(&b'.')
            || local.last() == Some(&b'.')
            || local.windows(2).any(|w| w == b"..")
        {
            return Ok(None);
        }
        // Labels separated by single dots; a trailing dot is punctuation, not part of it.
        let mut i = a + 1;
        let mut labels = 0;
        let mut last;
        loop {
            let end = h.run(i, LABEL_MAX, is_label)?;
            let n = end - i;
            if n == 0 || n > LABEL_MAX || end - (a + 1) > DOMAIN_MAX {
                return Ok(None);
            }
            let label = h.bytes.get(i..end).unwrap_or_default();
            if label.first() == Some(&b'-') || label.last() == Some(&b'-') {
                return Ok(None);
            }
            labels += 1;
            last = (i, end);
            i = end;
            if h.at(i)? == Some(b'.') && h.is(i + 1, is_label)? {
                i += 1;
            } else {
                break;
            }
        }
        if labels < 2 || matches!(h.at(i)?, Some(b'_' | b'@')) {
            return Ok(None);
        }
        let tld = h.bytes.get(last.0..last.1).unwrap_or_default();
        let alphabetic = tld.iter().all(u8::is_ascii_alphabetic);
        let punycode = tld.len() > 4
            && tld
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"));
        if !(alphabetic && (2..=24).contains(&tld.len()) || punycode) {
            return Ok(None);
        }
        if is_file_extension(tld) {
            return Ok(None);
        }
        Ok(Some(Span::new(start, i)))
    }

    proptest! {
        /// The fast check answers what the step-by-step one does at every offset, at the
        /// end of the input and on a buffer that may go on.
        #[test]
        fn email_matches_the_reference(
            s in proptest::collection::vec(
                prop::sample::select(b"ab.-_+@xcom1Z%\x20".to_vec()), 0..90),
            eof in any::<bool>(),
        ) {
            let h = Hay::new(&s, eof);
            for p in 0..s.len() {
                prop_assert_eq!(email(&h, p), email_reference(&h, p), "at {}", p);
            }
        }
    }

    #[test]
    fn byte_kinds_are_the_address_alphabets() {
        for b in 0..=255u8 {
            let alnum = b.is_ascii_alphanumeric();
            assert_eq!(
                is_local(b),
                alnum || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-'),
                "{b:#04x}"
            );
            assert_eq!(is_label(b), alnum || b == b'-', "{b:#04x}");
        }
    }

    #[test]
    fn every_file_extension_is_known_in_any_case() {
        assert!(FILE_EXTENSION_KEYS.windows(2).all(|w| w[0] < w[1]));
        for ext in FILE_EXTENSIONS {
            assert!(is_file_extension(ext), "{}", String::from_utf8_lossy(ext));
            assert!(is_file_extension(&ext.to_ascii_uppercase()));
        }
        for label in [b"com".as_slice(), b"org", b"de", b"info", b"pn", b"pngx"] {
            assert!(
                !is_file_extension(label),
                "{}",
                String::from_utf8_lossy(label)
            );
        }
    }

    #[test]
    fn email_addresses() {
        assert_eq!(
            find(email, "to: jane.doe+x@mail.example.co.uk.").as_deref(),
            Some("jane.doe+x@mail.example.co.uk")
        );
        assert_eq!(
            find(email, "key=bob@example.com&x").as_deref(),
            Some("bob@example.com")
        );
        assert_eq!(find(email, "user@localhost"), None);
        assert_eq!(find(email, "icon@2x.png"), None);
        assert_eq!(find(email, "@scope/pkg"), None);
        assert_eq!(find(email, "a..b@example.com"), None);
        assert_eq!(find(email, "a@-example.com"), None);
    }

    #[test]
    fn ipv6_addresses() {
        assert_eq!(
            find(ipv6, "from 2001:db8::8a2e:370:7334 ok").as_deref(),
            Some("2001:db8::8a2e:370:7334")
        );
        assert_eq!(find(ipv6, "[fe80::1]:8080").as_deref(), Some("fe80::1"));
        assert_eq!(find(ipv6, "lo ::1.").as_deref(), Some("::1"));
        assert_eq!(
            find(ipv6, "::ffff:192.0.2.1").as_deref(),
            Some("::ffff:192.0.2.1")
        );
        assert_eq!(find(ipv6, "at 12:34:56"), None);
        assert_eq!(find(ipv6, "mac 00:1a:2b:3c:4d:5e"), None);
        assert_eq!(find(ipv6, "std::vec::Vec"), None);
        assert_eq!(find(ipv6, "ab::cd"), None);
    }
}
