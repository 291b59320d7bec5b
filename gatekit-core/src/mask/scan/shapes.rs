//! Which numeric detectors a digit run can start, told apart by a table lookup.

use super::{BuiltIn, BuiltIns};

/// Which numeric detectors a digit run can start, by its length, its first digit and the
/// byte after it; the checks that read further (digits after a separator) come after.
pub(super) struct Shapes([u8; Shapes::LEN]);

impl Shapes {
    pub(super) const CARD: u8 = 1;
    pub(super) const SSN: u8 = 2;
    pub(super) const PHONE: u8 = 4;
    pub(super) const IPV4: u8 = 8;
    /// Run lengths told apart; longer runs start nothing numeric.
    const RUNS: usize = 32;
    /// By first digit (`0`, `1`, other) and next byte (none, space, dash, dot, other).
    const LEN: usize = Shapes::RUNS * 3 * 5;

    pub(super) fn new(on: BuiltIns) -> Shapes {
        let mut table = [0u8; Shapes::LEN];
        for (k, shapes) in table.iter_mut().enumerate() {
            let (r, first, next) = (k / 15, k / 5 % 3, k % 5);
            let (space, dash, dot) = (next == 1, next == 2, next == 3);
            let mut s = 0;
            if on.contains(BuiltIn::CreditCard)
                && ((13..=19).contains(&r) || r == 4 && (space || dash))
            {
                s |= Shapes::CARD;
            }
            if on.contains(BuiltIn::UsSsn) && (r == 9 || r == 3 && (space || dash)) {
                s |= Shapes::SSN;
            }
            if on.contains(BuiltIn::Phone)
                && (r == 3 && (space || dash || dot)
                    || r == 1 && first == 1 && (space || dash || dot)
                    || first == 0 && (2..=5).contains(&r) && (space || dash)
                    || (7..=15).contains(&r))
            {
                s |= Shapes::PHONE;
            }
            if on.contains(BuiltIn::Ipv4) && (1..=3).contains(&r) && dot {
                s |= Shapes::IPV4;
            }
            *shapes = s;
        }
        Shapes(table)
    }

    /// The detectors a run of `r` digits starting with `first` and followed by `next` may
    /// start.
    #[inline]
    pub(super) fn of(&self, r: usize, first: Option<u8>, next: Option<u8>) -> u8 {
        let first = match first {
            Some(b'0') => 0,
            Some(b'1') => 1,
            _ => 2,
        };
        let next = match next {
            None => 0,
            Some(b' ') => 1,
            Some(b'-') => 2,
            Some(b'.') => 3,
            Some(_) => 4,
        };
        let r = r.min(Shapes::RUNS - 1);
        self.0.get(r * 15 + first * 5 + next).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_run_shapes() {
        let mut all = BuiltIns::default();
        BuiltIn::ALL.into_iter().for_each(|b| all.insert(b));
        let s = Shapes::new(all);
        let of = |r: usize, first: u8, next: Option<u8>| s.of(r, Some(first), next);
        assert_eq!(of(16, b'4', None), Shapes::CARD);
        assert_eq!(of(9, b'2', Some(b' ')), Shapes::SSN | Shapes::PHONE);
        assert_eq!(of(4, b'4', Some(b'-')), Shapes::CARD);
        assert_eq!(of(3, b'4', Some(b'-')), Shapes::SSN | Shapes::PHONE);
        assert_eq!(of(3, b'1', Some(b'.')), Shapes::PHONE | Shapes::IPV4);
        assert_eq!(of(1, b'1', Some(b' ')), Shapes::PHONE);
        assert_eq!(
            of(1, b'7', Some(b' ')),
            0,
            "only a country code 1 stands alone"
        );
        assert_eq!(of(2, b'0', Some(b' ')), Shapes::PHONE, "a trunk zero");
        assert_eq!(of(2, b'1', Some(b' ')), 0);
        assert_eq!(of(5, b'1', Some(b'.')), 0, "an amount");
        assert_eq!(of(6, b'0', Some(b'-')), 0);
        assert_eq!(of(8, b'0', Some(b'x')), Shapes::PHONE);
        assert_eq!(of(20, b'4', None), 0);
        assert_eq!(of(400, b'4', None), 0);
        let mut cards = BuiltIns::default();
        cards.insert(BuiltIn::CreditCard);
        assert_eq!(
            Shapes::new(cards).of(9, Some(b'2'), None),
            0,
            "only enabled ones"
        );
    }
}
