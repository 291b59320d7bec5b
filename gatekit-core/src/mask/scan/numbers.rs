//! Numeric identifiers: US social security numbers, IPv4 addresses, IBANs.

use super::hay::{Check, Hay, Labels, NeedMore, Span, is_word};

/// Whether `p` starts a run of digits.
#[inline]
pub(crate) fn digit_run_start(h: &Hay<'_>, p: usize) -> bool {
    h.bytes.get(p).is_some_and(u8::is_ascii_digit)
        && !h.before(p).is_some_and(|b| b.is_ascii_digit())
}

/// Whether the run at `p` continues a number on its left (`12.`, `2024-`, `1/`). A comma
/// separates fields more often than it groups digits, so it does not count.
#[inline]
pub(crate) fn glued_to_number(h: &Hay<'_>, p: usize) -> bool {
    matches!(h.before(p), Some(b'.' | b'-' | b'/'))
        && h.before(p - 1).is_some_and(|b| b.is_ascii_digit())
}

/// Whether the value ending at `end` is followed by more of a number (`-12`, `.5`, `/7`) or
/// by a letter glued on. A comma does not count, as above.
pub(crate) fn continues_number(h: &Hay<'_>, end: usize) -> Result<bool, NeedMore> {
    Ok(match h.at(end)? {
        Some(b) if is_word(b) => true,
        Some(b'.' | b'-' | b'/') => h.is(end + 1, |b| b.is_ascii_digit())?,
        _ => false,
    })
}

/// ASCII digits read as a number.
pub(crate) fn number(digits: &[u8]) -> u32 {
    digits
        .iter()
        .fold(0u32, |acc, &b| acc * 10 + u32::from(b.wrapping_sub(b'0')))
}

/// Digits `[i, i + n)` read as a number; `None` unless exactly `n` digits stand there.
pub(crate) fn fixed_digits(h: &Hay<'_>, i: usize, n: usize) -> Result<Option<u32>, NeedMore> {
    let end = h.run(i, n, |b| b.is_ascii_digit())?;
    if end - i != n {
        return Ok(None);
    }
    Ok(Some(number(h.bytes.get(i..end).unwrap_or_default())))
}

/// Words that make a bare nine-digit run an SSN.
const SSN_CONTEXT: &[&[u8]] = &[
    b"ssn",
    b"social security",
    b"social sec",
    b"soc sec",
    b"ss#",
    b"ss no",
    b"taxpayer",
];

const SSN_LABELS: Labels = Labels::new(SSN_CONTEXT);

/// A US social security number at the digit run `p`: `123-45-6789` anywhere;
/// `123 45 6789` and `123456789` only after a context word such as "SSN".
pub(crate) fn ssn(h: &Hay<'_>, p: usize) -> Check {
    if !digit_run_start(h, p) || h.before(p).is_some_and(is_word) || glued_to_number(h, p) {
        return Ok(None);
    }
    let run = h.run(p, 9, |b| b.is_ascii_digit())?;
    let (area, group, serial, end, dashed) = match run - p {
        9 => {
            let digits = h.bytes.get(p..run).unwrap_or_default();
            let (area, rest) = digits.split_at(3.min(digits.len()));
            let (group, serial) = rest.split_at(2.min(rest.len()));
            (number(area), number(group), number(serial), run, false)
        }
        3 => {
            let Some(sep @ (b'-' | b' ')) = h.at(run)? else {
                return Ok(None);
            };
            let Some(g) = fixed_digits(h, run + 1, 2)? else {
                return Ok(None);
            };
            if h.at(run + 3)? != Some(sep) {
                return Ok(None);
            }
            let Some(s) = fixed_digits(h, run + 4, 4)? else {
                return Ok(None);
            };
            let Some(a) = fixed_digits(h, p, 3)? else {
                return Ok(None);
            };
            (a, g, s, run + 8, sep == b'-')
        }
        _ => return Ok(None),
    };
    if continues_number(h, end)? {
        return Ok(None);
    }
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return Ok(None);
    }
    // Numbers the SSA voided after they were printed in advertising.
    if (area, group, serial) == (78, 5, 1120) || (area, group, serial) == (219, 9, 9999) {
        return Ok(None);
    }
    if !dashed && !h.context_before(p, 32, &SSN_LABELS) {
        return Ok(None);
    }
    Ok(Some(Span::new(p, end)))
}

/// Words before a dotted quad that make it a version, not an address.
const VERSION_CONTEXT: &[&[u8]] = &[b"version", b"release", b"build", b"firmware"];
const VERSION_LABELS: Labels = Labels::new(VERSION_CONTEXT);

/// An IPv4 address in dotted-quad form at the digit run `p`.
pub(crate) fn ipv4(h: &Hay<'_>, p: usize) -> Check {
    if !digit_run_start(h, p) || matches!(h.before(p), Some(b) if is_word(b) || b == b'.') {
        return Ok(None);
    }
    let mut i = p;
    for k in 0..4 {
        let end = h.run(i, 3, |b| b.is_ascii_digit())?;
        let n = end - i;
        if n == 0 || n > 3 {
            return Ok(None);
        }
        let octet = h.bytes.get(i..end).unwrap_or_default();
        if number(octet) > 255 || (n > 1 && octet.first() == Some(&b'0')) {
            return Ok(None);
        }
        i = end;
        if k < 3 {
            if h.at(i)? != Some(b'.') {
                return Ok(None);
            }
            i += 1;
        }
    }
    match h.at(i)? {
        Some(b) if is_word(b) => return Ok(None),
        Some(b'.') if h.is(i + 1, |b| b.is_ascii_digit())? => return Ok(None),
        _ => {}
    }
    if h.context_before(p, 16, &VERSION_LABELS) {
        return Ok(None);
    }
    Ok(Some(Span::new(p, i)))
}

