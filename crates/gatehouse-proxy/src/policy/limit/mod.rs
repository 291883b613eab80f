//! Rate limits and quotas of the admit phase.
//!
//! `checks` decides which counters a request touches, `gcra` contains the arithmetic, and the
//! counters live in the `local` store or in Redis (`redis_store`). A request passes only when
//! every limit allows it, and a rejected request consumes from none. While Redis fails, the
//! local store takes its place (`on_store_error: allow`) or requests get 503 (`deny`).
//! Redis is tried again after one second.

pub mod checks;
pub mod gcra;
pub mod local;
pub mod redis_store;
pub mod window;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_config::model::{LimitHeaders, LimitStore, OnStoreError, RateLimiting};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::ProxyError;
use crate::telemetry::metrics::{Metrics, StoreLabels};
use crate::upstream::target::now_millis;
use gcra::Decision;
use local::LocalStore;
use redis_store::RedisStore;

/// One counter a request touches.
#[derive(Debug, Clone)]
pub struct Check {
    /// Storage id, unique per scope and subject.
    pub id: String,
    pub policy: PolicyName,
    pub spec: Spec,
}

/// The name of a limit in response headers, metrics and the usage report: `route-0`,
/// `plan-1`, `consumer-0` (by position in their list) or `quota-month`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyName {
    Route(usize),
    Plan(usize),
    Consumer(usize),
    Quota(&'static str),
}

impl PolicyName {
    /// Appends the name to `out`; cheaper than `Display` on the request path.
    fn push_to(self, out: &mut String) {
        let (prefix, index) = match self {
            PolicyName::Route(index) => ("route-", index),
            PolicyName::Plan(index) => ("plan-", index),
            PolicyName::Consumer(index) => ("consumer-", index),
            PolicyName::Quota(window) => {
                out.push_str("quota-");
                out.push_str(window);
                return;
            }
        };
        out.push_str(prefix);
        push_number(out, index as u64);
    }
}

impl std::fmt::Display for PolicyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut name = String::new();
        self.push_to(&mut name);
        f.write_str(&name)
    }
}

/// Appends a decimal number without going through `fmt`.
pub(crate) fn push_number(out: &mut String, value: u64) {
    out.push_str(itoa::Buffer::new().format(value));
}

#[derive(Debug, Clone, Copy)]
pub enum Spec {
    Rate {
        interval_us: u64,
        burst: u64,
        limit: u64,
        per_us: u64,
    },
    Quota {
        limit: u64,
        window_end_us: u64,
        window_us: u64,
    },
}

impl Spec {
    fn limit(&self) -> u64 {
        match *self {
            Spec::Rate { limit, .. } | Spec::Quota { limit, .. } => limit,
        }
    }

    /// Returns the quota units and window (seconds) that `RateLimit-Policy` announces: for a
    /// rate limit, `burst` requests in the time that `burst` intervals take.
    fn policy(&self) -> (u64, u64) {
        match *self {
            Spec::Rate {
                interval_us, burst, ..
            } => (
                burst,
                (interval_us.saturating_mul(burst)).div_ceil(1_000_000),
            ),
            Spec::Quota {
                limit, window_us, ..
            } => (limit, window_us / 1_000_000),
        }
    }
}

/// The outcome for a request: whether it passes, and the response header fields.
pub struct Verdict {
    pub allowed: bool,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Seconds to wait before retrying, for `Retry-After` on 429.
    pub retry_after: u64,
    /// Per check, in the order of the checks.
    pub decisions: Vec<Decision>,
    /// True when only quotas rejected the request.
    pub quota_exceeded: bool,
}

/// Usage of one counter, for the admin API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Usage {
    pub policy: String,
    pub limit: u64,
    pub used: u64,
    pub remaining: u64,
    /// Seconds until the counter is back to full (rate) or the window ends (quota).
    pub reset_seconds: u64,
}

