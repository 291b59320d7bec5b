//! A compiled masking profile.

use std::borrow::Cow;
use std::fmt;

use super::column::{CellOutcome, Column, ColumnRef, ColumnRules, ValueKind};
use super::scan::{self, BuiltIn, BuiltIns, Cand, Cands, Custom, DetId, Hay, Scanner};
use super::strategy::{self, Renderer};
use super::{DetectorSpec, MaskError, MaskSpec, Strategy};

/// The names of the built-in detectors.
pub const BUILT_IN_DETECTORS: &[&str] = &[
    "credit_card",
    "email",
    "phone",
    "us_ssn",
    "iban",
    "ipv4",
    "ipv6",
    "aws_access_key",
    "jwt",
    "private_key",
    "bearer_token",
    "password_assignment",
];

/// The detector name column rules report and `{detector}` renders as.
const COLUMN_LABEL: &str = "column";

/// A sensitive value found in some input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Finding<'m> {
    /// The detector that found it (the first one, where values of several overlapped).
    pub detector: &'m str,
    /// Offset of its first byte.
    pub start: usize,
    /// Offset just past its last byte.
    pub end: usize,
}

/// A compiled masking profile: finds sensitive values in bytes and masks them.
///
/// Compile once, share freely (`Masker` is `Send + Sync`; wrap it in an `Arc` for
/// [`StreamMasker`](super::StreamMasker)s). No call allocates unless something is masked.
pub struct Masker {
    profile: Box<str>,
    /// Detector names by id: the built-ins, the custom detectors used, then `column`.
    names: Vec<Box<str>>,
    /// Ids of the detectors the profile enabled, in its order.
    enabled: Vec<DetId>,
    strategy: Strategy,
    scanner: Scanner,
    columns: ColumnRules,
    renderer: Renderer,
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Masker")
            .field("profile", &self.profile)
            .field("detectors", &self.detectors().collect::<Vec<_>>())
            .field("strategy", &self.strategy)
            .field("columns", &!self.columns.is_empty())
            .finish_non_exhaustive()
    }
}

impl Masker {
    /// Compiles `profile`; `custom` are the custom detectors it may name.
    pub fn compile(profile: &MaskSpec, custom: &[DetectorSpec]) -> Result<Masker, MaskError> {
        for (i, d) in custom.iter().enumerate() {
            let taken = BuiltIn::from_name(&d.name).is_some()
                || d.name == COLUMN_LABEL
                || custom.iter().take(i).any(|o| o.name == d.name);
            if d.name.is_empty() || taken {
                return Err(MaskError::DuplicateDetector {
                    detector: d.name.clone(),
                });
            }
        }
        let mut names: Vec<Box<str>> = BuiltIn::ALL.iter().map(|b| b.name().into()).collect();
        let mut on = BuiltIns::default();
        let mut used: Vec<(DetId, &DetectorSpec)> = Vec::new();
        let mut enabled = Vec::new();
        for name in &profile.detectors {
            let id = if let Some(b) = BuiltIn::from_name(name) {
                on.insert(b);
                b as DetId
            } else if let Some(spec) = custom.iter().find(|d| &d.name == name) {
                match used.iter().find(|(_, s)| s.name == spec.name) {
                    Some(&(id, _)) => id,
                    None => {
                        let id = DetId::try_from(names.len()).unwrap_or(DetId::MAX);
                        names.push(spec.name.as_str().into());
                        used.push((id, spec));
                        id
                    }
                }
            } else {
                return Err(MaskError::UnknownDetector {
                    profile: profile.name.clone(),
                    detector: name.clone(),
                });
            };
            if !enabled.contains(&id) {
                enabled.push(id);
            }
        }
        names.push(COLUMN_LABEL.into());
        let scanner = Scanner::new(on, Custom::build(&used)?);
        let columns = ColumnRules::new(&profile.name, &profile.columns)?;
        if scanner.is_empty() && columns.is_empty() {
            return Err(MaskError::NothingToMask {
                profile: profile.name.clone(),
            });
        }
        let key = profile.hash_key.as_deref();
        match (profile.strategy, key) {
            (Strategy::Hash, None) => {
                return Err(MaskError::HashKeyMissing {
                    profile: profile.name.clone(),
                });
            }
            (_, Some([])) => {
                return Err(MaskError::EmptyHashKey {
                    profile: profile.name.clone(),
                });
            }
            _ => {}
        }
        let marker = profile
            .marker
            .as_deref()
            .unwrap_or(strategy::DEFAULT_MARKER);
        strategy::check_marker(marker).map_err(|reason| MaskError::BadMarker {
            profile: profile.name.clone(),
            marker: marker.to_owned(),
            reason,
        })?;
        let renderer = Renderer::new(profile.strategy, marker, &names, key);
        let masker = Masker {
            profile: profile.name.as_str().into(),
            names,
            enabled,
            strategy: profile.strategy,
            scanner,
            columns,
            renderer,
        };
        if masker.strategy == Strategy::Redact {
            masker.check_markers()?;
        }
        Ok(masker)
    }

