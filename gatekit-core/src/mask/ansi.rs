//! Splits terminal output into visible text and ANSI escape sequences (ECMA-48: CSI, OSC and
//! the other string sequences, two- and three-byte escapes), so detectors see the text a
//! person sees and the escapes pass through untouched.
//!
//! The parser is a byte-at-a-time state machine, so where a stream is cut into chunks never
//! changes what it yields. Sequences are bounded: a control sequence ends after
//! [`CSI_MAX`] bytes, a string sequence after [`STRING_MAX`], whether terminated or not.

/// The longest escape or control sequence kept whole.
const CSI_MAX: usize = 64;
/// The longest string sequence (OSC title, hyperlink, DCS …) kept whole.
const STRING_MAX: usize = 4096;

const ESC: u8 = 0x1B;
const BEL: u8 = 0x07;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Text.
    #[default]
    Ground,
    /// After ESC.
    Esc,
    /// After ESC and intermediate bytes.
    EscInter,
    /// In a control sequence (`ESC [`).
    Csi,
    /// In a string sequence (`ESC ]`, `ESC P`, `ESC X`, `ESC ^`, `ESC _`); `true` just after an
    /// ESC that may start the terminator `ESC \`.
    Str(bool),
}

/// A complete escape sequence, placed before a visible byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Escape {
    /// Offset of the visible byte it precedes.
    pub(crate) at: usize,
    /// Its bytes, as a range of [`Escapes::bytes`].
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Escape sequences taken out of the visible text.
#[derive(Debug, Default)]
pub(crate) struct Escapes {
    pub(crate) bytes: Vec<u8>,
    pub(crate) list: Vec<Escape>,
    /// Where the sequence being parsed starts in `bytes`, if one is open.
    pub(crate) open: Option<usize>,
}

impl Escapes {
    fn close(&mut self, at: usize) {
        if let Some(start) = self.open.take() {
            self.list.push(Escape {
                at,
                start,
                end: self.bytes.len(),
            });
        }
    }

    /// Bytes of escapes (complete or open) not yet emitted.
    pub(crate) fn pending(&self) -> usize {
        self.bytes.len()
    }
}

/// The parser.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ansi {
    state: State,
    len: usize,
}

impl Ansi {
    /// Appends the visible bytes of `input` to `vis` and its escapes to `esc`.
    pub(crate) fn split(&mut self, input: &[u8], vis: &mut Vec<u8>, esc: &mut Escapes) {
        let mut rest = input;
        while !rest.is_empty() {
            if self.state == State::Ground {
                let text = memchr::memchr(ESC, rest).unwrap_or(rest.len());
                vis.extend_from_slice(rest.get(..text).unwrap_or_default());
                rest = rest.get(text..).unwrap_or_default();
            }
            let Some((&b, tail)) = rest.split_first() else {
                break;
            };
            if self.step(b, vis.len(), esc) {
                rest = tail;
            }
        }
    }

    /// Feeds one byte of a sequence (or ESC in text); `false` when the byte ended the
    /// sequence without belonging to it and must be read again as text.
    fn step(&mut self, b: u8, at: usize, esc: &mut Escapes) -> bool {
        let take = |esc: &mut Escapes, len: &mut usize| {
            esc.bytes.push(b);
            *len += 1;
        };
        match self.state {
            State::Ground => {
                // Only ESC reaches here.
                esc.open = Some(esc.bytes.len());
                self.len = 0;
                take(esc, &mut self.len);
                self.state = State::Esc;
                true
            }
            State::Esc => match b {
                b'[' => {
                    take(esc, &mut self.len);
                    self.state = State::Csi;
                    true
                }
                b']' | b'P' | b'X' | b'^' | b'_' => {
                    take(esc, &mut self.len);
                    self.state = State::Str(false);
                    true
                }
                0x20..=0x2F => {
                    take(esc, &mut self.len);
                    self.state = State::EscInter;
                    true
                }
                0x30..=0x7E => {
                    take(esc, &mut self.len);
                    self.end(at, esc);
                    true
                }
                _ => {
                    // A lone ESC.
                    self.end(at, esc);
                    false
                }
            },
            State::EscInter => match b {
                0x20..=0x2F if self.len < CSI_MAX => {
                    take(esc, &mut self.len);
                    true
                }
                0x30..=0x7E => {
                    take(esc, &mut self.len);
                    self.end(at, esc);
                    true
                }
                _ => {
                    self.end(at, esc);
                    false
                }
            },
            State::Csi => match b {
                0x20..=0x3F if self.len < CSI_MAX => {
                    take(esc, &mut self.len);
                    true
                }
                0x40..=0x7E => {
                    take(esc, &mut self.len);
                    self.end(at, esc);
                    true
                }
                _ => {
                    self.end(at, esc);
                    false
                }
            },
            State::Str(after_esc) => {
                take(esc, &mut self.len);
                if b == BEL || after_esc && b == b'\\' || self.len >= STRING_MAX {
                    self.end(at, esc);
                } else if after_esc {
                    // ESC then something else: the ESC ended the string; this byte is new.
                    esc.bytes.pop();
                    self.end(at, esc);
                    return false;
                } else {
                    self.state = State::Str(b == ESC);
                }
                true
            }
        }
    }

    fn end(&mut self, at: usize, esc: &mut Escapes) {
        esc.close(at);
        self.state = State::Ground;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> (Vec<u8>, Vec<(usize, Vec<u8>)>) {
        let mut p = Ansi::default();
        let mut vis = Vec::new();
        let mut esc = Escapes::default();
        for c in chunks {
            p.split(c, &mut vis, &mut esc);
        }
        let list = esc
            .list
            .iter()
            .map(|e| {
                (
                    e.at,
                    esc.bytes.get(e.start..e.end).unwrap_or_default().to_vec(),
                )
            })
            .collect();
        (vis, list)
    }

    #[test]
    fn csi_and_osc_are_taken_out() {
        let (vis, esc) = split(&[b"a\x1b[31mb\x1b]0;title\x07c\x1b]8;;http://x\x1b\\d"]);
        assert_eq!(vis, b"abcd");
        assert_eq!(
            esc,
            vec![
                (1, b"\x1b[31m".to_vec()),
                (2, b"\x1b]0;title\x07".to_vec()),
                (3, b"\x1b]8;;http://x\x1b\\".to_vec()),
            ]
        );
    }

    #[test]
    fn chunking_does_not_matter() {
        let input: &[u8] = b"4111\x1b[0m 1111\x1b(B 1111\x1b]2;t\x1b\\ 1111\x1bx\x1b\n";
        let whole = split(&[input]);
        for cut in 0..input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(split(&[a, b]), whole, "cut at {cut}");
        }
        assert_eq!(whole.0, b"4111 1111 1111 1111\n");
        assert_eq!(whole.1.len(), 5, "a lone ESC is a sequence of its own");
    }

    #[test]
    fn sequences_are_bounded() {
        let mut long = b"\x1b[".to_vec();
        long.extend(std::iter::repeat_n(b'1', 100));
        long.push(b'm');
        let (vis, esc) = split(&[&long]);
        assert_eq!(esc.first().map(|e| e.1.len()), Some(CSI_MAX));
        assert!(vis.ends_with(b"m"));
        let mut osc = b"\x1b]0;".to_vec();
        osc.extend(std::iter::repeat_n(b'x', 5000));
        let (vis, _) = split(&[&osc]);
        assert_eq!(vis.len(), 5004 - STRING_MAX);
    }
}