/// The limiter of the process, kept across reloads.
pub struct LimitRuntime {
    settings: RateLimiting,
    local: LocalStore,
    redis: Option<Arc<RedisStore>>,
    /// `now_millis` until which Redis is skipped after a failure.
    redis_down_until: AtomicU64,
}

impl LimitRuntime {
    pub fn new(settings: &RateLimiting, workers: usize) -> Arc<Self> {
        let redis = match (&settings.store, &settings.redis) {
            (LimitStore::Redis, Some(redis)) => Some(RedisStore::new(redis, workers)),
            _ => None,
        };
        Arc::new(LimitRuntime {
            settings: settings.clone(),
            local: LocalStore::default(),
            redis,
            redis_down_until: AtomicU64::new(0),
        })
    }

    pub fn settings(&self) -> &RateLimiting {
        &self.settings
    }

    /// Checks and consumes `checks`. Errors only when Redis fails and `on_store_error` is deny.
    /// `policy_field` is the `RateLimit-Policy` value of `checks` when the caller has it
    /// ready (a route's own limits), which spares formatting it per request.
    pub async fn check(
        &self,
        checks: &[Check],
        metrics: &Metrics,
        policy_field: Option<&HeaderValue>,
    ) -> Result<Verdict, ProxyError> {
        let now = checks::unix_now();
        let decisions = match self.redis_if_up() {
            Some(redis) => {
                let started = Instant::now();
                // Boxed so that the Redis round trip does not enlarge every request's future.
                let mut result = Box::pin(redis.check(checks)).await;
                // A connection broken by a Redis restart fails once before the client
                // reconnects, so a connection error (not a timeout) gets one more try.
                if let Err(redis_store::RedisError::Redis(_)) = &result {
                    result = Box::pin(redis.check(checks)).await;
                }
                metrics
                    .rate_limit_store_duration
                    .observe(started.elapsed().as_secs_f64());
                match result {
                    Ok((decisions, _)) => {
                        self.note_redis_up();
                        decisions
                    }
                    Err(err) => self.on_redis_error(err, checks, now, metrics)?,
                }
            }
            None if self.redis.is_some() => self.fallback(checks, now)?,
            None => self.local.check(checks, now),
        };
        Ok(self.verdict(checks, decisions, policy_field))
    }

    fn redis_if_up(&self) -> Option<&RedisStore> {
        let redis = self.redis.as_deref()?;
        (now_millis() >= self.redis_down_until.load(Ordering::Relaxed)).then_some(redis)
    }

    /// Logs once when Redis responds again after failures.
    fn note_redis_up(&self) {
        if self.redis_down_until.load(Ordering::Relaxed) != 0
            && self.redis_down_until.swap(0, Ordering::Relaxed) != 0
        {
            tracing::info!("rate limit store reachable again; counting in Redis");
        }
    }

    fn on_redis_error(
        &self,
        err: redis_store::RedisError,
        checks: &[Check],
        now: u64,
        metrics: &Metrics,
    ) -> Result<Vec<Decision>, ProxyError> {
        let first = now_millis()
            >= self
                .redis_down_until
                .swap(now_millis() + 1000, Ordering::Relaxed);
        metrics
            .rate_limit_store_errors
            .get_or_create(&StoreLabels {
                store: "redis".to_string(),
            })
            .inc();
        if first {
            let on_store_error = match self.settings.on_store_error {
                OnStoreError::Allow => "allow",
                OnStoreError::Deny => "deny",
            };
            tracing::warn!(error = %err, on_store_error, "rate limit store failed; retrying Redis in 1 s");
        }
        self.fallback(checks, now)
    }

    fn fallback(&self, checks: &[Check], now: u64) -> Result<Vec<Decision>, ProxyError> {
        match self.settings.on_store_error {
            OnStoreError::Allow => Ok(self.local.check(checks, now)),
            OnStoreError::Deny => Err(ProxyError::LimitStoreUnavailable),
        }
    }

