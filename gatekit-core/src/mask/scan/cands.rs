//! Where a scan collects its values: a `Vec`, or for short inputs a few inline slots that
//! spill to a `Vec` only when they run out, so masking a result cell allocates only its
//! output.

use super::Cand;

/// Collects candidates.
pub(crate) trait CandOut {
    /// Appends `c`.
    fn push_cand(&mut self, c: Cand);
}

impl CandOut for Vec<Cand> {
    #[inline]
    fn push_cand(&mut self, c: Cand) {
        self.push(c);
    }
}

/// Values a short input keeps without allocating.
const INLINE: usize = 2;

/// Candidates in inline slots, moved to a `Vec` once there are more than [`INLINE`].
pub(crate) struct Cands {
    inline: [Cand; INLINE],
    len: usize,
    spill: Vec<Cand>,
}

impl Cands {
    pub(crate) const fn new() -> Cands {
        const EMPTY: Cand = Cand {
            det: 0,
            span: super::Span::new(0, 0),
        };
        Cands {
            inline: [EMPTY; INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    /// The candidates, in the order they came.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [Cand] {
        if self.spill.is_empty() {
            self.inline.get_mut(..self.len).unwrap_or_default()
        } else {
            &mut self.spill
        }
    }
}

impl CandOut for Cands {
    #[inline]
    fn push_cand(&mut self, c: Cand) {
        if self.spill.is_empty() {
            if let Some(slot) = self.inline.get_mut(self.len) {
                *slot = c;
                self.len += 1;
                return;
            }
            self.spill.reserve(2 * INLINE);
            self.spill.extend_from_slice(&self.inline);
        }
        self.spill.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::super::Span;
    use super::*;

    #[test]
    fn spills_in_order_past_the_inline_slots() {
        let cand = |k: usize| Cand {
            det: 1,
            span: Span::new(k, k + 1),
        };
        for n in [0, 1, INLINE, INLINE + 1, 3 * INLINE] {
            let mut c = Cands::new();
            for k in 0..n {
                c.push_cand(cand(k));
            }
            let want: Vec<Cand> = (0..n).map(cand).collect();
            assert_eq!(c.as_mut_slice(), want.as_slice(), "{n} values");
        }
    }
}
