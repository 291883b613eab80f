//! Loads YAML snippets with `rate_limiting`, `rate_limits` and `quotas` and checks the model,
//! the diagnostics and the redacted JSON.

mod common;

use std::time::Duration;

use common::{at_path, help, problems, single, temp_dir, valid, with_base, write, yaml, CORP_JWT};
use gatehouse_config::load_file;
use gatehouse_config::model::{
    LimitHeaders, LimitKey, LimitStore, OnStoreError, Quota, QuotaWindow, RateLimit, RateLimiting,
};
use gatehouse_config::redact::redacted_json;

/// Rest lines for `with_base`: a route `prices` (lines 8-11) and the given lines, which
/// therefore start at line 12.
fn with_route(rest: &[&str]) -> String {
    let mut lines = vec![
        "routes:",
        "  - name: prices",
        "    match: { path_prefix: /v1/prices }",
        "    upstream: prices",
    ];
    lines.extend_from_slice(rest);
    with_base(&lines)
}

const FULL_EXAMPLE: &[&str] = &[
    "    auth: { methods: [\"jwt:corp\"] }",
    "    rate_limits:",
    "      - { key: client_ip, limit: 100, per: 1m }",
    "      - { key: route, limit: 1000, per: 1s, group: shared-pool }",
    "      - { key: \"header:X-Tenant\", limit: 50, per: 1s }",
    "      - { key: \"claim:org\", limit: 20, per: 1s, burst: 40 }",
    "rate_limiting:",
    "  store: redis",
    "  state_interval: 30s",
    "  redis:",
    "    url: \"redis://:secret@127.0.0.1:6379/0\"",
    "    timeout: 100ms",
    "    key_prefix: \"gw:prod\"",
    "  on_store_error: deny",
    "  headers: legacy",
    "plans:",
    "  - name: free",
    "    rate_limits:",
    "      - { limit: 10, per: 1s }",
    "    quotas:",
    "      - { limit: 100000, per: month }",
    "      - { limit: 5000, per: day }",
    "  - name: pro",
    "    rate_limits:",
    "      - { limit: 200, per: 1s, burst: 400 }",
    "consumers:",
    "  - id: acme",
    "    plan: pro",
    "    rate_limits:",
    "      - { limit: 500, per: 1s }",
    "    quotas:",
    "      - { limit: 1000000, per: hour }",
    "  - id: walk-in",
    "    plan: free",
];

/// The full example on a route, with the JWT provider its claim limit needs.
fn full_example() -> String {
    with_route(&[FULL_EXAMPLE, CORP_JWT].concat())
}

fn limit(key: LimitKey, limit: u64, per: Duration, burst: u64) -> RateLimit {
    RateLimit {
        key,
        limit,
        per,
        burst,
        group: None,
    }
}

#[test]
fn full_example_model() {
    let config = valid(&full_example());
    let second = Duration::from_secs(1);

    let route = &config.routes[0].rate_limits;
    assert_eq!(route.len(), 4);
    assert_eq!(
        route[0],
        limit(LimitKey::ClientIp, 100, Duration::from_secs(60), 100)
    );
    assert_eq!(route[1].key, LimitKey::Route);
    assert_eq!(route[1].group.as_deref(), Some("shared-pool"));
    assert_eq!(
        route[2].key,
        LimitKey::Header("x-tenant".parse().expect("name"))
    );
    assert_eq!(
        route[3],
        limit(LimitKey::Claim("org".into()), 20, second, 40)
    );

    let free = &config.plans[0];
    assert_eq!(
        free.rate_limits,
        vec![limit(LimitKey::Consumer, 10, second, 10)]
    );
    let monthly = Quota {
        limit: 100_000,
        per: QuotaWindow::Month,
    };
    let daily = Quota {
        limit: 5_000,
        per: QuotaWindow::Day,
    };
    assert_eq!(free.quotas, vec![monthly, daily]);
    assert_eq!(config.plans[1].rate_limits[0].burst, 400);
    assert!(config.plans[1].quotas.is_empty());

    let acme = &config.consumers[0];
    let acme_limits = vec![limit(LimitKey::Consumer, 500, second, 500)];
    assert_eq!(acme.rate_limits, Some(acme_limits));
    let hourly = Quota {
        limit: 1_000_000,
        per: QuotaWindow::Hour,
    };
    assert_eq!(acme.quotas, Some(vec![hourly]));
    assert_eq!(config.consumers[1].rate_limits, None);
    assert_eq!(config.consumers[1].quotas, None);
}

