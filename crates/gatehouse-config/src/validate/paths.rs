//! Checks for the values inside a route's `match` and `rewrite`: paths, templates, regular
//! expressions, host patterns and methods. Each function checks one value and returns it in
//! model form or a `Problem`.

use std::net::Ipv6Addr;

use http::Method;

use super::fields::is_host_name;
use super::report::Problem;
use super::suggest::edit_distance;
use crate::model::HostPattern;

/// The methods that RFC 9110 and RFC 5789 define.
const STANDARD_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// One `/`-separated segment of a `path_template`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TemplateSegment {
    Static(String),
    /// `{name}`: exactly one segment.
    Capture(String),
    /// `{*name}`: the rest of the path; only as the last segment.
    CatchAll(String),
}

impl TemplateSegment {
    pub(super) fn capture_name(&self) -> Option<&str> {
        match self {
            TemplateSegment::Static(_) => None,
            TemplateSegment::Capture(name) | TemplateSegment::CatchAll(name) => Some(name),
        }
    }
}

/// Checks characters shared by every path form: a leading `/`, and no query, fragment,
/// spaces or control characters.
fn check_path_text(text: &str, key: &str) -> Result<(), Problem> {
    if !text.starts_with('/') {
        let fixed = format!("/{}", text.trim_start_matches('/'));
        return Err(Problem::new(
            format!("{key} {text:?} must start with `/`"),
            format!("write {fixed:?}"),
        ));
    }
    if text.contains('?') {
        return Err(Problem::new(
            format!("{key} {text:?} contains `?`"),
            "remove the query; match query parameters under `match.query` instead",
        ));
    }
    if text.contains('#') {
        return Err(Problem::new(
            format!("{key} {text:?} contains `#`"),
            "remove the fragment; clients do not send it to servers",
        ));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Problem::new(
            format!("{key} {text:?} contains a space or control character"),
            "percent-encode it, such as %20 for a space",
        ));
    }
    Ok(())
}

/// Rejects a path that request normalization would change, since no normalized request
/// path can equal it.
fn check_normalized(text: &str, key: &str) -> Result<(), Problem> {
    match normalized_form(text) {
        Some(normalized) => Err(Problem::new(
            format!("{key} {text:?} can never match: request paths are normalized before matching"),
            format!("write {normalized:?}"),
        )),
        None => Ok(()),
    }
}

/// Returns the form the gateway normalizes `text` to, when it differs: repeated slashes
/// merged, `.` and `..` segments removed, percent-encoded unreserved characters decoded and
/// other escapes in upper-case hex.
fn normalized_form(text: &str) -> Option<String> {
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        decoded.push_str(&rest[..at]);
        let hex = rest
            .get(at + 1..at + 3)
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
        match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
            Some(byte) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                decoded.push(byte as char)
            }
            Some(byte) => decoded.push_str(&format!("%{byte:02X}")),
            None => decoded.push('%'),
        }
        rest = &rest[(at + if hex.is_some() { 3 } else { 1 })..];
    }
    decoded.push_str(rest);
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded.split('/').skip(1) {
        trailing_slash = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut normalized: String = segments
        .iter()
        .map(|segment| format!("/{segment}"))
        .collect();
    if trailing_slash || normalized.is_empty() {
        normalized.push('/');
    }
    (normalized != text).then_some(normalized)
}

fn reject_braces(text: &str, key: &str) -> Result<(), Problem> {
    if text.contains(['{', '}']) {
        return Err(Problem::new(
            format!("{key} {text:?} contains `{{` or `}}`, but {key} has no captures"),
            "use `path_template` to capture segments such as `/users/{id}`",
        ));
    }
    Ok(())
}

/// Checks an exact `path`; it is stored as written.
pub(super) fn exact_path(text: &str) -> Result<String, Problem> {
    check_path_text(text, "path")?;
    reject_braces(text, "path")?;
    check_normalized(text, "path")?;
    Ok(text.to_string())
}

