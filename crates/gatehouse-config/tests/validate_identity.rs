//! Loads YAML snippets with plans, consumers, authentication providers, route `auth` and `ip`
//! blocks and `client_ip`, and checks the model, the diagnostics and the redacted JSON.
//!
//! Tests that read secrets set environment variables named `GATEHOUSE_TEST_<TEST>_…`, so
//! tests running in parallel never share one.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use common::{at_path, help, problems, single, temp_dir, valid, with_base, write, CORP_JWT};
use gatehouse_config::keys::{format_key_hash, hash_api_key};
use gatehouse_config::model::{AuthMethod, IpNetwork, JwtKeys, Secret};
use gatehouse_config::redact::redacted_json;
use gatehouse_config::{load_file, Config};

/// `sha256:` and the SHA-256 digest of the text "test".
const TEST_KEY_HASH: &str =
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

const FULL_EXAMPLE: &str = r#"listeners:
  - name: public
    address: "0.0.0.0:8080"
upstreams:
  - name: prices
    targets:
      - url: "http://127.0.0.1:9001"
routes:
  - name: prices
    match: { path_prefix: /v1/prices }
    upstream: prices
    auth:
      methods: [api_key, "jwt:corp", "introspection:partner-idp", "jwt:internal"]
      scopes: ["prices:read"]
      claims: { tier: gold }
      consumers: { allow_tags: [partner] }
      keep_credential: true
      token_query: [access_token]
    ip:
      allow: ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]
      deny: ["10.1.2.3/32"]
  - name: status
    match: { path: /status }
    upstream: prices
plans:
  - name: free
    routes: [status]
  - name: pro
consumers:
  - id: acme
    plan: pro
    api_keys:
      - "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
      - { env: GATEHOUSE_TEST_FULL_ACME_KEY }
    tags: [partner]
  - id: "auth0|42"
    plan: free
  - id: walk-in
authentication:
  api_key:
    header: X-Client-Key
    bearer: true
    query: api_key
  jwt:
    - name: corp
      issuer: "https://idp.example.com/"
      audiences: [gatehouse]
      jwks_url: "http://127.0.0.1:9100/.well-known/jwks.json"
      algorithms: [RS256, ES256]
      consumer_claim: sub
      require_consumer: true
      forward_claims: { email: x-user-email, tier: X-User-Tier }
    - name: internal
      issuer: internal
      audiences: [gatehouse, batch]
      secrets: [{ env: GATEHOUSE_TEST_FULL_HMAC_SECRET }]
      algorithms: [HS256, HS384]
  introspection:
    - name: partner-idp
      url: "http://127.0.0.1:9200/introspect"
      client_id: gatehouse
      client_secret: { env: GATEHOUSE_TEST_FULL_CLIENT_SECRET }
      cache_ttl: 0s
client_ip:
  trusted_proxies: ["127.0.0.1/32", "::1"]
"#;

const FULL_ACME_KEY: &str = "acme-live-key-0001";
const FULL_HMAC_SECRET: &str = "internal-hmac-secret-of-48-bytes-for-hs384-use!!";
const FULL_CLIENT_SECRET: &str = "introspection-client-secret";

/// Loads `FULL_EXAMPLE` with its environment variables set.
fn load_full_example() -> Config {
    std::env::set_var("GATEHOUSE_TEST_FULL_ACME_KEY", FULL_ACME_KEY);
    std::env::set_var("GATEHOUSE_TEST_FULL_HMAC_SECRET", FULL_HMAC_SECRET);
    std::env::set_var("GATEHOUSE_TEST_FULL_CLIENT_SECRET", FULL_CLIENT_SECRET);
    valid(FULL_EXAMPLE)
}

/// `with_base` plus an `authentication` section with the JWT provider `corp` on lines 8-14,
/// so `rest` starts at line 15.
fn with_corp(rest: &[&str]) -> String {
    with_base(&[CORP_JWT, rest].concat())
}

/// `with_base` plus a route `prices` whose `auth:` key is on line 12, so `auth_lines` start
/// at line 13.
fn with_auth_route(auth_lines: &[&str]) -> String {
    let mut lines = vec![
        "routes:",
        "  - name: prices",
        "    match: { path_prefix: /v1/prices }",
        "    upstream: prices",
        "    auth:",
    ];
    lines.extend_from_slice(auth_lines);
    with_base(&lines)
}

fn network(text: &str, prefix: u8) -> IpNetwork {
    let address: IpAddr = text.parse().expect("test address");
    IpNetwork { address, prefix }
}

