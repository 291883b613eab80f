//! Loads YAML snippets and checks the model or the diagnostics: parsing, value types, units,
//! listeners, admin and upstreams. Route checks are in `validate_routes.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    at_path, help, problems, single, temp_dir, valid, with_base, with_routes, write, yaml,
};
use gatehouse_config::model::{
    AccessLogFormat, HashKey, HostPattern, LoadBalancing, PathMatch, Rewrite, Scheme,
    UpstreamProtocol,
};
use gatehouse_config::{load_file, load_str, Config};

const FULL_EXAMPLE: &str = r#"listeners:
  - name: public
    address: "0.0.0.0:8080"
    tls:
      certificate: certs/server.pem
      key: certs/server.key
admin:
  address: "127.0.0.1:9901"
access_log:
  format: text
server:
  header_read_timeout: 10s
  max_header_size: 64KiB
  max_headers: 100
  max_body_size: 10MiB
  idle_timeout: 60s
  shutdown_timeout: 30s
  log_level: info
upstreams:
  - name: prices
    targets:
      - url: "http://127.0.0.1:9001"
        weight: 2
      - url: "http://127.0.0.1:9002"
    load_balancing: consistent_hash
    hash_key: "header:x-user-id"
    protocol: http1
    preserve_host: false
    max_idle_per_target: 64
    timeouts: { connect: 1s, request: 30s, idle: 90s }
    tls: { ca: certs/ca.pem, verify: true, server_name: api.internal }
routes:
  - name: prices
    match:
      hosts: ["api.example.com", "*.example.org"]
      path_prefix: /v1/prices
      methods: [GET, HEAD]
      headers: { x-canary: "true" }
      query: { version: "2" }
    upstream: prices
    rewrite:
      strip_prefix: /v1
    request_headers:
      set: { x-gateway: gatehouse }
      add: { via: gatehouse }
      remove: [x-internal-debug]
    response_headers:
      remove: [server]
    max_body_size: 1MiB
"#;

/// Loads `FULL_EXAMPLE` from its own directory `name`, next to the TLS files it names.
fn load_full_example(name: &str) -> (Config, PathBuf) {
    let dir = temp_dir(name);
    for file in ["server.pem", "server.key", "ca.pem"] {
        write(&dir.join("certs").join(file), "test placeholder\n");
    }
    let path = dir.join("gatehouse.yaml");
    write(&path, FULL_EXAMPLE);
    let config = load_file(&path).unwrap_or_else(|diagnostics| panic!("rejected:\n{diagnostics}"));
    (config, dir)
}