/// Checks a `path_prefix` (or `strip_prefix`, named by `key`) and removes trailing slashes:
/// `/api/` becomes `/api`, and `/` stays `/`.
pub(super) fn prefix(text: &str, key: &str) -> Result<String, Problem> {
    check_path_text(text, key)?;
    reject_braces(text, key)?;
    let trimmed = text.trim_end_matches('/');
    let prefix = if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    };
    check_normalized(&prefix, key)?;
    Ok(prefix)
}

/// Parses a `path_template` such as `/users/{id}/files/{*path}`.
///
/// Errors on an unclosed `{`, a stray `}`, an empty or invalid capture name, a capture that
/// does not fill its whole segment, a catch-all that is not last, and a repeated name.
pub(super) fn template(text: &str) -> Result<Vec<TemplateSegment>, Problem> {
    check_path_text(text, "path_template")?;
    check_normalized(text, "path_template")?;
    let parts: Vec<&str> = text[1..].split('/').collect();
    let mut segments: Vec<TemplateSegment> = Vec::with_capacity(parts.len());
    for (index, part) in parts.iter().enumerate() {
        let segment = template_segment(part)?;
        if matches!(segment, TemplateSegment::CatchAll(_)) && index + 1 < parts.len() {
            return Err(Problem::new(
                format!("catch-all `{part}` in {text:?} is not the last segment"),
                "move the catch-all to the end, or use `{name}` to capture a single segment",
            ));
        }
        if let Some(name) = segment.capture_name() {
            if segments
                .iter()
                .any(|seen| seen.capture_name() == Some(name))
            {
                return Err(Problem::new(
                    format!("capture `{name}` appears twice in {text:?}"),
                    "give each capture in a template a different name",
                ));
            }
        }
        segments.push(segment);
    }
    Ok(segments)
}

fn template_segment(part: &str) -> Result<TemplateSegment, Problem> {
    let opens = part.matches('{').count();
    let closes = part.matches('}').count();
    if opens == 0 && closes == 0 {
        return Ok(TemplateSegment::Static(part.to_string()));
    }
    if opens > closes {
        return Err(Problem::new(
            format!("unclosed `{{` in template segment `{part}`"),
            "close the capture with `}`, as in `{id}`",
        ));
    }
    if closes > opens {
        return Err(Problem::new(
            format!("`}}` without `{{` in template segment `{part}`"),
            "remove the `}`, or open the capture with `{`, as in `{id}`",
        ));
    }
    let inner = part
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .filter(|inner| !inner.contains(['{', '}']));
    let Some(inner) = inner else {
        return Err(Problem::new(
            format!("capture in `{part}` does not fill its whole segment"),
            "put each capture in its own segment, such as `/files/{name}`, or use `path_regex`",
        ));
    };
    let (name, segment) = match inner.strip_prefix('*') {
        Some(name) => (name, TemplateSegment::CatchAll(name.to_string())),
        None => (inner, TemplateSegment::Capture(inner.to_string())),
    };
    check_capture_name(name, part)?;
    Ok(segment)
}

fn check_capture_name(name: &str, written: &str) -> Result<(), Problem> {
    if name.is_empty() {
        return Err(Problem::new(
            format!("capture `{written}` has no name"),
            "name the capture, as in `{id}` or `{*rest}`",
        ));
    }
    let starts_well = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    if !starts_well || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Problem::new(
            format!("invalid capture name `{name}` in `{written}`"),
            "capture names start with a letter or `_` and contain only letters, digits and `_`",
        ));
    }
    Ok(())
}

/// Compiles a `path_regex` and returns the names of its named groups.
pub(super) fn regex_captures(text: &str) -> Result<Vec<String>, Problem> {
    let regex = regex::Regex::new(text).map_err(|error| {
        let full = error.to_string();
        let reason = full
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("error: "))
            .unwrap_or(&full)
            .to_string();
        Problem::new(
            format!("invalid regular expression {text:?}: {reason}"),
            "fix the expression; it uses Rust regex syntax and must match the whole path",
        )
    })?;
    Ok(regex
        .capture_names()
        .flatten()
        .map(str::to_string)
        .collect())
}