    fn verdict(
        &self,
        checks: &[Check],
        decisions: Vec<Decision>,
        policy_field: Option<&HeaderValue>,
    ) -> Verdict {
        let allowed = decisions.iter().all(|decision| decision.allowed);
        let retry_after = decisions
            .iter()
            .filter(|decision| !decision.allowed)
            .map(|decision| decision.retry_after_us.div_ceil(1_000_000))
            .max()
            .unwrap_or(0);
        let headers = response_headers(self.settings.headers, checks, &decisions, policy_field);
        let quota_exceeded = !allowed
            && checks
                .iter()
                .zip(&decisions)
                .filter(|(_, decision)| !decision.allowed)
                .all(|(check, _)| matches!(check.spec, Spec::Quota { .. }));
        Verdict {
            allowed,
            headers,
            retry_after: retry_after.max(u64::from(!allowed)),
            decisions,
            quota_exceeded,
        }
    }

    /// Reports usage of `checks` without consuming.
    pub async fn usage(&self, checks: &[Check]) -> Result<Vec<Usage>, ProxyError> {
        let now = checks::unix_now();
        let stored = match self.redis.as_deref() {
            Some(redis) => redis.peek(checks).await.map_err(|err| {
                tracing::warn!(error = %err, "reading rate limit usage from Redis failed");
                ProxyError::LimitStoreUnavailable
            })?,
            None => self.local.peek(checks, now),
        };
        Ok(checks
            .iter()
            .zip(stored)
            .map(|(check, stored)| usage(check, stored, now))
            .collect())
    }

    /// Resets the counters of `checks`.
    pub async fn reset(&self, checks: &[Check]) -> Result<(), ProxyError> {
        let ids: Vec<String> = checks.iter().map(|check| check.id.clone()).collect();
        self.local.reset(&ids);
        if let Some(redis) = self.redis.as_deref() {
            redis.reset(&ids).await.map_err(|err| {
                tracing::warn!(error = %err, "resetting rate limit usage in Redis failed");
                ProxyError::LimitStoreUnavailable
            })?;
        }
        Ok(())
    }

    fn state_file(&self) -> Option<&PathBuf> {
        match self.settings.store {
            LimitStore::Memory => self.settings.state_file.as_ref(),
            LimitStore::Redis => None,
        }
    }

    /// Restores quota counters from the state file, if one is configured.
    pub fn load_state(&self) {
        let Some(path) = self.state_file() else {
            return;
        };
        match self.local.load(path, checks::unix_now()) {
            Ok(count) => {
                tracing::info!(path = %path.display(), counters = count, "quota counters restored")
            }
            Err(err) => {
                tracing::error!(path = %path.display(), error = %err, "reading the quota state file failed; quotas start from zero")
            }
        }
    }

    /// Writes quota counters to the state file, if one is configured.
    pub fn save_state(&self) {
        let Some(path) = self.state_file() else {
            return;
        };
        if let Err(err) = self.local.save(path, checks::unix_now()) {
            tracing::error!(path = %path.display(), error = %err, "writing the quota state file failed");
        }
    }

    /// Runs the sweep of idle local counters every second and the state file writes, until
    /// the runtime is dropped.
    pub fn start_background(
        self: &Arc<Self>,
        keys_gauge: prometheus_client::metrics::gauge::Gauge,
    ) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut last_save = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(runtime) = weak.upgrade() else {
                    return;
                };
                let keys = runtime.local.sweep(checks::unix_now());
                keys_gauge.set(keys as i64);
                if last_save.elapsed() >= runtime.settings.state_interval {
                    runtime.save_state();
                    last_save = Instant::now();
                }
            }
        });
    }
}

