//! What can go wrong compiling a masking profile.

use super::BUILT_IN_DETECTORS;

/// Why a [`MaskSpec`](super::MaskSpec) did not compile into a [`Masker`](super::Masker).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaskError {
    /// The profile names a detector that is neither built in nor passed as a custom one.
    #[error(
        "mask profile `{profile}`: unknown detector `{detector}` (built-in ones are {}; \
         others need a [[detector]] table)",
        BUILT_IN_DETECTORS.join(", ")
    )]
    UnknownDetector {
        /// The profile.
        profile: String,
        /// The name it used.
        detector: String,
    },
    /// A custom detector's name is empty, or taken by a built-in or another custom detector.
    #[error("detector name `{detector}` is empty or already taken by another detector")]
    DuplicateDetector {
        /// The name.
        detector: String,
    },
    /// A custom detector's regex does not compile.
    #[error("detector `{detector}`: invalid regex: {message}")]
    BadRegex {
        /// The detector.
        detector: String,
        /// The regex engine's explanation.
        message: String,
    },
    /// A custom detector's regex can match the empty string, which would mask nothing
    /// everywhere.
    #[error("detector `{detector}`: the regex can match the empty string")]
    RegexMatchesEmpty {
        /// The detector.
        detector: String,
    },
    /// A terms detector has no terms.
    #[error("detector `{detector}`: the list of terms is empty")]
    EmptyTerms {
        /// The detector.
        detector: String,
    },
    /// One term of a terms detector cannot be used.
    #[error("detector `{detector}`: term #{} cannot be used: {reason}", index + 1)]
    BadTerm {
        /// The detector.
        detector: String,
        /// The term's position in the list, from 0.
        index: usize,
        /// Why.
        reason: &'static str,
    },
    /// A terms detector has more terms than allowed.
    #[error("detector `{detector}`: {count} terms, at most {limit} allowed")]
    TooManyTerms {
        /// The detector.
        detector: String,
        /// How many it has.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The custom detectors of a profile together exceed the regex or automaton size limits.
    #[error("the custom detectors together are too large: {message}")]
    CustomTooLarge {
        /// The engine's explanation.
        message: String,
    },
    /// `strategy = "hash"` without a key.
    #[error("mask profile `{profile}`: strategy `hash` needs a key (set `hash_key_env`)")]
    HashKeyMissing {
        /// The profile.
        profile: String,
    },
    /// The hash key is empty.
    #[error("mask profile `{profile}`: the hash key is empty")]
    EmptyHashKey {
        /// The profile.
        profile: String,
    },
    /// A column glob does not parse.
    #[error("mask profile `{profile}`: invalid column glob `{pattern}`: {message}")]
    BadColumnGlob {
        /// The profile.
        profile: String,
        /// The glob.
        pattern: String,
        /// The glob parser's explanation.
        message: String,
    },
    /// The marker format cannot be used.
    #[error("mask profile `{profile}`: marker `{marker}` cannot be used: {reason}")]
    BadMarker {
        /// The profile.
        profile: String,
        /// The marker format.
        marker: String,
        /// Why.
        reason: &'static str,
    },
    /// A rendered marker would itself be masked by the profile's detectors, so masking would
    /// not settle.
    #[error(
        "mask profile `{profile}`: marker `{marker}` would itself be found by detector `{detector}`"
    )]
    MarkerDetectable {
        /// The profile.
        profile: String,
        /// The marker as rendered.
        marker: String,
        /// The detector that finds it.
        detector: String,
    },
    /// The profile has neither detectors nor column rules.
    #[error("mask profile `{profile}` masks nothing: give it `detectors` or `columns`")]
    NothingToMask {
        /// The profile.
        profile: String,
    },
}