/// IBAN lengths by country (SWIFT IBAN registry).
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// The longest IBAN.
const IBAN_MAX: usize = 34;

#[inline]
fn upper_alnum(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

/// An IBAN whose check digits start at `p` (the country code stands just before), compact
/// (`DE89370400440532013000`) or printed in groups of four (`DE89 3704 0044 0532 0130 00`).
pub(crate) fn iban(h: &Hay<'_>, p: usize) -> Check {
    if p < 2 {
        return Ok(None);
    }
    let (Some(c0), Some(c1)) = (h.before(p - 1), h.before(p)) else {
        return Ok(None);
    };
    if !c0.is_ascii_uppercase() || !c1.is_ascii_uppercase() || h.before(p - 2).is_some_and(is_word)
    {
        return Ok(None);
    }
    let Some(&(_, len)) = IBAN_LENGTHS.iter().find(|(cc, _)| **cc == [c0, c1]) else {
        return Ok(None);
    };
    let mut chars = [0u8; IBAN_MAX];
    let mut n = 0;
    let mut push = |b: u8, n: &mut usize| {
        if let Some(slot) = chars.get_mut(*n) {
            *slot = b;
        }
        *n += 1;
    };
    push(c0, &mut n);
    push(c1, &mut n);
    for k in 0..2 {
        match h.at(p + k)? {
            Some(b) if b.is_ascii_digit() => push(b, &mut n),
            _ => return Ok(None),
        }
    }
    let mut i = p + 2;
    if h.at(i)? == Some(b' ') && h.is(i + 1, upper_alnum)? {
        // Printed: single spaces between groups of four, the last group shorter.
        while n < len {
            if h.at(i)? != Some(b' ') {
                return Ok(None);
            }
            let end = h.run(i + 1, 4, upper_alnum)?;
            let g = end - (i + 1);
            if g == 0 || g > 4 || n + g > len || (g < 4 && n + g < len) {
                return Ok(None);
            }
            for &b in h.bytes.get(i + 1..end).unwrap_or_default() {
                push(b, &mut n);
            }
            i = end;
        }
    } else {
        let end = h.run(i, len - 4, upper_alnum)?;
        if end - i != len - 4 {
            return Ok(None);
        }
        for &b in h.bytes.get(i..end).unwrap_or_default() {
            push(b, &mut n);
        }
        i = end;
    }
    if h.is(i, is_word)? {
        return Ok(None);
    }
    let Some(all) = chars.get(..n) else {
        return Ok(None);
    };
    if !mod97_is_one(all) {
        return Ok(None);
    }
    Ok(Some(Span::new(p - 2, i)))
}

/// ISO 7064 MOD 97-10 over the rearranged IBAN (country and check digits moved to the end).
fn mod97_is_one(iban: &[u8]) -> bool {
    let (head, tail) = iban.split_at(4.min(iban.len()));
    let r = tail.iter().chain(head).fold(0u32, |r, &c| {
        if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c - b'A') + 10) % 97
        }
    });
    r == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::mask::scan::hay::first_match as find;

    #[test]
    fn ssn_forms_and_context() {
        assert_eq!(find(ssn, "ssn 234-56-7890").as_deref(), Some("234-56-7890"));
        assert_eq!(find(ssn, "id 234-56-7890,").as_deref(), Some("234-56-7890"));
        assert_eq!(find(ssn, "SSN: 234567890").as_deref(), Some("234567890"));
        assert_eq!(find(ssn, "order 234567890"), None);
        assert_eq!(
            find(ssn, "Social Security 234 56 7890").as_deref(),
            Some("234 56 7890")
        );
        assert_eq!(find(ssn, "666-12-3456"), None);
        assert_eq!(find(ssn, "000-12-3456"), None);
        assert_eq!(find(ssn, "912-12-3456"), None);
        assert_eq!(find(ssn, "234-00-3456"), None);
        assert_eq!(find(ssn, "234-56-0000"), None);
        assert_eq!(find(ssn, "1-234-56-7890"), None);
        assert_eq!(find(ssn, "234-56-7890-1"), None);
    }

    #[test]
    fn ipv4_quads() {
        assert_eq!(
            find(ipv4, "from 10.0.12.1:5432").as_deref(),
            Some("10.0.12.1")
        );
        assert_eq!(find(ipv4, "192.168.1.256"), None);
        assert_eq!(find(ipv4, "10.01.1.1"), None);
        assert_eq!(find(ipv4, "1.3.6.1.4.1.311"), None);
        assert_eq!(find(ipv4, "v1.2.3.4"), None);
        assert_eq!(find(ipv4, "version 2.1.0.4"), None);
    }

    #[test]
    fn iban_forms() {
        assert_eq!(
            find(iban, "IBAN DE89 3704 0044 0532 0130 00.").as_deref(),
            Some("DE89 3704 0044 0532 0130 00")
        );
        assert_eq!(
            find(iban, "GB29NWBK60161331926819").as_deref(),
            Some("GB29NWBK60161331926819")
        );
        assert_eq!(find(iban, "GB29NWBK60161331926818"), None, "checksum");
        assert_eq!(find(iban, "DE89 3704 0044 0532 0130 0"), None, "length");
        assert_eq!(find(iban, "XDE89370400440532013000"), None, "glued");
    }
}
