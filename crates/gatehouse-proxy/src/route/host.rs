//! Host matching: case-insensitive, port ignored, `*.` wildcards for one or more labels.

use gatehouse_config::model::HostPattern;

/// Returns the request host in lower case without its port.
pub fn request_host(raw: &str) -> String {
    let without_port = if raw.starts_with('[') {
        raw.split_inclusive(']').next().unwrap_or(raw)
    } else {
        raw.split(':').next().unwrap_or(raw)
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

/// Returns true when `host` (already lower case, no port) matches any pattern, or when there
/// are no patterns.
pub fn matches_any(patterns: &[HostPattern], host: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|pattern| matches(pattern, host))
}

fn matches(pattern: &HostPattern, host: &str) -> bool {
    match pattern {
        HostPattern::Exact(name) => name == host,
        HostPattern::Wildcard(suffix) => {
            host.len() > suffix.len() && host.ends_with(suffix.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_and_case_ignored() {
        assert_eq!(request_host("API.Example.com:8443"), "api.example.com");
        assert_eq!(request_host("[::1]:80"), "[::1]");
        assert_eq!(request_host("example.com."), "example.com");
    }

    #[test]
    fn wildcard_needs_a_label() {
        let patterns = [HostPattern::Wildcard(".example.org".into())];
        assert!(matches_any(&patterns, "a.example.org"));
        assert!(matches_any(&patterns, "a.b.example.org"));
        assert!(!matches_any(&patterns, "example.org"));
        assert!(!matches_any(&patterns, "aexample.org"));
    }
}
