//! Consumers, plans and authentication end to end, against a real JWKS endpoint, a real
//! introspection endpoint and an echo upstream, all on loopback.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use support::{key_hash, request, send, Gatehouse, Reply, Upstream, ADMIN};

const ISSUER: &str = "https://idp.example.com/";
const HMAC_SECRET: &str = "a-shared-secret-of-at-least-32-bytes!";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/jwt/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn encoding_key(file: &str, algorithm: Algorithm) -> EncodingKey {
    let pem = fixture(file);
    match algorithm {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem).unwrap(),
        _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
    }
}

fn jwk(file: &str, algorithm: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&encoding_key(file, algorithm), algorithm).unwrap();
    jwk.common.key_id = Some(kid.to_string());
    jwk
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(subject: &str) -> Value {
    json!({"iss": ISSUER, "aud": "gatehouse", "sub": subject, "iat": now(), "exp": now() + 300})
}

fn sign(file: &str, algorithm: Algorithm, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &encoding_key(file, algorithm)).unwrap()
}

/// A JWKS endpoint whose document, availability and request count the test controls.
struct Jwks {
    upstream: Upstream,
    document: Arc<Mutex<String>>,
    down: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
}

impl Jwks {
    fn start(keys: Vec<Jwk>) -> Jwks {
        let document = Arc::new(Mutex::new(serde_json::to_string(&JwkSet { keys }).unwrap()));
        let down = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (shared, failing, counter) = (document.clone(), down.clone(), requests.clone());
        let upstream = Upstream::start(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            let (body, status) = if failing.load(Ordering::SeqCst) {
                (String::new(), 503)
            } else {
                (shared.lock().unwrap().clone(), 200)
            };
            async move {
                Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap()
            }
        });
        Jwks {
            upstream,
            document,
            down,
            requests,
        }
    }

    fn publish(&self, keys: Vec<Jwk>) {
        *self.document.lock().unwrap() = serde_json::to_string(&JwkSet { keys }).unwrap();
    }
}

fn standard_keys() -> Vec<Jwk> {
    vec![
        jwk("rsa1.key", Algorithm::RS256, "rsa1"),
        jwk("rsa1.key", Algorithm::PS256, "rsa1-pss"),
        jwk("ec.key", Algorithm::ES256, "ec"),
        jwk("ed.key", Algorithm::EdDSA, "ed"),
    ]
}

/// An introspection endpoint: tokens starting with `active-` are active with the scope
/// after the dash, `expired-` tokens are inactive, and `down` makes it respond 500.
struct Introspection {
    upstream: Upstream,
    down: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
}

impl Introspection {
    fn start() -> Introspection {
        let down = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (failing, counter) = (down.clone(), requests.clone());
        let upstream = Upstream::start(move |received| {
            counter.fetch_add(1, Ordering::SeqCst);
            let authorized = received
                .headers
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                == Some("Basic Z2F0ZWhvdXNlOmludHJvc3BlY3Qtc2VjcmV0");
            let form = String::from_utf8_lossy(&received.body).into_owned();
            let token = form
                .split('&')
                .find_map(|pair| pair.strip_prefix("token="))
                .unwrap_or("")
                .to_string();
            let answer = match token.strip_prefix("active-") {
                Some(scope) => {
                    json!({"active": true, "scope": scope.replace("%3A", ":"), "sub": "alice", "exp": now() + 300, "tier": "gold"})
                }
                None => json!({"active": false}),
            };
            let status = if failing.load(Ordering::SeqCst) {
                500
            } else if authorized {
                200
            } else {
                401
            };
            async move {
                Response::builder()
                    .status(status)
                    .body(Full::new(Bytes::from(answer.to_string())))
                    .unwrap()
            }
        });
        Introspection {
            upstream,
            down,
            requests,
        }
    }
}

