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

    /// Whether one of `words` labels the value at `i`: it ends within `window` bytes before
    /// `i` (ASCII case-insensitive, not glued to a preceding letter) and only punctuation,
    /// spaces and filler words (`number`, `no`, `me at` …) stand between it and the value.
    /// "SSN: 234567890" and "call me at 4155552671" qualify; a word further back in the
    /// sentence, or one inside a marker like `[REDACTED:phone]`, does not.
    pub(crate) fn context_before(&self, i: usize, window: usize, labels: &Labels) -> bool {
        let lo = i.saturating_sub(window);
        let labelled = |j: usize| {
            // The byte before `j` first: most offsets end no label.
            if !self.before(j).is_some_and(|b| labels.ends[usize::from(b)]) {
                return false;
            }
            labels.words.iter().any(|w| {
                j >= lo + w.len()
                    && self
                        .bytes
                        .get(j - w.len()..j)
                        .is_some_and(|s| s.eq_ignore_ascii_case(w))
                    && !self
                        .before(j - w.len())
                        .is_some_and(|b| b.is_ascii_alphabetic())
            })
        };
        let mut j = i;
        while j > lo {
            if labelled(j) {
                return true;
            }
            match self.before(j) {
                Some(b) if is_gap(b) => j -= 1,
                Some(b) if b.is_ascii_alphabetic() => {
                    let start = self.run_back(j, j - lo, |b| b.is_ascii_alphabetic());
                    let word = self.bytes.get(start..j).unwrap_or_default();
                    if FILLER_LENGTHS >> word.len().min(FILLER_MAX + 1) & 1 == 0
                        || !FILLERS.iter().any(|f| word.eq_ignore_ascii_case(f))
                    {
                        return false;
                    }
                    j = start;
                }
                _ => return false,
            }
        }
        false
    }
}

/// Words that label a value (for [`Hay::context_before`]), with the bytes they end with.
pub(crate) struct Labels {
    words: &'static [&'static [u8]],
    /// Last bytes of the words, in both cases.
    ends: [bool; 256],
}

impl Labels {
    pub(crate) const fn new(words: &'static [&'static [u8]]) -> Labels {
        let mut ends = [false; 256];
        let mut k = 0;
        while k < words.len() {
            if let [.., last] = words[k] {
                ends[last.to_ascii_lowercase() as usize] = true;
                ends[last.to_ascii_uppercase() as usize] = true;
            }
            k += 1;
        }
        Labels { words, ends }
    }
}

/// Bytes that may separate a label from its value.
const fn is_gap(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b':' | b'=' | b'#' | b'.' | b'-' | b'"' | b'\'' | b'(' | b'/' | b',' | b'|'
    )
}

/// Words that may stand between a label and its value.
const FILLERS: &[&[u8]] = &[
    b"number", b"num", b"no", b"nr", b"id", b"is", b"me", b"at", b"on", b"my", b"the", b"of",
    b"to", b"us", b"our", b"your",
];

/// The longest of [`FILLERS`].
const FILLER_MAX: usize = 6;

/// Bit `n` set when some filler has `n` bytes, so most words are ruled out by their length.
const FILLER_LENGTHS: u32 = {
    let mut bits = 0u32;
    let mut k = 0;
    while k < FILLERS.len() {
        bits |= 1 << FILLERS[k].len();
        k += 1;
    }
    bits
};

/// ASCII letters, digits and `_`.
#[inline]
pub(crate) const fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The text of the first span `check` accepts at any offset of `s` (the whole input, at
/// end of input): the detector modules' unit tests share it.
#[cfg(test)]
pub(crate) fn first_match(check: fn(&Hay<'_>, usize) -> Check, s: &str) -> Option<String> {
    let h = Hay::new(s.as_bytes(), true);
    (0..s.len())
        .find_map(|p| check(&h, p).ok().flatten())
        .and_then(|sp| s.get(sp.start..sp.end).map(str::to_owned))
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
    fn no_filler_is_longer_than_the_limit() {
        assert!(FILLERS.iter().all(|f| f.len() <= FILLER_MAX));
        assert!(FILLERS.iter().any(|f| f.len() == FILLER_MAX));
        for n in 0..=FILLER_MAX + 1 {
            let known = FILLER_LENGTHS >> n & 1 == 1;
            assert_eq!(known, FILLERS.iter().any(|f| f.len() == n), "length {n}");
        }
    }

    #[test]
    fn context_words_label_the_value() {
        let ctx = |s: &str, words: &'static [&'static [u8]]| {
            let at = s.find('#').unwrap_or(s.len());
            let s = s.replace('#', "");
            Hay::new(s.as_bytes(), true).context_before(at, 32, &Labels::new(words))
        };
        assert!(ctx("my ssn: #123", &[b"ssn"]));
        assert!(ctx("Social Security Number #123", &[b"social security"]));
        assert!(ctx("call me at #123", &[b"call"]));
        assert!(ctx("{\"phone\": \"#123", &[b"phone"]));
        assert!(!ctx("lessn: #123", &[b"ssn"]), "glued to a letter");
        assert!(
            !ctx("ssn checked for order #123", &[b"ssn"]),
            "other words between"
        );
        assert!(
            !ctx("[REDACTED:phone] #123", &[b"phone"]),
            "inside a marker"
        );
    }
}
