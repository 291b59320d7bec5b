//! Payment card numbers: 13–19 digits, plain or in groups, Luhn-valid, in a known IIN range.

use super::hay::{Check, Hay, Span, is_word};
use super::numbers::{digit_run_start, glued_to_number};

/// At most this many groups in a grouped card number (`4-4-4-4-3`).
const MAX_GROUPS: usize = 5;

/// A card number starting at the digit run at `p`.
pub(crate) fn card(h: &Hay<'_>, p: usize) -> Check {
    if !digit_run_start(h, p) || h.before(p).is_some_and(is_word) || glued_to_number(h, p) {
        return Ok(None);
    }
    let mut digits = [0u8; 19];
    let mut nd = 0;
    // End offset of each group.
    let mut ends = [0usize; MAX_GROUPS];
    let mut lens = [0usize; MAX_GROUPS];
    let mut ng = 0;
    let mut sep = None;
    let mut i = p;
    // Whether the token goes on past the groups collected.
    let mut overflow = false;
    loop {
        let end = h.run(i, 19, |b| b.is_ascii_digit())?;
        let n = end - i;
        if n == 0 || nd + n > 19 || ng == MAX_GROUPS {
            overflow = true;
            break;
        }
        for (k, &b) in h.bytes.get(i..end).unwrap_or_default().iter().enumerate() {
            if let Some(slot) = digits.get_mut(nd + k) {
                *slot = b - b'0';
            }
        }
        nd += n;
        if let (Some(e), Some(l)) = (ends.get_mut(ng), lens.get_mut(ng)) {
            *e = end;
            *l = n;
        }
        ng += 1;
        i = end;
        match h.at(i)? {
            Some(s @ (b' ' | b'-')) if sep.is_none_or(|x| x == s) => {
                if h.is(i + 1, |b| b.is_ascii_digit())? {
                    sep = Some(s);
                    i += 1;
                } else {
                    break;
                }
            }
            _ => break,
        }
    }
    if let Some(s) = sep {
        // `1234 4111 1111 1111 1111`: part of a longer chain of four-digit groups.
        if h.before(p) == Some(s) && four_digit_group_before(h, p - 1) {
            return Ok(None);
        }
    }
    // The whole token first, then shorter prefixes ending at a group boundary
    // (`4111 1111 1111 1111 12/25` is a card followed by an expiry date).
    for m in (1..=ng).rev() {
        let Some(layout) = lens.get(..m) else {
            continue;
        };
        let total: usize = layout.iter().sum();
        if !valid_layout(layout, total) {
            continue;
        }
        let Some(number) = digits.get(..total) else {
            continue;
        };
        let end = ends.get(m - 1).copied().unwrap_or(p);
        if m == ng && !overflow && !whole_token_ends_cleanly(h, end)? {
            continue;
        }
        if luhn(number) && network_accepts(number) {
            return Ok(Some(Span::new(p, end)));
        }
    }
    Ok(None)
}

/// `4444 4444 4444 4444`, `4444-4444-4444-4` … `4444 4444 4444 4444 333`, `4-6-5`, `4-6-4`.
fn valid_layout(groups: &[usize], total: usize) -> bool {
    if !(13..=19).contains(&total) {
        return false;
    }
    match groups {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] => true,
        [4, rest @ ..] => match rest.split_last() {
            Some((last, middle)) => (1..=4).contains(last) && middle.iter().all(|&g| g == 4),
            None => false,
        },
        _ => false,
    }
}

/// After the last digit: no letter glued on, no decimal part (a comma is taken as a field
/// separator).
fn whole_token_ends_cleanly(h: &Hay<'_>, end: usize) -> Result<bool, super::hay::NeedMore> {
    match h.at(end)? {
        Some(b) if is_word(b) => Ok(false),
        Some(b'.') => Ok(!h.is(end + 1, |b| b.is_ascii_digit())?),
        _ => Ok(true),
    }
}

/// Whether exactly four digits (not five) end just before `i`.
fn four_digit_group_before(h: &Hay<'_>, i: usize) -> bool {
    let start = h.run_back(i, 4, |b| b.is_ascii_digit());
    i - start == 4
}

/// The Luhn checksum over digit values.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &d)| {
            let d = u32::from(d);
            if k % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether the issuer range (IIN) and the length belong to a known card network.
fn network_accepts(d: &[u8]) -> bool {
    let len = d.len();
    let prefix = |n: usize| -> u32 {
        d.iter()
            .take(n)
            .fold(0u32, |acc, &x| acc * 10 + u32::from(x))
    };
    let (p2, p3, p4) = (prefix(2), prefix(3), prefix(4));
    let p6 = prefix(6);
    match d.first() {
        // Visa
        Some(4) => matches!(len, 13 | 16 | 19),
        // Mastercard 2-series, Mir
        Some(2) => {
            (2221..=2720).contains(&p4) && len == 16 || (2200..=2204).contains(&p4) && len >= 16
        }
        // Amex, Diners, JCB
        Some(3) => {
            (p2 == 34 || p2 == 37) && len == 15
                || (300..=305).contains(&p3) && len >= 14
                || p3 == 309 && len >= 14
                || (p2 == 36 || p2 == 38 || p2 == 39) && len >= 14
                || (3528..=3589).contains(&p4) && len >= 16
        }
        // Mastercard, Maestro
        Some(5) => {
            (51..=55).contains(&p2) && len == 16
                || (p2 == 50 || (56..=58).contains(&p2)) && len >= 12
        }
        // Discover, UnionPay, Maestro
        Some(6) => {
            let discover = p4 == 6011 || (644..=649).contains(&p3) || p2 == 65;
            let unionpay = p2 == 62 || (622126..=622925).contains(&p6);
            let maestro = matches!(p4, 6304 | 6759 | 6761..=6763);
            (discover || unionpay) && len >= 16 || maestro && len >= 12
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(s: &str) -> Option<&str> {
        let h = Hay::new(s.as_bytes(), true);
        (0..s.len())
            .find_map(|p| card(&h, p).ok().flatten())
            .and_then(|sp| s.get(sp.start..sp.end))
    }

    #[test]
    fn luhn_matches_known_numbers() {
        let digits = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn(&digits("4111111111111111")));
        assert!(luhn(&digits("79927398713")));
        assert!(!luhn(&digits("4111111111111112")));
    }

    #[test]
    fn plain_and_grouped_numbers() {
        assert_eq!(find("card 4111111111111111."), Some("4111111111111111"));
        assert_eq!(find("4111 1111 1111 1111"), Some("4111 1111 1111 1111"));
        assert_eq!(find("4111-1111-1111-1111"), Some("4111-1111-1111-1111"));
        assert_eq!(find("amex 3782 822463 10005"), Some("3782 822463 10005"));
        assert_eq!(
            find("4111 1111 1111 1111 12/25"),
            Some("4111 1111 1111 1111")
        );
    }

    #[test]
    fn lookalikes_are_not_cards() {
        assert_eq!(find("4111111111111112"), None, "Luhn");
        assert_eq!(find("1234567812345670"), None, "no issuer starts with 1");
        assert_eq!(find("4111-1111 1111-1111"), None, "mixed separators");
        assert_eq!(find("id4111111111111111"), None, "glued to a word");
        assert_eq!(find("3.4111111111111111"), None, "decimal fraction");
        assert_eq!(find("1234 4111 1111 1111 1111"), None, "longer chain");
        assert_eq!(find("41111111111111111111"), None, "20 digits");
    }
}
