//! Loads YAML snippets with routes and checks the diagnostics: names, upstream references,
//! match values, rewrites, and conflicts between routes.

mod common;

use common::{at_path, help, problems, single, valid, with_routes};
use gatehouse_config::model::{HostPattern, PathMatch, Rewrite};
use gatehouse_config::Diagnostics;

#[test]
fn rewrite_capture_lists_names() {
    let diagnostic = single(&with_routes(&[
        "  - name: tokens",
        "    match: { path_template: \"/v1/tokens/{symbol}\" }",
        "    upstream: prices",
        "    rewrite: { path: \"/tokens/{id}\" }",
    ]));
    assert_eq!(
        help(&diagnostic),
        "use one of the route's captures: `symbol`"
    );
}

#[test]
fn duplicate_route_names() {
    let all = problems(&with_routes(&[
        "  - name: prices",
        "    match: { path: /a }",
        "    upstream: prices",
        "  - name: prices",
        "    match: { path: /b }",
        "    upstream: prices",
    ]));
    assert_eq!(all.len(), 1, "{}", Diagnostics(all.clone()));
    assert_eq!(all[0].line, 12);
    assert_eq!(all[0].path, "routes[1].name");
    assert_eq!(
        all[0].message,
        "duplicate route name \"prices\"; the first is at line 9"
    );
}

#[test]
fn invalid_name_characters() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices api",
        "    match: { path: /a }",
        "    upstream: prices",
    ]));
    assert_eq!(diagnostic.path, "routes[0].name");
    assert!(help(&diagnostic).contains("letters, digits"));
}

#[test]
fn undefined_upstream_suggests() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices",
        "    match: { path_prefix: /v1 }",
        "    upstream: price",
    ]));
    assert_eq!(diagnostic.line, 11);
    assert_eq!(diagnostic.column, 15);
    assert_eq!(diagnostic.path, "routes[0].upstream");
    assert_eq!(
        diagnostic.message,
        "route uses undefined upstream \"price\""
    );
    assert_eq!(help(&diagnostic), "did you mean `prices`?");
}

#[test]
fn undefined_upstream_lists_names() {
    let diagnostic = single(&with_routes(&[
        "  - name: users",
        "    match: { path_prefix: /v1 }",
        "    upstream: accounts",
    ]));
    assert!(help(&diagnostic).contains("`prices`"), "{diagnostic}");
}

#[test]
fn invalid_header_name_and_value() {
    let all = problems(&with_routes(&[
        "  - name: prices",
        "    match:",
        "      path_prefix: /v1",
        "      headers: { \"x canary\": \"1\" }",
        "    upstream: prices",
        "    request_headers:",
        "      set: { x-note: \"line\\nbreak\" }",
    ]));
    let name = at_path(&all, "routes[0].match.headers.x canary");
    assert_eq!(name.line, 12);
    assert_eq!(name.message, "invalid header name \"x canary\"");
    let value = at_path(&all, "routes[0].request_headers.set.x-note");
    assert_eq!(value.line, 15);
    assert!(value.message.contains("invalid value"), "{value}");
    assert!(help(value).contains("line breaks"));
}

#[test]
fn managed_header_rejected() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices",
        "    match: { path_prefix: /v1 }",
        "    upstream: prices",
        "    response_headers:",
        "      add: { Transfer-Encoding: chunked }",
    ]));
    assert_eq!(
        diagnostic.path,
        "routes[0].response_headers.add.Transfer-Encoding"
    );
    assert!(
        diagnostic.message.contains("managed by the gateway"),
        "{diagnostic}"
    );
}

#[test]
fn invalid_methods_rejected() {
    let all = problems(&with_routes(&[
        "  - name: prices",
        "    match: { path_prefix: /v1, methods: [get, \"G T\", PURGE] }",
        "    upstream: prices",
    ]));
    assert_eq!(all.len(), 2, "{}", Diagnostics(all.clone()));
    let lower = at_path(&all, "routes[0].match.methods[0]");
    assert_eq!(lower.line, 10);
    assert_eq!(help(lower), "write `GET`");
    let spaced = at_path(&all, "routes[0].match.methods[1]");
    assert_eq!(spaced.message, "invalid method \"G T\"");
}

#[test]
fn invalid_regex_rejected() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices",
        "    match: { path_regex: \"/v1/(prices\" }",
        "    upstream: prices",
    ]));
    assert_eq!(diagnostic.line, 10);
    assert_eq!(diagnostic.path, "routes[0].match.path_regex");
    assert!(
        diagnostic.message.contains("unclosed group"),
        "{diagnostic}"
    );
    assert!(help(&diagnostic).contains("regex"));
}

