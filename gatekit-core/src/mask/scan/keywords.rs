//! Where keyword-anchored secrets may start: three-byte stems of their keywords, in every
//! ASCII case where the keyword is case-insensitive. Short inputs look them up by their
//! first two bytes in the structural pass; the context a stream keeps before a long input's
//! new bytes is searched with a multi-pattern searcher (the block scan finds them after it).

use aho_corasick::{AhoCorasick, Input, MatchKind};

use super::{BuiltIn, BuiltIns, secrets};

/// Keyword locators for the keyword-anchored detectors.
pub(super) struct Keywords {
    /// Three-byte stems (all ASCII cases for case-insensitive keywords), for the context a
    /// stream keeps before a long input's new bytes (the structural pass finds keywords
    /// from there on).
    pub(super) stems: Box<Stems>,
    /// For short inputs, by two bytes `b0 | b1 << 8` (read as one little-endian `u16`): whether a stem starts with them or
    /// `b0` anchors a structural value (filled in by the scanner).
    pub(super) pairs: Box<[bool; 65536]>,
    /// First bytes of every stem.
    first: [bool; 256],
}

impl Keywords {
    pub(super) fn new(on: BuiltIns) -> Option<Keywords> {
        let mut stems: Vec<Vec<u8>> = Vec::new();
        let mut any_case = |stem: &[u8; 3]| {
            for mask in 0u8..8 {
                let v = stem
                    .iter()
                    .enumerate()
                    .map(|(k, &c)| {
                        if mask >> k & 1 == 1 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect();
                stems.push(v);
            }
        };
        if on.contains(BuiltIn::PasswordAssignment) {
            any_case(b"pas");
            any_case(b"pwd");
        }
        if on.contains(BuiltIn::BearerToken) {
            any_case(b"bea");
            any_case(b"aut");
        }
        if on.contains(BuiltIn::AwsAccessKey) {
            stems.extend(secrets::AWS_PREFIXES.iter().map(|p| p.to_vec()));
        }
        if on.contains(BuiltIn::Jwt) {
            stems.push(b"eyJ".to_vec());
        }
        if on.contains(BuiltIn::PrivateKey) {
            stems.push(b"-----BEGIN".to_vec());
        }
        if stems.is_empty() {
            return None;
        }
        let mut pairs = Box::new([false; 65536]);
        let mut first = [false; 256];
        for s in &stems {
            if let [a, b, ..] = s.as_slice() {
                first[usize::from(*a)] = true;
                pairs[usize::from(u16::from_le_bytes([*a, *b]))] = true;
            }
        }
        let stems = Box::new(Stems::new(&stems)?);
        Some(Keywords {
            stems,
            pairs,
            first,
        })
    }
}

/// A multi-pattern searcher for keyword stems.
pub(super) enum Stems {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl Stems {
    /// A vectorized searcher where the CPU has one, else an automaton.
    fn new(stems: &[Vec<u8>]) -> Option<Stems> {
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(stems)
            .build();
        match packed {
            Some(p) => Some(Stems::Packed(p)),
            None => Stems::automaton(stems),
        }
    }

    fn automaton(stems: &[Vec<u8>]) -> Option<Stems> {
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(stems)
            .ok()
            .map(Stems::Automaton)
    }

    /// The offset of the first stem in `bytes[from..to]`.
    #[inline]
    pub(super) fn find(&self, bytes: &[u8], from: usize, to: usize) -> Option<usize> {
        if from > to || to > bytes.len() {
            return None;
        }
        let span = aho_corasick::Span {
            start: from,
            end: to,
        };
        match self {
            Stems::Packed(p) => p.find_in(bytes, span).map(|m| m.start()),
            Stems::Automaton(ac) => ac.find(Input::new(bytes).span(span)).map(|m| m.start()),
        }
    }
}

impl Keywords {
    /// In a short input, the offset in `rest` of the first byte that anchors a structural
    /// value or starts a stem (by its first two bytes).
    #[inline]
    pub(super) fn short_stop(&self, class: &[u8; 256], rest: &[u8], eof: bool) -> Option<usize> {
        let pairs = rest.windows(2).position(|w| {
            w.first_chunk::<2>()
                .is_some_and(|&p| self.pairs[usize::from(u16::from_le_bytes(p))])
        });
        // The last byte has no successor: a value or a stem cut short.
        pairs.or_else(|| {
            let j = rest.len().checked_sub(1)?;
            let b = usize::from(*rest.get(j)?);
            (class[b] != 0 || !eof && self.first[b]).then_some(j)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    fn stems() -> Vec<Vec<u8>> {
        [&b"pas"[..], b"PaS", b"AKIA", b"eyJ", b"-----BEGIN"]
            .iter()
            .map(|s| s.to_vec())
            .collect()
    }

    proptest! {
        /// Both searchers report the same stems (only one of them runs on a given CPU).
        #[test]
        fn searchers_agree(
            hay in prop::collection::vec(
                prop::sample::select(b"pasPSAKIeyJ-BEGN x".to_vec()),
                0..300,
            ),
            from in 0usize..320,
            to in 0usize..320,
        ) {
            let stems = stems();
            let automaton = Stems::automaton(&stems);
            prop_assert!(automaton.is_some());
            let (Some(searcher), Some(automaton)) = (Stems::new(&stems), automaton) else {
                return Ok(());
            };
            let mut pos = from;
            loop {
                let a = searcher.find(&hay, pos, to);
                prop_assert_eq!(a, automaton.find(&hay, pos, to));
                let Some(at) = a else { break };
                prop_assert!(at >= pos && at < to);
                pos = at + 1;
            }
        }
    }
}
