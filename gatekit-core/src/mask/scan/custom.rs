//! Custom detectors: regexes (one multi-pattern regex for all of them) and literal terms (one
//! aho-corasick automaton for all of them).

use aho_corasick::{AhoCorasick, MatchKind};
use regex_automata::Anchored;
use regex_automata::hybrid::dfa::DFA;
use regex_automata::meta::Regex;
use regex_automata::util::{start, syntax};

use super::hay::{Hay, NeedMore, Span, is_word};
use super::{DetId, Sink};
use crate::mask::{DetectorKind, DetectorSpec, MaskError};

/// The most terms one detector may hold.
pub(crate) const TERMS_MAX: usize = 100_000;
/// The longest term.
pub(crate) const TERM_LEN_MAX: usize = 256;
/// A stream holds back at most this much for one custom match still growing at its end;
/// longer matches of unbounded patterns may be split across two masked pieces.
const MATCH_HOLD_MAX: usize = 1024;

struct Regexes {
    re: Regex,
    ids: Vec<DetId>,
}

struct Terms {
    ac: AhoCorasick,
    /// Per term: its detector, whether it must start and end on a word boundary.
    meta: Vec<(DetId, bool, bool)>,
}

/// The custom detectors of one profile.
pub(crate) struct Custom {
    regexes: Option<Regexes>,
    terms: Option<Terms>,
    /// Bytes a custom match can start with.
    first: Box<[bool; 256]>,
    /// How many bytes at the end of a buffer a growing match can span (0: nothing to hold).
    window: usize,
}

impl Custom {
    /// No custom detectors.
    pub(crate) fn none() -> Custom {
        Custom {
            regexes: None,
            terms: None,
            first: Box::new([false; 256]),
            window: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.regexes.is_none() && self.terms.is_none()
    }

    /// Compiles the custom detectors a profile uses, each with the id it reports.
    pub(crate) fn build(used: &[(DetId, &DetectorSpec)]) -> Result<Custom, MaskError> {
        let mut custom = Custom::none();
        let mut patterns = Vec::new();
        let mut regex_ids = Vec::new();
        let mut terms = Vec::new();
        let mut term_meta = Vec::new();
        for &(id, spec) in used {
            match &spec.kind {
                DetectorKind::Regex(pattern) => {
                    let max = check_regex(&spec.name, pattern)?;
                    custom.window = custom
                        .window
                        .max(max.map_or(MATCH_HOLD_MAX, |m| m.min(MATCH_HOLD_MAX)) + 1);
                    patterns.push(pattern.as_str());
                    regex_ids.push(id);
                }
                DetectorKind::Terms(list) => {
                    if list.is_empty() {
                        return Err(MaskError::EmptyTerms {
                            detector: spec.name.clone(),
                        });
                    }
                    if list.len() > TERMS_MAX {
                        return Err(MaskError::TooManyTerms {
                            detector: spec.name.clone(),
                            count: list.len(),
                            limit: TERMS_MAX,
                        });
                    }
                    for (index, term) in list.iter().enumerate() {
                        let bytes = term.as_bytes();
                        let (Some(&a), Some(&z)) = (bytes.first(), bytes.last()) else {
                            return Err(MaskError::BadTerm {
                                detector: spec.name.clone(),
                                index,
                                reason: "it is empty",
                            });
                        };
                        if bytes.len() > TERM_LEN_MAX {
                            return Err(MaskError::BadTerm {
                                detector: spec.name.clone(),
                                index,
                                reason: "it is longer than 256 bytes",
                            });
                        }
                        custom.first[usize::from(a.to_ascii_lowercase())] = true;
                        custom.first[usize::from(a.to_ascii_uppercase())] = true;
                        custom.window = custom.window.max(bytes.len() + 1);
                        terms.push(bytes);
                        term_meta.push((id, is_word(a), is_word(z)));
                    }
                }
            }
        }
        if !patterns.is_empty() {
            let re = Regex::new_many(&patterns).map_err(|e| MaskError::CustomTooLarge {
                message: e.to_string(),
            })?;
            first_bytes(&patterns, &mut custom.first);
            custom.regexes = Some(Regexes { re, ids: regex_ids });
        }
        if !terms.is_empty() {
            let ac = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&terms)
                .map_err(|e| MaskError::CustomTooLarge {
                    message: e.to_string(),
                })?;
            custom.terms = Some(Terms {
                ac,
                meta: term_meta,
            });
        }
        Ok(custom)
    }

    /// Appends custom matches starting at or after `from`.
    pub(crate) fn scan(&self, h: &Hay<'_>, from: usize, sink: &mut Sink<'_>) {
        if let Some(rx) = &self.regexes {
            let input = regex_automata::Input::new(h.bytes).range(from..h.len());
            for m in rx.re.find_iter(input) {
                if let Some(&det) = rx.ids.get(m.pattern().as_usize()) {
                    sink.push(det, Span::new(m.start(), m.end()));
                }
            }
        }
        if let Some(t) = &self.terms {
            let input = aho_corasick::Input::new(h.bytes).span(from..h.len());
            for m in t.ac.try_find_overlapping_iter(input).into_iter().flatten() {
                let Some(&(det, word_start, word_end)) = t.meta.get(m.pattern().as_usize()) else {
                    continue;
                };
                if word_start && h.before(m.start()).is_some_and(is_word) {
                    continue;
                }
                match h.is(m.end(), is_word) {
                    Ok(true) if word_end => {}
                    Err(NeedMore) if word_end => sink.hold(m.start()),
                    _ => sink.push(det, Span::new(m.start(), m.end())),
                }
            }
        }
        if !h.eof && self.window > 0 {
            let lo = h.len().saturating_sub(self.window).max(from);
            let tail = h.bytes.get(lo..).unwrap_or_default();
            if let Some(q) = tail.iter().position(|&b| self.first[usize::from(b)]) {
                sink.hold(lo + q);
            }
        }
    }
}

/// Validates one custom regex; returns the longest match it can have, if bounded.
fn check_regex(name: &str, pattern: &str) -> Result<Option<usize>, MaskError> {
    let bad = |message: String| MaskError::BadRegex {
        detector: name.to_owned(),
        message,
    };
    let hir = syntax::parse(pattern).map_err(|e| bad(e.to_string()))?;
    if hir.properties().minimum_len() == Some(0) {
        return Err(MaskError::RegexMatchesEmpty {
            detector: name.to_owned(),
        });
    }
    Regex::new(pattern).map_err(|e| bad(e.to_string()))?;
    Ok(hir.properties().maximum_len())
}

/// Marks every byte some pattern's match can start with (all bytes when that cannot be
/// worked out).
fn first_bytes(patterns: &[&str], set: &mut [bool; 256]) {
    let dfa = DFA::builder()
        .configure(DFA::config().unicode_word_boundary(true))
        .build_many(patterns);
    let Ok(dfa) = dfa else {
        set.fill(true);
        return;
    };
    let mut cache = dfa.create_cache();
    for look_behind in [None, Some(b' '), Some(b'a'), Some(b'\n'), Some(0xC3)] {
        let config = start::Config::new()
            .anchored(Anchored::Yes)
            .look_behind(look_behind);
        let Ok(sid) = dfa.start_state(&mut cache, &config) else {
            set.fill(true);
            return;
        };
        for b in 0..=255u8 {
            match dfa.next_state(&mut cache, sid, b) {
                Ok(next) if next.is_dead() => {}
                _ => set[usize::from(b)] = true,
            }
        }
    }
}
