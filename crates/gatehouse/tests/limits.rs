//! Rate limits and quotas end to end, in memory and shared through a real Redis.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use support::redis::RedisServer;
use support::{key_hash, request, send, send_h2c, Gatehouse, Reply, Upstream, ADMIN};

/// Builds a configuration with consumers `bob` and `carol` (plan free) and `acme` (plan pro,
/// own limits).
fn config(upstream: &Upstream, rate_limiting: &str, plans: &str, routes: &str) -> String {
    format!(
        r#"listeners:
  - name: public
    address: "127.0.0.1:0"
admin:
  address: "{ADMIN}"
access_log:
  format: json
rate_limiting:
{rate_limiting}
plans:
{plans}
consumers:
  - id: bob
    plan: free
    api_keys: ["{bob}"]
  - id: carol
    plan: free
    api_keys: ["{carol}"]
  - id: acme
    plan: pro
    api_keys: ["{acme}"]
    rate_limits:
      - {{ limit: 5, per: 60s }}
upstreams:
  - name: backend
    targets:
      - url: "{url}"
routes:
{routes}"#,
        bob = key_hash("bob-key"),
        carol = key_hash("carol-key"),
        acme = key_hash("acme-key"),
        url = upstream.url(),
    )
}

const PLANS: &str = "  - name: free\n    rate_limits:\n      - { limit: 3, per: 60s }\n  - name: pro\n    rate_limits:\n      - { limit: 1, per: 60s }\n";
const KEYED: &str = "  - name: keyed\n    match: { path_prefix: /keyed }\n    upstream: backend\n    auth: { methods: [api_key] }\n";

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

fn statuses(gateway: &Gatehouse, path: &str, headers: &[(&str, &str)], count: usize) -> Vec<u16> {
    (0..count)
        .map(|_| call(gateway, path, headers).status.as_u16())
        .collect()
}

#[test]
fn plan_limit_gives_429_with_draft_headers() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream, "  store: memory", PLANS, KEYED));
    let bob = [("x-api-key", "bob-key")];
    let first = call(&gateway, "/keyed", &bob);
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("ratelimit-policy"),
        Some("\"plan-0\";q=3;w=60")
    );
    assert_eq!(first.header("ratelimit"), Some("\"plan-0\";r=2;t=20"));
    assert_eq!(statuses(&gateway, "/keyed", &bob, 2), [200, 200]);

    let limited = call(&gateway, "/keyed", &bob);
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["error"]["code"], "rate_limited");
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "Retry-After {retry_after}");
    assert!(
        limited.header("ratelimit").unwrap().contains("r=0"),
        "{:?}",
        limited.header("ratelimit")
    );
    assert_eq!(
        upstream.requests().len(),
        3,
        "the limited request reached the upstream"
    );
}

#[test]
fn limit_fields_name_longest_rejection() {
    let upstream = Upstream::echo();
    let plans = "  - name: free\n    rate_limits:\n      - { limit: 2, per: 60s }\n  - name: pro\n    rate_limits:\n      - { limit: 1, per: 60s }\n";
    let route = format!("{KEYED}    rate_limits:\n      - {{ key: route, limit: 2, per: 10s }}\n");
    let gateway = Gatehouse::start(&config(&upstream, "  store: memory", plans, &route));
    let bob = [("x-api-key", "bob-key")];
    assert_eq!(statuses(&gateway, "/keyed", &bob, 2), [200, 200]);

    // Both limits reject: the route's for about 5 s, the plan's for about 30 s.
    let limited = call(&gateway, "/keyed", &bob);
    assert_eq!(limited.status, 429);
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (25..=30).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_eq!(
        limited.header("ratelimit"),
        Some(format!("\"plan-0\";r=0;t={retry_after}").as_str())
    );
}

#[test]
fn legacy_headers_when_configured() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(
        &upstream,
        "  store: memory\n  headers: legacy",
        PLANS,
        KEYED,
    ));
    let reply = call(&gateway, "/keyed", &[("x-api-key", "bob-key")]);
    assert_eq!(reply.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("2"));
    assert_eq!(reply.header("x-ratelimit-reset"), Some("20"));
    assert_eq!(reply.header("ratelimit"), None);
}

#[test]
fn consumers_never_share_limits() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream, "  store: memory", PLANS, KEYED));
    assert_eq!(
        statuses(&gateway, "/keyed", &[("x-api-key", "bob-key")], 4),
        [200, 200, 200, 429]
    );
    assert_eq!(
        statuses(&gateway, "/keyed", &[("x-api-key", "carol-key")], 4),
        [200, 200, 200, 429]
    );
    // acme's own limit (5) replaces the pro plan's (1).
    assert_eq!(
        statuses(&gateway, "/keyed", &[("x-api-key", "acme-key")], 6),
        [200, 200, 200, 200, 200, 429]
    );
}