fn config(
    upstream: &Upstream,
    jwks: &Jwks,
    introspection: &Introspection,
    refetch: &str,
    trusted: &str,
) -> String {
    let acme_key = key_hash("acme-key");
    let bob_key = key_hash("bob-key");
    format!(
        r#"listeners:
  - name: public
    address: "127.0.0.1:0"
admin:
  address: "{ADMIN}"
access_log:
  format: json
client_ip:
  trusted_proxies: [{trusted}]
plans:
  - name: free
    routes: [keyed, any]
  - name: pro
consumers:
  - id: acme
    plan: pro
    api_keys: ["{acme_key}"]
    tags: [partner]
  - id: bob
    plan: free
    api_keys: ["{bob_key}"]
  - id: alice
    plan: pro
authentication:
  api_key:
    header: x-api-key
  jwt:
    - name: corp
      issuer: "{ISSUER}"
      audiences: [gatehouse]
      jwks_url: "{jwks}/jwks.json"
      jwks_min_refetch_interval: {refetch}
      algorithms: [RS256, PS256, ES256, EdDSA]
      consumer_claim: sub
      leeway: 5s
      forward_claims: {{ email: x-user-email }}
    - name: shared
      issuer: "{ISSUER}"
      audiences: [gatehouse]
      secrets: [{{ env: GATEHOUSE_TEST_HMAC }}]
      algorithms: [HS256]
  introspection:
    - name: partner
      url: "{introspection}/introspect"
      client_id: gatehouse
      client_secret: {{ env: GATEHOUSE_TEST_INTROSPECTION }}
      cache_ttl: 1s
upstreams:
  - name: backend
    targets:
      - url: "{upstream}"
routes:
  - name: keyed
    match: {{ path_prefix: /keyed }}
    upstream: backend
    auth: {{ methods: [api_key] }}
  - name: partners
    match: {{ path_prefix: /partners }}
    upstream: backend
    auth: {{ methods: [api_key], consumers: {{ allow_tags: [partner] }} }}
  - name: jwt
    match: {{ path_prefix: /jwt }}
    upstream: backend
    auth: {{ methods: ["jwt:corp"] }}
  - name: scoped
    match: {{ path_prefix: /scoped }}
    upstream: backend
    auth: {{ methods: ["jwt:corp", "introspection:partner"], scopes: ["prices:read"], claims: {{ tier: gold }} }}
  - name: hmac
    match: {{ path_prefix: /hmac }}
    upstream: backend
    auth: {{ methods: ["jwt:shared"] }}
  - name: intro
    match: {{ path_prefix: /intro }}
    upstream: backend
    auth: {{ methods: ["introspection:partner"] }}
  - name: any
    match: {{ path_prefix: /any }}
    upstream: backend
    auth: {{ methods: [api_key, "jwt:corp", "introspection:partner"] }}
  - name: query
    match: {{ path_prefix: /query }}
    upstream: backend
    auth: {{ methods: ["jwt:corp"], token_query: [access_token] }}
  - name: ip
    match: {{ path_prefix: /ip }}
    upstream: backend
    ip: {{ allow: ["10.0.0.0/8"], deny: ["10.1.2.3/32"] }}
  - name: open
    match: {{ path_prefix: /open }}
    upstream: backend
"#,
        upstream = upstream.url(),
        jwks = jwks.upstream.url(),
        introspection = introspection.upstream.url(),
    )
}

struct Setup {
    gateway: Gatehouse,
    upstream: Upstream,
    jwks: Jwks,
    introspection: Introspection,
}

fn setup_with(refetch: &str, trusted: &str) -> Setup {
    let upstream = Upstream::echo();
    let jwks = Jwks::start(standard_keys());
    let introspection = Introspection::start();
    let yaml = config(&upstream, &jwks, &introspection, refetch, trusted);
    let env = [
        ("GATEHOUSE_TEST_HMAC", HMAC_SECRET),
        ("GATEHOUSE_TEST_INTROSPECTION", "introspect-secret"),
    ];
    let gateway = Gatehouse::start_with_env(tempfile::tempdir().unwrap(), &yaml, &env);
    wait_for_jwks(&gateway, &jwks);
    Setup {
        gateway,
        upstream,
        jwks,
        introspection,
    }
}

fn setup() -> Setup {
    setup_with("30s", "")
}

