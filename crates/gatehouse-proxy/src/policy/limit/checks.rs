//! The counters a request touches: the route's limits first, then the consumer's (or its
//! plan's) rate limits and quotas. Each counter has a stable id that names its scope and its
//! subject, so a limit keyed by consumer is never shared between consumers and a route limit
//! is never shared between routes unless the limits share a `group`.

use std::net::IpAddr;
use std::time::SystemTime;

use gatehouse_config::model::{Config, LimitKey, Quota, RateLimit};
use http::HeaderMap;
use sha2::{Digest, Sha256};

use super::{window, Check, Spec};
use crate::policy::auth::Identity;

/// Request facts that limits key on.
pub struct Subject<'a> {
    pub consumer: Option<usize>,
    pub identity: Option<&'a Identity>,
    pub client_ip: IpAddr,
    pub headers: &'a HeaderMap,
}

/// Returns the checks for a request on route `route`.
pub fn for_request(config: &Config, route: usize, subject: &Subject<'_>) -> Vec<Check> {
    let model = &config.routes[route];
    let mut checks = Vec::new();
    for (index, limit) in model.rate_limits.iter().enumerate() {
        let subject_key = subject_key(config, &limit.key, subject);
        let id = match &limit.group {
            Some(group) => format!(
                "g:{group}:{}:{}:{subject_key}",
                limit.limit,
                limit.per.as_micros()
            ),
            None => format!("r:{}:{index}:{subject_key}", model.name),
        };
        checks.push(rate_check(id, format!("route-{index}"), limit));
    }
    if let Some(consumer) = subject.consumer {
        checks.extend(for_consumer(config, consumer, subject, unix_now()));
    }
    checks
}

/// Returns the checks of a consumer's own or plan rate limits and quotas.
pub fn for_consumer(
    config: &Config,
    consumer: usize,
    subject: &Subject<'_>,
    now: u64,
) -> Vec<Check> {
    let (rate_limits, quotas, source) = consumer_limits(config, consumer);
    let id = &config.consumers[consumer].id;
    let mut checks = Vec::new();
    for (index, limit) in rate_limits.iter().enumerate() {
        let check_id = format!(
            "p:{id}:{source}:{index}:{}",
            subject_key(config, &limit.key, subject)
        );
        checks.push(rate_check(check_id, format!("{source}-{index}"), limit));
    }
    for quota in quotas {
        checks.push(quota_check(id, quota, now));
    }
    checks
}

/// Returns the consumer's limits (its own when set, else its plan's) and where they came from.
pub fn consumer_limits(config: &Config, consumer: usize) -> (&[RateLimit], &[Quota], &'static str) {
    let model = &config.consumers[consumer];
    let plan = model.plan.map(|plan| &config.plans[plan]);
    let rate_limits = match (&model.rate_limits, plan) {
        (Some(own), _) => own.as_slice(),
        (None, Some(plan)) => plan.rate_limits.as_slice(),
        (None, None) => &[],
    };
    let quotas = match (&model.quotas, plan) {
        (Some(own), _) => own.as_slice(),
        (None, Some(plan)) => plan.quotas.as_slice(),
        (None, None) => &[],
    };
    let source = if model.rate_limits.is_some() {
        "consumer"
    } else {
        "plan"
    };
    (rate_limits, quotas, source)
}

fn rate_check(id: String, policy: String, limit: &RateLimit) -> Check {
    let per_us = limit.per.as_micros() as u64;
    let interval_us = (per_us / limit.limit.max(1)).max(1);
    Check {
        id,
        policy,
        spec: Spec::Rate {
            interval_us,
            burst: limit.burst,
            limit: limit.limit,
            per_us,
        },
    }
}

fn quota_check(consumer: &str, quota: &Quota, now: u64) -> Check {
    let (start, end) = window::bounds(quota.per, now / 1_000_000);
    let name = window::name(quota.per);
    Check {
        id: format!("q:{consumer}:{name}:{start}"),
        policy: format!("quota-{name}"),
        spec: Spec::Quota {
            limit: quota.limit,
            window_end_us: end * 1_000_000,
            window_us: (end - start) * 1_000_000,
        },
    }
}

/// Returns the part of a counter id that names who is counted.
fn subject_key(config: &Config, key: &LimitKey, subject: &Subject<'_>) -> String {
    match key {
        LimitKey::Consumer => match subject.consumer {
            Some(consumer) => format!("c={}", config.consumers[consumer].id),
            None => format!("ip={}", subject.client_ip),
        },
        LimitKey::ClientIp => format!("ip={}", subject.client_ip),
        LimitKey::Route => "all".to_string(),
        LimitKey::Header(name) => {
            let value = subject
                .headers
                .get(name)
                .map(|value| value.as_bytes())
                .unwrap_or_default();
            format!("h={}", compact(value))
        }
        LimitKey::Claim(name) => {
            let claims = subject
                .identity
                .and_then(|identity| identity.claims.as_deref());
            let value = claims
                .and_then(|claims| claims.get(name))
                .map(|value| match value {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                });
            format!("cl={}", compact(value.unwrap_or_default().as_bytes()))
        }
    }
}

/// Keeps short values readable and bounds long ones to a digest.
fn compact(value: &[u8]) -> String {
    let printable = value.iter().all(|byte| byte.is_ascii_graphic());
    if printable && value.len() <= 64 {
        return String::from_utf8_lossy(value).into_owned();
    }
    let digest = Sha256::digest(value);
    digest
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Microseconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_micros() as u64)
        .unwrap_or(0)
}
