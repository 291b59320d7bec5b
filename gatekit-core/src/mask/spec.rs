//! The plain configuration structs a [`Masker`](super::Masker) is compiled from.

use std::fmt;

use serde::Deserialize;

/// One masking profile: which detectors run, which result columns are masked whole, and how
/// masked values are rendered. The binary's config loader fills it from a `[[mask]]` table;
/// `hash_key` is resolved from `hash_key_env` by whoever reads the environment.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MaskSpec {
    /// Profile name, used in errors.
    pub name: String,
    /// Detector names: built-in ones (see [`BUILT_IN_DETECTORS`](super::BUILT_IN_DETECTORS))
    /// or custom ones passed to [`Masker::compile`](super::Masker::compile).
    #[serde(default)]
    pub detectors: Vec<String>,
    /// Globs on result column names (`ssn`, `*card*`, `customers.email`,
    /// `public.customers.email`): matching columns are masked whole, whatever they hold.
    #[serde(default)]
    pub columns: Vec<String>,
    /// How a masked value is rendered.
    #[serde(default)]
    pub strategy: Strategy,
    /// Key for `hash` (required) and `format_preserving` (optional) strategies.
    #[serde(skip)]
    pub hash_key: Option<Vec<u8>>,
    /// Marker format for `redact`; `{detector}` stands for the detector's name.
    /// Default: `[REDACTED:{detector}]`.
    #[serde(default)]
    pub marker: Option<String>,
}

impl MaskSpec {
    /// A profile with the given name and detectors, redacting, no column rules.
    pub fn new<I, S>(name: impl Into<String>, detectors: I) -> MaskSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        MaskSpec {
            name: name.into(),
            detectors: detectors.into_iter().map(Into::into).collect(),
            ..MaskSpec::default()
        }
    }
}

impl fmt::Debug for MaskSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaskSpec")
            .field("name", &self.name)
            .field("detectors", &self.detectors)
            .field("columns", &self.columns)
            .field("strategy", &self.strategy)
            .field("hash_key", &self.hash_key.as_ref().map(|_| "<redacted>"))
            .field("marker", &self.marker)
            .finish()
    }
}

/// How a masked value is rendered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// A fixed marker such as `[REDACTED:credit_card]`.
    #[default]
    Redact,
    /// Keep the last four letters or digits and every separator: `****-****-****-1111`.
    /// Values with fewer than eight letters and digits are starred entirely.
    Partial,
    /// A keyed HMAC-SHA256 token (16 hex digits), stable across sessions so joins and
    /// group-bys still work. Needs `hash_key`.
    Hash,
    /// Digits stay digits, letters stay letters (same case), everything else and the length
    /// stay. Keyed and deterministic when `hash_key` is set; a fixed fill (`0`, `x`, `X`)
    /// otherwise, so nothing of the value is revealed.
    FormatPreserving,
}

impl Strategy {
    /// The name used in config.
    pub const fn name(self) -> &'static str {
        match self {
            Strategy::Redact => "redact",
            Strategy::Partial => "partial",
            Strategy::Hash => "hash",
            Strategy::FormatPreserving => "format_preserving",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A custom detector, usable by name in a profile like a built-in one.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawDetectorSpec")]
pub struct DetectorSpec {
    /// The name profiles refer to; must not clash with a built-in detector.
    pub name: String,
    /// What it matches.
    pub kind: DetectorKind,
}

impl DetectorSpec {
    /// A detector matching a regular expression.
    pub fn regex(name: impl Into<String>, pattern: impl Into<String>) -> DetectorSpec {
        DetectorSpec {
            name: name.into(),
            kind: DetectorKind::Regex(pattern.into()),
        }
    }

    /// A detector matching any of the given literal terms (ASCII case-insensitively, as
    /// whole words where a term begins or ends with a letter or digit).
    pub fn terms<I, S>(name: impl Into<String>, terms: I) -> DetectorSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        DetectorSpec {
            name: name.into(),
            kind: DetectorKind::Terms(terms.into_iter().map(Into::into).collect()),
        }
    }
}

/// What a custom detector matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DetectorKind {
    /// A regular expression (regex-automata syntax) over the bytes.
    Regex(String),
    /// Literal terms, matched with aho-corasick.
    Terms(Vec<String>),
}

/// The serialized form: `name` plus exactly one of `regex` or `terms`.
#[derive(Deserialize)]
struct RawDetectorSpec {
    name: String,
    regex: Option<String>,
    terms: Option<Vec<String>>,
}

impl TryFrom<RawDetectorSpec> for DetectorSpec {
    type Error = String;

    fn try_from(raw: RawDetectorSpec) -> Result<DetectorSpec, String> {
        let kind = match (raw.regex, raw.terms) {
            (Some(regex), None) => DetectorKind::Regex(regex),
            (None, Some(terms)) => DetectorKind::Terms(terms),
            _ => {
                return Err(format!(
                    "detector `{}` needs exactly one of `regex` or `terms`",
                    raw.name
                ));
            }
        };
        Ok(DetectorSpec {
            name: raw.name,
            kind,
        })
    }
}
