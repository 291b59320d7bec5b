//! Durations in config values: `15m`, `30s`, `1h30m`.

use jiff::SignedDuration;
use jiff::fmt::friendly::{Designator, Spacing, SpanPrinter};

use super::PolicyError;

/// The longest duration text accepted; config values are short.
const MAX_LEN: usize = 64;

/// Prints durations the way config writes them (`1h30m`).
static PRINTER: SpanPrinter = SpanPrinter::new()
    .designator(Designator::Compact)
    .spacing(Spacing::None);

/// Parses a config duration such as `15m`, `30s`, `1h30m` or `1.5h`.
///
/// Units are hours, minutes, seconds and smaller (`h`, `m`, `s`, `ms`, also spelled out as
/// `2 hours`); days are refused because their length is not fixed. ISO 8601 (`PT15M`) is also
/// accepted. The duration must not be negative.
///
/// ```
/// use gatekit_core::policy::parse_duration;
/// use jiff::SignedDuration;
///
/// assert_eq!(parse_duration("1h30m")?, SignedDuration::from_mins(90));
/// assert!(parse_duration("-5m").is_err());
/// # Ok::<(), gatekit_core::policy::PolicyError>(())
/// ```
pub fn parse_duration(input: &str) -> Result<SignedDuration, PolicyError> {
    let fail = |reason: String| PolicyError::InvalidDuration {
        input: input.to_owned(),
        reason,
    };
    if input.len() > MAX_LEN {
        return Err(fail(format!("longer than {MAX_LEN} characters")));
    }
    let text = input.trim();
    if text.is_empty() {
        return Err(fail(
            "empty (write e.g. `15m`, `30s` or `1h30m`)".to_owned(),
        ));
    }
    let duration: SignedDuration = text.parse().map_err(|e: jiff::Error| fail(e.to_string()))?;
    if duration.is_negative() {
        return Err(fail("negative durations are not allowed".to_owned()));
    }
    Ok(duration)
}

/// Formats a duration the way config writes it (`1h30m`, `45s`).
pub(crate) fn format_duration(duration: SignedDuration) -> String {
    PRINTER.duration_to_string(&duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_config_values() {
        let cases = [
            ("15m", 15 * 60),
            ("30s", 30),
            ("1h30m", 90 * 60),
            ("1h 30m", 90 * 60),
            ("2 hours", 2 * 3600),
            ("PT15M", 15 * 60),
            ("0s", 0),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_duration(text).unwrap(),
                SignedDuration::from_secs(secs),
                "{text}"
            );
        }
        assert_eq!(
            parse_duration("1.5s").unwrap(),
            SignedDuration::from_millis(1500)
        );
    }

    #[test]
    fn refuses_bad_values() {
        for text in ["", "  ", "15", "m", "15x", "-5m", "5m ago", "1d", "1 week"] {
            let err = parse_duration(text).unwrap_err();
            assert!(
                matches!(&err, PolicyError::InvalidDuration { input, .. } if input == text),
                "{text}: {err}"
            );
        }
        let long = "1s".repeat(40);
        assert!(parse_duration(&long).is_err());
    }

    #[test]
    fn formats_like_config() {
        for text in ["15m", "30s", "1h30m", "2h"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
