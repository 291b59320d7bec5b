//! Phone numbers: E.164 and international (`+44 20 7946 0958`), North American
//! (`(415) 555-2671`, `415-555-2671`, `1 415 555 2671`), national with a trunk zero
//! (`020 7946 0958`, `030 12345678`, `01 23 45 67 89`), and bare digit runs only after a
//! word such as "phone" or "tel".

use super::hay::{Check, Hay, Labels, NeedMore, Span, is_word};
use super::numbers::{continues_number, digit_run_start, fixed_digits, glued_to_number};

/// Words that make a bare digit run a phone number.
const PHONE_CONTEXT: &[&[u8]] = &[
    b"phone",
    b"tel",
    b"mobile",
    b"cell",
    b"fax",
    b"call",
    b"sms",
    b"whatsapp",
    b"contact",
];

const PHONE_LABELS: Labels = Labels::new(PHONE_CONTEXT);

#[inline]
const fn is_sep(b: u8) -> bool {
    matches!(b, b'-' | b'.' | b' ')
}

/// A phone number whose first digit run starts at `p`.
pub(crate) fn phone_digits(h: &Hay<'_>, p: usize) -> Check {
    if !digit_run_start(h, p) || glued_to_number(h, p) {
        return Ok(None);
    }
    match h.before(p) {
        Some(b) if is_word(b) || b == b'+' || b == b'(' => return Ok(None),
        _ => {}
    }
    let run = h.run(p, 15, |b| b.is_ascii_digit())?;
    let r = run - p;
    // `1 415 555 2671`, `1-(415) 555-2671`: the NANP country code.
    if r == 1
        && h.bytes.get(p) == Some(&b'1')
        && h.is(run, is_sep)?
        && let Some(end) = nanp(h, run + 1)?
    {
        return finish(h, p, end);
    }
    if r == 3
        && let Some(end) = nanp(h, p)?
    {
        return finish(h, p, end);
    }
    // Not the tail of a longer run of spaced groups (`DE89 3704 0044 0532 0130 01`).
    let spaced_tail =
        h.before(p) == Some(b' ') && h.before(p - 1).is_some_and(|b| b.is_ascii_digit());
    if h.bytes.get(p) == Some(&b'0')
        && !spaced_tail
        && let Some(end) = trunk(h, p)?
    {
        return finish(h, p, end);
    }
    if (7..=15).contains(&r) && h.context_before(p, 24, &PHONE_LABELS) {
        return finish(h, p, run);
    }
    Ok(None)
}

/// A North American number in parentheses at `p`: `(415) 555-2671`.
pub(crate) fn phone_paren(h: &Hay<'_>, p: usize) -> Check {
    if h.bytes.get(p) != Some(&b'(') || h.before(p).is_some_and(is_word) {
        return Ok(None);
    }
    match nanp(h, p)? {
        Some(end) => finish(h, p, end),
        None => Ok(None),
    }
}

/// An international number at the `+` at `p`: 8 to 15 digits after it, in groups separated
/// by single spaces, dashes or dots, a trunk `(0)` allowed.
pub(crate) fn phone_plus(h: &Hay<'_>, p: usize) -> Check {
    if h.bytes.get(p) != Some(&b'+') || h.before(p).is_some_and(|b| is_word(b) || b == b'+') {
        return Ok(None);
    }
    if !h.is(p + 1, |b| (b'1'..=b'9').contains(&b))? {
        return Ok(None);
    }
    let mut i = p + 1;
    let mut digits = 0;
    let mut groups = 0;
    loop {
        groups += 1;
        if groups > 8 {
            return Ok(None);
        }
        if h.at(i)? == Some(b'(') {
            let end = h.run(i + 1, 4, |b| b.is_ascii_digit())?;
            let n = end - (i + 1);
            if n == 0 || n > 4 || h.at(end)? != Some(b')') {
                return Ok(None);
            }
            // A trunk `(0)` is not dialled from abroad.
            if !(n == 1 && h.bytes.get(i + 1) == Some(&b'0')) {
                digits += n;
            }
            i = end + 1;
            // `(0)20` may run straight on.
            if h.is(i, |b| b.is_ascii_digit())? {
                continue;
            }
        } else {
            let end = h.run(i, 15, |b| b.is_ascii_digit())?;
            let n = end - i;
            if n == 0 {
                return Ok(None);
            }
            digits += n;
            i = end;
        }
        if digits > 15 {
            return Ok(None);
        }
        match h.at(i)? {
            Some(b) if is_sep(b) && h.is(i + 1, |c| c.is_ascii_digit())? => i += 1,
            // `+44 (0)20 …`, but not `+1 555 123 4567 (24/7)`.
            Some(b) if is_sep(b) && h.at(i + 1)? == Some(b'(') && paren_group(h, i + 1)? => i += 1,
            _ => break,
        }
    }
    if digits < 8 || h.is(i, is_word)? {
        return Ok(None);
    }
    Ok(Some(Span::new(p, i)))
}