#[test]
fn full_example_listeners_and_server() {
    let (config, dir) = load_full_example("full-listeners_and_server");
    assert_eq!(
        config.source,
        dir.join("gatehouse.yaml").display().to_string()
    );
    assert_eq!(config.listeners[0].name, "public");
    assert_eq!(config.listeners[0].address.to_string(), "0.0.0.0:8080");
    let tls = config.listeners[0].tls.as_ref().expect("listener TLS");
    assert_eq!(tls.certificate, dir.join("certs/server.pem"));
    assert_eq!(tls.key, dir.join("certs/server.key"));
    assert_eq!(
        config.admin.address.map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:9901")
    );
    assert_eq!(config.access_log, AccessLogFormat::Text);
    assert_eq!(config.server.header_read_timeout, Duration::from_secs(10));
    assert_eq!(config.server.max_header_size, 64 * 1024);
    assert_eq!(config.server.max_headers, 100);
    assert_eq!(config.server.max_body_size, 10 * 1024 * 1024);
    assert_eq!(config.server.idle_timeout, Duration::from_secs(60));
    assert_eq!(config.server.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(config.server.log_level.as_deref(), Some("info"));
}

#[test]
fn full_example_upstream() {
    let (config, dir) = load_full_example("full-upstream");
    let upstream = &config.upstreams[0];
    assert_eq!(upstream.name, "prices");
    assert_eq!(upstream.targets.len(), 2);
    assert_eq!(upstream.targets[0].scheme, Scheme::Http);
    assert_eq!(upstream.targets[0].host, "127.0.0.1");
    assert_eq!(upstream.targets[0].port, 9001);
    assert_eq!(upstream.targets[0].weight, 2);
    assert_eq!(upstream.targets[1].weight, 1);
    let expected_key = HashKey::Header(http::HeaderName::from_static("x-user-id"));
    assert_eq!(
        upstream.load_balancing,
        LoadBalancing::ConsistentHash(expected_key)
    );
    assert_eq!(upstream.protocol, UpstreamProtocol::Http1);
    assert!(!upstream.preserve_host);
    assert_eq!(upstream.max_idle_per_target, 64);
    assert_eq!(upstream.timeouts.connect, Duration::from_secs(1));
    assert_eq!(upstream.timeouts.request, Duration::from_secs(30));
    assert_eq!(upstream.timeouts.idle, Duration::from_secs(90));
    assert_eq!(
        upstream.tls.ca.as_deref(),
        Some(dir.join("certs/ca.pem").as_path())
    );
    assert!(!upstream.tls.insecure_skip_verify);
    assert_eq!(upstream.tls.server_name.as_deref(), Some("api.internal"));
}

#[test]
fn full_example_route() {
    let (config, _) = load_full_example("full-route");
    let route = &config.routes[0];
    assert_eq!(route.name, "prices");
    assert_eq!(route.upstream, 0);
    let expected_hosts = vec![
        HostPattern::Exact("api.example.com".into()),
        HostPattern::Wildcard(".example.org".into()),
    ];
    assert_eq!(route.matcher.hosts, expected_hosts);
    assert_eq!(route.matcher.path, PathMatch::Prefix("/v1/prices".into()));
    assert_eq!(
        route.matcher.methods,
        vec![http::Method::GET, http::Method::HEAD]
    );
    assert_eq!(route.matcher.headers[0].0.as_str(), "x-canary");
    assert_eq!(route.matcher.headers[0].1, "true");
    assert_eq!(
        route.matcher.query,
        vec![("version".to_string(), "2".to_string())]
    );
    assert_eq!(route.rewrite, Some(Rewrite::StripPrefix("/v1".into())));
    assert_eq!(route.request_headers.set[0].0.as_str(), "x-gateway");
    assert_eq!(route.request_headers.set[0].1, "gatehouse");
    assert_eq!(route.request_headers.add[0].0.as_str(), "via");
    assert_eq!(route.request_headers.remove[0].as_str(), "x-internal-debug");
    assert_eq!(route.response_headers.remove[0].as_str(), "server");
    assert_eq!(route.max_body_size, Some(1024 * 1024));
}

#[test]
fn full_example_redacted_json() {
    let (config, _) = load_full_example("full-redacted_json");
    let json = gatehouse_config::redact::redacted_json(&config);
    assert_eq!(json["server"]["idle_timeout"], "1m");
    assert_eq!(json["server"]["max_body_size"], 10 * 1024 * 1024);
    assert_eq!(json["upstreams"][0]["timeouts"]["request"], "30s");
    assert_eq!(json["upstreams"][0]["hash_key"], "header:x-user-id");
    assert_eq!(json["routes"][0]["match"]["path_prefix"], "/v1/prices");
    assert_eq!(json["routes"][0]["match"]["hosts"][1], "*.example.org");
    assert_eq!(json["routes"][0]["upstream"], "prices");
    assert_eq!(json["routes"][0]["max_body_size"], 1024 * 1024);
}

#[test]
fn defaults_when_keys_absent() {
    let config = valid(&with_routes(&[
        "  - name: all",
        "    match: { path_prefix: / }",
        "    upstream: prices",
    ]));
    assert_eq!(
        config.admin.address.map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:9901")
    );
    assert_eq!(config.access_log, AccessLogFormat::Json);
    assert_eq!(config.server, gatehouse_config::model::Server::default());
    let upstream = &config.upstreams[0];
    assert_eq!(upstream.targets[0].weight, 1);
    assert_eq!(upstream.load_balancing, LoadBalancing::RoundRobin);
    assert_eq!(upstream.protocol, UpstreamProtocol::Http1);
    assert_eq!(upstream.max_idle_per_target, 128);
    assert_eq!(
        upstream.timeouts,
        gatehouse_config::model::UpstreamTimeouts::default()
    );
    assert_eq!(config.routes[0].rewrite, None);
    assert_eq!(config.routes[0].max_body_size, None);
}

#[test]
fn empty_upstreams_and_routes_valid() {
    let config = valid(&yaml(&[
        "listeners:",
        "  - name: public",
        "    address: \"0.0.0.0:8080\"",
        "upstreams: []",
        "routes: []",
    ]));
    assert!(config.upstreams.is_empty());
    assert!(config.routes.is_empty());
}

#[test]
fn example_file_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gatehouse.yaml");
    let config = load_file(&path).unwrap_or_else(|diagnostics| panic!("rejected:\n{diagnostics}"));
    assert_eq!(config.listeners[0].address.to_string(), "0.0.0.0:8080");
    assert_eq!(
        config.admin.address.map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:9901")
    );
    assert_eq!(config.upstreams.len(), 2);
    assert_eq!(config.upstreams[0].targets.len(), 2);
    assert_eq!(config.upstreams[1].protocol, UpstreamProtocol::H2c);
    assert!(!config.routes.is_empty());
}