#[test]
fn hash_api_key_of_test() {
    assert_eq!(format_key_hash(&hash_api_key("test")), TEST_KEY_HASH);
}

#[test]
fn full_example_plans_and_consumers() {
    let config = load_full_example();
    assert_eq!(config.plans.len(), 2);
    assert_eq!(config.plans[0].name, "free");
    assert_eq!(config.plans[0].routes, Some(vec![1]));
    assert_eq!(config.plans[1].routes, None);

    let acme = &config.consumers[0];
    assert_eq!(acme.id, "acme");
    assert_eq!(acme.plan, Some(1));
    assert_eq!(format_key_hash(&acme.api_keys[0]), TEST_KEY_HASH);
    assert_eq!(acme.api_keys[1], hash_api_key(FULL_ACME_KEY));
    assert_eq!(acme.tags, vec!["partner".to_string()]);
    assert_eq!(config.consumers[1].id, "auth0|42");
    assert_eq!(config.consumers[1].plan, Some(0));
    assert_eq!(config.consumers[2].plan, None);
    assert!(config.consumers[2].api_keys.is_empty());
}

#[test]
fn full_example_api_key_settings() {
    let config = load_full_example();
    let settings = &config.authentication.api_key;
    assert_eq!(settings.header.as_str(), "x-client-key");
    assert!(settings.bearer);
    assert_eq!(settings.query.as_deref(), Some("api_key"));
}

#[test]
fn full_example_jwt_providers() {
    let config = load_full_example();
    let corp = &config.authentication.jwt[0];
    assert_eq!(corp.name, "corp");
    assert_eq!(corp.issuer, "https://idp.example.com/");
    assert_eq!(corp.audiences, vec!["gatehouse".to_string()]);
    let expected_keys = JwtKeys::Jwks {
        url: "http://127.0.0.1:9100/.well-known/jwks.json".to_string(),
        refresh: Duration::from_secs(300),
        min_refetch_interval: Duration::from_secs(30),
        timeout: Duration::from_secs(5),
    };
    assert_eq!(corp.keys, expected_keys);
    assert_eq!(
        corp.algorithms,
        vec!["RS256".to_string(), "ES256".to_string()]
    );
    assert_eq!(corp.consumer_claim.as_deref(), Some("sub"));
    assert!(corp.require_consumer);
    assert_eq!(corp.leeway, Duration::from_secs(30));
    assert!(corp.require_exp);
    let forwarded: Vec<(&str, &str)> = corp
        .forward_claims
        .iter()
        .map(|(claim, header)| (claim.as_str(), header.as_str()))
        .collect();
    assert_eq!(
        forwarded,
        vec![("email", "x-user-email"), ("tier", "x-user-tier")]
    );

    let internal = &config.authentication.jwt[1];
    let secret = Secret(FULL_HMAC_SECRET.to_string());
    assert_eq!(internal.keys, JwtKeys::Secrets(vec![secret]));
    assert_eq!(internal.consumer_claim, None);
    assert!(!internal.require_consumer);
}

#[test]
fn full_example_introspection_provider() {
    let config = load_full_example();
    let provider = &config.authentication.introspection[0];
    assert_eq!(provider.name, "partner-idp");
    assert_eq!(provider.url, "http://127.0.0.1:9200/introspect");
    assert_eq!(provider.client_id, "gatehouse");
    assert_eq!(
        provider.client_secret,
        Secret(FULL_CLIENT_SECRET.to_string())
    );
    assert_eq!(provider.cache_ttl, Duration::ZERO);
    assert_eq!(provider.timeout, Duration::from_secs(2));
    assert_eq!(provider.consumer_claim.as_deref(), Some("sub"));
    assert!(!provider.require_consumer);
}

#[test]
fn full_example_route_auth_and_ip() {
    let config = load_full_example();
    let auth = config.routes[0].auth.as_ref().expect("route auth");
    let expected_methods = vec![
        AuthMethod::ApiKey,
        AuthMethod::Jwt(0),
        AuthMethod::Introspection(0),
        AuthMethod::Jwt(1),
    ];
    assert_eq!(auth.methods, expected_methods);
    assert_eq!(auth.scopes, vec!["prices:read".to_string()]);
    assert_eq!(auth.claims, vec![("tier".to_string(), "gold".to_string())]);
    assert_eq!(auth.allow_tags, vec!["partner".to_string()]);
    assert!(auth.keep_credential);
    assert_eq!(auth.token_query, vec!["access_token".to_string()]);

    let ip = config.routes[0].ip.as_ref().expect("route ip rules");
    let allow = vec![
        network("10.0.0.0", 8),
        network("192.0.2.7", 32),
        network("2001:db8::", 32),
    ];
    assert_eq!(ip.allow, allow);
    assert_eq!(ip.deny, vec![network("10.1.2.3", 32)]);
    assert!(config.routes[1].auth.is_none());
    assert!(config.routes[1].ip.is_none());
    let proxies = vec![network("127.0.0.1", 32), network("::1", 128)];
    assert_eq!(config.client_ip.trusted_proxies, proxies);
}