#[test]
fn client_ip_limits_per_route_unless_grouped() {
    let upstream = Upstream::echo();
    let routes = "  - name: a\n    match: { path_prefix: /a }\n    upstream: backend\n    rate_limits:\n      - { key: client_ip, limit: 2, per: 60s }\n  - name: b\n    match: { path_prefix: /b }\n    upstream: backend\n    rate_limits:\n      - { key: client_ip, limit: 2, per: 60s }\n  - name: c\n    match: { path_prefix: /c }\n    upstream: backend\n    rate_limits:\n      - { key: client_ip, limit: 2, per: 60s, group: pool }\n  - name: d\n    match: { path_prefix: /d }\n    upstream: backend\n    rate_limits:\n      - { key: client_ip, limit: 2, per: 60s, group: pool }\n";
    let gateway = Gatehouse::start(&config(&upstream, "  store: memory", PLANS, routes));
    assert_eq!(statuses(&gateway, "/a", &[], 3), [200, 200, 429]);
    assert_eq!(
        statuses(&gateway, "/b", &[], 2),
        [200, 200],
        "route b shared route a's counter"
    );
    assert_eq!(statuses(&gateway, "/c", &[], 1), [200]);
    assert_eq!(
        statuses(&gateway, "/d", &[], 2),
        [200, 429],
        "grouped routes must share"
    );
}

#[test]
fn rotating_forwarded_for_cannot_escape() {
    let upstream = Upstream::echo();
    let routes = "  - name: a\n    match: { path_prefix: /a }\n    upstream: backend\n    rate_limits:\n      - { key: client_ip, limit: 2, per: 60s }\n";
    let gateway = Gatehouse::start(&config(&upstream, "  store: memory", PLANS, routes));
    let results: Vec<u16> = (0..4)
        .map(|index| {
            call(
                &gateway,
                "/a",
                &[("x-forwarded-for", &format!("198.51.100.{index}"))],
            )
            .status
            .as_u16()
        })
        .collect();
    assert_eq!(results, [200, 200, 429, 429]);
}

#[test]
fn header_key_counts_per_value() {
    let upstream = Upstream::echo();
    let routes = "  - name: a\n    match: { path_prefix: /a }\n    upstream: backend\n    rate_limits:\n      - { key: \"header:x-tenant\", limit: 1, per: 60s }\n";
    let gateway = Gatehouse::start(&config(&upstream, "  store: memory", PLANS, routes));
    assert_eq!(
        statuses(&gateway, "/a", &[("x-tenant", "one")], 2),
        [200, 429]
    );
    assert_eq!(statuses(&gateway, "/a", &[("x-tenant", "two")], 1), [200]);
}

#[test]
fn burst_window_never_exceeds_limit_plus_burst() {
    let upstream = Upstream::echo();
    let routes = "  - name: a\n    match: { path_prefix: /a }\n    upstream: backend\n    rate_limits:\n      - { key: route, limit: 5, per: 1s, burst: 5 }\n";
    let gateway = Gatehouse::start(&config(&upstream, "  store: memory", PLANS, routes));
    let started = Instant::now();
    let mut admitted = Vec::new();
    while started.elapsed() < Duration::from_millis(2500) {
        if call(&gateway, "/a", &[]).status == 200 {
            admitted.push(started.elapsed());
        }
    }
    for (index, start) in admitted.iter().enumerate() {
        let in_window = admitted[index..]
            .iter()
            .take_while(|time| **time < *start + Duration::from_secs(1))
            .count();
        assert!(
            in_window <= 10,
            "{in_window} requests passed within one second: {admitted:?}"
        );
    }
    assert!(
        admitted.len() >= 10,
        "only {} requests passed in 2.5 s",
        admitted.len()
    );
}

