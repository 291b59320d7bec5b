//! Timestamps in logs (`2024-05-01T12:34:56.789Z`, `2024-05-01 12:34:56`, `12:34:56`): the
//! structural pass steps over their inner parts, where no detector can start, instead of
//! resolving each digit run and colon in them.
//!
//! Each skip is exact: every check the pass would run at an event it steps over answers
//! "nothing here" (and never "need more": the shape, and the byte after it, are in the
//! buffer). The reasons, check by check, are at each function.

/// Whether `bytes[i..i + n]` are all ASCII digits.
#[inline(always)]
fn digits(bytes: &[u8], i: usize, n: usize) -> bool {
    bytes
        .get(i..i + n)
        .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
}

/// After a digit run that ends at `end`: the offset the pass may resume from when a date
/// `-MM-DD` follows, then `T` and a digit, or a space.
///
/// The events stepped over: the end of `MM` and of `DD` (before a space) start no numeric
/// value, as both are glued to the number before them by a dash (a trunk-zero phone number
/// is the only shape they fit, and it must not continue a number; two digits are too few
/// for anything else); the first digit of the hour after `T` is only a candidate for an
/// IBAN's check digits, which need two capitals before them.
#[inline]
pub(super) fn after_date(bytes: &[u8], end: usize) -> Option<usize> {
    let shaped = bytes.get(end) == Some(&b'-')
        && digits(bytes, end + 1, 2)
        && bytes.get(end + 3) == Some(&b'-')
        && digits(bytes, end + 4, 2);
    if !shaped {
        return None;
    }
    match bytes.get(end + 6) {
        Some(b'T') if digits(bytes, end + 7, 1) => Some(end + 8),
        Some(b' ') => Some(end + 7),
        _ => None,
    }
}

/// At a colon at `c`: the offset the pass may resume from when `MM:SS` follows (as in
/// `hh:MM:SS`), then a byte that is neither a hex digit nor a colon; past the seconds too
/// when they carry a fraction of three digits and no dot or digit follows it.
///
/// The events stepped over: an IPv6 address at either colon needs six colons or a `::`
/// among the hex digits and colons from its first one, and there are two at most (the
/// second colon cannot be an address's first, a colon stands before its group); the
/// seconds before `.fff` fit only a dotted quad's first octet, whose second octet would
/// need a dot after it.
#[inline]
pub(super) fn after_clock(bytes: &[u8], c: usize) -> Option<usize> {
    let shaped =
        digits(bytes, c + 1, 2) && bytes.get(c + 3) == Some(&b':') && digits(bytes, c + 4, 2);
    let next = bytes.get(c + 6).copied()?;
    if !shaped || next.is_ascii_hexdigit() || next == b':' {
        return None;
    }
    let fraction = next == b'.'
        && digits(bytes, c + 7, 3)
        && bytes
            .get(c + 10)
            .is_some_and(|&b| !b.is_ascii_digit() && b != b'.');
    Some(if fraction { c + 6 } else { c + 4 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_clocks() {
        let at = |s: &str, k: usize| after_date(s.as_bytes(), k);
        assert_eq!(at("2024-05-01T12:34", 4), Some(12));
        assert_eq!(at("2024-05-01 12:34", 4), Some(11));
        assert_eq!(at("2024-05-01Tx", 4), None, "a word after the T");
        assert_eq!(at("2024-05-01.12", 4), None);
        assert_eq!(at("2024-05-01", 4), None, "cut at the end");
        assert_eq!(at("2024-5-01 1", 4), None);
        let clock = |s: &str, k: usize| after_clock(s.as_bytes(), k);
        assert_eq!(clock("12:34:56 INFO", 2), Some(6));
        assert_eq!(clock("12:34:56.789Z", 2), Some(8));
        assert_eq!(clock("12:34:56.789 ", 2), Some(8));
        assert_eq!(clock("12:34:56.7891", 2), Some(6), "not three digits");
        assert_eq!(
            clock("12:34:56.789.1", 2),
            Some(6),
            "a dot after the fraction"
        );
        assert_eq!(clock("12:34:56:78", 2), None, "another colon");
        assert_eq!(clock("12:34:5e", 2), None);
        assert_eq!(clock("12:34:56a", 2), None, "a hex digit");
        assert_eq!(clock("12:34:56", 2), None, "cut at the end");
    }
}
