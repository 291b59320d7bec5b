//! The view every check reads through: bytes plus whether more may follow.
//!
//! A check that needs a byte past the end of a buffer that is not the end of the input
//! answers [`NeedMore`] instead of guessing, so a stream can hold the bytes back and decide
//! once they arrive. With `eof` set, reading past the end yields `None`.

/// More input is needed before this candidate can be decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NeedMore;

/// A half-open byte range of a candidate value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Span {
    pub(crate) const fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
}

/// What a check answers: a value, nothing, or "ask again with more bytes".
pub(crate) type Check = Result<Option<Span>, NeedMore>;

/// Bytes under inspection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hay<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) eof: bool,
}

impl<'a> Hay<'a> {
    pub(crate) const fn new(bytes: &'a [u8], eof: bool) -> Hay<'a> {
        Hay { bytes, eof }
    }

    pub(crate) const fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The byte at `i`; `None` at the end of the input.
    #[inline]
    pub(crate) fn at(&self, i: usize) -> Result<Option<u8>, NeedMore> {
        match self.bytes.get(i) {
            Some(&b) => Ok(Some(b)),
            None if self.eof => Ok(None),
            None => Err(NeedMore),
        }
    }

    /// Whether the byte at `i` satisfies `pred` (`false` at the end of the input).
    #[inline]
    pub(crate) fn is(&self, i: usize, pred: impl Fn(u8) -> bool) -> Result<bool, NeedMore> {
        Ok(self.at(i)?.is_some_and(pred))
    }

    /// The byte before `i`, if any. Look-behind never needs more input.
    #[inline]
    pub(crate) fn before(&self, i: usize) -> Option<u8> {
        i.checked_sub(1).and_then(|j| self.bytes.get(j).copied())
    }

    /// The end of the run of bytes satisfying `pred` that starts at `i`, reading at most
    /// `max + 1` of them (so a caller can tell "longer than `max`").
    #[inline]
    pub(crate) fn run(
        &self,
        i: usize,
        max: usize,
        pred: impl Fn(u8) -> bool,
    ) -> Result<usize, NeedMore> {
        let mut j = i;
        while j - i <= max {
            match self.at(j)? {
                Some(b) if pred(b) => j += 1,
                _ => break,
            }
        }
        Ok(j)
    }

    /// The start of the run of bytes satisfying `pred` that ends just before `i`, reading at
    /// most `max + 1` of them.
    #[inline]
    pub(crate) fn run_back(&self, i: usize, max: usize, pred: impl Fn(u8) -> bool) -> usize {
        let mut j = i;
        while i - j <= max {
            match self.before(j) {
                Some(b) if pred(b) => j -= 1,
                _ => break,
            }
        }
        j
    }

    /// Whether `word` occurs at `i`, ASCII case-insensitively.
    pub(crate) fn word_at(&self, i: usize, word: &[u8]) -> Result<bool, NeedMore> {
        for (k, w) in word.iter().enumerate() {
            match self.at(i + k)? {
                Some(b) if b.eq_ignore_ascii_case(w) => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Whether `lit` occurs at `i`, exactly.
    pub(crate) fn lit_at(&self, i: usize, lit: &[u8]) -> Result<bool, NeedMore> {
        for (k, w) in lit.iter().enumerate() {
            match self.at(i + k)? {
                Some(b) if b == *w => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Whether one of `words` ends within `window` bytes before `i` (ASCII
    /// case-insensitive, the word not glued to a preceding letter): context such as "ssn"
    /// or "phone" in front of a bare number.
    pub(crate) fn context_before(&self, i: usize, window: usize, words: &[&[u8]]) -> bool {
        let lo = i.saturating_sub(window);
        let Some(region) = self.bytes.get(lo..i) else {
            return false;
        };
        let mut after_letter = self.before(lo).is_some_and(|b| b.is_ascii_alphabetic());
        for (k, &b) in region.iter().enumerate() {
            let letter = b.is_ascii_alphabetic();
            if letter && !after_letter {
                let rest = region.get(k..).unwrap_or_default();
                if words.iter().any(|w| {
                    rest.get(..w.len())
                        .is_some_and(|s| s.eq_ignore_ascii_case(w))
                }) {
                    return true;
                }
            }
            after_letter = letter;
        }
        false
    }
}

/// ASCII letters, digits and `_`.
#[inline]
pub(crate) const fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_past_the_end_depends_on_eof() {
        let open = Hay::new(b"ab", false);
        let done = Hay::new(b"ab", true);
        assert_eq!(open.at(1), Ok(Some(b'b')));
        assert_eq!(open.at(2), Err(NeedMore));
        assert_eq!(done.at(2), Ok(None));
        assert_eq!(open.run(0, 8, |b| b.is_ascii_alphabetic()), Err(NeedMore));
        assert_eq!(done.run(0, 8, |b| b.is_ascii_alphabetic()), Ok(2));
        assert_eq!(open.word_at(1, b"BC"), Err(NeedMore));
        assert_eq!(open.word_at(1, b"XC"), Ok(false));
    }

    #[test]
    fn runs_stop_one_past_the_limit() {
        let h = Hay::new(b"123456 ", true);
        assert_eq!(h.run(0, 3, |b| b.is_ascii_digit()), Ok(4));
        assert_eq!(h.run_back(6, 3, |b| b.is_ascii_digit()), 2);
        assert_eq!(h.run_back(6, 9, |b| b.is_ascii_digit()), 0);
    }

    #[test]
    fn context_words_need_a_word_start() {
        let h = Hay::new(b"my ssn: 123", true);
        assert!(h.context_before(8, 16, &[b"ssn"]));
        let h = Hay::new(b"lessn: 123", true);
        assert!(!h.context_before(7, 16, &[b"ssn"]));
    }
}
