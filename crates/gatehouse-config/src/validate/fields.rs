//! Checks shared by every section: names, durations, sizes, enumerations, headers and files.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde_saphyr::Spanned;

use super::report::{line_of, Problem, Report};
use super::suggest::did_you_mean_or_list;
use super::FileBase;
use crate::units::{parse_duration, parse_size};

/// Checks a listener, upstream or route name: not empty, and only letters, digits, `-`, `_`
/// and `.`, because names appear in metrics labels, logs and the admin API.
pub(super) fn check_name(report: &mut Report, name: &Spanned<String>, path: &str, kind: &str) {
    let text = name.value.as_str();
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if text.is_empty() {
        report.error(
            name,
            path,
            format!("{kind} name is empty"),
            "write a name made of letters, digits, `-`, `_` or `.`",
        );
    } else if !text.chars().all(valid_char) {
        report.error(
            name,
            path,
            format!("invalid {kind} name {text:?}"),
            "use only letters, digits, `-`, `_` and `.` in names",
        );
    }
}

/// Reports every name that repeats an earlier one, pointing at the repeat.
pub(super) fn check_unique_names<'a>(
    report: &mut Report,
    kind: &str,
    names: impl IntoIterator<Item = (&'a Spanned<String>, String)>,
) {
    let mut first_lines: HashMap<&str, u64> = HashMap::new();
    for (name, path) in names {
        match first_lines.get(name.value.as_str()) {
            Some(first_line) => report.error(
                name,
                &path,
                format!(
                    "duplicate {kind} name {:?}; the first is at line {first_line}",
                    name.value
                ),
                format!("give each {kind} a unique name"),
            ),
            None => {
                first_lines.insert(&name.value, line_of(name));
            }
        }
    }
}

/// Parses an optional duration that must be greater than zero.
pub(super) fn positive_duration(
    report: &mut Report,
    value: Option<&Spanned<String>>,
    path: &str,
) -> Option<Duration> {
    let value = value?;
    match parse_duration(&value.value) {
        Ok(duration) if duration.is_zero() => {
            report.error(
                value,
                path,
                format!(
                    "{} must be greater than zero, found {:?}",
                    last_key(path),
                    value.value
                ),
                "set a duration such as 5s, or remove the key to use the default",
            );
            None
        }
        Ok(duration) => Some(duration),
        Err(error) => {
            report.error(value, path, error.problem(), error.help());
            None
        }
    }
}

/// Parses an optional size in bytes; zero is allowed.
pub(super) fn size(
    report: &mut Report,
    value: Option<&Spanned<String>>,
    path: &str,
) -> Option<u64> {
    let value = value?;
    match parse_size(&value.value) {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            report.error(value, path, error.problem(), error.help());
            None
        }
    }
}

/// Maps a string to one of `options`, reporting an unknown value with a suggestion.
/// `setting` names the setting in the message, as in "unknown load balancing policy".
pub(super) fn choose<T: Clone>(
    report: &mut Report,
    value: &Spanned<String>,
    path: &str,
    setting: &str,
    options: &[(&str, T)],
) -> Option<T> {
    if let Some((_, choice)) = options.iter().find(|(name, _)| *name == value.value) {
        return Some(choice.clone());
    }
    let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
    report.error(
        value,
        path,
        format!("unknown {setting} {:?}", value.value),
        did_you_mean_or_list(&value.value, &names),
    );
    None
}

/// Parses a header field name; the result is lower case.
pub(super) fn header_name(text: &str) -> Result<HeaderName, Problem> {
    HeaderName::from_bytes(text.as_bytes()).map_err(|_| {
        Problem::new(
            format!("invalid header name {text:?}"),
            "header names contain only letters, digits and `!#$%&'*+-.^_|~`, with no spaces",
        )
    })
}

/// Parses a header field value.
pub(super) fn header_value(name: &str, text: &str) -> Result<HeaderValue, Problem> {
    HeaderValue::from_str(text).map_err(|_| {
        Problem::new(
            format!("invalid value {text:?} for header `{name}`"),
            "header values cannot contain line breaks or other control characters",
        )
    })
}

/// Resolves a file path against `base` and reports it when it is not an existing file.
/// Returns the resolved path either way, so the caller can build its model value.
pub(super) fn existing_file(
    report: &mut Report,
    base: &FileBase,
    value: &Spanned<String>,
    path: &str,
) -> PathBuf {
    let resolved = base.resolve(&value.value);
    let key = last_key(path);
    let display_path = resolved.display().to_string();
    let problem = if value.value.is_empty() {
        Some(format!("{key} is empty"))
    } else {
        match std::fs::metadata(&resolved) {
            Ok(metadata) if metadata.is_file() => None,
            Ok(_) => Some(format!("{key} {display_path:?} is not a file")),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Some(format!("{key} file {display_path:?} not found"))
            }
            Err(error) => Some(format!(
                "{key} file {display_path:?} cannot be accessed: {error}"
            )),
        }
    };
    if let Some(message) = problem {
        let help = format!(
            "create the file or correct the path; relative paths start from {}",
            base.described
        );
        report.error(value, path, message, help);
    }
    resolved
}

/// Returns the last key of a key path, e.g. `connect` for `upstreams[0].timeouts.connect`.
pub(super) fn last_key(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// Returns true for a DNS host name: dot-separated labels of 1 to 63 letters, digits, `-` or
/// `_`, at most 253 characters in all.
pub(super) fn is_host_name(text: &str) -> bool {
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    !text.is_empty() && text.len() <= 253 && text.split('.').all(valid_label)
}