/// Waits until the gateway fetched the JWKS once at start.
fn wait_for_jwks(gateway: &Gatehouse, jwks: &Jwks) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while jwks.requests.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway never fetched the JWKS"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let _ = gateway;
}

fn call(gateway: &Gatehouse, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut builder = request("GET", path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    send(
        gateway.public(),
        builder.body(Full::new(Bytes::new())).unwrap(),
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn assert_invalid_token(reply: &Reply, case: &str) {
    assert_eq!(reply.status, 401, "{case}: {}", reply.text());
    assert_eq!(reply.json()["error"]["code"], "invalid_token", "{case}");
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"gatehouse\", error=\"invalid_token\""),
        "{case}"
    );
}

#[test]
fn api_key_valid_wrong_missing() {
    let s = setup();
    let ok = call(&s.gateway, "/keyed", &[("x-api-key", "acme-key")]);
    assert_eq!(ok.status, 200);
    let received = s.upstream.last();
    assert_eq!(received.headers["x-consumer-id"], "acme");
    assert_eq!(received.headers["x-consumer-plan"], "pro");
    assert!(
        !received.headers.contains_key("x-api-key"),
        "the key reached the upstream"
    );

    let missing = call(&s.gateway, "/keyed", &[]);
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["error"]["code"], "unauthorized");
    assert_eq!(
        missing.header("www-authenticate"),
        Some("ApiKey realm=\"gatehouse\""),
        "API keys are not bearer tokens on this route"
    );

    let wrong = call(&s.gateway, "/keyed", &[("x-api-key", "acme-kez")]);
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"]["code"], "invalid_token");
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("ApiKey realm=\"gatehouse\"")
    );
    assert!(!wrong.text().contains("acme-kez"));
}

#[test]
fn api_key_revoked_by_reload() {
    let s = setup();
    assert_eq!(
        call(&s.gateway, "/keyed", &[("x-api-key", "bob-key")]).status,
        200
    );
    let yaml = std::fs::read_to_string(&s.gateway.config_path).unwrap();
    let bob_hash = key_hash("bob-key");
    std::fs::write(
        &s.gateway.config_path,
        yaml.replace(&format!("    api_keys: [\"{bob_hash}\"]\n"), ""),
    )
    .unwrap();
    let reload = s.gateway.reload();
    assert_eq!(reload.status, 200, "{}", reload.text());
    let revoked = call(&s.gateway, "/keyed", &[("x-api-key", "bob-key")]);
    assert_eq!(revoked.status, 401, "revoked key");
    assert_eq!(revoked.json()["error"]["code"], "invalid_token");
    assert_eq!(
        call(&s.gateway, "/keyed", &[("x-api-key", "acme-key")]).status,
        200
    );
}

#[test]
fn plan_and_tags_limit_routes() {
    let s = setup();
    let bob_on_partners = call(&s.gateway, "/partners", &[("x-api-key", "bob-key")]);
    assert_eq!(bob_on_partners.status, 403);
    assert_eq!(bob_on_partners.json()["error"]["code"], "route_not_in_plan");
    assert_eq!(
        call(&s.gateway, "/partners", &[("x-api-key", "acme-key")]).status,
        200
    );
    let token = sign("rsa1.key", Algorithm::RS256, "rsa1", &claims("bob"));
    let bob_jwt = call(&s.gateway, "/jwt", &[("authorization", &bearer(&token))]);
    assert_eq!(bob_jwt.status, 403, "bob's plan lacks the jwt route");
}

#[test]
fn forged_identity_headers_stripped() {
    let s = setup();
    let forged = [
        ("x-api-key", "bob-key"),
        ("x-consumer-id", "acme"),
        ("x-consumer-plan", "pro"),
        ("x-user-email", "ceo@example.com"),
    ];
    assert_eq!(call(&s.gateway, "/keyed", &forged).status, 200);
    let received = s.upstream.last();
    assert_eq!(received.headers["x-consumer-id"], "bob");
    assert_eq!(received.headers["x-consumer-plan"], "free");
    assert!(!received.headers.contains_key("x-user-email"));
    assert_eq!(call(&s.gateway, "/open", &forged[1..]).status, 200);
    let open = s.upstream.last();
    assert!(
        !open.headers.contains_key("x-consumer-id"),
        "forged header reached an open route"
    );
    assert!(!open.headers.contains_key("x-consumer-plan"));
}