#[test]
fn full_example_settings() {
    let settings = valid(&full_example()).rate_limiting;
    assert_eq!(settings.store, LimitStore::Redis);
    assert_eq!(settings.state_file, None);
    assert_eq!(settings.state_interval, Duration::from_secs(30));
    assert_eq!(settings.on_store_error, OnStoreError::Deny);
    assert_eq!(settings.headers, LimitHeaders::Legacy);
    let redis = settings.redis.expect("redis settings");
    assert_eq!(
        redis.urls,
        vec!["redis://:secret@127.0.0.1:6379/0".to_string()]
    );
    assert_eq!(redis.timeout, Duration::from_millis(100));
    assert_eq!(redis.key_prefix, "gw:prod");
}

#[test]
fn redacted_json_hides_redis_password() {
    let json = redacted_json(&valid(&full_example()));
    let text = json.to_string();
    assert!(!text.contains("secret"), "{text}");
    let settings = &json["rate_limiting"];
    assert_eq!(
        settings["redis"]["urls"][0],
        "redis://:<redacted>@127.0.0.1:6379/0"
    );
    assert_eq!(settings["store"], "redis");
    assert_eq!(settings["headers"], "legacy");
    let route_limit = &json["routes"][0]["rate_limits"][1];
    assert_eq!(route_limit["key"], "route");
    assert_eq!(route_limit["per"], "1s");
    assert_eq!(route_limit["group"], "shared-pool");
    assert_eq!(json["plans"][0]["quotas"][0]["per"], "month");
    assert_eq!(json["consumers"][0]["rate_limits"][0]["limit"], 500);
    assert!(json["consumers"][1]["rate_limits"].is_null());
}

#[test]
fn absent_section_defaults() {
    let config = valid(&with_route(&[]));
    assert_eq!(config.rate_limiting, RateLimiting::default());
    let settings = config.rate_limiting;
    assert_eq!(settings.store, LimitStore::Memory);
    assert_eq!(settings.state_interval, Duration::from_secs(10));
    assert_eq!(settings.on_store_error, OnStoreError::Allow);
    assert_eq!(settings.headers, LimitHeaders::Draft);
    assert!(config.routes[0].rate_limits.is_empty());
}

#[test]
fn redis_defaults_and_cluster_urls() {
    let config = valid(&with_route(&[
        "rate_limiting:",
        "  store: redis",
        "  redis:",
        "    url: [\"redis://10.0.0.5:6379\", \"redis://10.0.0.6:6379\"]",
    ]));
    let redis = config.rate_limiting.redis.expect("redis settings");
    assert_eq!(redis.urls.len(), 2);
    assert_eq!(redis.urls[1], "redis://10.0.0.6:6379");
    assert_eq!(redis.timeout, Duration::from_millis(50));
    assert_eq!(redis.key_prefix, "gatehouse");
}

#[test]
fn redis_section_with_memory_store() {
    let config = valid(&with_route(&[
        "rate_limiting:",
        "  redis: { url: \"rediss://user:pw@cache.internal\" }",
    ]));
    assert_eq!(config.rate_limiting.store, LimitStore::Memory);
    assert!(config.rate_limiting.redis.is_some());
}

#[test]
fn consumer_empty_override() {
    let config = valid(&with_route(&[
        "consumers:",
        "  - id: acme",
        "    rate_limits: []",
    ]));
    assert_eq!(config.consumers[0].rate_limits, Some(Vec::new()));
}

#[test]
fn zero_limit() {
    let problem = single(&with_route(&["    rate_limits: [{ limit: 0, per: 1s }]"]));
    assert_eq!(problem.path, "routes[0].rate_limits[0].limit");
    assert_eq!(problem.line, 12);
    assert!(
        problem.message.contains("reject every request"),
        "{problem}"
    );
    assert!(help(&problem).contains("1 or more"), "{problem}");
}

