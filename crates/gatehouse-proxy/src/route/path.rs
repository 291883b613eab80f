//! Request path normalization, done once per request before matching.
//!
//! Percent-encoded unreserved characters are decoded, other escapes are kept with upper-case
//! hex, dot segments are removed (RFC 3986 section 5.2.4) and repeated slashes are merged, so
//! `/api/../admin` and `/%61dmin` match exactly what `/admin` matches. `%2F` and `%5C` stay
//! encoded and never become separators; `%00` is rejected.

use std::borrow::Cow;

use crate::error::ProxyError;

/// Returns the normalized form of an origin-form request path, borrowed when the path is
/// normal already.
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, ProxyError> {
    if !raw.starts_with('/') {
        return Err(ProxyError::InvalidTarget("the path must start with '/'"));
    }
    if is_plain(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    let decoded = decode_unreserved(raw.as_bytes())?;
    Ok(Cow::Owned(remove_dot_segments(&decoded)))
}

/// True for a path that normalization leaves as it is: visible ASCII without escapes or
/// backslashes, no empty segment and no segment that starts with a dot.
fn is_plain(raw: &str) -> bool {
    raw.bytes()
        .all(|byte| matches!(byte, 0x21..=0x7E) && byte != b'%' && byte != b'\\')
        && !raw.contains("//")
        && !raw.contains("/.")
}

fn decode_unreserved(raw: &[u8]) -> Result<String, ProxyError> {
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let byte = raw[i];
        match byte {
            b'%' => {
                let value = hex_pair(raw.get(i + 1..i + 3)).ok_or(ProxyError::InvalidTarget(
                    "invalid percent-encoding in the path",
                ))?;
                if value == 0 {
                    return Err(ProxyError::InvalidTarget(
                        "the path contains an encoded NUL",
                    ));
                }
                if is_unreserved(value) {
                    out.push(value as char);
                } else {
                    out.push('%');
                    out.push(HEX[(value >> 4) as usize] as char);
                    out.push(HEX[(value & 0xF) as usize] as char);
                }
                i += 3;
            }
            b'\\' => return Err(ProxyError::InvalidTarget("the path contains a backslash")),
            0x21..=0x7E => {
                out.push(byte as char);
                i += 1;
            }
            _ => {
                return Err(ProxyError::InvalidTarget(
                    "the path contains a control character",
                ))
            }
        }
    }
    Ok(out)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let pair = pair?;
    let high = (pair[0] as char).to_digit(16)?;
    let low = (pair[1] as char).to_digit(16)?;
    Some((high * 16 + low) as u8)
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Removes `.` and `..` segments and merges empty segments; keeps a trailing slash.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/').skip(1) {
        trailing_slash = false;
        match segment {
            "" | "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_cases() {
        let cases = [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("/api/../admin", "/admin"),
            ("/api/%2e%2e/admin", "/admin"),
            ("/../../etc", "/etc"),
            ("/a/./b", "/a/b"),
            ("//a///b", "/a/b"),
            ("/%61dmin", "/admin"),
            ("/a%2fb", "/a%2Fb"),
            ("/a%5Cb", "/a%5Cb"),
            ("/a%3Bb", "/a%3Bb"),
            ("/a/..", "/"),
            ("/a/.", "/a/"),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize(raw).unwrap(), expected, "normalizing {raw}");
        }
    }

    #[test]
    fn normalize_rejects_bad_input() {
        for raw in ["/a%00b", "/a%zz", "/a%4", "a/b", "/a\\b", "*"] {
            assert!(normalize(raw).is_err(), "{raw} must be rejected");
        }
    }
}