#[test]
fn valid_token_per_algorithm_family() {
    let s = setup();
    let mut alice = claims("alice");
    alice["email"] = json!("alice@example.com");
    for (file, algorithm, kid) in [
        ("rsa1.key", Algorithm::RS256, "rsa1"),
        ("rsa1.key", Algorithm::PS256, "rsa1-pss"),
        ("ec.key", Algorithm::ES256, "ec"),
        ("ed.key", Algorithm::EdDSA, "ed"),
    ] {
        let token = sign(file, algorithm, kid, &alice);
        let reply = call(&s.gateway, "/jwt", &[("authorization", &bearer(&token))]);
        assert_eq!(reply.status, 200, "{algorithm:?}: {}", reply.text());
        let received = s.upstream.last();
        assert_eq!(received.headers["x-consumer-id"], "alice", "{algorithm:?}");
        assert_eq!(
            received.headers["x-user-email"], "alice@example.com",
            "{algorithm:?}"
        );
        assert!(
            !received.headers.contains_key("authorization"),
            "{algorithm:?}: the token reached the upstream"
        );
    }
    let hmac = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("alice"),
        &EncodingKey::from_secret(HMAC_SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        call(&s.gateway, "/hmac", &[("authorization", &bearer(&hmac))]).status,
        200
    );
    let mut with_kid = Header::new(Algorithm::HS256);
    with_kid.kid = Some("issuer-key-7".into());
    let secret = EncodingKey::from_secret(HMAC_SECRET.as_bytes()).unwrap();
    let hmac = jsonwebtoken::encode(&with_kid, &claims("alice"), &secret).unwrap();
    let reply = call(&s.gateway, "/hmac", &[("authorization", &bearer(&hmac))]);
    assert_eq!(reply.status, 200, "a kid must not hide keys without an id");
}