fn usage(check: &Check, stored: u64, now: u64) -> Usage {
    let (used, reset_us, limit) = match check.spec {
        Spec::Rate {
            interval_us, burst, ..
        } => (
            gcra::rate_used(stored, now, interval_us).min(burst),
            stored.saturating_sub(now),
            burst,
        ),
        Spec::Quota {
            limit,
            window_end_us,
            ..
        } => (stored, window_end_us.saturating_sub(now), limit),
    };
    Usage {
        policy: check.policy.to_string(),
        limit: check.spec.limit(),
        used,
        remaining: limit.saturating_sub(used),
        reset_seconds: reset_us.div_ceil(1_000_000),
    }
}

static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
static X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Builds the limit header fields: every policy in `RateLimit-Policy`, and the one with the
/// fewest requests remaining in `RateLimit` (or in the `X-RateLimit-*` fields).
fn response_headers(
    style: LimitHeaders,
    checks: &[Check],
    decisions: &[Decision],
    policy_field: Option<&HeaderValue>,
) -> Vec<(HeaderName, HeaderValue)> {
    let Some((tightest, decision)) = checks
        .iter()
        .zip(decisions)
        .min_by_key(|(_, decision)| (decision.allowed, decision.remaining))
    else {
        return Vec::new();
    };
    // A rejected request reports when it may be retried, like `Retry-After`.
    let reset_us = if decision.allowed {
        decision.reset_us
    } else {
        decision.retry_after_us
    };
    let reset = reset_us.div_ceil(1_000_000);
    let number = |value: u64| {
        let mut text = String::with_capacity(20);
        push_number(&mut text, value);
        text_value(text)
    };
    let fields = match style {
        LimitHeaders::Off => Vec::new(),
        LimitHeaders::Draft => {
            let policies = policy_field.cloned().or_else(|| {
                text_value(policy_text(
                    checks.iter().map(|check| (check.policy, &check.spec)),
                ))
            });
            let mut current = String::with_capacity(48);
            current.push('"');
            tightest.policy.push_to(&mut current);
            current.push_str("\";r=");
            push_number(&mut current, decision.remaining);
            current.push_str(";t=");
            push_number(&mut current, reset);
            vec![
                (&RATELIMIT_POLICY, policies),
                (&RATELIMIT, text_value(current)),
            ]
        }
        LimitHeaders::Legacy => vec![
            (&X_RATELIMIT_LIMIT, number(tightest.spec.policy().0)),
            (&X_RATELIMIT_REMAINING, number(decision.remaining)),
            (&X_RATELIMIT_RESET, number(reset)),
        ],
    };
    fields
        .into_iter()
        .filter_map(|(name, value)| Some((name.clone(), value?)))
        .collect()
}

/// Turns formatted text into a header value without copying it.
fn text_value(text: String) -> Option<HeaderValue> {
    HeaderValue::from_maybe_shared(bytes::Bytes::from(text)).ok()
}

/// Formats the `RateLimit-Policy` value of `items`.
fn policy_text<'a>(items: impl ExactSizeIterator<Item = (PolicyName, &'a Spec)>) -> String {
    let mut text = String::with_capacity(40 * items.len());
    for (policy, spec) in items {
        let (quota, window) = spec.policy();
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push('"');
        policy.push_to(&mut text);
        text.push_str("\";q=");
        push_number(&mut text, quota);
        text.push_str(";w=");
        push_number(&mut text, window);
    }
    text
}

/// Builds the `RateLimit-Policy` value of a route's own limits, once per snapshot.
pub fn route_policy_field(route: &gatehouse_config::model::Route) -> Option<HeaderValue> {
    if route.rate_limits.is_empty() {
        return None;
    }
    let specs: Vec<Spec> = route.rate_limits.iter().map(checks::rate_spec).collect();
    let items = specs
        .iter()
        .enumerate()
        .map(|(index, spec)| (PolicyName::Route(index), spec));
    HeaderValue::from_str(&policy_text(items)).ok()
}

/// Adds the verdict's header fields to a response.
pub fn apply_headers(headers: &mut HeaderMap, fields: &[(HeaderName, HeaderValue)]) {
    for (name, value) in fields {
        headers.insert(name.clone(), value.clone());
    }
}
