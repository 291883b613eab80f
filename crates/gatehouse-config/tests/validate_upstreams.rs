//! Loads YAML snippets with upstreams and checks the model or the diagnostics: targets,
//! weights, load balancing and protocol.

mod common;

use common::{help, single, valid, with_base, yaml};
use gatehouse_config::model::{HashKey, LoadBalancing, Scheme};

#[test]
fn unknown_enum_value_lists_options() {
    let diagnostic = single(&with_base(&["    protocol: spdy"]));
    assert_eq!(diagnostic.path, "upstreams[0].protocol");
    assert_eq!(help(&diagnostic), "write one of `http1` or `h2c`");
}

#[test]
fn text_for_number_rejected() {
    let diagnostic = single(&with_base(&["        weight: heavy"]));
    assert_eq!(diagnostic.line, 8);
    assert_eq!(diagnostic.column, 17);
    assert_eq!(diagnostic.path, "upstreams[0].targets[0].weight");
    assert_eq!(
        diagnostic.message,
        "expected a whole number, found \"heavy\""
    );
    assert!(help(&diagnostic).contains("whole number"));
}

#[test]
fn upstream_without_targets() {
    let diagnostic = single(&with_base(&["  - name: users", "    targets: []"]));
    assert_eq!(diagnostic.path, "upstreams[1].targets");
    assert_eq!(diagnostic.message, "upstream \"users\" has no targets");
    assert!(help(&diagnostic).contains("upstreams[1].targets"));
}

#[test]
fn target_url_rejections() {
    let cases = [
        ("ftp://127.0.0.1", "unsupported scheme `ftp`"),
        ("127.0.0.1:9001", "missing `http://` or `https://`"),
        ("http://", "missing host"),
        ("http://127.0.0.1:9001/api", "path `/api` is not allowed"),
        ("http://127.0.0.1:9001/?a=1", "query `?a=1` is not allowed"),
        (
            "http://127.0.0.1:9001#top",
            "fragment `#top` is not allowed",
        ),
        ("http://127.0.0.1:0", "invalid port `0`"),
        ("http://127.0.0.1:http", "invalid port `http`"),
        ("http://::1:9001", "needs brackets"),
        ("http://bad host", "invalid host"),
    ];
    for (url, expected) in cases {
        let text = with_base(&[
            "  - name: other",
            "    targets:",
            &format!("      - url: \"{url}\""),
        ]);
        let diagnostic = single(&text);
        assert_eq!(diagnostic.path, "upstreams[1].targets[0].url", "{url}");
        assert!(diagnostic.message.contains(expected), "{url}: {diagnostic}");
        assert!(diagnostic.help.is_some(), "{url}");
    }
}

#[test]
fn target_url_credentials_hidden() {
    let diagnostic = single(&with_base(&[
        "  - name: other",
        "    targets:",
        "      - url: \"http://admin:hunter2@127.0.0.1:9001\"",
    ]));
    assert!(diagnostic.message.contains("credentials"), "{diagnostic}");
    assert!(!diagnostic.to_string().contains("hunter2"), "{diagnostic}");
}

#[test]
fn target_url_default_ports() {
    let config = valid(&yaml(&[
        "listeners:",
        "  - name: public",
        "    address: \"0.0.0.0:8080\"",
        "upstreams:",
        "  - name: mixed",
        "    targets:",
        "      - url: \"http://Backend.Internal\"",
        "      - url: \"https://backend.internal/\"",
        "      - url: \"http://[::1]:9000\"",
    ]));
    let targets = &config.upstreams[0].targets;
    assert_eq!(targets[0].host, "backend.internal");
    assert_eq!(targets[0].port, 80);
    assert_eq!(targets[1].scheme, Scheme::Https);
    assert_eq!(targets[1].port, 443);
    assert_eq!(targets[2].host, "::1");
    assert_eq!(targets[2].authority(), "[::1]:9000");
}

#[test]
fn duplicate_target_reported() {
    let diagnostic = single(&with_base(&["      - url: \"http://127.0.0.1:9001/\""]));
    assert_eq!(diagnostic.path, "upstreams[0].targets[1].url");
    assert!(diagnostic.message.contains("listed twice"), "{diagnostic}");
}

#[test]
fn weight_zero_rejected() {
    let diagnostic = single(&with_base(&["        weight: 0"]));
    assert_eq!(diagnostic.line, 8);
    assert_eq!(diagnostic.path, "upstreams[0].targets[0].weight");
    assert_eq!(diagnostic.message, "weight must be at least 1, found 0");
    assert!(help(&diagnostic).contains("1 or more"));
}

#[test]
fn hash_key_without_consistent_hash() {
    let diagnostic = single(&with_base(&[
        "    load_balancing: random",
        "    hash_key: client_ip",
    ]));
    assert_eq!(diagnostic.line, 9);
    assert_eq!(diagnostic.path, "upstreams[0].hash_key");
    assert!(
        diagnostic.message.contains("only used with"),
        "{diagnostic}"
    );
}

#[test]
fn consistent_hash_needs_hash_key() {
    let diagnostic = single(&with_base(&["    load_balancing: consistent_hash"]));
    assert_eq!(diagnostic.line, 8);
    assert_eq!(diagnostic.path, "upstreams[0].hash_key");
    assert!(
        diagnostic.message.contains("needs a hash_key"),
        "{diagnostic}"
    );
    assert!(help(&diagnostic).contains("client_ip"));
}

#[test]
fn hash_key_forms() {
    let cases = [
        ("client_ip", Some(HashKey::ClientIp)),
        ("cookie:session", Some(HashKey::Cookie("session".into()))),
        (
            "header:X-User",
            Some(HashKey::Header(http::HeaderName::from_static("x-user"))),
        ),
        ("client-ip", None),
        ("header:", None),
        ("cookie:a b", None),
    ];
    for (key, expected) in cases {
        let text = with_base(&[
            "    load_balancing: consistent_hash",
            &format!("    hash_key: \"{key}\""),
        ]);
        match expected {
            Some(expected) => {
                let config = valid(&text);
                assert_eq!(
                    config.upstreams[0].load_balancing,
                    LoadBalancing::ConsistentHash(expected),
                    "{key}"
                );
            }
            None => assert_eq!(single(&text).path, "upstreams[0].hash_key", "{key}"),
        }
    }
}

#[test]
fn h2c_with_https_target() {
    let diagnostic = single(&yaml(&[
        "listeners:",
        "  - name: public",
        "    address: \"0.0.0.0:8080\"",
        "upstreams:",
        "  - name: users",
        "    targets: [{ url: \"https://users.internal\" }]",
        "    protocol: h2c",
    ]));
    assert_eq!(diagnostic.path, "upstreams[0].protocol");
    assert!(help(&diagnostic).contains("ALPN"));
}
