//! JSON for plans, consumers, authentication providers, route `auth` and `ip` blocks and
//! `client_ip`. Client secrets and HMAC secrets are replaced by `"<redacted>"`, and API key
//! digests are cut to their first six hex digits.

use serde_json::{json, Value};

use super::limits::{quotas_json, rate_limits_json};
use super::REDACTED;
use crate::identity::{
    ApiKeySettings, AuthMethod, Authentication, ClientIp, Consumer, IntrospectionProvider,
    IpNetwork, IpRules, JwtKeys, JwtProvider, Plan, RouteAuth,
};
use crate::keys::short_key_hash;
use crate::model::Route;
use crate::units::format_duration;

pub(super) fn plan_json(plan: &Plan, routes: &[Route]) -> Value {
    let route_names = plan.routes.as_ref().map(|indexes| {
        indexes
            .iter()
            .filter_map(|&index| routes.get(index).map(|route| route.name.as_str()))
            .collect::<Vec<_>>()
    });
    json!({
        "name": plan.name,
        "routes": route_names,
        "rate_limits": rate_limits_json(&plan.rate_limits),
        "quotas": quotas_json(&plan.quotas),
    })
}

pub(super) fn consumer_json(consumer: &Consumer, plans: &[Plan]) -> Value {
    let plan = consumer
        .plan
        .and_then(|index| plans.get(index))
        .map(|plan| plan.name.as_str());
    json!({
        "id": consumer.id,
        "plan": plan,
        "api_keys": consumer.api_keys.iter().map(short_key_hash).collect::<Vec<_>>(),
        "tags": consumer.tags,
        "rate_limits": consumer.rate_limits.as_deref().map(rate_limits_json),
        "quotas": consumer.quotas.as_deref().map(quotas_json),
    })
}

pub(super) fn authentication_json(authentication: &Authentication) -> Value {
    json!({
        "api_key": api_key_json(&authentication.api_key),
        "jwt": authentication.jwt.iter().map(jwt_json).collect::<Vec<_>>(),
        "introspection": authentication.introspection.iter().map(introspection_json).collect::<Vec<_>>(),
    })
}

fn api_key_json(settings: &ApiKeySettings) -> Value {
    json!({
        "header": settings.header.as_str(),
        "bearer": settings.bearer,
        "query": settings.query,
    })
}

fn jwt_json(provider: &JwtProvider) -> Value {
    let forward_claims: Vec<Value> = provider
        .forward_claims
        .iter()
        .map(|(claim, header)| json!({ "claim": claim, "header": header.as_str() }))
        .collect();
    json!({
        "name": provider.name,
        "issuer": provider.issuer,
        "audiences": provider.audiences,
        "keys": jwt_keys_json(&provider.keys),
        "algorithms": provider.algorithms,
        "consumer_claim": provider.consumer_claim,
        "require_consumer": provider.require_consumer,
        "leeway": format_duration(provider.leeway),
        "require_exp": provider.require_exp,
        "forward_claims": forward_claims,
    })
}

fn jwt_keys_json(keys: &JwtKeys) -> Value {
    match keys {
        JwtKeys::Jwks {
            url,
            refresh,
            min_refetch_interval,
            timeout,
        } => json!({
            "jwks_url": super::redact_url_credentials(url),
            "jwks_refresh": format_duration(*refresh),
            "jwks_min_refetch_interval": format_duration(*min_refetch_interval),
            "jwks_timeout": format_duration(*timeout),
        }),
        JwtKeys::Files(paths) => json!({
            "files": paths.iter().map(|path| path.display().to_string()).collect::<Vec<_>>(),
        }),
        JwtKeys::Secrets(secrets) => json!({ "secrets": vec![REDACTED; secrets.len()] }),
    }
}

fn introspection_json(provider: &IntrospectionProvider) -> Value {
    json!({
        "name": provider.name,
        "url": super::redact_url_credentials(&provider.url),
        "client_id": provider.client_id,
        "client_secret": REDACTED,
        "cache_ttl": format_duration(provider.cache_ttl),
        "timeout": format_duration(provider.timeout),
        "consumer_claim": provider.consumer_claim,
        "require_consumer": provider.require_consumer,
    })
}

/// Formats a route's `auth` block, naming providers as `jwt:NAME` and `introspection:NAME`.
pub(super) fn route_auth_json(auth: &RouteAuth, authentication: &Authentication) -> Value {
    let methods: Vec<String> = auth
        .methods
        .iter()
        .map(|method| method_text(*method, authentication))
        .collect();
    let claims: Vec<Value> = auth
        .claims
        .iter()
        .map(|(claim, value)| json!({ "claim": claim, "value": value }))
        .collect();
    json!({
        "methods": methods,
        "scopes": auth.scopes,
        "claims": claims,
        "consumers": { "allow_tags": auth.allow_tags },
        "keep_credential": auth.keep_credential,
        "token_query": auth.token_query,
    })
}

fn method_text(method: AuthMethod, authentication: &Authentication) -> String {
    let (prefix, provider) = match method {
        AuthMethod::ApiKey => return "api_key".to_string(),
        AuthMethod::Jwt(index) => ("jwt", authentication.jwt.get(index).map(|jwt| &jwt.name)),
        AuthMethod::Introspection(index) => {
            let provider = authentication.introspection.get(index);
            ("introspection", provider.map(|provider| &provider.name))
        }
    };
    // A validated model has no index out of range; `?` marks one from a model built otherwise.
    format!("{prefix}:{}", provider.map_or("?", String::as_str))
}

pub(super) fn ip_rules_json(rules: &IpRules) -> Value {
    json!({ "allow": networks_json(&rules.allow), "deny": networks_json(&rules.deny) })
}

pub(super) fn client_ip_json(client_ip: &ClientIp) -> Value {
    json!({ "trusted_proxies": networks_json(&client_ip.trusted_proxies) })
}

fn networks_json(networks: &[IpNetwork]) -> Vec<String> {
    networks.iter().map(ToString::to_string).collect()
}