/// Parses a host pattern: a host name, a bracketed IPv6 address, or `*.` followed by a host
/// name for one or more labels in front of it. The result is lower case.
pub(super) fn host_pattern(text: &str) -> Result<HostPattern, Problem> {
    let host = text.to_ascii_lowercase();
    let invalid = |reason: &str, help: &str| {
        Problem::new(format!("invalid host pattern {text:?}: {reason}"), help)
    };
    if host == "*" {
        let help = "remove `hosts` to match any host";
        return Err(invalid("`*` alone would match every host", help));
    }

    let bracketed = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'));
    if bracketed.is_some_and(|inside| inside.parse::<Ipv6Addr>().is_ok()) {
        return Ok(HostPattern::Exact(host));
    }
    // A name ending in `:` is an unbracketed IPv6 address, which is rejected below.
    let port = host
        .rsplit_once(':')
        .filter(|(name, _)| !name.ends_with(':'));
    if let Some((_, port)) = port {
        let help = format!("remove `:{port}`; routes match the host name without the port");
        return Err(invalid("a host pattern cannot contain a port", &help));
    }

    let wildcard_help = "`*` may only be the whole first label, as in `*.example.org`";
    if let Some(suffix) = host.strip_prefix("*.") {
        if suffix.contains('*') {
            return Err(invalid("misplaced `*`", wildcard_help));
        }
        if !is_host_name(suffix) {
            let help = "write a domain such as `*.example.org`";
            return Err(invalid("invalid host name after `*.`", help));
        }
        return Ok(HostPattern::Wildcard(format!(".{suffix}")));
    }
    if host.contains('*') {
        return Err(invalid("misplaced `*`", wildcard_help));
    }

    if !is_host_name(&host) {
        let help =
            "write a host name such as `api.example.com`, with non-ASCII names in their xn-- form";
        return Err(invalid("not a host name", help));
    }
    Ok(HostPattern::Exact(host))
}

/// Parses an HTTP method. Methods are case-sensitive, so `get` is rejected with a hint.
/// Other upper-case tokens such as `PURGE` are accepted, unless they are within two edits of
/// a standard method and so look like a misspelling.
pub(super) fn method(text: &str) -> Result<Method, Problem> {
    let upper = text.to_ascii_uppercase();
    if text != upper && STANDARD_METHODS.contains(&upper.as_str()) {
        return Err(Problem::new(
            format!("invalid method {text:?}: methods are case-sensitive"),
            format!("write `{upper}`"),
        ));
    }
    let valid_chars = text
        .chars()
        .all(|c| c.is_ascii_uppercase() || c == '-' || c == '_');
    let method = Method::from_bytes(text.as_bytes())
        .ok()
        .filter(|_| valid_chars && !text.is_empty());
    let Some(method) = method else {
        return Err(Problem::new(
            format!("invalid method {text:?}"),
            "write an upper-case method name such as GET or POST",
        ));
    };
    if !STANDARD_METHODS.contains(&text) {
        let near = STANDARD_METHODS
            .iter()
            .find(|standard| edit_distance(text, standard) <= 2);
        if let Some(standard) = near {
            return Err(Problem::new(
                format!("unknown method {text:?}"),
                format!("did you mean `{standard}`?"),
            ));
        }
    }
    Ok(method)
}