#[test]
fn template_syntax_errors() {
    let cases = [
        ("/tokens/{symbol", "unclosed `{`"),
        ("/tokens/{}", "has no name"),
        ("/files/{*rest}/meta", "is not the last segment"),
        ("/pairs/{id}/{id}", "appears twice"),
        ("/files/{name}.json", "whole segment"),
        ("/tokens/symbol}", "`}` without `{`"),
        ("/tokens/{1x}", "invalid capture name"),
    ];
    for (template, expected) in cases {
        let text = with_routes(&[
            "  - name: tokens",
            &format!("    match: {{ path_template: \"{template}\" }}"),
            "    upstream: prices",
        ]);
        let diagnostic = single(&text);
        assert_eq!(
            diagnostic.path, "routes[0].match.path_template",
            "{template}"
        );
        assert!(
            diagnostic.message.contains(expected),
            "{template}: {diagnostic}"
        );
        assert!(diagnostic.help.is_some(), "{template}");
    }
}

#[test]
fn host_pattern_errors() {
    let cases = [
        ("api.example.com:8443", "cannot contain a port"),
        ("api.*.example.com", "misplaced `*`"),
        ("*example.com", "misplaced `*`"),
        ("*", "every host"),
        ("bad_host..com", "not a host name"),
    ];
    for (host, expected) in cases {
        let text = with_routes(&[
            "  - name: prices",
            &format!("    match: {{ path_prefix: /v1, hosts: [\"{host}\"] }}"),
            "    upstream: prices",
        ]);
        let diagnostic = single(&text);
        assert_eq!(diagnostic.path, "routes[0].match.hosts[0]", "{host}");
        assert!(
            diagnostic.message.contains(expected),
            "{host}: {diagnostic}"
        );
    }
}

#[test]
fn host_pattern_port_help() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices",
        "    match: { path_prefix: /v1, hosts: [\"api.example.com:8443\"] }",
        "    upstream: prices",
    ]));
    assert!(help(&diagnostic).contains("remove `:8443`"), "{diagnostic}");
}

#[test]
fn host_patterns_lowercased() {
    let config = valid(&with_routes(&[
        "  - name: prices",
        "    match: { path_prefix: /v1, hosts: [API.Example.COM, \"*.Example.org\"] }",
        "    upstream: prices",
    ]));
    let hosts = &config.routes[0].matcher.hosts;
    assert_eq!(hosts[0], HostPattern::Exact("api.example.com".into()));
    assert_eq!(hosts[1], HostPattern::Wildcard(".example.org".into()));
}

#[test]
fn path_without_slash() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices",
        "    match: { path_prefix: v1/prices }",
        "    upstream: prices",
    ]));
    assert_eq!(diagnostic.path, "routes[0].match.path_prefix");
    assert!(
        diagnostic.message.contains("must start with `/`"),
        "{diagnostic}"
    );
    assert_eq!(help(&diagnostic), "write \"/v1/prices\"");
}

#[test]
fn path_with_query_rejected() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices",
        "    match: { path: \"/v1/prices?x=1\" }",
        "    upstream: prices",
    ]));
    assert!(help(&diagnostic).contains("match.query"), "{diagnostic}");
}

#[test]
fn prefix_trailing_slash_normalized() {
    let config = valid(&with_routes(&[
        "  - name: api",
        "    match: { path_prefix: /api/ }",
        "    upstream: prices",
        "  - name: root",
        "    match: { path_prefix: / }",
        "    upstream: prices",
    ]));
    assert_eq!(
        config.routes[0].matcher.path,
        PathMatch::Prefix("/api".into())
    );
    assert_eq!(config.routes[1].matcher.path, PathMatch::Prefix("/".into()));
}

#[test]
fn path_match_missing() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices",
        "    match: { methods: [GET] }",
        "    upstream: prices",
    ]));
    assert_eq!(diagnostic.path, "routes[0].match");
    assert_eq!(diagnostic.message, "route match has no path");
    assert!(help(&diagnostic).contains("path_prefix"));
}

#[test]
fn path_match_twice() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices",
        "    match:",
        "      path: /v1",
        "      path_prefix: /v1",
        "    upstream: prices",
    ]));
    assert_eq!(diagnostic.line, 12);
    assert_eq!(diagnostic.path, "routes[0].match.path_prefix");
    assert!(
        diagnostic.message.contains("cannot be combined"),
        "{diagnostic}"
    );
}

