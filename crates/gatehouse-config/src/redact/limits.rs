//! JSON for the `rate_limiting` section and the rate limits and quotas of plans, consumers
//! and routes. Redis passwords are replaced by `"<redacted>"`.

use serde_json::{json, Value};

use super::redact_redis_url;
use crate::limits::{
    LimitHeaders, LimitKey, LimitStore, OnStoreError, Quota, QuotaWindow, RateLimit, RateLimiting,
    RedisSettings,
};
use crate::units::format_duration;

pub(super) fn rate_limiting_json(settings: &RateLimiting) -> Value {
    let store = match settings.store {
        LimitStore::Memory => "memory",
        LimitStore::Redis => "redis",
    };
    let on_store_error = match settings.on_store_error {
        OnStoreError::Allow => "allow",
        OnStoreError::Deny => "deny",
    };
    let headers = match settings.headers {
        LimitHeaders::Draft => "draft",
        LimitHeaders::Legacy => "legacy",
        LimitHeaders::Off => "off",
    };
    let state_file = settings.state_file.as_ref();
    json!({
        "store": store,
        "state_file": state_file.map(|path| path.display().to_string()),
        "state_interval": format_duration(settings.state_interval),
        "redis": settings.redis.as_ref().map(redis_json),
        "on_store_error": on_store_error,
        "headers": headers,
    })
}

fn redis_json(redis: &RedisSettings) -> Value {
    let urls: Vec<String> = redis.urls.iter().map(|url| redact_redis_url(url)).collect();
    json!({
        "urls": urls,
        "timeout": format_duration(redis.timeout),
        "key_prefix": redis.key_prefix,
    })
}

pub(super) fn rate_limits_json(limits: &[RateLimit]) -> Vec<Value> {
    limits.iter().map(rate_limit_json).collect()
}

fn rate_limit_json(limit: &RateLimit) -> Value {
    json!({
        "key": limit_key_text(&limit.key),
        "limit": limit.limit,
        "per": format_duration(limit.per),
        "burst": limit.burst,
        "group": limit.group,
    })
}

fn limit_key_text(key: &LimitKey) -> String {
    match key {
        LimitKey::Consumer => "consumer".to_string(),
        LimitKey::ClientIp => "client_ip".to_string(),
        LimitKey::Route => "route".to_string(),
        LimitKey::Header(name) => format!("header:{name}"),
        LimitKey::Claim(name) => format!("claim:{name}"),
    }
}

pub(super) fn quotas_json(quotas: &[Quota]) -> Vec<Value> {
    let window = |per: QuotaWindow| match per {
        QuotaWindow::Hour => "hour",
        QuotaWindow::Day => "day",
        QuotaWindow::Month => "month",
    };
    quotas
        .iter()
        .map(|quota| json!({ "limit": quota.limit, "per": window(quota.per) }))
        .collect()
}