#[test]
fn jwks_down_at_start_gives_503() {
    let upstream = Upstream::echo();
    let jwks = Jwks::start(standard_keys());
    jwks.down.store(true, Ordering::SeqCst);
    let introspection = Introspection::start();
    let yaml = config(&upstream, &jwks, &introspection, "30s", "");
    let env = [
        ("GATEHOUSE_TEST_HMAC", HMAC_SECRET),
        ("GATEHOUSE_TEST_INTROSPECTION", "introspect-secret"),
    ];
    let gateway = Gatehouse::start_with_env(tempfile::tempdir().unwrap(), &yaml, &env);
    let token = sign("rsa1.key", Algorithm::RS256, "rsa1", &claims("alice"));
    let reply = call(&gateway, "/jwt", &[("authorization", &bearer(&token))]);
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], "authentication_unavailable");

    jwks.down.store(false, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while call(&gateway, "/jwt", &[("authorization", &bearer(&token))]).status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the provider did not recover within 10 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn algorithm_attacks_rejected() {
    let s = setup();
    let payload = claims("alice");
    let encode = |value: &Value| base64_url(serde_json::to_vec(value).unwrap());
    let none = format!(
        "{}.{}.",
        encode(&json!({"alg": "none", "typ": "JWT"})),
        encode(&payload)
    );
    assert_invalid_token(
        &call(&s.gateway, "/jwt", &[("authorization", &bearer(&none))]),
        "alg none",
    );

    // RS256-to-HS256 confusion: HMAC with the provider's RSA public key as the secret.
    let public_pem = fixture("rsa1.pub.pem");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa1".into());
    let confused = jsonwebtoken::encode(
        &header,
        &payload,
        &EncodingKey::from_secret(&public_pem).unwrap(),
    )
    .unwrap();
    assert_invalid_token(
        &call(&s.gateway, "/jwt", &[("authorization", &bearer(&confused))]),
        "HS256 with the public key",
    );

    let not_allowed = sign("rsa1.key", Algorithm::RS512, "rsa1", &payload);
    assert_invalid_token(
        &call(
            &s.gateway,
            "/jwt",
            &[("authorization", &bearer(&not_allowed))],
        ),
        "RS512 not allowed",
    );

    // The JWK of kid rsa1 names RS256, so the same key may not verify PS256.
    let other_alg = sign("rsa1.key", Algorithm::PS256, "rsa1", &payload);
    assert_invalid_token(
        &call(
            &s.gateway,
            "/jwt",
            &[("authorization", &bearer(&other_alg))],
        ),
        "alg other than the JWK's",
    );

    let tampered = {
        let token = sign("rsa1.key", Algorithm::RS256, "rsa1", &payload);
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = payload.clone();
        forged["sub"] = json!("acme");
        format!("{}.{}.{}", parts[0], encode(&forged), parts[2])
    };
    assert_invalid_token(
        &call(&s.gateway, "/jwt", &[("authorization", &bearer(&tampered))]),
        "tampered payload",
    );
}

fn base64_url(bytes: Vec<u8>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn time_issuer_and_audience_checked() {
    let s = setup();
    let cases: Vec<(&str, Value)> = vec![
        (
            "expired beyond leeway",
            json!({"iss": ISSUER, "aud": "gatehouse", "sub": "alice", "exp": now() - 60}),
        ),
        (
            "not yet valid",
            json!({"iss": ISSUER, "aud": "gatehouse", "sub": "alice", "exp": now() + 300, "nbf": now() + 120}),
        ),
        (
            "issued in the future",
            json!({"iss": ISSUER, "aud": "gatehouse", "sub": "alice", "exp": now() + 300, "iat": now() + 120}),
        ),
        (
            "without exp",
            json!({"iss": ISSUER, "aud": "gatehouse", "sub": "alice"}),
        ),
        (
            "wrong issuer",
            json!({"iss": "https://evil.example.com/", "aud": "gatehouse", "sub": "alice", "exp": now() + 300}),
        ),
        (
            "wrong audience",
            json!({"iss": ISSUER, "aud": "other-api", "sub": "alice", "exp": now() + 300}),
        ),
    ];
    for (case, payload) in cases {
        let token = sign("rsa1.key", Algorithm::RS256, "rsa1", &payload);
        assert_invalid_token(
            &call(&s.gateway, "/jwt", &[("authorization", &bearer(&token))]),
            case,
        );
    }
    let within_leeway =
        json!({"iss": ISSUER, "aud": "gatehouse", "sub": "alice", "exp": now() - 2});
    let token = sign("rsa1.key", Algorithm::RS256, "rsa1", &within_leeway);
    assert_eq!(
        call(&s.gateway, "/jwt", &[("authorization", &bearer(&token))]).status,
        200,
        "expired within leeway"
    );
}

#[test]
fn key_rotation_picked_up() {
    let s = setup_with("300ms", "");
    let token = sign("rsa2.key", Algorithm::RS256, "rsa2", &claims("alice"));
    assert_invalid_token(
        &call(&s.gateway, "/jwt", &[("authorization", &bearer(&token))]),
        "unknown kid",
    );
    let mut keys = standard_keys();
    keys.push(jwk("rsa2.key", Algorithm::RS256, "rsa2"));
    s.jwks.publish(keys);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        call(&s.gateway, "/jwt", &[("authorization", &bearer(&token))]).status,
        200,
        "rotated key not picked up"
    );
}

#[test]
fn jwks_down_keeps_cached_keys() {
    let s = setup_with("300ms", "");
    s.jwks.down.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(400));
    let unknown = sign("rsa2.key", Algorithm::RS256, "rsa2", &claims("alice"));
    assert_invalid_token(
        &call(&s.gateway, "/jwt", &[("authorization", &bearer(&unknown))]),
        "unknown kid while down",
    );
    let token = sign("ec.key", Algorithm::ES256, "ec", &claims("alice"));
    assert_eq!(
        call(&s.gateway, "/jwt", &[("authorization", &bearer(&token))]).status,
        200
    );
    let metrics = support::get(s.gateway.admin(), "/metrics").text();
    assert!(
        metrics.contains("gatehouse_jwks_fetches_total{provider=\"corp\",result=\"failure\"}"),
        "{metrics}"
    );
}

