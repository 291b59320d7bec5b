//! A one-entry memo keyed by a statement's text: clients send the same few statements again
//! and again, so the answer for the last one is worth keeping.

/// Texts up to this long are remembered; longer ones are worked out every time.
pub(crate) const REMEMBER_BYTES: usize = 4096;

/// The answer for the last text (up to [`REMEMBER_BYTES`]) seen.
#[derive(Debug)]
pub(crate) struct LastText<T> {
    text: Box<[u8]>,
    /// `None` until a text is remembered.
    value: Option<T>,
}

impl<T> Default for LastText<T> {
    fn default() -> Self {
        LastText {
            text: Box::default(),
            value: None,
        }
    }
}

impl<T: Clone> LastText<T> {
    /// The answer for `text`: the remembered one when `text` is the last text, else
    /// `work(text)`, remembered when `text` is short enough.
    pub(crate) fn get(&mut self, text: &[u8], work: impl FnOnce(&[u8]) -> T) -> T {
        if let Some(value) = &self.value
            && *self.text == *text
        {
            return value.clone();
        }
        let value = work(text);
        if text.len() <= REMEMBER_BYTES {
            self.text = text.into();
            self.value = Some(value.clone());
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_each_text_for_itself_and_works_out_long_ones_each_time() {
        let mut memo = LastText::default();
        let mut calls = 0;
        let mut len = |t: &[u8]| {
            calls += 1;
            t.len()
        };
        assert_eq!(memo.get(b"abc", &mut len), 3);
        assert_eq!(memo.get(b"abc", &mut len), 3);
        assert_eq!(memo.get(b"abcd", &mut len), 4);
        assert_eq!(memo.get(b"abc", &mut len), 3);
        let long = vec![b'x'; REMEMBER_BYTES + 1];
        assert_eq!(memo.get(&long, &mut len), REMEMBER_BYTES + 1);
        assert_eq!(memo.get(&long, &mut len), REMEMBER_BYTES + 1);
        // Remembered: the second "abc"; worked out: the rest.
        assert_eq!(calls, 5);
    }
}