    /// Masking must settle: no marker may itself be found by a detector.
    fn check_markers(&self) -> Result<(), MaskError> {
        let ids = self.enabled.iter().map(|&d| usize::from(d));
        for det in ids.chain([self.names.len() - 1]) {
            let marker = self.renderer.marker(det);
            if let Some(found) = self.find(marker).first() {
                return Err(MaskError::MarkerDetectable {
                    profile: self.profile.to_string(),
                    marker: String::from_utf8_lossy(marker).into_owned(),
                    detector: found.detector.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The profile's name.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The names of the detectors the profile runs, in its order.
    pub fn detectors(&self) -> impl Iterator<Item = &str> {
        self.enabled.iter().map(|&d| self.name(d))
    }

    /// The strategy masked values are rendered with.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    fn name(&self, det: DetId) -> &str {
        self.names.get(usize::from(det)).map_or("", |n| n)
    }

    /// Finds values in a whole input: sorted, not overlapping, not cutting a UTF-8 character.
    pub(crate) fn scan_whole(&self, input: &[u8]) -> Vec<Cand> {
        let mut cands = Vec::new();
        self.scanner.scan(&Hay::new(input, true), 0, &mut cands);
        self.settle(input, &mut cands);
        cands
    }

    /// Widens candidates to whole characters, drops values that start with one of this
    /// profile's markers (`password=[REDACTED:password_assignment]`: masked already), then
    /// sorts and merges.
    pub(crate) fn settle(&self, input: &[u8], cands: &mut Vec<Cand>) {
        let kept = self.settle_slice(input, cands);
        cands.truncate(kept);
    }

    /// [`Masker::settle`] in place: the settled values are the first of `cands`; returns
    /// their number.
    pub(crate) fn settle_slice(&self, input: &[u8], cands: &mut [Cand]) -> usize {
        if cands.is_empty() {
            return 0;
        }
        for c in cands.iter_mut() {
            c.span = scan::widen_to_chars(input, c.span);
        }
        let mut kept = cands.len();
        if self.strategy == Strategy::Redact {
            kept = 0;
            for k in 0..cands.len() {
                let Some(&c) = cands.get(k) else { break };
                let value = input.get(c.span.start..c.span.end).unwrap_or_default();
                let masked_already = value
                    .first()
                    .is_some_and(|&b| self.renderer.marker_starts_with(b))
                    && (0..self.names.len()).any(|d| value.starts_with(self.renderer.marker(d)));
                if !masked_already {
                    if let Some(slot) = cands.get_mut(kept) {
                        *slot = c;
                    }
                    kept += 1;
                }
            }
        }
        scan::merge_slice(cands.get_mut(..kept).unwrap_or_default())
    }

    pub(crate) fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// Appends the masked form of `value`, found by detector `det`.
    pub(crate) fn render(&self, det: DetId, value: &[u8], out: &mut Vec<u8>) {
        self.renderer.render(usize::from(det), value, out);
    }

    /// The sensitive values in `input`, in order, not overlapping.
    pub fn find(&self, input: &[u8]) -> Vec<Finding<'_>> {
        self.scan_whole(input)
            .into_iter()
            .map(|c| Finding {
                detector: self.name(c.det),
                start: c.span.start,
                end: c.span.end,
            })
            .collect()
    }

    /// `input` with every sensitive value masked; borrowed when there was nothing to mask.
    #[inline]
    pub fn mask<'a>(&self, input: &'a [u8]) -> Cow<'a, [u8]> {
        // A short input without a stop (most result cells) costs one pass and no call.
        match self.scanner.short_first_stop(input) {
            Some(None) => Cow::Borrowed(input),
            Some(Some(at)) => self.mask_short_from(input, at),
            None => self.mask_long(input),
        }
    }

    /// [`Masker::mask`] on a short input whose scan stops first at `at`.
    #[inline(never)]
    fn mask_short_from<'a>(&self, input: &'a [u8], at: usize) -> Cow<'a, [u8]> {
        let mut short = Cands::new();
        self.scanner.scan_short_from(input, at, &mut short);
        let found = short.as_mut_slice();
        if found.is_empty() {
            return Cow::Borrowed(input);
        }
        let kept = self.settle_slice(input, found);
        self.render_all(input, found.get(..kept).unwrap_or_default())
    }

    /// [`Masker::mask`] on any other input.
    #[inline(never)]
    fn mask_long<'a>(&self, input: &'a [u8]) -> Cow<'a, [u8]> {
        self.render_all(input, &self.scan_whole(input))
    }

    /// `input` with the settled values `cands` masked.
    fn render_all<'a>(&self, input: &'a [u8], cands: &[Cand]) -> Cow<'a, [u8]> {
        if cands.is_empty() {
            return Cow::Borrowed(input);
        }
        let mut out = Vec::with_capacity(input.len() + 16 * cands.len());
        let mut at = 0;
        for c in cands {
            out.extend_from_slice(input.get(at..c.span.start).unwrap_or_default());
            self.render(
                c.det,
                input.get(c.span.start..c.span.end).unwrap_or_default(),
                &mut out,
            );
            at = c.span.end;
        }
        out.extend_from_slice(input.get(at..).unwrap_or_default());
        Cow::Owned(out)
    }

    /// Resolves a result column against the profile's column rules, once per result set.
    pub fn column(&self, column: &ColumnRef<'_>, kind: ValueKind) -> Column {
        Column {
            whole: self.matches_column(column),
            kind,
        }
    }

    /// Whether a column rule of the profile matches `column` (its values are then masked
    /// whole).
    pub fn matches_column(&self, column: &ColumnRef<'_>) -> bool {
        self.columns.matches(column)
    }

    /// Masks one result cell of `column`: the whole value if a column rule matched it, else
    /// the values the detectors find in it.
    pub fn mask_cell(&self, column: &Column, value: &[u8]) -> CellOutcome {
        let masked = if column.whole {
            let mut out = Vec::new();
            self.render(self.column_id(), value, &mut out);
            out
        } else {
            match self.mask(value) {
                Cow::Borrowed(_) => return CellOutcome::Unchanged,
                Cow::Owned(out) => out,
            }
        };
        if column.kind.accepts(&masked) {
            CellOutcome::Masked(masked)
        } else {
            CellOutcome::DoesNotFit
        }
    }

    /// Whether the profile has column rules (a column it cannot identify is masked whole
    /// when it has).
    pub fn has_column_rules(&self) -> bool {
        !self.columns.is_empty()
    }

    /// A column that could not be identified: masked whole if the profile has any column
    /// rule (failing closed), else by the detectors.
    pub fn unidentified_column(&self, kind: ValueKind) -> Column {
        Column {
            whole: self.has_column_rules(),
            kind,
        }
    }

    fn column_id(&self) -> DetId {
        DetId::try_from(self.names.len() - 1).unwrap_or(DetId::MAX)
    }
}