#[test]
fn yaml_syntax_error_located() {
    let diagnostic = single(&yaml(&[
        "listeners:",
        "  - name: \"public",
        "    address: x",
    ]));
    assert_eq!(diagnostic.line, 2);
    assert_eq!(diagnostic.column, 11);
    assert_eq!(diagnostic.path, "");
    assert!(
        diagnostic.message.starts_with("invalid YAML:"),
        "{diagnostic}"
    );
    assert!(help(&diagnostic).contains("quotes"));
}

#[test]
fn yaml_tab_indent_explained() {
    let diagnostic = single("listeners:\n\t- name: public\n");
    assert_eq!(diagnostic.line, 2);
    assert!(help(&diagnostic).contains("spaces"), "{diagnostic}");
}

#[test]
fn duplicate_yaml_key_reported() {
    let diagnostic = single(&yaml(&["listeners: []", "listeners: []"]));
    assert_eq!(diagnostic.line, 2);
    assert!(
        diagnostic.message.contains("duplicate key `listeners`"),
        "{diagnostic}"
    );
}

#[test]
fn empty_file_reported() {
    let diagnostic = single("# nothing here\n");
    assert_eq!(diagnostic.line, 1);
    assert!(diagnostic.message.contains("empty"), "{diagnostic}");
    assert!(help(&diagnostic).contains("listeners"));
}

#[test]
fn unknown_key_suggests_name() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices",
        "    match:",
        "      path_prefx: /v1/prices",
        "    upstream: prices",
    ]));
    assert_eq!(diagnostic.line, 11);
    assert_eq!(diagnostic.column, 7);
    assert_eq!(diagnostic.path, "routes[0].match.path_prefx");
    assert_eq!(diagnostic.message, "unknown key `path_prefx`");
    assert_eq!(help(&diagnostic), "did you mean `path_prefix`?");
}

#[test]
fn unknown_key_lists_allowed() {
    let diagnostic = single(&yaml(&[
        "listeners:",
        "  - name: public",
        "    address: \"0.0.0.0:8080\"",
        "    colour: blue",
    ]));
    assert_eq!(diagnostic.line, 4);
    assert_eq!(diagnostic.path, "listeners[0].colour");
    assert!(help(&diagnostic).contains("`address`"), "{diagnostic}");
}

#[test]
fn unknown_enum_value_suggests() {
    let all = problems(&with_base(&[
        "    load_balancing: round_robbin",
        "access_log: { format: jsn }",
    ]));
    let policy = at_path(&all, "upstreams[0].load_balancing");
    assert_eq!(policy.line, 8);
    assert_eq!(policy.column, 21);
    assert_eq!(
        policy.message,
        "unknown load balancing policy \"round_robbin\""
    );
    assert_eq!(help(policy), "did you mean `round_robin`?");
    let format = at_path(&all, "access_log.format");
    assert_eq!(help(format), "did you mean `json`?");
}