#[test]
fn negative_limit() {
    let text = with_route(&[
        "    rate_limits:",
        "      - { limit: -5, per: 1s }",
        "      - { limit: 5, per: 0s }",
    ]);
    let all = problems(&text);
    assert_eq!(all.len(), 2, "{all:?}");
    let negative = at_path(&all, "routes[0].rate_limits[0].limit");
    assert_eq!(negative.line, 13);
    assert!(negative.message.contains("-5 is negative"), "{negative}");
    assert!(help(negative).contains("1 or more"), "{negative}");
    let zero_per = at_path(&all, "routes[0].rate_limits[1].per");
    assert!(zero_per.message.contains("at least 1ms"), "{zero_per}");
}

#[test]
fn burst_below_limit() {
    let problem = single(&with_route(&[
        "    rate_limits:",
        "      - { limit: 100, per: 1s, burst: 50 }",
    ]));
    assert_eq!(problem.path, "routes[0].rate_limits[0].burst");
    assert_eq!(problem.line, 13);
    assert!(
        problem
            .message
            .contains("reject requests that the limit allows"),
        "{problem}"
    );
    assert_eq!(help(&problem), "raise burst to at least 100 or remove it");
}

#[test]
fn negative_burst() {
    let problem = single(&with_route(&[
        "    rate_limits:",
        "      - { limit: 3, per: 1s, burst: -1 }",
    ]));
    assert_eq!(problem.path, "routes[0].rate_limits[0].burst");
    assert!(
        problem.message.contains("burst -1 is negative"),
        "{problem}"
    );
    assert!(help(&problem).contains("3 or more"), "{problem}");
}

#[test]
fn limit_finer_than_a_microsecond() {
    let text = with_route(&[
        "    rate_limits:",
        "      - { key: client_ip, limit: 10000000000, per: 1ms }",
        "      - { key: route, limit: 1000, per: 1ms }",
    ]);
    let problem = single(&text);
    assert_eq!(problem.path, "routes[0].rate_limits[0].limit");
    assert_eq!(problem.line, 13);
    assert!(
        problem
            .message
            .contains("more than one request per microsecond"),
        "{problem}"
    );
    assert_eq!(
        help(&problem),
        "lower limit to at most 1000 or lengthen per"
    );
}

#[test]
fn claim_key_needs_claim_authentication() {
    let claim_limit = "      - { key: \"claim:org\", limit: 20, per: 1s }";
    let api_key_only = with_route(&[
        "    auth: { methods: [api_key] }",
        "    rate_limits:",
        claim_limit,
    ]);
    let problem = single(&api_key_only);
    assert_eq!(problem.path, "routes[0].rate_limits[0].key");
    assert_eq!(problem.line, 14);
    assert!(problem.message.contains("needs claims"), "{problem}");
    assert!(help(&problem).contains("`jwt:NAME`"), "{problem}");

    let without_auth = with_route(&["    rate_limits:", claim_limit]);
    assert_eq!(single(&without_auth).path, "routes[0].rate_limits[0].key");
}

#[test]
fn rate_limit_per_day() {
    let config = valid(&with_route(&[
        "    rate_limits:",
        "      - { key: client_ip, limit: 1000, per: 1d }",
    ]));
    let limit = &config.routes[0].rate_limits[0];
    assert_eq!(limit.per, Duration::from_secs(86_400));
}

#[test]
fn invalid_rate_limit_per() {
    let text = with_route(&[
        "    rate_limits:",
        "      - { limit: 10, per: month }",
        "      - { limit: 10, per: 5 }",
    ]);
    let all = problems(&text);
    let calendar = at_path(&all, "routes[0].rate_limits[0].per");
    assert_eq!(calendar.line, 13);
    assert!(calendar.message.contains("calendar window"), "{calendar}");
    assert!(help(calendar).contains("`quotas`"), "{calendar}");
    let bare = at_path(&all, "routes[0].rate_limits[1].per");
    assert!(bare.message.contains("missing unit"), "{bare}");
}