/// Checks a `rewrite.path` such as `/tokens/{symbol}` and returns the capture names it uses.
pub(super) fn rewrite_placeholders(text: &str) -> Result<Vec<String>, Problem> {
    check_path_text(text, "rewrite.path")?;
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(['{', '}']) {
        if rest[start..].starts_with('}') {
            return Err(Problem::new(
                format!("`}}` without `{{` in rewrite.path {text:?}"),
                "write captures as `{name}`",
            ));
        }
        let after = &rest[start + 1..];
        let Some(end) = after.find('}').filter(|end| !after[..*end].contains('{')) else {
            return Err(Problem::new(
                format!("unclosed `{{` in rewrite.path {text:?}"),
                "close the capture with `}`, as in `{id}`",
            ));
        };
        let name = &after[..end];
        if let Some(bare) = name.strip_prefix('*') {
            return Err(Problem::new(
                format!("`{{{name}}}` in rewrite.path: `*` belongs only in path_template"),
                format!("write `{{{bare}}}`; the catch-all value is inserted with its slashes"),
            ));
        }
        check_capture_name(name, &format!("{{{name}}}"))?;
        names.push(name.to_string());
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// Returns true when `prefix` is `path` itself or ends at one of its `/` boundaries.
pub(super) fn is_segment_prefix(prefix: &str, path: &str) -> bool {
    path == prefix || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

/// Returns the static segments before a template's first capture, as a path (`/v1/users`
/// for `/v1/users/{id}`), or `None` when the template starts with a capture.
pub(super) fn static_prefix(segments: &[TemplateSegment]) -> Option<String> {
    let mut path = String::new();
    for segment in segments {
        let TemplateSegment::Static(text) = segment else {
            break;
        };
        path.push('/');
        path.push_str(text);
    }
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_trailing_slash_trimmed() {
        assert_eq!(prefix("/api/", "path_prefix").unwrap(), "/api");
        assert_eq!(prefix("/", "path_prefix").unwrap(), "/");
        assert_eq!(prefix("//", "path_prefix").unwrap(), "/");
    }

    #[test]
    fn template_segments_parsed() {
        let segments = template("/users/{id}/files/{*path}").unwrap();
        assert_eq!(segments.len(), 4);
        assert_eq!(segments[1], TemplateSegment::Capture("id".into()));
        assert_eq!(segments[3], TemplateSegment::CatchAll("path".into()));
    }

    #[test]
    fn template_partial_segment_rejected() {
        let problem = template("/files/{name}.json").unwrap_err();
        assert!(problem.message.contains("whole segment"));
    }

    #[test]
    fn template_stray_close_rejected() {
        assert!(template("/a}/b").unwrap_err().message.contains("without"));
    }

    #[test]
    fn regex_named_groups() {
        let names = regex_captures(r"/tokens/(?P<symbol>[a-z]+)/(\d+)").unwrap();
        assert_eq!(names, vec!["symbol".to_string()]);
    }

    #[test]
    fn regex_error_reason_one_line() {
        let problem = regex_captures("/a(").unwrap_err();
        assert!(!problem.message.contains('\n'));
        assert!(problem.message.contains("unclosed group"));
    }

    #[test]
    fn host_ipv6_literal_accepted() {
        assert_eq!(
            host_pattern("[::1]").unwrap(),
            HostPattern::Exact("[::1]".into())
        );
    }

    #[test]
    fn method_extension_accepted() {
        assert_eq!(method("PURGE").unwrap().as_str(), "PURGE");
    }

    #[test]
    fn method_typo_rejected() {
        assert_eq!(method("GTE").unwrap_err().help, "did you mean `GET`?");
    }

    #[test]
    fn rewrite_names_collected() {
        let names = rewrite_placeholders("/tokens/{symbol}/{id}.json").unwrap();
        assert_eq!(names, vec!["symbol".to_string(), "id".to_string()]);
    }

    #[test]
    fn segment_prefix_boundaries() {
        assert!(is_segment_prefix("/v1", "/v1/prices"));
        assert!(is_segment_prefix("/v1", "/v1"));
        assert!(!is_segment_prefix("/v1", "/v10/prices"));
    }

    #[test]
    fn static_prefix_of_template() {
        let segments = template("/v1/users/{id}").unwrap();
        assert_eq!(static_prefix(&segments).as_deref(), Some("/v1/users"));
        assert_eq!(static_prefix(&template("/{id}").unwrap()), None);
    }
}

#[cfg(test)]
mod normalization_tests {
    use super::normalized_form;

    #[test]
    fn normalized_paths_pass() {
        for path in ["/", "/a/b", "/a/b/", "/files/a%2Fb", "/v1/{id}"] {
            assert_eq!(normalized_form(path), None, "{path}");
        }
    }

    #[test]
    fn unnormalized_paths_get_their_form() {
        let cases = [
            ("/c/../d", "/d"),
            ("//a", "/a"),
            ("/a/./b", "/a/b"),
            ("/%61dmin", "/admin"),
            ("/a%2fb", "/a%2Fb"),
        ];
        for (path, expected) in cases {
            assert_eq!(normalized_form(path).as_deref(), Some(expected), "{path}");
        }
    }
}