#[test]
fn string_for_list_rejected() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices",
        "    match:",
        "      path_prefix: /v1",
        "      methods: GET",
        "    upstream: prices",
    ]));
    assert_eq!(diagnostic.line, 12);
    assert_eq!(diagnostic.column, 16);
    assert_eq!(diagnostic.path, "routes[0].match.methods");
    assert_eq!(diagnostic.message, "expected a list, found \"GET\"");
    assert!(help(&diagnostic).contains("- item"));
}

#[test]
fn list_for_string_rejected() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices",
        "    match: { path_prefix: /v1 }",
        "    upstream: [prices]",
    ]));
    assert_eq!(diagnostic.line, 11);
    assert_eq!(diagnostic.path, "routes[0].upstream");
    assert_eq!(diagnostic.message, "expected a string, found a list");
}

#[test]
fn missing_key_in_flow_mapping() {
    let diagnostic = single(&with_routes(&["  - { name: prices, match: { path: /a } }"]));
    assert_eq!(diagnostic.line, 9);
    assert_eq!(diagnostic.column, 5);
    assert_eq!(diagnostic.path, "routes[0]");
}

#[test]
fn missing_required_key_reported() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices",
        "    match: { path_prefix: /v1 }",
    ]));
    assert_eq!(diagnostic.line, 9);
    assert_eq!(diagnostic.path, "routes[0]");
    assert_eq!(diagnostic.message, "missing required key `upstream`");
    assert!(help(&diagnostic).contains("upstreams"));
}

#[test]
fn duration_without_unit() {
    let diagnostic = single(&with_base(&["    timeouts:", "      connect: 5"]));
    assert_eq!(diagnostic.line, 9);
    assert_eq!(diagnostic.column, 16);
    assert_eq!(diagnostic.path, "upstreams[0].timeouts.connect");
    assert_eq!(diagnostic.message, "invalid duration \"5\": missing unit");
    assert!(help(&diagnostic).contains("250ms, 5s, 1m, 1h or 1d"));
}

#[test]
fn duration_with_words() {
    let diagnostic = single(&with_base(&["server:", "  idle_timeout: 5 seconds"]));
    assert_eq!(diagnostic.path, "server.idle_timeout");
    assert_eq!(
        diagnostic.message,
        "invalid duration \"5 seconds\": unknown unit `seconds`"
    );
    assert!(help(&diagnostic).contains("5s"));
}

#[test]
fn size_with_words() {
    let diagnostic = single(&with_base(&["server:", "  max_body_size: 10 megabytes"]));
    assert_eq!(diagnostic.line, 9);
    assert_eq!(diagnostic.path, "server.max_body_size");
    assert_eq!(
        diagnostic.message,
        "invalid size \"10 megabytes\": unknown unit `megabytes`"
    );
    assert!(help(&diagnostic).contains("10MiB"));
}

#[test]
fn size_without_unit() {
    let diagnostic = single(&with_base(&["server:", "  max_header_size: 65536"]));
    assert_eq!(diagnostic.message, "invalid size \"65536\": missing unit");
}

#[test]
fn zero_timeout_rejected() {
    let diagnostic = single(&with_base(&["server:", "  header_read_timeout: 0s"]));
    assert_eq!(diagnostic.path, "server.header_read_timeout");
    assert!(
        diagnostic.message.contains("greater than zero"),
        "{diagnostic}"
    );
    assert!(help(&diagnostic).contains("default"));
}

#[test]
fn zero_limits_rejected() {
    let all = problems(&with_base(&[
        "server:",
        "  max_headers: 0",
        "  max_header_size: 0B",
    ]));
    assert!(at_path(&all, "server.max_headers")
        .message
        .contains("greater than zero"));
    assert!(at_path(&all, "server.max_header_size")
        .message
        .contains("greater than zero"));
}

#[test]
fn duplicate_listener_names() {
    let diagnostic = single(&yaml(&[
        "listeners:",
        "  - name: public",
        "    address: \"0.0.0.0:8080\"",
        "  - name: public",
        "    address: \"0.0.0.0:8443\"",
    ]));
    assert_eq!(diagnostic.line, 4);
    assert_eq!(diagnostic.column, 11);
    assert_eq!(diagnostic.path, "listeners[1].name");
    assert_eq!(
        diagnostic.message,
        "duplicate listener name \"public\"; the first is at line 2"
    );
    assert!(help(&diagnostic).contains("unique"));
}

