//! Time window cases from `windows.toml`.

use jiff::Timestamp;

use crate::policy::{PolicyError, TimeWindow};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowFile {
    case: Vec<Case>,
    display: Vec<Display>,
    invalid: Vec<Invalid>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    window: String,
    at: Timestamp,
    inside: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Display {
    input: String,
    output: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Invalid {
    window: String,
    reason: String,
}

fn load() -> WindowFile {
    toml::from_str(include_str!("../../../tests/data/policy/windows.toml")).unwrap()
}

#[test]
fn contains() {
    let file = load();
    assert!(!file.case.is_empty());
    for c in file.case {
        let w: TimeWindow = c.window.parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.contains(c.at), c.inside, "{} at {}", c.window, c.at);
    }
}

#[test]
fn display_is_canonical_and_round_trips() {
    for d in load().display {
        let w: TimeWindow = d.input.parse().unwrap();
        assert_eq!(w.to_string(), d.output, "{}", d.input);
        let again: TimeWindow = d.output.parse().unwrap();
        assert_eq!(again, w, "{}", d.output);
    }
}

#[test]
fn invalid_windows_say_why() {
    for c in load().invalid {
        match c.window.parse::<TimeWindow>() {
            Err(PolicyError::InvalidTimeWindow { input, reason }) => {
                assert_eq!(input, c.window);
                assert!(
                    reason.contains(&c.reason),
                    "{:?}: {reason:?} lacks {:?}",
                    c.window,
                    c.reason
                );
            }
            other => panic!("{:?}: {other:?}", c.window),
        }
    }
    assert!("Mon ".repeat(100).parse::<TimeWindow>().is_err());
}

#[test]
fn utc_and_a_whole_week() {
    let w: TimeWindow = "daily 00:00-24:00 UTC".parse().unwrap();
    assert_eq!(w.zone().iana_name(), Some("UTC"));
    let mut t = Timestamp::from_second(1_735_689_600).unwrap(); // 2025-01-01
    for _ in 0..(7 * 24) {
        assert!(w.contains(t), "{t}");
        t += jiff::SignedDuration::from_mins(61);
    }
}