#[test]
fn rewrite_unknown_capture() {
    let diagnostic = single(&with_routes(&[
        "  - name: tokens",
        "    match: { path_template: \"/v1/tokens/{symbol}\" }",
        "    upstream: prices",
        "    rewrite: { path: \"/tokens/{symbl}\" }",
    ]));
    assert_eq!(diagnostic.line, 12);
    assert_eq!(diagnostic.path, "routes[0].rewrite.path");
    assert!(
        diagnostic.message.contains("capture `symbl`"),
        "{diagnostic}"
    );
    assert_eq!(help(&diagnostic), "did you mean `symbol`?");
}

#[test]
fn rewrite_capture_on_prefix_route() {
    let diagnostic = single(&with_routes(&[
        "  - name: tokens",
        "    match: { path_prefix: /v1/tokens }",
        "    upstream: prices",
        "    rewrite: { path: \"/tokens/{id}\" }",
    ]));
    assert!(
        help(&diagnostic).contains("captures nothing"),
        "{diagnostic}"
    );
}

#[test]
fn rewrite_regex_captures_accepted() {
    let config = valid(&with_routes(&[
        "  - name: tokens",
        "    match: { path_regex: \"/v1/tokens/(?P<symbol>[A-Z]+)\" }",
        "    upstream: prices",
        "    rewrite: { path: \"/tokens/{symbol}.json\" }",
    ]));
    assert_eq!(
        config.routes[0].rewrite,
        Some(Rewrite::Path("/tokens/{symbol}.json".into()))
    );
}

#[test]
fn rewrite_needs_exactly_one() {
    let all = problems(&with_routes(&[
        "  - name: a",
        "    match: { path_prefix: /a }",
        "    upstream: prices",
        "    rewrite: { strip_prefix: /a, path: /b }",
        "  - name: b",
        "    match: { path_prefix: /b }",
        "    upstream: prices",
        "    rewrite: {}",
    ]));
    assert!(at_path(&all, "routes[0].rewrite.path")
        .message
        .contains("cannot be combined"));
    assert!(at_path(&all, "routes[1].rewrite")
        .message
        .contains("neither"));
}

#[test]
fn strip_prefix_not_segment_prefix() {
    let diagnostic = single(&with_routes(&[
        "  - name: prices",
        "    match: { path_prefix: /v1/prices }",
        "    upstream: prices",
        "    rewrite: { strip_prefix: /v1/pri }",
    ]));
    assert_eq!(diagnostic.line, 12);
    assert_eq!(diagnostic.path, "routes[0].rewrite.strip_prefix");
    assert!(
        diagnostic.message.contains("not a segment prefix"),
        "{diagnostic}"
    );
    assert!(help(&diagnostic).contains("\"/v1\""));
}

#[test]
fn strip_prefix_on_template() {
    let config = valid(&with_routes(&[
        "  - name: users",
        "    match: { path_template: \"/v1/users/{id}\" }",
        "    upstream: prices",
        "    rewrite: { strip_prefix: /v1/ }",
    ]));
    assert_eq!(
        config.routes[0].rewrite,
        Some(Rewrite::StripPrefix("/v1".into()))
    );
}

#[test]
fn strip_prefix_on_regex_rejected() {
    let diagnostic = single(&with_routes(&[
        "  - name: users",
        "    match: { path_regex: \"/v1/.*\" }",
        "    upstream: prices",
        "    rewrite: { strip_prefix: /v1 }",
    ]));
    assert!(help(&diagnostic).contains("rewrite.path"), "{diagnostic}");
}

#[test]
fn identical_routes_reported() {
    let diagnostic = single(&with_routes(&[
        "  - name: first",
        "    match: { path_template: \"/a/{x}\", methods: [GET, HEAD] }",
        "    upstream: prices",
        "  - name: second",
        "    match: { path_template: \"/a/{y}\", methods: [HEAD, GET] }",
        "    upstream: prices",
    ]));
    assert_eq!(diagnostic.line, 13);
    assert_eq!(diagnostic.path, "routes[1].match.path_template");
    assert_eq!(
        diagnostic.message,
        "route \"second\" has the same match as route \"first\" (line 9)"
    );
    assert!(help(&diagnostic).contains("remove one"));
}