/// Whether a `(` at `i` opens one to four digits and a `)`.
fn paren_group(h: &Hay<'_>, i: usize) -> Result<bool, NeedMore> {
    let end = h.run(i + 1, 4, |b| b.is_ascii_digit())?;
    Ok((1..=4).contains(&(end - (i + 1))) && h.at(end)? == Some(b')'))
}

/// Area code, exchange and line from `i`: `(415) 555-2671`, `415-555-2671`, `415.555.2671`,
/// `415 555 2671`. The end of the line number, if the shape fits.
fn nanp(h: &Hay<'_>, i: usize) -> Result<Option<usize>, NeedMore> {
    let (area, mut j, sep) = if h.at(i)? == Some(b'(') {
        let Some(area) = fixed_digits(h, i + 1, 3)? else {
            return Ok(None);
        };
        if h.at(i + 4)? != Some(b')') {
            return Ok(None);
        }
        let mut j = i + 5;
        if h.at(j)? == Some(b' ') {
            j += 1;
        }
        (area, j, None)
    } else {
        let Some(area) = fixed_digits(h, i, 3)? else {
            return Ok(None);
        };
        match h.at(i + 3)? {
            Some(s) if is_sep(s) => (area, i + 4, Some(s)),
            _ => return Ok(None),
        }
    };
    let Some(exchange) = fixed_digits(h, j, 3)? else {
        return Ok(None);
    };
    j += 3;
    match h.at(j)? {
        Some(s) if is_sep(s) && sep.is_none_or(|x| x == s) => j += 1,
        _ => return Ok(None),
    }
    if fixed_digits(h, j, 4)?.is_none() {
        return Ok(None);
    }
    if area < 200 || exchange < 200 {
        return Ok(None);
    }
    Ok(Some(j + 4))
}

/// A national number with a trunk zero at `i`: 2 to 5 groups of at least two digits with one
/// separator kind, 10 to 12 digits in all.
fn trunk(h: &Hay<'_>, i: usize) -> Result<Option<usize>, NeedMore> {
    if !h.is(i + 1, |b| (b'1'..=b'9').contains(&b))? {
        return Ok(None);
    }
    let mut j = i;
    let mut digits = 0;
    let mut groups = 0;
    let mut sep = None;
    loop {
        let end = h.run(j, 12, |b| b.is_ascii_digit())?;
        let n = end - j;
        if n < 2 || (groups == 0 && n > 5) {
            return Ok(None);
        }
        digits += n;
        groups += 1;
        if digits > 12 || groups > 5 {
            return Ok(None);
        }
        j = end;
        match h.at(j)? {
            Some(s @ (b' ' | b'-'))
                if sep.is_none_or(|x| x == s) && h.is(j + 1, |b| b.is_ascii_digit())? =>
            {
                sep = Some(s);
                j += 1;
            }
            _ => break,
        }
    }
    if groups < 2 || digits < 10 {
        return Ok(None);
    }
    Ok(Some(j))
}

/// The value `[p, end)` unless more of a number follows it.
fn finish(h: &Hay<'_>, p: usize, end: usize) -> Check {
    if continues_number(h, end)? {
        return Ok(None);
    }
    Ok(Some(Span::new(p, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(s: &str) -> Option<String> {
        let h = Hay::new(s.as_bytes(), true);
        (0..s.len())
            .find_map(|p| {
                [phone_digits, phone_paren, phone_plus]
                    .iter()
                    .find_map(|check| check(&h, p).ok().flatten())
            })
            .and_then(|sp| s.get(sp.start..sp.end).map(str::to_owned))
    }

    #[test]
    fn international_numbers() {
        assert_eq!(
            find("call +44 20 7946 0958 now").as_deref(),
            Some("+44 20 7946 0958")
        );
        assert_eq!(find("+14155552671").as_deref(), Some("+14155552671"));
        assert_eq!(
            find("+44 (0)20 7946 0958").as_deref(),
            Some("+44 (0)20 7946 0958")
        );
        assert_eq!(
            find("+1 (415) 555-2671").as_deref(),
            Some("+1 (415) 555-2671")
        );
        assert_eq!(find("tz +0530"), None);
        assert_eq!(find("+12345"), None);
    }

    #[test]
    fn north_american_numbers() {
        assert_eq!(find("(415) 555-2671").as_deref(), Some("(415) 555-2671"));
        assert_eq!(find("415-555-2671").as_deref(), Some("415-555-2671"));
        assert_eq!(find("415.555.2671").as_deref(), Some("415.555.2671"));
        assert_eq!(find("1-415-555-2671").as_deref(), Some("1-415-555-2671"));
        assert_eq!(find("415-555.2671"), None, "mixed separators");
        assert_eq!(find("115-555-2671"), None, "area code");
        assert_eq!(find("415-555-2671-9"), None, "longer token");
    }

    #[test]
    fn national_and_bare_numbers() {
        assert_eq!(find("020 7946 0958").as_deref(), Some("020 7946 0958"));
        assert_eq!(find("01 23 45 67 89").as_deref(), Some("01 23 45 67 89"));
        assert_eq!(find("01-02-2024"), None, "a date");
        assert_eq!(find("phone: 4155552671").as_deref(), Some("4155552671"));
        assert_eq!(find("order 4155552671"), None);
    }
}