#[test]
fn unknown_key_kind() {
    let text = with_route(&[
        "    rate_limits:",
        "      - { key: client-ip, limit: 10, per: 1s }",
        "      - { key: \"headers:x-tenant\", limit: 10, per: 1s }",
        "      - { key: tenant, limit: 10, per: 1s }",
        "      - { key: \"Header:x-client\", limit: 10, per: 1s }",
    ]);
    let all = problems(&text);
    let typo = at_path(&all, "routes[0].rate_limits[0].key");
    assert_eq!(typo.line, 13);
    assert!(typo.message.contains("unknown rate limit key"), "{typo}");
    assert_eq!(help(typo), "did you mean `client_ip`?");
    let prefix = at_path(&all, "routes[0].rate_limits[1].key");
    assert_eq!(help(prefix), "did you mean `header:x-tenant`?");
    let unknown = at_path(&all, "routes[0].rate_limits[2].key");
    assert!(help(unknown).contains("`claim:NAME`"), "{unknown}");
    let capitalized = at_path(&all, "routes[0].rate_limits[3].key");
    assert_eq!(help(capitalized), "did you mean `header:x-client`?");
}

#[test]
fn invalid_header_and_claim_keys() {
    let text = with_route(&[
        "    rate_limits:",
        "      - { key: \"header:x tenant\", limit: 10, per: 1s }",
        "      - { key: \"claim:\", limit: 10, per: 1s }",
    ]);
    let all = problems(&text);
    let header = at_path(&all, "routes[0].rate_limits[0].key");
    assert_eq!(header.line, 13);
    assert!(header.message.contains("invalid header name"), "{header}");
    assert!(help(header).contains("no spaces"), "{header}");
    let claim = at_path(&all, "routes[0].rate_limits[1].key");
    assert_eq!(claim.line, 14);
    assert!(claim.message.contains("invalid claim name"), "{claim}");
    assert!(help(claim).contains("claim:sub"), "{claim}");
}

#[test]
fn route_key_in_plan() {
    let problem = single(&with_route(&[
        "plans:",
        "  - name: free",
        "    rate_limits:",
        "      - { key: route, limit: 10, per: 1s }",
    ]));
    assert_eq!(problem.path, "plans[0].rate_limits[0].key");
    assert_eq!(problem.line, 15);
    assert!(
        problem.message.contains("not allowed in a plan"),
        "{problem}"
    );
    assert_eq!(
        help(&problem),
        "put route-wide limits under the route's `rate_limits`"
    );
}

#[test]
fn route_key_in_consumer() {
    let problem = single(&with_route(&[
        "consumers:",
        "  - id: acme",
        "    rate_limits: [{ key: route, limit: 10, per: 1s }]",
    ]));
    assert_eq!(problem.path, "consumers[0].rate_limits[0].key");
    assert_eq!(problem.line, 14);
    assert!(
        help(&problem).contains("route's `rate_limits`"),
        "{problem}"
    );
}

#[test]
fn claim_and_header_keys_in_plan() {
    let config = valid(&with_route(&[
        "plans:",
        "  - name: free",
        "    rate_limits:",
        "      - { key: \"claim:sub\", limit: 10, per: 1s }",
        "      - { key: \"header:x-tenant\", limit: 10, per: 1s }",
        "      - { key: client_ip, limit: 10, per: 1s }",
    ]));
    assert_eq!(config.plans[0].rate_limits.len(), 3);
}

#[test]
fn group_outside_route() {
    let problem = single(&with_route(&[
        "plans:",
        "  - name: free",
        "    rate_limits: [{ limit: 10, per: 1s, group: pool }]",
    ]));
    assert_eq!(problem.path, "plans[0].rate_limits[0].group");
    assert_eq!(problem.line, 14);
    assert!(
        problem.message.contains("`group` is not allowed"),
        "{problem}"
    );
    assert!(help(&problem).starts_with("remove `group`"), "{problem}");
}