#[test]
fn rejected_requests_do_not_consume_quota() {
    let upstream = Upstream::echo();
    let plans = "  - name: free\n    rate_limits:\n      - { limit: 1, per: 60s }\n    quotas:\n      - { limit: 5, per: day }\n  - name: pro\n";
    let gateway = Gatehouse::start(&config(&upstream, "  store: memory", plans, KEYED));
    assert_eq!(
        statuses(&gateway, "/keyed", &[("x-api-key", "bob-key")], 3),
        [200, 429, 429]
    );
    let usage = support::get(gateway.admin(), "/admin/consumers/bob/usage").json();
    let quota = usage["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|limit| limit["policy"] == "quota-day")
        .expect("quota listed")
        .clone();
    assert_eq!(quota["used"], 1, "{usage}");
    assert_eq!(quota["limit"], 5);
}

#[test]
fn admin_usage_and_reset() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream, "  store: memory", PLANS, KEYED));
    assert_eq!(
        statuses(&gateway, "/keyed", &[("x-api-key", "bob-key")], 4),
        [200, 200, 200, 429]
    );
    let usage = support::get(gateway.admin(), "/admin/consumers/bob/usage").json();
    assert_eq!(usage["limits"][0]["policy"], "plan-0");
    assert_eq!(usage["limits"][0]["used"], 3);
    assert_eq!(usage["limits"][0]["remaining"], 0);
    assert!(usage["limits"][0]["reset_seconds"].as_u64().unwrap() > 0);
    let reset = send(
        gateway.admin(),
        http::Request::delete("/admin/consumers/bob/usage")
            .header("host", "admin")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    );
    assert_eq!(reset.status, 200);
    assert_eq!(
        call(&gateway, "/keyed", &[("x-api-key", "bob-key")]).status,
        200
    );
    assert_eq!(
        support::get(gateway.admin(), "/admin/consumers/nobody/usage").status,
        404
    );
}