#[test]
fn random_kids_refetch_at_most_once() {
    let s = setup();
    let before = s.jwks.requests.load(Ordering::SeqCst);
    for index in 0..40 {
        let token = sign(
            "rsa1.key",
            Algorithm::RS256,
            &format!("random-{index}"),
            &claims("alice"),
        );
        assert_invalid_token(
            &call(&s.gateway, "/jwt", &[("authorization", &bearer(&token))]),
            "random kid",
        );
    }
    let fetched = s.jwks.requests.load(Ordering::SeqCst) - before;
    assert!(
        fetched <= 1,
        "{fetched} JWKS fetches for 40 random kids within one interval"
    );
}

#[test]
fn introspection_active_inactive_down() {
    let s = setup();
    let active = call(
        &s.gateway,
        "/intro",
        &[("authorization", "Bearer active-prices:read")],
    );
    assert_eq!(active.status, 200, "{}", active.text());
    assert_eq!(s.upstream.last().headers["x-consumer-id"], "alice");
    let inactive = call(
        &s.gateway,
        "/intro",
        &[("authorization", "Bearer expired-token")],
    );
    assert_invalid_token(&inactive, "inactive token");

    let asked = s.introspection.requests.load(Ordering::SeqCst);
    assert_eq!(
        call(
            &s.gateway,
            "/intro",
            &[("authorization", "Bearer active-prices:read")]
        )
        .status,
        200
    );
    assert_eq!(
        s.introspection.requests.load(Ordering::SeqCst),
        asked,
        "the cached answer was not used"
    );

    s.introspection.down.store(true, Ordering::SeqCst);
    let down = call(
        &s.gateway,
        "/intro",
        &[("authorization", "Bearer active-other")],
    );
    assert_eq!(down.status, 503, "{}", down.text());
    assert_eq!(down.json()["error"]["code"], "authentication_unavailable");
    std::thread::sleep(Duration::from_millis(1100));
    let after_ttl = call(
        &s.gateway,
        "/intro",
        &[("authorization", "Bearer active-prices:read")],
    );
    assert_eq!(
        after_ttl.status, 503,
        "a failing endpoint must never let a token pass"
    );
}

#[test]
fn scopes_and_claims_enforced() {
    let s = setup();
    let mut granted = claims("alice");
    granted["scope"] = json!("prices:read prices:write");
    granted["tier"] = json!("gold");
    let token = sign("rsa1.key", Algorithm::RS256, "rsa1", &granted);
    assert_eq!(
        call(&s.gateway, "/scoped", &[("authorization", &bearer(&token))]).status,
        200
    );

    let mut no_scope = granted.clone();
    no_scope["scope"] = json!("prices:write");
    let token = sign("rsa1.key", Algorithm::RS256, "rsa1", &no_scope);
    let reply = call(&s.gateway, "/scoped", &[("authorization", &bearer(&token))]);
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["error"]["code"], "insufficient_scope");
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"gatehouse\", error=\"insufficient_scope\", scope=\"prices:read\"")
    );

    let mut silver = granted.clone();
    silver["tier"] = json!("silver");
    let token = sign("rsa1.key", Algorithm::RS256, "rsa1", &silver);
    assert_eq!(
        call(&s.gateway, "/scoped", &[("authorization", &bearer(&token))]).status,
        403
    );

    assert_eq!(
        call(
            &s.gateway,
            "/scoped",
            &[("authorization", "Bearer active-prices:read")]
        )
        .status,
        200,
        "introspected scope and claim"
    );
}

