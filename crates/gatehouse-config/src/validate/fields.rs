//! Checks shared by every section: names, durations, sizes, enumerations, headers and files.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde_saphyr::Spanned;

use super::report::{line_of, Problem, Report};
use super::suggest::{closest, did_you_mean_or_list, quoted_list};
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
    let help = format!("give each {kind} a unique name");
    check_unique(report, &format!("{kind} name"), &help, names);
}

/// Reports every value that repeats an earlier one, pointing at the repeat. `subject` names
/// the value in the message, as in "duplicate consumer id".
pub(super) fn check_unique<'a>(
    report: &mut Report,
    subject: &str,
    help: &str,
    values: impl IntoIterator<Item = (&'a Spanned<String>, String)>,
) {
    let mut first_lines: HashMap<&str, u64> = HashMap::new();
    for (value, path) in values {
        match first_lines.get(value.value.as_str()) {
            Some(first_line) => report.error(
                value,
                &path,
                format!(
                    "duplicate {subject} {:?}; the first is at line {first_line}",
                    value.value
                ),
                help,
            ),
            None => {
                first_lines.insert(&value.value, line_of(value));
            }
        }
    }
}

/// Returns the index of the name that `value` refers to, or reports it as undefined with a
/// close name or the defined names. `user` is the kind that refers and `kind` the kind
/// referred to, as in "route uses undefined upstream"; `section` is where `kind` is defined.
pub(super) fn reference_index(
    report: &mut Report,
    value: &Spanned<String>,
    path: &str,
    names: &[&str],
    (user, kind, section): (&str, &str, &str),
) -> Option<usize> {
    if let Some(index) = names.iter().position(|name| *name == value.value) {
        return Some(index);
    }
    let help = match closest(&value.value, names.iter().copied()) {
        Some(name) => format!("did you mean `{name}`?"),
        None if names.is_empty() => format!("define it under `{section}`"),
        None => format!("define it under `{section}`, or use {}", quoted_list(names)),
    };
    let message = format!("{user} uses undefined {kind} {:?}", value.value);
    report.error(value, path, message, help);
    None
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

/// Parses an optional duration; zero is allowed.
pub(super) fn duration(
    report: &mut Report,
    value: Option<&Spanned<String>>,
    path: &str,
) -> Option<Duration> {
    let value = value?;
    match parse_duration(&value.value) {
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