#[test]
fn idle_local_keys_expire() {
    let upstream = Upstream::echo();
    let routes = "  - name: a\n    match: { path_prefix: /a }\n    upstream: backend\n    rate_limits:\n      - { key: \"header:x-key\", limit: 1, per: 300ms }\n";
    let gateway = Gatehouse::start(&config(&upstream, "  store: memory", PLANS, routes));
    for index in 0..30 {
        call(&gateway, "/a", &[("x-key", &format!("k{index}"))]);
    }
    let gauge = |gateway: &Gatehouse| -> u64 {
        let metrics = support::get(gateway.admin(), "/metrics").text();
        let line = metrics
            .lines()
            .find(|line| line.starts_with("gatehouse_rate_limit_local_keys "))
            .expect("gauge exported")
            .to_string();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    std::thread::sleep(Duration::from_millis(1100));
    let deadline = Instant::now() + Duration::from_secs(5);
    while gauge(&gateway) != 0 {
        assert!(
            Instant::now() < deadline,
            "idle counters were not removed: {}",
            gauge(&gateway)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn memory_quota_survives_restart() {
    let upstream = Upstream::echo();
    let plans = "  - name: free\n    quotas:\n      - { limit: 3, per: day }\n  - name: pro\n";
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("limits.state");
    let rate_limiting = format!("  store: memory\n  state_file: \"{}\"", state.display());
    let yaml = config(&upstream, &rate_limiting, plans, KEYED);
    let gateway = Gatehouse::start(&yaml);
    assert_eq!(
        statuses(&gateway, "/keyed", &[("x-api-key", "bob-key")], 2),
        [200, 200]
    );
    assert!(gateway.stop().success());
    assert!(state.exists(), "the state file was not written at shutdown");

    let restarted = Gatehouse::start(&yaml);
    assert_eq!(
        statuses(&restarted, "/keyed", &[("x-api-key", "bob-key")], 2),
        [200, 429]
    );
}

fn redis_config(
    upstream: &Upstream,
    redis: &RedisServer,
    on_error: &str,
    plans: &str,
    routes: &str,
) -> String {
    let rate_limiting = format!("  store: redis\n  redis:\n    url: \"{}\"\n    timeout: 100ms\n  on_store_error: {on_error}", redis.url());
    config(upstream, &rate_limiting, plans, routes)
}

const SHARED_ROUTE: &str = "  - name: shared\n    match: { path_prefix: /shared }\n    upstream: backend\n    rate_limits:\n      - { key: route, limit: 10, per: 60s }\n";

/// Sends 12 requests per instance to `instances` gateways sharing one Redis and returns how
/// many passed a shared limit of 10 per minute.
fn shared_admissions(instances: usize) -> usize {
    let upstream = Upstream::echo();
    let redis = RedisServer::start();
    let yaml = redis_config(&upstream, &redis, "allow", PLANS, SHARED_ROUTE);
    let gateways: Vec<Gatehouse> = (0..instances).map(|_| Gatehouse::start(&yaml)).collect();
    let mut allowed = 0;
    for round in 0..12 {
        for gateway in &gateways {
            let status = call(gateway, "/shared", &[]).status;
            assert!(
                status == 200 || status == 429,
                "round {round}: status {status}"
            );
            allowed += usize::from(status == 200);
        }
    }
    allowed
}

// The tolerance is zero: one Lua script checks and consumes atomically, and a refill (one
// every six seconds) never happens within these tests.
#[test]
fn redis_limit_shared_by_two_instances() {
    assert_eq!(shared_admissions(2), 10);
}

#[test]
fn redis_limit_shared_by_three_instances() {
    assert_eq!(shared_admissions(3), 10);
}

#[test]
fn redis_quota_survives_restart() {
    let upstream = Upstream::echo();
    let redis = RedisServer::start();
    let plans = "  - name: free\n    quotas:\n      - { limit: 3, per: month }\n  - name: pro\n";
    let yaml = redis_config(&upstream, &redis, "allow", plans, KEYED);
    let gateway = Gatehouse::start(&yaml);
    assert_eq!(
        statuses(&gateway, "/keyed", &[("x-api-key", "bob-key")], 2),
        [200, 200]
    );
    drop(gateway);
    let restarted = Gatehouse::start(&yaml);
    assert_eq!(
        statuses(&restarted, "/keyed", &[("x-api-key", "bob-key")], 2),
        [200, 429]
    );
}

#[test]
fn redis_outage_with_allow_then_recovery() {
    let upstream = Upstream::echo();
    let mut redis = RedisServer::start();
    let gateway = Gatehouse::start(&redis_config(
        &upstream,
        &redis,
        "allow",
        PLANS,
        SHARED_ROUTE,
    ));
    assert_eq!(call(&gateway, "/shared", &[]).status, 200);
    redis.stop();
    let started = Instant::now();
    let during: Vec<u16> = statuses(&gateway, "/shared", &[], 5);
    assert!(
        during.iter().all(|status| *status == 200 || *status == 429),
        "{during:?}"
    );
    assert!(
        during.contains(&200),
        "allow must let requests through: {during:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "requests stalled: {:?}",
        started.elapsed()
    );
    let metrics = support::get(gateway.admin(), "/metrics").text();
    assert!(
        metrics.contains("gatehouse_rate_limit_store_errors_total{store=\"redis\"}"),
        "{metrics}"
    );

    redis.restart();
    std::thread::sleep(Duration::from_millis(1200));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        call(&gateway, "/shared", &[]);
        if redis
            .command(&["EXISTS", "{gatehouse}:r:shared:0:all"])
            .as_deref()
            == Some(":1")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not go back to Redis"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn redis_outage_with_deny() {
    let upstream = Upstream::echo();
    let mut redis = RedisServer::start();
    let gateway = Gatehouse::start(&redis_config(
        &upstream,
        &redis,
        "deny",
        PLANS,
        SHARED_ROUTE,
    ));
    assert_eq!(call(&gateway, "/shared", &[]).status, 200);
    redis.stop();
    let started = Instant::now();
    let reply = call(&gateway, "/shared", &[]);
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], "rate_limit_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the request stalled for {:?}",
        started.elapsed()
    );
}

#[test]
fn slow_redis_never_stalls() {
    let upstream = Upstream::echo();
    let redis = RedisServer::start();
    let gateway = Gatehouse::start(&redis_config(
        &upstream,
        &redis,
        "allow",
        PLANS,
        SHARED_ROUTE,
    ));
    assert_eq!(call(&gateway, "/shared", &[]).status, 200);
    let port = redis.port;
    let blocker =
        std::thread::spawn(move || support::redis::command(port, &["DEBUG", "SLEEP", "1"]));
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let reply = call(&gateway, "/shared", &[]);
    let waited = started.elapsed();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        waited < Duration::from_millis(600),
        "the request waited {waited:?} for a slow Redis"
    );
    blocker.join().unwrap();
    let metrics = support::get(gateway.admin(), "/metrics").text();
    assert!(
        metrics.contains("gatehouse_rate_limit_store_errors_total{store=\"redis\"}"),
        "{metrics}"
    );
}

#[test]
fn claim_key_counts_per_claim_value() {
    let upstream = Upstream::echo();
    let secret = "a-shared-secret-of-at-least-32-bytes!";
    let yaml = format!(
        r#"listeners:
  - name: public
    address: "127.0.0.1:0"
admin:
  address: "{ADMIN}"
authentication:
  jwt:
    - name: shared
      issuer: "https://idp.example.com/"
      audiences: [gatehouse]
      secrets: [{{ env: GATEHOUSE_TEST_HMAC }}]
      algorithms: [HS256]
upstreams:
  - name: backend
    targets:
      - url: "{url}"
routes:
  - name: tenant
    match: {{ path_prefix: /t }}
    upstream: backend
    auth: {{ methods: ["jwt:shared"] }}
    rate_limits:
      - {{ key: "claim:tenant", limit: 2, per: 60s }}
"#,
        url = upstream.url()
    );
    let gateway = Gatehouse::start_with_env(
        tempfile::tempdir().unwrap(),
        &yaml,
        &[("GATEHOUSE_TEST_HMAC", secret)],
    );
    let token = |tenant: &str| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = serde_json::json!({"iss": "https://idp.example.com/", "aud": "gatehouse", "sub": "someone", "tenant": tenant, "exp": now + 300});
        let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap();
        format!(
            "Bearer {}",
            jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
        )
    };
    let red = token("red");
    assert_eq!(
        statuses(&gateway, "/t", &[("authorization", &red)], 3),
        [200, 200, 429]
    );
    let blue = token("blue");
    assert_eq!(
        statuses(&gateway, "/t", &[("authorization", &blue)], 1),
        [200],
        "tenants shared a counter"
    );
}