#[test]
fn token_in_query_only_when_enabled() {
    let s = setup();
    let token = sign("rsa1.key", Algorithm::RS256, "rsa1", &claims("alice"));
    let ignored = call(&s.gateway, &format!("/jwt?access_token={token}"), &[]);
    assert_eq!(ignored.status, 401);
    assert_eq!(ignored.json()["error"]["code"], "unauthorized");
    let also_ignored = call(&s.gateway, &format!("/jwt?jwt={token}"), &[]);
    assert_eq!(also_ignored.status, 401);

    let accepted = call(
        &s.gateway,
        &format!("/query/x?a=1&access_token={token}&b=%20"),
        &[],
    );
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    assert_eq!(s.upstream.last().uri, "/query/x?a=1&b=%20");
}

#[test]
fn any_method_may_authenticate() {
    let s = setup();
    assert_eq!(
        call(&s.gateway, "/any", &[("x-api-key", "bob-key")]).status,
        200
    );
    let token = sign("ec.key", Algorithm::ES256, "ec", &claims("alice"));
    assert_eq!(
        call(&s.gateway, "/any", &[("authorization", &bearer(&token))]).status,
        200
    );
    assert_eq!(
        call(&s.gateway, "/any", &[("authorization", "Bearer active-x")]).status,
        200
    );
    assert_invalid_token(
        &call(&s.gateway, "/any", &[("authorization", "Bearer expired-x")]),
        "no method accepts",
    );
}

#[test]
fn ip_rules_without_trusted_proxy() {
    let s = setup();
    let denied = call(&s.gateway, "/ip", &[("x-forwarded-for", "10.0.0.1")]);
    assert_eq!(
        denied.status, 403,
        "X-Forwarded-For from an untrusted peer must be ignored"
    );
    assert_eq!(denied.json()["error"]["code"], "ip_denied");
}

#[test]
fn ip_rules_with_trusted_proxy() {
    let s = setup_with("30s", "\"127.0.0.1/32\"");
    assert_eq!(
        call(&s.gateway, "/ip", &[("x-forwarded-for", "10.0.0.1")]).status,
        200
    );
    assert_eq!(
        call(&s.gateway, "/ip", &[("x-forwarded-for", "10.1.2.3")]).status,
        403
    );
    assert_eq!(
        call(
            &s.gateway,
            "/ip",
            &[("x-forwarded-for", "10.0.0.1, 192.0.2.1")]
        )
        .status,
        403,
        "the right-most untrusted hop counts"
    );
    assert_eq!(
        call(&s.gateway, "/ip", &[]).status,
        403,
        "the proxy itself is not in the allow list"
    );
}

#[test]
fn secrets_never_logged() {
    let s = setup();
    let token = sign("rsa1.key", Algorithm::RS256, "rsa1", &claims("alice"));
    call(&s.gateway, "/keyed", &[("x-api-key", "acme-key")]);
    call(&s.gateway, "/keyed", &[("x-api-key", "wrong-secret-key")]);
    call(&s.gateway, &format!("/query?access_token={token}"), &[]);
    call(&s.gateway, "/jwt", &[("authorization", &bearer(&token))]);
    std::thread::sleep(Duration::from_millis(300));
    let stdout = s.gateway.stdout.lock().unwrap().join("\n");
    let stderr = s.gateway.stderr.lock().unwrap().join("\n");
    let metrics = support::get(s.gateway.admin(), "/metrics").text();
    let config = support::get(s.gateway.admin(), "/admin/config").text();
    for secret in [
        "acme-key",
        "wrong-secret-key",
        token.as_str(),
        HMAC_SECRET,
        "introspect-secret",
    ] {
        for (name, text) in [
            ("access log", &stdout),
            ("diagnostic log", &stderr),
            ("metrics", &metrics),
            ("admin config", &config),
        ] {
            assert!(!text.contains(secret), "{name} contains a secret");
        }
    }
    let lines = s.gateway.access_log();
    let keyed = lines
        .iter()
        .find(|line| line["path"] == "/keyed" && line["status"] == 200)
        .expect("logged");
    assert_eq!(keyed["consumer"], "acme");
    assert_eq!(keyed["auth"], "api_key");
    assert!(
        metrics.contains(
            "gatehouse_auth_total{route=\"keyed\",method=\"api_key\",result=\"success\"}"
        ),
        "{metrics}"
    );
}