#[test]
fn group_with_different_limits() {
    let text = with_base(&[
        "routes:",
        "  - name: a",
        "    match: { path_prefix: /a }",
        "    upstream: prices",
        "    rate_limits: [{ key: route, limit: 10, per: 1s, group: pool }]",
        "  - name: b",
        "    match: { path_prefix: /b }",
        "    upstream: prices",
        "    rate_limits: [{ key: route, limit: 20, per: 1s, group: pool }]",
    ]);
    let problem = single(&text);
    assert_eq!(problem.path, "routes[1].rate_limits[0]");
    assert_eq!(problem.line, 16);
    assert!(
        problem
            .message
            .contains("line 12 (routes[0].rate_limits[0])"),
        "{problem}"
    );
    assert!(help(&problem).contains("same limit and burst"), "{problem}");
}

#[test]
fn duplicate_rate_limit() {
    let problem = single(&with_route(&[
        "    rate_limits:",
        "      - { limit: 10, per: 1s }",
        "      - { key: consumer, limit: 10, per: 1s, burst: 20 }",
    ]));
    assert_eq!(problem.path, "routes[0].rate_limits[1]");
    assert_eq!(problem.line, 14);
    assert!(
        problem
            .message
            .contains("line 13 (routes[0].rate_limits[0])"),
        "{problem}"
    );
    assert_eq!(help(&problem), "remove one of them");
}

#[test]
fn duplicate_quota() {
    let problem = single(&with_route(&[
        "plans:",
        "  - name: free",
        "    quotas:",
        "      - { limit: 100, per: day }",
        "      - { limit: 100, per: day }",
    ]));
    assert_eq!(problem.path, "plans[0].quotas[1]");
    assert_eq!(problem.line, 16);
    assert!(problem.message.contains("line 15"), "{problem}");
}

#[test]
fn quota_window_typo() {
    let problem = single(&with_route(&[
        "plans:",
        "  - name: free",
        "    quotas: [{ limit: 100, per: mnth }]",
    ]));
    assert_eq!(problem.path, "plans[0].quotas[0].per");
    assert_eq!(problem.line, 14);
    assert!(
        problem.message.contains("unknown quota window"),
        "{problem}"
    );
    assert_eq!(help(&problem), "did you mean `month`?");
}

#[test]
fn quota_duration_window() {
    let problem = single(&with_route(&[
        "consumers:",
        "  - id: acme",
        "    quotas: [{ limit: 100, per: 30d }]",
    ]));
    assert_eq!(problem.path, "consumers[0].quotas[0].per");
    assert!(
        problem.message.contains("not a calendar window"),
        "{problem}"
    );
    assert!(help(&problem).contains("30d"), "{problem}");
}

#[test]
fn quota_zero_limit() {
    let problem = single(&with_route(&[
        "plans:",
        "  - name: free",
        "    quotas: [{ limit: 0, per: day }]",
    ]));
    assert_eq!(problem.path, "plans[0].quotas[0].limit");
    assert_eq!(problem.line, 14);
}

#[test]
fn missing_limit_key() {
    let problem = single(&with_route(&["    rate_limits: [{ per: 1s }]"]));
    assert!(
        problem.message.contains("missing required key `limit`"),
        "{problem}"
    );
    assert!(help(&problem).contains("number of requests"), "{problem}");
}

#[test]
fn fractional_limit_type() {
    let problem = single(&with_route(&[
        "    rate_limits: [{ limit: lots, per: 1s }]",
    ]));
    assert_eq!(problem.path, "routes[0].rate_limits[0].limit");
    assert!(
        problem.message.contains("expected a whole number"),
        "{problem}"
    );
}

#[test]
fn redis_store_without_section() {
    let problem = single(&with_route(&["rate_limiting:", "  store: redis"]));
    assert_eq!(problem.path, "rate_limiting.store");
    assert_eq!(problem.line, 13);
    assert!(
        problem.message.contains("needs a `redis` section"),
        "{problem}"
    );
    assert!(help(&problem).contains("redis://"), "{problem}");
}

#[test]
fn redis_section_without_url() {
    let problem = single(&with_route(&[
        "rate_limiting:",
        "  store: redis",
        "  redis:",
        "    timeout: 1s",
    ]));
    assert_eq!(problem.path, "rate_limiting.redis");
    assert!(problem.message.contains("no url"), "{problem}");
    assert!(help(&problem).contains("add `url:`"), "{problem}");
}