#[test]
fn duplicate_upstream_names() {
    let diagnostic = single(&with_base(&[
        "  - name: prices",
        "    targets:",
        "      - url: \"http://127.0.0.1:9002\"",
    ]));
    assert_eq!(diagnostic.line, 8);
    assert_eq!(diagnostic.path, "upstreams[1].name");
    assert!(
        diagnostic.message.contains("the first is at line 5"),
        "{diagnostic}"
    );
}

#[test]
fn listener_hostname_rejected() {
    let diagnostic = single(&yaml(&[
        "listeners:",
        "  - name: public",
        "    address: \"localhost:80\"",
    ]));
    assert_eq!(diagnostic.line, 3);
    assert_eq!(diagnostic.column, 14);
    assert_eq!(diagnostic.path, "listeners[0].address");
    assert!(
        diagnostic.message.contains("not an IP address"),
        "{diagnostic}"
    );
    assert!(help(&diagnostic).contains("127.0.0.1:80"));
}

#[test]
fn listener_address_forms() {
    let cases = [
        ("0.0.0.0", "missing port"),
        ("0.0.0.0:99999", "invalid port"),
        ("::1", "missing port"),
        ("nonsense", "expected an IP address and a port"),
    ];
    for (address, expected) in cases {
        let text = yaml(&[
            "listeners:",
            "  - name: public",
            &format!("    address: \"{address}\""),
        ]);
        let diagnostic = single(&text);
        assert!(
            diagnostic.message.contains(expected),
            "{address}: {diagnostic}"
        );
    }
}

#[test]
fn missing_listeners_reported() {
    let diagnostic = single("upstreams: []\n");
    assert_eq!(diagnostic.line, 1);
    assert_eq!(diagnostic.path, "listeners");
    assert_eq!(diagnostic.message, "no listeners are configured");
    assert!(help(&diagnostic).contains("0.0.0.0:8080"));
}

#[test]
fn empty_listeners_reported() {
    let diagnostic = single("listeners: []\n");
    assert_eq!(diagnostic.path, "listeners");
    assert_eq!(diagnostic.message, "the listeners list is empty");
}

#[test]
fn duplicate_listener_addresses() {
    let diagnostic = single(&yaml(&[
        "listeners:",
        "  - name: public",
        "    address: \"0.0.0.0:8080\"",
        "  - name: other",
        "    address: \"0.0.0.0:8080\"",
    ]));
    assert_eq!(diagnostic.line, 5);
    assert_eq!(diagnostic.path, "listeners[1].address");
    assert_eq!(
        diagnostic.message,
        "listener address 0.0.0.0:8080 is already used by listener \"public\" (line 2)"
    );
}

#[test]
fn wildcard_listener_overlap() {
    let diagnostic = single(&yaml(&[
        "listeners:",
        "  - name: public",
        "    address: \"0.0.0.0:8080\"",
        "  - name: local",
        "    address: \"127.0.0.1:8080\"",
    ]));
    assert_eq!(diagnostic.path, "listeners[1].address");
    assert!(diagnostic.message.contains("every address"), "{diagnostic}");
}

#[test]
fn port_zero_never_conflicts() {
    let config = valid(&yaml(&[
        "listeners:",
        "  - name: a",
        "    address: \"127.0.0.1:0\"",
        "  - name: b",
        "    address: \"127.0.0.1:0\"",
        "admin: { address: \"127.0.0.1:0\" }",
    ]));
    assert_eq!(config.listeners.len(), 2);
}

#[test]
fn admin_equals_listener_address() {
    let diagnostic = single(&yaml(&[
        "listeners:",
        "  - name: public",
        "    address: \"127.0.0.1:8080\"",
        "admin:",
        "  address: \"127.0.0.1:8080\"",
    ]));
    assert_eq!(diagnostic.line, 5);
    assert_eq!(diagnostic.path, "admin.address");
    assert!(
        diagnostic
            .message
            .contains("already used by listener \"public\" (line 2)"),
        "{diagnostic}"
    );
    assert!(help(&diagnostic).contains("enabled: false"));
}

