//! Recurring weekly time windows such as `Mon-Fri 08:00-18:00 Europe/Berlin`.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::tz::{TimeZone, TimeZoneDatabase};

use super::PolicyError;

/// The longest window text accepted.
const MAX_LEN: usize = 256;
/// Minutes in a day; `24:00` is the end of the day.
const DAY_MINUTES: u16 = 24 * 60;
/// Day names as written, Monday first (bit 0 of the day mask is Monday).
const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
/// Full day names, accepted too.
const DAY_LONG_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
/// Every day of the week.
const ALL_DAYS: u8 = 0b111_1111;

/// A recurring weekly window of local time in one time zone:
/// `DAYS HH:MM-HH:MM ZONE`.
///
/// - `DAYS`: `daily`, or a comma list of days and day ranges: `Mon-Fri`, `Sat,Sun`,
///   `Mon,Wed-Fri` (ranges may wrap: `Fri-Mon`). Three-letter or full names, any case.
/// - `HH:MM-HH:MM`: start inclusive, end exclusive; `24:00` ends at midnight. A window whose
///   end is before its start crosses midnight (`22:00-06:00`) and belongs to the day it
///   starts on: `Fri 22:00-06:00` covers Friday night until Saturday 06:00.
/// - `ZONE`: any IANA time zone name (`Europe/Berlin`) or `UTC`, from the time zone
///   database bundled with the binary. Local time follows the zone's daylight-saving rules,
///   so `08:00` is 08:00 on the wall clock all year.
///
/// ```
/// use gatekit_core::policy::TimeWindow;
///
/// let w: TimeWindow = "Mon-Fri 08:00-19:00 Europe/Berlin".parse()?;
/// // Tuesday 2025-07-01 10:00 in Berlin is 08:00 UTC (summer time).
/// assert!(w.contains("2025-07-01T08:00:00Z".parse()?));
/// assert!(!w.contains("2025-07-01T17:00:00Z".parse()?)); // 19:00 in Berlin
/// assert_eq!(w.to_string(), "Mon-Fri 08:00-19:00 Europe/Berlin");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeWindow {
    /// Bit `n` set: day `n` (Monday = 0) is in the window.
    days: u8,
    /// Start, in minutes after local midnight.
    start: u16,
    /// End, in minutes after local midnight (1..=1440); before `start` when crossing midnight.
    end: u16,
    /// The zone whose wall clock the window follows.
    zone: TimeZone,
}

impl TimeWindow {
    /// Whether the instant `now` falls in the window.
    pub fn contains(&self, now: Timestamp) -> bool {
        let local = self.zone.to_datetime(now);
        let day = local.weekday().to_monday_zero_offset().unsigned_abs();
        let minute =
            u16::from(local.hour().unsigned_abs()) * 60 + u16::from(local.minute().unsigned_abs());
        let on = |d: u8| self.days & (1 << (d % 7)) != 0;
        if self.start < self.end {
            on(day) && (self.start..self.end).contains(&minute)
        } else {
            (on(day) && minute >= self.start) || (on(day + 6) && minute < self.end)
        }
    }

    /// The time zone the window follows.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }
}

impl FromStr for TimeWindow {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_window(s).map_err(|reason| PolicyError::InvalidTimeWindow {
            input: s.chars().take(MAX_LEN).collect(),
            reason,
        })
    }
}

/// Parses a window, returning what is wrong on failure.
pub(crate) fn parse_window(s: &str) -> Result<TimeWindow, String> {
    const SHAPE: &str = "expected `DAYS HH:MM-HH:MM ZONE`, e.g. `Mon-Fri 08:00-18:00 UTC`";
    if s.len() > MAX_LEN {
        return Err(format!("longer than {MAX_LEN} characters"));
    }
    let mut words = s.split_whitespace();
    let (Some(zone), Some(hours)) = (words.next_back(), words.next_back()) else {
        return Err(SHAPE.to_owned());
    };
    let mut days = 0u8;
    let mut any_days = false;
    for word in words {
        any_days = true;
        days |= parse_days(word)?;
    }
    if !any_days {
        return Err(SHAPE.to_owned());
    }
    let (start, end) = parse_hours(hours)?;
    // The bundled database only: no file reads, and the same answer on every machine.
    let zone = TimeZoneDatabase::bundled()
        .get(zone)
        .map_err(|e| format!("unknown time zone `{zone}`: {e}"))?;
    Ok(TimeWindow {
        days,
        start,
        end,
        zone,
    })
}

/// Parses one whitespace-separated piece of the day list (`Mon-Fri`, `Sat,`, `daily`).
fn parse_days(word: &str) -> Result<u8, String> {
    if word.eq_ignore_ascii_case("daily") {
        return Ok(ALL_DAYS);
    }
    let mut days = 0u8;
    for item in word.split(',').filter(|i| !i.is_empty()) {
        days |= match item.split_once('-') {
            None => 1 << parse_day(item)?,
            Some((from, to)) => {
                let (from, to) = (parse_day(from)?, parse_day(to)?);
                let mut mask = 0u8;
                let mut d = from;
                loop {
                    mask |= 1 << d;
                    if d == to {
                        break mask;
                    }
                    d = (d + 1) % 7;
                }
            }
        };
    }
    if days == 0 {
        return Err(format!("`{word}` names no day"));
    }
    Ok(days)
}

/// Parses one day name into its Monday-based index.
fn parse_day(name: &str) -> Result<u8, String> {
    (0u8..7)
        .find(|&d| {
            let i = usize::from(d);
            DAY_NAMES
                .get(i)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
                || DAY_LONG_NAMES
                    .get(i)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .ok_or_else(|| {
            format!("unknown day `{name}` (expected Mon, Tue, Wed, Thu, Fri, Sat, Sun or `daily`)")
        })
}

/// Parses `HH:MM-HH:MM` into start and end minutes.
fn parse_hours(text: &str) -> Result<(u16, u16), String> {
    let (from, to) = text
        .split_once('-')
        .ok_or_else(|| format!("hours `{text}` must look like `08:00-18:00`"))?;
    let start = parse_clock(from)?;
    let end = parse_clock(to)?;
    if start == DAY_MINUTES {
        return Err("a window cannot start at 24:00 (write 00:00)".to_owned());
    }
    if start == end {
        return Err(format!(
            "hours `{text}` are empty; write 00:00-24:00 for the whole day"
        ));
    }
    Ok((start, end))
}

/// Parses `HH:MM` (`24:00` allowed) into minutes after midnight.
fn parse_clock(text: &str) -> Result<u16, String> {
    let bad = || format!("`{text}` is not a time of day like 08:00");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.days == ALL_DAYS {
            f.write_str("daily")?;
        } else {
            let mut first = true;
            let mut d = 0usize;
            while d < 7 {
                if self.days & (1 << d) == 0 {
                    d += 1;
                    continue;
                }
                let mut end = d;
                while end + 1 < 7 && self.days & (1 << (end + 1)) != 0 {
                    end += 1;
                }
                if !first {
                    f.write_str(",")?;
                }
                first = false;
                let name = |i: usize| DAY_NAMES.get(i).copied().unwrap_or("?");
                if end == d {
                    f.write_str(name(d))?;
                } else {
                    write!(f, "{}-{}", name(d), name(end))?;
                }
                d = end + 1;
            }
        }
        let clock = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        let zone = self.zone.iana_name().unwrap_or("UTC");
        write!(f, " {}-{} {zone}", clock(self.start), clock(self.end))
    }
}
