//! Durations and sizes as written in the configuration file.
//!
//! Both take a whole number followed directly by a unit: `250ms`, `5s`, `1m`, `1h` for durations
//! and `512B`, `100KB`, `64KiB`, `10MiB`, `1GiB` for sizes. A bare number is rejected because its
//! unit would be a guess. Units are case-sensitive.

use std::time::Duration;

const DURATION_HELP: &str = "write a whole number and a unit: 250ms, 5s, 1m, 1h or 1d";
const SIZE_HELP: &str = "write a whole number and a unit: 512B, 100KB, 64KiB, 10MiB or 1GiB \
                         (KiB, MiB and GiB are powers of 1024; KB, MB and GB of 1000)";

const DURATION_UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];
const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
];

/// A duration or size that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// `input` is not a valid duration, for the reason given.
    #[error("invalid duration {input:?}: {reason}; {help}", help = DURATION_HELP)]
    Duration { input: String, reason: String },
    /// `input` is not a valid size, for the reason given.
    #[error("invalid size {input:?}: {reason}; {help}", help = SIZE_HELP)]
    Size { input: String, reason: String },
}

impl UnitError {
    /// Returns the error without the help sentence, e.g. `invalid duration "5": missing unit`.
    pub fn problem(&self) -> String {
        match self {
            UnitError::Duration { input, reason } => {
                format!("invalid duration {input:?}: {reason}")
            }
            UnitError::Size { input, reason } => format!("invalid size {input:?}: {reason}"),
        }
    }

    /// Returns the sentence that shows the accepted format.
    pub fn help(&self) -> &'static str {
        match self {
            UnitError::Duration { .. } => DURATION_HELP,
            UnitError::Size { .. } => SIZE_HELP,
        }
    }
}

/// Parses a duration such as `250ms`, `5s`, `1m` or `1h`.
///
/// Zero (`0s`) parses, and the caller decides whether it is allowed. Errors on a missing number
/// or unit, an unknown unit, a space between number and unit, and values above `u64::MAX`
/// milliseconds. A fraction such as `1.5s` is an error too, because `1500ms` says the same.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let millis = parse_with_units(text, DURATION_UNITS).map_err(|reason| UnitError::Duration {
        input: text.to_string(),
        reason,
    })?;
    Ok(Duration::from_millis(millis))
}

/// Parses a size in bytes such as `512B`, `100KB`, `64KiB`, `10MiB` or `1GiB`.
///
/// Zero (`0B`) parses, and the caller decides whether it is allowed. Errors on a missing
/// number or unit, an unknown unit, a fraction, a space between number and unit, and values
/// above `u64::MAX` bytes.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    parse_with_units(text, SIZE_UNITS).map_err(|reason| UnitError::Size {
        input: text.to_string(),
        reason,
    })
}

/// Formats a duration in the largest unit that represents it exactly: `1h`, `90s`, `250ms`.
///
/// Durations below one millisecond are rounded down to whole milliseconds, because the
/// configuration file cannot express them.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 || !millis.is_multiple_of(1_000) {
        return format!("{millis}ms");
    }
    let seconds = millis / 1_000;
    if seconds.is_multiple_of(3_600) {
        format!("{}h", seconds / 3_600)
    } else if seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// Splits `text` into a whole number and a unit from `units` and returns number × factor.
/// The error is the reason, for the caller to wrap.
fn parse_with_units(text: &str, units: &[(&str, u64)]) -> Result<u64, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, rest) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(if text.trim_start().starts_with('-') {
            "negative values are not allowed".to_string()
        } else {
            "missing number".to_string()
        });
    }
    if rest.starts_with('.') {
        return Err("fractions are not supported; use a smaller unit instead".to_string());
    }
    let unit = rest.trim_start();
    if unit.is_empty() {
        return Err("missing unit".to_string());
    }
    let Some(factor) = lookup_unit(unit, units) else {
        return Err(unknown_unit_reason(unit, units));
    };
    if unit.len() != rest.len() {
        return Err("remove the space between the number and the unit".to_string());
    }
    let number: u64 = digits.parse().map_err(|_| "number too large".to_string())?;
    number
        .checked_mul(factor)
        .ok_or_else(|| "value too large".to_string())
}

fn lookup_unit(unit: &str, units: &[(&str, u64)]) -> Option<u64> {
    units
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, factor)| *factor)
}

fn unknown_unit_reason(unit: &str, units: &[(&str, u64)]) -> String {
    match units
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
    {
        Some((name, _)) => {
            format!("unknown unit `{unit}`; units are case-sensitive, write `{name}`")
        }
        None => format!("unknown unit `{unit}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3_600)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn duration_missing_unit() {
        let error = parse_duration("5").unwrap_err();
        assert_eq!(error.problem(), "invalid duration \"5\": missing unit");
        assert_eq!(
            error.to_string(),
            "invalid duration \"5\": missing unit; write a whole number and a unit: 250ms, 5s, 1m, 1h or 1d"
        );
    }

    #[test]
    fn duration_word_unit() {
        let error = parse_duration("5 seconds").unwrap_err();
        assert_eq!(
            error.problem(),
            "invalid duration \"5 seconds\": unknown unit `seconds`"
        );
    }

    #[test]
    fn duration_space_before_unit() {
        let error = parse_duration("5 s").unwrap_err();
        assert!(error.problem().contains("remove the space"));
    }

    #[test]
    fn duration_fraction_rejected() {
        let error = parse_duration("1.5s").unwrap_err();
        assert!(error.problem().contains("fractions are not supported"));
    }

    #[test]
    fn duration_wrong_case_suggests() {
        let error = parse_duration("5MS").unwrap_err();
        assert!(error.problem().contains("write `ms`"));
    }

    #[test]
    fn duration_missing_number() {
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5s")
            .unwrap_err()
            .problem()
            .contains("negative"));
    }

    #[test]
    fn duration_overflow() {
        assert!(parse_duration("99999999999999999999h").is_err());
        assert!(parse_duration("18446744073709551615h").is_err());
    }

    #[test]
    fn size_units() {
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("100KB"), Ok(100_000));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("1GiB"), Ok(1024 * 1024 * 1024));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
    }

    #[test]
    fn size_missing_unit() {
        let error = parse_size("1024").unwrap_err();
        assert_eq!(error.problem(), "invalid size \"1024\": missing unit");
        assert!(error.help().contains("64KiB"));
    }

    #[test]
    fn size_word_unit() {
        let error = parse_size("10 megabytes").unwrap_err();
        assert_eq!(
            error.problem(),
            "invalid size \"10 megabytes\": unknown unit `megabytes`"
        );
    }

    #[test]
    fn size_wrong_case_suggests() {
        let error = parse_size("10mib").unwrap_err();
        assert!(error.problem().contains("write `MiB`"));
    }

    #[test]
    fn format_duration_largest_unit() {
        assert_eq!(format_duration(Duration::from_secs(3_600)), "1h");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0ms");
    }

    #[test]
    fn format_duration_round_trips() {
        for text in ["250ms", "5s", "1m", "1h", "90s"] {
            let parsed = parse_duration(text).unwrap();
            assert_eq!(format_duration(parsed), text);
        }
    }
}
