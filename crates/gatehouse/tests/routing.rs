//! Route matching end to end: precedence, prefixes, templates, hosts and path safety.

mod support;

use support::{config, get, request, send, Gatehouse, Upstream};

use bytes::Bytes;
use http_body_util::Full;

const ROUTES: &str = r#"  - name: exact-admin
    match: { path: /admin }
    upstream: backend
    request_headers: { set: { x-route: exact-admin } }
  - name: api-prefix
    match: { path_prefix: /api }
    upstream: backend
    request_headers: { set: { x-route: api-prefix } }
  - name: api-v1-prefix
    match: { path_prefix: /api/v1 }
    upstream: backend
    request_headers: { set: { x-route: api-v1-prefix } }
  - name: user-template
    match: { path_template: "/api/users/{id}" }
    upstream: backend
    rewrite: { path: "/users/{id}/profile" }
    request_headers: { set: { x-route: user-template } }
  - name: user-me
    match: { path: /api/users/me }
    upstream: backend
    request_headers: { set: { x-route: user-me } }
  - name: wildcard-host
    match: { hosts: ["*.example.org"], path_prefix: /hosted }
    upstream: backend
    request_headers: { set: { x-route: wildcard-host } }
  - name: exact-host
    match: { hosts: ["API.example.com"], path_prefix: /hosted }
    upstream: backend
    request_headers: { set: { x-route: exact-host } }
  - name: strip
    match: { path_prefix: /svc }
    upstream: backend
    rewrite: { strip_prefix: /svc }
    request_headers: { set: { x-route: strip } }
  - name: encoded
    match: { path: "/files/a%2Fb" }
    upstream: backend
    request_headers: { set: { x-route: encoded } }
  - name: post-only
    match: { path: /submit, methods: [POST] }
    upstream: backend
    request_headers: { set: { x-route: post-only } }
  - name: canary
    match: { path: /feature, headers: { x-canary: "true" }, query: { version: "2" } }
    upstream: backend
    request_headers: { set: { x-route: canary } }
  - name: feature
    match: { path: /feature }
    upstream: backend
    request_headers: { set: { x-route: feature } }
"#;

fn start() -> (Gatehouse, Upstream) {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream.url(), ROUTES));
    (gateway, upstream)
}

/// Sends `GET path` with the given Host and returns the route name the upstream saw.
fn route_for(gateway: &Gatehouse, host: &str, path: &str) -> Option<String> {
    let reply = send(
        gateway.public(),
        http::Request::get(path)
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    );
    if reply.status == 404 {
        return None;
    }
    assert_eq!(
        reply.status,
        200,
        "GET {path} with Host {host}: {}",
        reply.text()
    );
    reply.json()["headers"]["x-route"]
        .as_str()
        .map(String::from)
}

#[test]
fn precedence_and_boundaries() {
    let (gateway, upstream) = start();
    let cases = [
        ("/admin", Some("exact-admin")),
        ("/api", Some("api-prefix")),
        ("/api/x", Some("api-prefix")),
        ("/apiv2", None),
        ("/api/v1", Some("api-v1-prefix")),
        ("/api/v1/orders", Some("api-v1-prefix")),
        ("/api/v10", Some("api-prefix")),
        ("/api/users/me", Some("user-me")),
        ("/api/users/42", Some("user-template")),
        ("/api/users/42/extra", Some("api-prefix")),
        ("/nothing", None),
    ];
    for (path, expected) in cases {
        assert_eq!(
            route_for(&gateway, "example.com", path).as_deref(),
            expected,
            "path {path}"
        );
    }
    drop(upstream);
}

#[test]
fn template_capture_rewrites_path() {
    let (gateway, upstream) = start();
    let reply = get(gateway.public(), "/api/users/a%20b?x=1");
    assert_eq!(reply.status, 200);
    assert_eq!(upstream.last().uri, "/users/a%20b/profile?x=1");
}

#[test]
fn strip_prefix_keeps_query_bytes() {
    let (gateway, upstream) = start();
    assert_eq!(
        get(gateway.public(), "/svc/quotes?a=1&a=2&b=%20&c").status,
        200
    );
    assert_eq!(upstream.last().uri, "/quotes?a=1&a=2&b=%20&c");
    assert_eq!(get(gateway.public(), "/svc").status, 200);
    assert_eq!(upstream.last().uri, "/");
}

