//! The counters a request touches: the route's limits first, then the consumer's (or its
//! plan's) rate limits and quotas. Each counter has a stable id that names its scope and its
//! subject, so a limit keyed by consumer is never shared between consumers and a route limit
//! is never shared between routes unless the limits share a `group`.

use std::fmt::Write;
use std::net::IpAddr;
use std::time::SystemTime;

use gatehouse_config::model::{Config, LimitKey, Quota, RateLimit};
use http::HeaderMap;
use sha2::{Digest, Sha256};

use super::{push_number, window, Check, PolicyName, Spec};
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
    let consumer_limits = subject
        .consumer
        .map(|consumer| consumer_limits(config, consumer));
    let count = model.rate_limits.len()
        + consumer_limits.map_or(0, |(rates, quotas, _)| rates.len() + quotas.len());
    let mut checks = Vec::with_capacity(count);
    for (index, limit) in model.rate_limits.iter().enumerate() {
        let mut id = String::with_capacity(64);
        match &limit.group {
            Some(group) => {
                push_parts(&mut id, &["g:", group, ":"]);
                push_number(&mut id, limit.limit);
                id.push(':');
                push_number(&mut id, limit.per.as_micros() as u64);
            }
            None => {
                push_parts(&mut id, &["r:", &model.name, ":"]);
                push_number(&mut id, index as u64);
            }
        }
        id.push(':');
        write_subject(&mut id, config, &limit.key, subject);
        checks.push(rate_check(id, PolicyName::Route(index), limit));
    }
    if let Some(consumer) = subject.consumer {
        push_consumer_checks(&mut checks, config, consumer, subject, unix_now());
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
    let mut checks = Vec::new();
    push_consumer_checks(&mut checks, config, consumer, subject, now);
    checks
}

fn push_consumer_checks(
    checks: &mut Vec<Check>,
    config: &Config,
    consumer: usize,
    subject: &Subject<'_>,
    now: u64,
) {
    let (rate_limits, quotas, source) = consumer_limits(config, consumer);
    let id = &config.consumers[consumer].id;
    for (index, limit) in rate_limits.iter().enumerate() {
        let mut check_id = String::with_capacity(64);
        push_parts(&mut check_id, &["p:", id, ":", source, ":"]);
        push_number(&mut check_id, index as u64);
        check_id.push(':');
        write_subject(&mut check_id, config, &limit.key, subject);
        let policy = match source {
            "consumer" => PolicyName::Consumer(index),
            _ => PolicyName::Plan(index),
        };
        checks.push(rate_check(check_id, policy, limit));
    }
    for quota in quotas {
        checks.push(quota_check(id, quota, now));
    }
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

fn rate_check(id: String, policy: PolicyName, limit: &RateLimit) -> Check {
    Check {
        id,
        policy,
        spec: rate_spec(limit),
    }
}

/// Returns the GCRA parameters of a rate limit.
pub fn rate_spec(limit: &RateLimit) -> Spec {
    let per_us = limit.per.as_micros() as u64;
    let interval_us = (per_us / limit.limit.max(1)).max(1);
    Spec::Rate {
        interval_us,
        burst: limit.burst,
        limit: limit.limit,
        per_us,
    }
}

fn quota_check(consumer: &str, quota: &Quota, now: u64) -> Check {
    let (start, end) = window::bounds(quota.per, now / 1_000_000);
    let name = window::name(quota.per);
    Check {
        id: format!("q:{consumer}:{name}:{start}"),
        policy: PolicyName::Quota(name),
        spec: Spec::Quota {
            limit: quota.limit,
            window_end_us: end * 1_000_000,
            window_us: (end - start) * 1_000_000,
        },
    }
}

/// Appends the part of a counter id that names who is counted.
fn write_subject(id: &mut String, config: &Config, key: &LimitKey, subject: &Subject<'_>) {
    let _ = match key {
        LimitKey::Consumer => match subject.consumer {
            Some(consumer) => {
                push_parts(id, &["c=", &config.consumers[consumer].id]);
                Ok(())
            }
            None => write!(id, "ip={}", subject.client_ip),
        },
        LimitKey::ClientIp => write!(id, "ip={}", subject.client_ip),
        LimitKey::Route => {
            id.push_str("all");
            Ok(())
        }
        LimitKey::Header(name) => {
            let value = subject
                .headers
                .get(name)
                .map(|value| value.as_bytes())
                .unwrap_or_default();
            id.push_str("h=");
            write_compact(id, value);
            Ok(())
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
            id.push_str("cl=");
            write_compact(id, value.unwrap_or_default().as_bytes());
            Ok(())
        }
    };
}

fn push_parts(out: &mut String, parts: &[&str]) {
    for part in parts {
        out.push_str(part);
    }
}

/// Appends short printable values as they are and long ones as a digest.
fn write_compact(id: &mut String, value: &[u8]) {
    if value.len() <= 64 {
        if let Ok(text) = std::str::from_utf8(value) {
            if text.bytes().all(|byte| byte.is_ascii_graphic()) {
                id.push_str(text);
                return;
            }
        }
    }
    for byte in Sha256::digest(value).iter().take(16) {
        let _ = write!(id, "{byte:02x}");
    }
}

/// Microseconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_micros() as u64)
        .unwrap_or(0)
}