#[test]
fn state_file_with_redis() {
    let problem = single(&with_route(&[
        "rate_limiting:",
        "  store: redis",
        "  state_file: limits.state",
        "  redis: { url: \"redis://127.0.0.1\" }",
    ]));
    assert_eq!(problem.path, "rate_limiting.state_file");
    assert_eq!(problem.line, 14);
    assert!(
        problem.message.contains("Redis keeps quota counters"),
        "{problem}"
    );
    assert_eq!(help(&problem), "remove state_file, or set `store: memory`");
}

#[test]
fn unknown_setting_values() {
    let text = with_route(&[
        "rate_limiting:",
        "  store: memroy",
        "  on_store_error: alow",
        "  headers: ietf",
    ]);
    let all = problems(&text);
    assert_eq!(all.len(), 3, "{all:?}");
    let store = at_path(&all, "rate_limiting.store");
    assert_eq!(store.line, 13);
    assert_eq!(help(store), "did you mean `memory`?");
    let on_error = at_path(&all, "rate_limiting.on_store_error");
    assert_eq!(help(on_error), "did you mean `allow`?");
    let headers = at_path(&all, "rate_limiting.headers");
    assert_eq!(help(headers), "write one of `draft`, `legacy` or `off`");
}

#[test]
fn invalid_redis_urls() {
    let text = with_route(&[
        "rate_limiting:",
        "  redis:",
        "    url:",
        "      - \"http://10.0.0.5:6379\"",
        "      - \"redis://:secret@/0\"",
        "      - \"redis://10.0.0.7:6379/3\"",
        "    key_prefix: \"gw prod\"",
    ]);
    let all = problems(&text);
    let scheme = at_path(&all, "rate_limiting.redis.url[0]");
    assert_eq!(scheme.line, 15);
    assert!(
        scheme.message.contains("unsupported scheme `http`"),
        "{scheme}"
    );
    let host = at_path(&all, "rate_limiting.redis.url[1]");
    assert!(host.message.contains("missing host"), "{host}");
    assert!(!host.message.contains("secret"), "{host}");
    let database = at_path(&all, "rate_limiting.redis.url[2]");
    assert!(database.message.contains("only database 0"), "{database}");
    let prefix = at_path(&all, "rate_limiting.redis.key_prefix");
    assert!(prefix.message.contains("invalid key_prefix"), "{prefix}");
}

#[test]
fn state_file_directory_missing() {
    let problem = single(&with_route(&[
        "rate_limiting:",
        "  state_file: /nonexistent-gatehouse-dir/limits.state",
    ]));
    assert_eq!(problem.path, "rate_limiting.state_file");
    assert_eq!(problem.line, 13);
    assert!(problem.message.contains("not found"), "{problem}");
    assert!(help(&problem).contains("create the directory"), "{problem}");
}

#[test]
fn state_file_relative_to_config() {
    let dir = temp_dir("limits-state");
    let config_path = dir.join("gatehouse.yaml");
    let text = with_route(&["rate_limiting:", "  state_file: certs/limits.state"]);
    write(&config_path, &text);
    let config = load_file(&config_path).unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let state_file = config.rate_limiting.state_file.expect("state file");
    assert_eq!(state_file, dir.join("certs/limits.state"));
}

#[test]
fn unknown_limit_field() {
    let problem = single(&yaml(&[
        "listeners: [{ name: public, address: \"0.0.0.0:8080\" }]",
        "plans:",
        "  - name: free",
        "    rate_limits: [{ limit: 10, per: 1s, bursts: 20 }]",
    ]));
    assert_eq!(problem.line, 4);
    assert_eq!(help(&problem), "did you mean `burst`?");
}

#[test]
fn example_file_limits() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gatehouse.yaml");
    let config = load_file(&path).unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    assert_eq!(config.rate_limiting, RateLimiting::default());
    assert_eq!(config.routes[0].rate_limits[0].key, LimitKey::ClientIp);
    assert_eq!(config.plans[0].quotas[0].per, QuotaWindow::Month);
    let acme_limits = config.consumers[0].rate_limits.as_ref().expect("override");
    assert_eq!(acme_limits[0].limit, 500);
}