#[test]
fn host_matching_rules() {
    let (gateway, _upstream) = start();
    assert_eq!(
        route_for(&gateway, "a.example.org", "/hosted").as_deref(),
        Some("wildcard-host")
    );
    assert_eq!(
        route_for(&gateway, "a.b.example.org:8443", "/hosted").as_deref(),
        Some("wildcard-host")
    );
    assert_eq!(route_for(&gateway, "example.org", "/hosted"), None);
    assert_eq!(
        route_for(&gateway, "api.EXAMPLE.com:80", "/hosted").as_deref(),
        Some("exact-host")
    );
    assert_eq!(route_for(&gateway, "other.com", "/hosted"), None);
}

#[test]
fn method_header_and_query_filters() {
    let (gateway, _upstream) = start();
    assert_eq!(route_for(&gateway, "example.com", "/submit"), None);
    let post = send(
        gateway.public(),
        request("POST", "/submit")
            .body(Full::new(Bytes::from("x")))
            .unwrap(),
    );
    assert_eq!(post.json()["headers"]["x-route"], "post-only");

    assert_eq!(
        route_for(&gateway, "example.com", "/feature?version=2").as_deref(),
        Some("feature")
    );
    let canary = request("GET", "/feature?version=2")
        .header("x-canary", "true")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        send(gateway.public(), canary).json()["headers"]["x-route"],
        "canary"
    );
}

#[test]
fn no_route_gives_json_404() {
    let (gateway, _upstream) = start();
    let reply = get(gateway.public(), "/missing");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    assert_eq!(body["error"]["status"], 404);
    assert_eq!(body["error"]["code"], "route_not_found");
    assert_eq!(
        body["error"]["request_id"].as_str(),
        reply.header("x-request-id")
    );
}

#[test]
fn dot_segments_cannot_escape() {
    let (gateway, upstream) = start();
    let cases = [
        ("/api/../admin", Some("exact-admin")),
        ("/api/%2e%2e/admin", Some("exact-admin")),
        ("/api/%2E%2E/%2E%2E/admin", Some("exact-admin")),
        ("/svc/../../admin", Some("exact-admin")),
        ("/%61dmin", Some("exact-admin")),
        ("//admin", Some("exact-admin")),
        ("/api/./v1/x", Some("api-v1-prefix")),
    ];
    for (path, expected) in cases {
        assert_eq!(
            route_for(&gateway, "example.com", path).as_deref(),
            expected,
            "path {path}"
        );
    }
    assert_eq!(upstream.last().uri, "/api/v1/x");
}

#[test]
fn encoded_delimiters_stay_data() {
    let (gateway, upstream) = start();
    // %2F is not a separator: /api%2Fv1 is one segment, so it is neither /api nor /api/v1.
    assert_eq!(route_for(&gateway, "example.com", "/api%2Fv1/x"), None);
    assert_eq!(
        route_for(&gateway, "example.com", "/admin%2F..%2Fapi"),
        None
    );
    assert_eq!(
        route_for(&gateway, "example.com", "/admin%5C..%5Capi"),
        None
    );
    assert_eq!(
        route_for(&gateway, "example.com", "/files/a%2fb").as_deref(),
        Some("encoded")
    );
    assert_eq!(upstream.last().uri, "/files/a%2Fb");
    for path in ["/admin%3Bx", "/admin%3Fx", "/admin%23x"] {
        assert_eq!(
            route_for(&gateway, "example.com", path),
            None,
            "path {path}"
        );
    }
    assert_eq!(
        route_for(&gateway, "example.com", "/api/x%3By").as_deref(),
        Some("api-prefix")
    );
    assert_eq!(upstream.last().uri, "/api/x%3By");
}

#[test]
fn duplicate_host_rejected() {
    let (gateway, upstream) = start();
    let twice = request("GET", "/api")
        .header("host", "other.example.com")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = send(gateway.public(), twice);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["code"], "bad_request");
    assert!(upstream.requests().is_empty());
}

#[test]
fn encoded_nul_rejected() {
    let (gateway, upstream) = start();
    let before = upstream.requests().len();
    let reply = get(gateway.public(), "/api/a%00b");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["code"], "invalid_request_target");
    assert_eq!(upstream.requests().len(), before);
}