const ROUTE_LIMITED: &str = "  - name: limited\n    match: { path_prefix: /limited }\n    upstream: backend\n    rate_limits:\n      - { key: route, limit: 100, per: 1s }\n";

#[test]
fn upstream_limit_fields_are_replaced() {
    let upstream = Upstream::start(|_| async {
        http::Response::builder()
            .header("ratelimit", "\"upstream\";r=1;t=1")
            .header("ratelimit-policy", "\"upstream\";q=2;w=1")
            .header("x-request-id", "upstream-id")
            .body(Full::new(Bytes::from("ok")))
            .unwrap()
    });
    let gateway = Gatehouse::start(&config(&upstream, "  store: memory", PLANS, ROUTE_LIMITED));
    let reply = call(&gateway, "/limited", &[("x-request-id", "client-7")]);
    assert_eq!(reply.status, 200);
    let all = |name: &str| -> Vec<&str> {
        reply
            .headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect()
    };
    assert_eq!(all("ratelimit"), ["\"route-0\";r=99;t=1"]);
    assert_eq!(all("ratelimit-policy"), ["\"route-0\";q=100;w=1"]);
    assert_eq!(all("x-request-id"), ["client-7"]);
}

#[test]
fn http2_client_gets_limit_fields() {
    let upstream = Upstream::echo();
    let gateway = Gatehouse::start(&config(&upstream, "  store: memory", PLANS, ROUTE_LIMITED));
    let request = http::Request::get("http://example.com/limited")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = send_h2c(gateway.public(), request);
    assert_eq!(reply.status, 200);
    let headers = reply.headers;
    assert_eq!(headers["ratelimit"], "\"route-0\";r=99;t=1");
    assert_eq!(headers["ratelimit-policy"], "\"route-0\";q=100;w=1");
    assert_eq!(headers.get_all("x-request-id").iter().count(), 1);
}

/// Limits bob to 2 per hour, uses them up, then reloads with 2 per 10 s. The next request
/// must get a `Retry-After` of at most 5 s, and a request sent after that wait must pass.
fn check_period_shortens(rate_limiting: &str) {
    let upstream = Upstream::echo();
    let hourly = "  - name: free\n    rate_limits:\n      - { limit: 2, per: 1h }\n  - name: pro\n    rate_limits:\n      - { limit: 1, per: 60s }\n";
    let gateway = Gatehouse::start(&config(&upstream, rate_limiting, hourly, KEYED));
    let bob = [("x-api-key", "bob-key")];
    assert_eq!(statuses(&gateway, "/keyed", &bob, 3), [200, 200, 429]);

    let yaml = std::fs::read_to_string(&gateway.config_path).unwrap();
    std::fs::write(&gateway.config_path, yaml.replace("per: 1h", "per: 10s")).unwrap();
    let reload = gateway.reload();
    assert_eq!(reload.status, 200, "{}", reload.text());

    let limited = call(&gateway, "/keyed", &bob);
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.header("ratelimit-policy"),
        Some("\"plan-0\";q=2;w=10")
    );
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=5).contains(&retry_after), "Retry-After {retry_after}");

    std::thread::sleep(Duration::from_millis(retry_after * 1000 + 300));
    let retried = call(&gateway, "/keyed", &bob);
    assert_eq!(retried.status, 200, "{}", retried.text());
}

#[test]
fn shorter_period_applies_after_reload_in_memory() {
    check_period_shortens("  store: memory");
}

#[test]
fn shorter_period_applies_after_reload_in_redis() {
    let redis = RedisServer::start();
    let rate_limiting = format!(
        "  store: redis\n  redis:\n    url: \"{}\"\n    timeout: 100ms",
        redis.url()
    );
    check_period_shortens(&rate_limiting);
}