#[test]
fn identical_prefix_after_normalizing() {
    let diagnostic = single(&with_routes(&[
        "  - name: first",
        "    match: { path_prefix: /api }",
        "    upstream: prices",
        "  - name: second",
        "    match: { path_prefix: /api/ }",
        "    upstream: prices",
    ]));
    assert!(diagnostic.message.contains("same match"), "{diagnostic}");
}

#[test]
fn shadowed_route_reported() {
    let diagnostic = single(&with_routes(&[
        "  - name: broad",
        "    match: { path_prefix: /api, headers: { x-canary: \"1\" } }",
        "    upstream: prices",
        "  - name: narrow",
        "    match:",
        "      path_prefix: /api",
        "      hosts: [api.example.com]",
        "      methods: [GET]",
        "      headers: { x-canary: \"1\", x-team: a }",
        "    upstream: prices",
    ]));
    assert_eq!(diagnostic.line, 14);
    assert_eq!(diagnostic.path, "routes[1].match.path_prefix");
    assert_eq!(
        diagnostic.message,
        "route \"narrow\" can never match: route \"broad\" (line 9) matches every request it would"
    );
    assert!(help(&diagnostic).contains("move it before route \"broad\""));
}

#[test]
fn wildcard_host_shadows_subdomain() {
    let diagnostic = single(&with_routes(&[
        "  - name: any-org",
        "    match: { path: /status, hosts: [\"*.example.org\"] }",
        "    upstream: prices",
        "  - name: api-org",
        "    match: { path: /status, hosts: [api.example.org] }",
        "    upstream: prices",
    ]));
    assert!(
        diagnostic.message.contains("can never match"),
        "{diagnostic}"
    );
}

#[test]
fn stricter_earlier_route_allowed() {
    let config = valid(&with_routes(&[
        "  - name: reads",
        "    match: { path_prefix: /api, methods: [GET] }",
        "    upstream: prices",
        "  - name: everything",
        "    match: { path_prefix: /api }",
        "    upstream: prices",
    ]));
    assert_eq!(config.routes.len(), 2);
}

#[test]
fn different_tiers_never_shadow() {
    let config = valid(&with_routes(&[
        "  - name: prefix",
        "    match: { path_prefix: /api }",
        "    upstream: prices",
        "  - name: exact",
        "    match: { path: /api }",
        "    upstream: prices",
    ]));
    assert_eq!(
        gatehouse_config::precedence::match_order(&config.routes),
        vec![1, 0]
    );
}

#[test]
fn capture_and_catch_all_conflict() {
    let diagnostic = single(&with_routes(&[
        "  - name: one",
        "    match: { path_template: \"/files/{name}\" }",
        "    upstream: prices",
        "  - name: all",
        "    match: { path_template: \"/files/{*path}\" }",
        "    upstream: prices",
    ]));
    assert_eq!(diagnostic.path, "routes[1].match.path_template");
    assert!(
        diagnostic
            .message
            .contains("conflicts with \"/files/{name}\""),
        "{diagnostic}"
    );
}

#[test]
fn catch_all_template_shadows_prefix() {
    let diagnostic = single(&with_routes(&[
        "  - name: files",
        "    match: { path_template: \"/w/{*rest}\" }",
        "    upstream: prices",
        "  - name: reports",
        "    match: { path_prefix: /w/reports }",
        "    upstream: prices",
    ]));
    assert_eq!(diagnostic.path, "routes[1].match.path_prefix");
    assert!(
        diagnostic
            .message
            .contains("route \"reports\" can never match: route \"files\""),
        "{diagnostic}"
    );
}

#[test]
fn catch_all_leaves_its_own_root() {
    let config = valid(&with_routes(&[
        "  - name: files",
        "    match: { path_template: \"/w/{*rest}\" }",
        "    upstream: prices",
        "  - name: root",
        "    match: { path_prefix: /w }",
        "    upstream: prices",
    ]));
    assert_eq!(config.routes.len(), 2);
}

#[test]
fn unnormalized_paths_rejected() {
    for (key, written, fixed) in [
        ("path", "/c/../d", "/d"),
        ("path", "/a//b", "/a/b"),
        ("path_prefix", "/%61pi", "/api"),
        ("path_template", "/a/./{id}", "/a/{id}"),
    ] {
        let diagnostic = single(&with_routes(&[
            "  - name: odd",
            &format!("    match: {{ {key}: \"{written}\" }}"),
            "    upstream: prices",
        ]));
        assert!(
            diagnostic.message.contains("can never match"),
            "{written}: {diagnostic}"
        );
        assert_eq!(help(&diagnostic), format!("write {fixed:?}"), "{written}");
    }
}