#[test]
fn example_file_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gatehouse.yaml");
    let config = load_file(&path).unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    assert_eq!(config.consumers[0].id, "acme");
    assert_eq!(config.consumers[0].api_keys.len(), 1);
    let auth = config.routes[0].auth.as_ref().expect("prices route auth");
    assert_eq!(auth.methods, vec![AuthMethod::ApiKey, AuthMethod::Jwt(0)]);
}

#[test]
fn defaults_without_identity_sections() {
    let config = valid(&with_base(&[]));
    assert!(config.plans.is_empty());
    assert!(config.consumers.is_empty());
    assert_eq!(config.authentication.api_key.header.as_str(), "x-api-key");
    assert!(!config.authentication.api_key.bearer);
    assert_eq!(config.authentication.api_key.query, None);
    assert!(config.authentication.jwt.is_empty());
    assert!(config.client_ip.trusted_proxies.is_empty());
}

#[test]
fn redacted_json_hides_secrets() {
    let config = load_full_example();
    let json = redacted_json(&config);
    let text = json.to_string();
    for secret in [
        FULL_ACME_KEY,
        FULL_HMAC_SECRET,
        FULL_CLIENT_SECRET,
        TEST_KEY_HASH,
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert_eq!(json["consumers"][0]["api_keys"][0], "sha256:9f86d0…");
    assert_eq!(json["consumers"][0]["plan"], "pro");
    assert_eq!(json["plans"][0]["routes"][0], "status");
    let authentication = &json["authentication"];
    assert_eq!(
        authentication["introspection"][0]["client_secret"],
        "<redacted>"
    );
    assert_eq!(authentication["jwt"][1]["keys"]["secrets"][0], "<redacted>");
    assert_eq!(authentication["jwt"][0]["keys"]["jwks_refresh"], "5m");
    assert_eq!(json["routes"][0]["auth"]["methods"][1], "jwt:corp");
    assert_eq!(
        json["routes"][0]["auth"]["methods"][2],
        "introspection:partner-idp"
    );
    assert_eq!(json["routes"][0]["ip"]["allow"][0], "10.0.0.0/8");
    assert_eq!(json["client_ip"]["trusted_proxies"][1], "::1/128");
}

#[test]
fn consumer_unknown_plan_suggests_close() {
    let diagnostic = single(&with_base(&[
        "plans:",
        "  - name: pro",
        "consumers:",
        "  - id: acme",
        "    plan: pros",
    ]));
    assert_eq!(diagnostic.path, "consumers[0].plan");
    assert_eq!(diagnostic.line, 12);
    assert_eq!(diagnostic.column, 11);
    assert_eq!(diagnostic.message, "consumer uses undefined plan \"pros\"");
    assert_eq!(help(&diagnostic), "did you mean `pro`?");
}

#[test]
fn plan_unknown_route_suggests_close() {
    let all = problems(&with_base(&[
        "routes:",
        "  - name: prices",
        "    match: { path_prefix: /v1/prices }",
        "    upstream: prices",
        "plans:",
        "  - name: free",
        "    routes: [prices, prics, orders]",
    ]));
    assert_eq!(all.len(), 2, "{all:?}");

    let typo = at_path(&all, "plans[0].routes[1]");
    assert_eq!(typo.line, 14);
    assert_eq!(typo.message, "plan uses undefined route \"prics\"");
    assert_eq!(help(typo), "did you mean `prices`?");

    let unknown = at_path(&all, "plans[0].routes[2]");
    assert_eq!(help(unknown), "define it under `routes`, or use `prices`");
}

#[test]
fn route_auth_unknown_methods() {
    let all = problems(&with_corp(&[
        "routes:",
        "  - name: prices",
        "    match: { path_prefix: /v1/prices }",
        "    upstream: prices",
        "    auth:",
        "      methods: [\"jwt:crp\", \"introspection:partner\", basic, api-key, jwt]",
    ]));
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(all.iter().all(|diagnostic| diagnostic.line == 20));

    let typo = at_path(&all, "routes[0].auth.methods[0]");
    assert_eq!(typo.message, "route uses undefined JWT provider \"crp\"");
    assert_eq!(help(typo), "did you mean `jwt:corp`?");

    let undefined = at_path(&all, "routes[0].auth.methods[1]");
    assert!(
        help(undefined).contains("under `authentication.introspection`"),
        "{undefined}"
    );

    let unknown_kind = at_path(&all, "routes[0].auth.methods[2]");
    assert_eq!(
        unknown_kind.message,
        "unknown authentication method \"basic\""
    );
    assert!(help(unknown_kind).contains("`jwt:NAME`"), "{unknown_kind}");

    let close_kind = at_path(&all, "routes[0].auth.methods[3]");
    assert_eq!(help(close_kind), "did you mean `api_key`?");

    let no_name = at_path(&all, "routes[0].auth.methods[4]");
    assert_eq!(no_name.message, "method `jwt` needs a provider name");
}

#[test]
fn duplicate_plan_names() {
    let diagnostic = single(&with_base(&["plans:", "  - name: pro", "  - name: pro"]));
    assert_eq!(diagnostic.path, "plans[1].name");
    assert_eq!(diagnostic.line, 10);
    assert_eq!(
        diagnostic.message,
        "duplicate plan name \"pro\"; the first is at line 9"
    );
    assert!(help(&diagnostic).contains("unique"));
}

#[test]
fn duplicate_consumer_ids() {
    let diagnostic = single(&with_base(&["consumers:", "  - id: acme", "  - id: acme"]));
    assert_eq!(diagnostic.path, "consumers[1].id");
    assert_eq!(diagnostic.line, 10);
    assert_eq!(
        diagnostic.message,
        "duplicate consumer id \"acme\"; the first is at line 9"
    );
    assert_eq!(help(&diagnostic), "give each consumer a unique id");
}

#[test]
fn duplicate_provider_names() {
    let all = problems(&with_corp(&[
        "    - name: corp",
        "      issuer: other",
        "      audiences: [gatehouse]",
        "      jwks_url: \"https://other.example.com/jwks.json\"",
        "      algorithms: [ES256]",
        "  introspection:",
        "    - name: partner",
        "      url: \"https://idp.example.com/introspect\"",
        "      client_id: gatehouse",
        "      client_secret: s3cret",
        "    - name: partner",
        "      url: \"https://idp.example.com/introspect\"",
        "      client_id: gatehouse",
        "      client_secret: s3cret",
    ]));
    assert_eq!(all.len(), 2, "{all:?}");

    let jwt = at_path(&all, "authentication.jwt[1].name");
    assert_eq!(jwt.line, 15);
    assert!(jwt.message.contains("the first is at line 10"), "{jwt}");
    assert!(help(jwt).contains("unique"));

    let introspection = at_path(&all, "authentication.introspection[1].name");
    assert_eq!(introspection.line, 25);
    assert!(
        introspection.message.contains("the first is at line 21"),
        "{introspection}"
    );
}

#[test]
fn duplicate_api_keys_point_at_first() {
    std::env::set_var("GATEHOUSE_TEST_DUPLICATE_KEY", "test");
    let first_key = format!("      - \"{TEST_KEY_HASH}\"");

    let all = problems(&with_base(&[
        "consumers:",
        "  - id: acme",
        "    api_keys:",
        &first_key,
        "      - { env: GATEHOUSE_TEST_DUPLICATE_KEY }",
        "  - id: globex",
        "    api_keys:",
        &first_key,
    ]));
    assert_eq!(all.len(), 2, "{all:?}");

    let same_consumer = at_path(&all, "consumers[0].api_keys[1]");
    assert_eq!(same_consumer.line, 12);
    assert_eq!(
        same_consumer.message,
        "consumer \"acme\" lists the same API key twice; the first is at line 11 (consumers[0].api_keys[0])"
    );
    assert!(same_consumer.help.is_some());

    let other_consumer = at_path(&all, "consumers[1].api_keys[0]");
    assert_eq!(other_consumer.line, 15);
    assert_eq!(
        other_consumer.message,
        "consumer \"globex\" has the same API key as consumer \"acme\" at line 11 (consumers[0].api_keys[0])"
    );
    assert!(help(other_consumer).contains("its own keys"));
}

#[test]
fn malformed_key_hashes() {
    let bad_digit = format!("      - \"sha256:{}\"", "z".repeat(64));
    let bare = format!("      - \"{}\"", &TEST_KEY_HASH["sha256:".len()..]);

    let all = problems(&with_base(&[
        "consumers:",
        "  - id: acme",
        "    api_keys:",
        "      - \"sha256:9f86\"",
        &bad_digit,
        "      - \"my-plain-key\"",
        &bare,
    ]));
    assert_eq!(all.len(), 4, "{all:?}");

    let short = at_path(&all, "consumers[0].api_keys[0]");
    assert_eq!(short.line, 11);
    assert!(short.message.contains("found 4 characters"), "{short}");
    assert!(help(short).contains("gatehouse hash-key"));

    let invalid = at_path(&all, "consumers[0].api_keys[1]");
    assert!(
        invalid.message.contains("invalid hexadecimal digit 'z'"),
        "{invalid}"
    );

    let plain = at_path(&all, "consumers[0].api_keys[2]");
    assert_eq!(plain.line, 13);
    assert!(!plain.to_string().contains("my-plain-key"), "{plain}");
    assert!(help(plain).contains("{ env: NAME }"));

    let no_prefix = at_path(&all, "consumers[0].api_keys[3]");
    assert_eq!(help(no_prefix), "write `sha256:` before the 64 hex digits");
}

#[test]
fn invalid_header_names() {
    let all = problems(&with_base(&[
        "authentication:",
        "  api_key:",
        "    header: \"x api key\"",
        "  jwt:",
        "    - name: corp",
        "      issuer: corp",
        "      audiences: [gatehouse]",
        "      jwks_url: \"https://idp.example.com/jwks.json\"",
        "      algorithms: [RS256]",
        "      forward_claims: { email: \"x user email\" }",
    ]));
    assert_eq!(all.len(), 2, "{all:?}");

    let api_key = at_path(&all, "authentication.api_key.header");
    assert_eq!(api_key.line, 10);
    assert_eq!(api_key.message, "invalid header name \"x api key\"");
    assert!(api_key.help.is_some());

    let forwarded = at_path(&all, "authentication.jwt[0].forward_claims.email");
    assert_eq!(forwarded.line, 17);
    assert!(forwarded.help.is_some());
}

#[test]
fn forward_claims_reject_gateway_headers() {
    let all = problems(&with_corp(&[
        "      forward_claims: { sub: x-consumer-id, plan: X-Consumer-Plan, mail: content-length }",
    ]));
    assert_eq!(all.len(), 3, "{all:?}");

    let id = at_path(&all, "authentication.jwt[0].forward_claims.sub");
    assert_eq!(id.line, 15);
    assert_eq!(
        id.message,
        "header `x-consumer-id` is set by the gateway and cannot receive a claim"
    );
    assert!(help(id).contains("x-user-email"));
    at_path(&all, "authentication.jwt[0].forward_claims.plan");
    at_path(&all, "authentication.jwt[0].forward_claims.mail");
}

#[test]
fn forward_claims_one_claim_per_header() {
    let diagnostic = single(&with_corp(&[
        "      forward_claims: { email: x-user, mail: X-User }",
    ]));
    assert_eq!(diagnostic.path, "authentication.jwt[0].forward_claims.mail");
    assert_eq!(
        diagnostic.message,
        "header `x-user` already receives claim `email` at line 15"
    );
}

#[test]
fn invalid_networks() {
    let all = problems(&with_base(&[
        "routes:",
        "  - name: prices",
        "    match: { path_prefix: /v1/prices }",
        "    upstream: prices",
        "    ip:",
        "      allow: [\"10.0.0.0/33\", \"10.0.0.1/8\"]",
        "      deny: [\"not-an-ip\"]",
        "client_ip:",
        "  trusted_proxies: [\"::ffff:127.0.0.1\"]",
    ]));
    assert_eq!(all.len(), 4, "{all:?}");

    let prefix = at_path(&all, "routes[0].ip.allow[0]");
    assert_eq!(prefix.line, 13);
    assert!(
        prefix.message.contains("invalid prefix length \"33\""),
        "{prefix}"
    );
    assert!(help(prefix).contains("0 to 32"));

    let host_bits = at_path(&all, "routes[0].ip.allow[1]");
    assert_eq!(host_bits.line, 13);
    assert!(host_bits.message.contains("host bits"), "{host_bits}");
    assert!(help(host_bits).contains("10.0.0.0/8"), "{host_bits}");

    let address = at_path(&all, "routes[0].ip.deny[0]");
    assert_eq!(address.line, 14);
    assert!(address.help.is_some());

    let mapped = at_path(&all, "client_ip.trusted_proxies[0]");
    assert_eq!(mapped.line, 16);
    assert_eq!(help(mapped), "write it in IPv4 form: 127.0.0.1");
}

#[test]
fn algorithm_list_problems() {
    let provider = |name: &'static str, algorithms: &'static str| {
        [
            name,
            "      issuer: corp",
            "      audiences: [gatehouse]",
            "      jwks_url: \"https://idp.example.com/jwks.json\"",
            algorithms,
        ]
    };
    let mut lines = vec!["authentication:", "  jwt:"];
    lines.extend(provider(
        "    - name: mixed",
        "      algorithms: [RS256, HS256]",
    ));
    lines.extend(provider(
        "    - name: typo",
        "      algorithms: [rs256, ES512]",
    ));
    lines.extend(provider(
        "    - name: unsigned",
        "      algorithms: [RS256, none]",
    ));
    lines.extend(provider("    - name: empty", "      algorithms: []"));

    let all = problems(&with_base(&lines));
    assert_eq!(all.len(), 5, "{all:?}");

    let mixed = at_path(&all, "authentication.jwt[0].algorithms[1]");
    assert_eq!(mixed.line, 14);
    assert_eq!(
        mixed.message,
        "algorithms mix HMAC and public-key algorithms: `RS256` and `HS256`"
    );
    assert!(help(mixed).contains("second provider"));

    let typo = at_path(&all, "authentication.jwt[1].algorithms[0]");
    assert_eq!(typo.line, 19);
    assert_eq!(typo.message, "unsupported JWT algorithm \"rs256\"");
    assert_eq!(help(typo), "did you mean `RS256`?");

    let other_family = at_path(&all, "authentication.jwt[1].algorithms[1]");
    assert!(
        help(other_family).starts_with("write one of `HS256`"),
        "{other_family}"
    );

    let unsigned = at_path(&all, "authentication.jwt[2].algorithms[1]");
    assert_eq!(unsigned.line, 24);
    assert!(
        unsigned.message.contains("`none` is not allowed"),
        "{unsigned}"
    );
    assert!(unsigned.help.is_some());

    let empty = at_path(&all, "authentication.jwt[3].algorithms");
    assert_eq!(empty.line, 29);
    assert!(help(empty).contains("[RS256]"));
}

#[test]
fn algorithms_must_fit_key_source() {
    let all = problems(&with_base(&[
        "authentication:",
        "  jwt:",
        "    - name: hmac",
        "      issuer: corp",
        "      audiences: [gatehouse]",
        "      jwks_url: \"https://idp.example.com/jwks.json\"",
        "      algorithms: [HS256]",
        "    - name: rsa",
        "      issuer: corp",
        "      audiences: [gatehouse]",
        "      secrets: [{ env: GATEHOUSE_TEST_FIT_SECRET }]",
        "      algorithms: [RS256]",
    ]));
    assert_eq!(all.len(), 2, "{all:?}");

    let hmac = at_path(&all, "authentication.jwt[0].jwks_url");
    assert_eq!(hmac.line, 13);
    assert_eq!(
        hmac.message,
        "HMAC algorithm `HS256` cannot be verified with `jwks_url`"
    );
    assert!(help(hmac).contains("secrets"));

    let rsa = at_path(&all, "authentication.jwt[1].secrets");
    assert_eq!(rsa.line, 18);
    assert!(
        rsa.message.contains("public-key algorithm `RS256`"),
        "{rsa}"
    );
    assert!(help(rsa).contains("`jwks_url` or `keys`"));
}

#[test]
fn exactly_one_key_source() {
    let all = problems(&with_corp(&[
        "    - name: nothing",
        "      issuer: corp",
        "      audiences: [gatehouse]",
        "      algorithms: [RS256]",
        "    - name: both",
        "      issuer: corp",
        "      audiences: [gatehouse]",
        "      jwks_url: \"https://idp.example.com/jwks.json\"",
        "      keys: [certs/corp.pem]",
        "      algorithms: [RS256]",
    ]));
    assert_eq!(all.len(), 2, "{all:?}");

    let none = at_path(&all, "authentication.jwt[1]");
    assert_eq!(none.line, 15);
    assert_eq!(
        none.message,
        "JWT provider \"nothing\" has no verification keys"
    );
    assert!(help(none).contains("exactly one of"));

    let both = at_path(&all, "authentication.jwt[2].keys");
    assert_eq!(both.line, 23);
    assert_eq!(both.message, "`jwks_url` and `keys` cannot be combined");
}

#[test]
fn endpoint_urls_checked() {
    let all = problems(&with_base(&[
        "authentication:",
        "  jwt:",
        "    - name: corp",
        "      issuer: corp",
        "      audiences: [gatehouse]",
        "      jwks_url: \"ftp://idp.example.com/jwks.json\"",
        "      algorithms: [RS256]",
        "  introspection:",
        "    - name: partner",
        "      url: \"http:///introspect\"",
        "      client_id: gatehouse",
        "      client_secret: s3cret",
    ]));
    assert_eq!(all.len(), 2, "{all:?}");

    let jwks = at_path(&all, "authentication.jwt[0].jwks_url");
    assert_eq!(jwks.line, 13);
    assert!(jwks.message.contains("unsupported scheme `ftp`"), "{jwks}");
    assert!(jwks.help.is_some());

    let introspection = at_path(&all, "authentication.introspection[0].url");
    assert_eq!(introspection.line, 17);
    assert!(
        introspection.message.contains("missing host"),
        "{introspection}"
    );
}

#[test]
fn key_files_resolved_from_config_dir() {
    let dir = temp_dir("jwt-key-files");
    write(&dir.join("certs/corp.pem"), "test placeholder\n");
    let base = with_base(&[
        "authentication:",
        "  jwt:",
        "    - name: corp",
        "      issuer: corp",
        "      audiences: [gatehouse]",
        "      keys: [certs/corp.pem, certs/missing.pem]",
        "      algorithms: [ES256]",
    ]);
    let path = dir.join("gatehouse.yaml");
    write(&path, &base);
    let diagnostics = load_file(&path).expect_err("a key file is missing").0;
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let missing = &diagnostics[0];
    assert_eq!(missing.path, "authentication.jwt[0].keys[1]");
    assert_eq!(missing.line, 13);
    assert!(missing.message.contains("not found"), "{missing}");
    assert!(help(missing).contains("directory of the configuration file"));

    write(&path, &base.replace(", certs/missing.pem", ""));
    let config = load_file(&path).unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
    let expected = JwtKeys::Files(vec![dir.join("certs/corp.pem")]);
    assert_eq!(config.authentication.jwt[0].keys, expected);
}

#[test]
fn route_auth_methods_required() {
    let all = problems(&with_base(&[
        "routes:",
        "  - name: prices",
        "    match: { path_prefix: /v1/prices }",
        "    upstream: prices",
        "    auth:",
        "      methods: []",
        "  - name: status",
        "    match: { path: /status }",
        "    upstream: prices",
        "    auth:",
        "      scopes: [read]",
    ]));
    assert_eq!(all.len(), 2, "{all:?}");

    let empty = at_path(&all, "routes[0].auth.methods");
    assert_eq!(empty.line, 13);
    assert_eq!(empty.message, "route auth lists no methods");
    assert!(help(empty).contains("`api_key`"));

    let missing = at_path(&all, "routes[1].auth.methods");
    assert_eq!(missing.line, 18);
}

#[test]
fn api_key_method_without_consumer_keys() {
    let config = valid(&with_auth_route(&["      methods: [api_key]"]));
    let auth = config.routes[0].auth.as_ref().expect("route auth");
    assert_eq!(auth.methods, vec![AuthMethod::ApiKey]);
    assert!(config.consumers.is_empty());
}

#[test]
fn route_auth_value_checks() {
    let all = problems(&with_auth_route(&[
        "      methods: [api_key, api_key]",
        "      scopes: [\"prices:read prices:write\"]",
        "      token_query: [access_token]",
    ]));
    assert_eq!(all.len(), 3, "{all:?}");

    let twice = at_path(&all, "routes[0].auth.methods[1]");
    assert_eq!(twice.line, 13);
    assert!(
        twice
            .message
            .contains("listed twice; the first is at line 13"),
        "{twice}"
    );

    let scope = at_path(&all, "routes[0].auth.scopes[0]");
    assert_eq!(scope.line, 14);
    assert!(help(scope).contains("its own entry"));

    let token_query = at_path(&all, "routes[0].auth.token_query");
    assert_eq!(token_query.line, 15);
    assert!(help(token_query).contains("authentication.api_key.query"));
}

#[test]
fn env_secret_missing_or_empty() {
    std::env::remove_var("GATEHOUSE_TEST_UNSET_SECRET");
    std::env::set_var("GATEHOUSE_TEST_EMPTY_KEY", "");

    let all = problems(&with_base(&[
        "consumers:",
        "  - id: acme",
        "    api_keys: [{ env: GATEHOUSE_TEST_EMPTY_KEY }, { env: 9LIVES }]",
        "authentication:",
        "  introspection:",
        "    - name: partner",
        "      url: \"https://idp.example.com/introspect\"",
        "      client_id: gatehouse",
        "      client_secret: { env: GATEHOUSE_TEST_UNSET_SECRET }",
    ]));
    assert_eq!(all.len(), 3, "{all:?}");

    let empty = at_path(&all, "consumers[0].api_keys[0].env");
    assert_eq!(empty.line, 10);
    assert_eq!(
        empty.message,
        "environment variable `GATEHOUSE_TEST_EMPTY_KEY` is empty"
    );
    assert!(help(empty).contains("environment"));

    let invalid_name = at_path(&all, "consumers[0].api_keys[1].env");
    assert!(
        invalid_name
            .message
            .contains("invalid environment variable name"),
        "{invalid_name}"
    );

    let unset = at_path(&all, "authentication.introspection[0].client_secret.env");
    assert_eq!(unset.line, 16);
    assert_eq!(
        unset.message,
        "environment variable `GATEHOUSE_TEST_UNSET_SECRET` is not set"
    );
    assert!(unset.help.is_some());
}

#[test]
fn hmac_secret_rules() {
    std::env::set_var("GATEHOUSE_TEST_HMAC_SHORT", "tiny-hs");

    let all = problems(&with_base(&[
        "authentication:",
        "  jwt:",
        "    - name: internal",
        "      issuer: internal",
        "      audiences: [gatehouse]",
        "      secrets: [\"plain-hmac-secret\", { env: GATEHOUSE_TEST_HMAC_SHORT }]",
        "      algorithms: [HS256, HS512]",
    ]));
    assert_eq!(all.len(), 2, "{all:?}");

    let plain = at_path(&all, "authentication.jwt[0].secrets[0]");
    assert_eq!(plain.line, 13);
    assert_eq!(plain.message, "HMAC secret is written in the file");
    assert!(!plain.to_string().contains("plain-hmac-secret"), "{plain}");
    assert!(help(plain).contains("{ env: NAME }"));

    let short = at_path(&all, "authentication.jwt[0].secrets[1].env");
    assert_eq!(
        short.message,
        "HMAC secret from environment variable `GATEHOUSE_TEST_HMAC_SHORT` is 7 bytes, but HS512 needs at least 64"
    );
    assert!(!short.to_string().contains("tiny-hs"), "{short}");
    assert!(short.help.is_some());
}

#[test]
fn jwt_settings_that_need_another_key() {
    let all = problems(&with_base(&[
        "authentication:",
        "  jwt:",
        "    - name: corp",
        "      issuer: corp",
        "      audiences: [gatehouse]",
        "      keys: [certs/corp.pem]",
        "      jwks_refresh: 1m",
        "      algorithms: [RS256]",
        "      require_consumer: true",
    ]));

    let refresh = at_path(&all, "authentication.jwt[0].jwks_refresh");
    assert_eq!(refresh.line, 14);
    assert_eq!(refresh.message, "jwks_refresh is only used with `jwks_url`");

    let require = at_path(&all, "authentication.jwt[0].require_consumer");
    assert_eq!(require.line, 16);
    assert!(help(require).contains("consumer_claim"));
}

#[test]
fn jwt_without_audiences() {
    let diagnostic = single(&with_base(&[
        "authentication:",
        "  jwt:",
        "    - name: corp",
        "      issuer: corp",
        "      jwks_url: \"https://idp.example.com/jwks.json\"",
        "      algorithms: [RS256]",
    ]));
    assert_eq!(diagnostic.path, "authentication.jwt[0].audiences");
    assert_eq!(diagnostic.line, 10);
    assert_eq!(diagnostic.message, "JWT provider \"corp\" has no audiences");
    assert!(help(&diagnostic).contains("aud"));
}

#[test]
fn secret_of_wrong_type() {
    let diagnostic = single(&with_base(&[
        "authentication:",
        "  introspection:",
        "    - name: partner",
        "      url: \"https://idp.example.com/introspect\"",
        "      client_id: gatehouse",
        "      client_secret: { file: /run/secret }",
    ]));
    assert_eq!(
        diagnostic.path,
        "authentication.introspection[0].client_secret.file"
    );
    assert_eq!(diagnostic.line, 13);
    assert_eq!(
        help(&diagnostic),
        "remove it; the keys allowed here are `env`"
    );
}

#[test]
fn consumer_id_and_tags_checked() {
    let all = problems(&with_base(&[
        "consumers:",
        "  - id: \"acme corp\"",
        "    tags: [\"\"]",
    ]));
    assert_eq!(all.len(), 2, "{all:?}");

    let id = at_path(&all, "consumers[0].id");
    assert_eq!(id.line, 9);
    assert!(id.message.contains("invalid consumer id"), "{id}");

    let tag = at_path(&all, "consumers[0].tags[0]");
    assert_eq!(tag.message, "tag name is empty");
}