#[test]
fn default_admin_address_conflict() {
    let diagnostic = single(&yaml(&[
        "listeners:",
        "  - name: public",
        "    address: \"0.0.0.0:9901\"",
    ]));
    assert_eq!(diagnostic.path, "listeners[0].address");
    assert!(
        diagnostic.message.contains("default admin address"),
        "{diagnostic}"
    );
}

#[test]
fn admin_disabled() {
    let config = valid(&yaml(&[
        "listeners:",
        "  - name: public",
        "    address: \"0.0.0.0:9901\"",
        "admin: { enabled: false }",
    ]));
    assert_eq!(config.admin.address, None);
}

#[test]
fn tls_file_missing() {
    let diagnostic = single(&yaml(&[
        "listeners:",
        "  - name: public",
        "    address: \"0.0.0.0:8443\"",
        "    tls:",
        "      certificate: Cargo.toml",
        "      key: does-not-exist.key",
    ]));
    assert_eq!(diagnostic.line, 6);
    assert_eq!(diagnostic.column, 12);
    assert_eq!(diagnostic.path, "listeners[0].tls.key");
    assert!(
        diagnostic.message.contains("does-not-exist.key"),
        "{diagnostic}"
    );
    assert!(help(&diagnostic).contains("current directory"));
}

#[test]
fn tls_paths_relative_to_file() {
    let dir = temp_dir("relative");
    write(&dir.join("certs/ca.pem"), "test placeholder\n");
    let path = dir.join("gatehouse.yaml");
    write(
        &path,
        &yaml(&[
            "listeners: [{ name: public, address: \"0.0.0.0:8080\" }]",
            "upstreams:",
            "  - name: secure",
            "    targets: [{ url: \"https://api.internal\" }]",
            "    tls: { ca: certs/ca.pem, verify: false }",
        ]),
    );
    let config = load_file(&path).unwrap_or_else(|diagnostics| panic!("rejected:\n{diagnostics}"));
    assert_eq!(
        config.upstreams[0].tls.ca.as_deref(),
        Some(dir.join("certs/ca.pem").as_path())
    );
    assert!(config.upstreams[0].tls.insecure_skip_verify);
}

#[test]
fn unreadable_file_one_diagnostic() {
    let path = Path::new("/nonexistent/gatehouse.yaml");
    let diagnostics = load_file(path).expect_err("missing file");
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics.0[0].file, "/nonexistent/gatehouse.yaml");
    assert_eq!(diagnostics.0[0].line, 0);
    assert!(
        diagnostics.0[0].message.contains("failed to read"),
        "{diagnostics}"
    );
}

#[test]
fn all_problems_collected() {
    let all = problems(&yaml(&[
        "listeners:",
        "  - name: public",
        "    address: \"localhost:8080\"",
        "upstreams:",
        "  - name: prices",
        "    targets:",
        "      - url: \"ftp://127.0.0.1\"",
        "        weight: 0",
        "    timeouts: { connect: 5 }",
        "routes:",
        "  - name: prices",
        "    match: { path_prefix: v1, methods: [get] }",
        "    upstream: price",
    ]));
    let paths: Vec<&str> = all
        .iter()
        .map(|diagnostic| diagnostic.path.as_str())
        .collect();
    assert_eq!(
        paths,
        vec![
            "listeners[0].address",
            "upstreams[0].targets[0].url",
            "upstreams[0].targets[0].weight",
            "upstreams[0].timeouts.connect",
            "routes[0].match.path_prefix",
            "routes[0].match.methods[0]",
            "routes[0].upstream",
        ]
    );
    assert!(all.iter().all(|diagnostic| diagnostic.help.is_some()));
}

#[test]
fn diagnostics_display_format() {
    let diagnostics =
        load_str("gatehouse.yaml", &with_base(&["        weight: 0"])).expect_err("weight 0");
    assert_eq!(
        diagnostics.to_string(),
        "gatehouse.yaml:8:17: upstreams[0].targets[0].weight: weight must be at least 1, found 0\n  \
         help: set a weight of 1 or more; to stop traffic to this target, remove it"
    );
}
