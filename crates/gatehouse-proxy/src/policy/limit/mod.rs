//! Rate limits and quotas of the admit phase.
//!
//! `checks` decides which counters a request touches, `gcra` contains the arithmetic, and the
//! counters live in the `local` store or in Redis (`redis_store`). A request passes only when
//! every limit allows it, and a rejected request consumes from none. While Redis fails, the
//! local store takes its place (`on_store_error: allow`) or requests get 503 (`deny`).
//! Redis is tried again after one second.

pub mod checks;
pub mod clock;
pub mod fields;
pub mod gcra;
pub mod local;
pub mod redis_store;
mod text;
pub mod window;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderValue;

use gatehouse_config::model::{LimitHeaders, LimitStore, OnStoreError, RateLimiting};

use crate::error::ProxyError;
use crate::telemetry::metrics::{Metrics, StoreLabels};
use crate::upstream::target::now_millis;
use checks::{Check, Checks};
use clock::Clock;
use fields::{LimitFields, Style};
use gcra::Decision;
use local::LocalStore;
use redis_store::RedisStore;

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
    /// Returns the two parts of the name, a kind (`route-`) and an index or window (`0`,
    /// `month`), formatting the index in `digits`.
    fn parts(self, digits: &mut itoa::Buffer) -> (&'static str, &str) {
        match self {
            PolicyName::Route(index) => ("route-", digits.format(index)),
            PolicyName::Plan(index) => ("plan-", digits.format(index)),
            PolicyName::Consumer(index) => ("consumer-", digits.format(index)),
            PolicyName::Quota(window) => ("quota-", window),
        }
    }
}

impl std::fmt::Display for PolicyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut digits = itoa::Buffer::new();
        let (kind, suffix) = self.parts(&mut digits);
        f.write_str(kind)?;
        f.write_str(suffix)
    }
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

/// The decisions of a request's checks, in the order of the checks.
pub type Decisions = smallvec::SmallVec<[Decision; 4]>;

/// The outcome for a request: whether it passes, and what the response reports.
pub struct Verdict {
    pub allowed: bool,
    /// Seconds to wait before retrying, for `Retry-After` on 429.
    pub retry_after: u64,
    /// True when only quotas rejected the request.
    pub quota_exceeded: bool,
    /// The policies that rejected the request; empty when it passes.
    pub rejected: Vec<PolicyName>,
    /// The response fields, unless `headers: off`.
    pub fields: Option<LimitFields>,
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
    clock: Clock,
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
            clock: Clock::new(),
            redis,
            redis_down_until: AtomicU64::new(0),
        })
    }

    pub fn settings(&self) -> &RateLimiting {
        &self.settings
    }

    /// Returns true when the counters live in this process, so that `check_local` applies.
    pub fn is_local(&self) -> bool {
        self.redis.is_none()
    }

    /// Returns the limiter's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Checks and consumes `checks` in the memory store at `now`, without awaiting.
    pub fn check_local(&self, checks: Checks<'_>, now: u64) -> Verdict {
        let decisions = self.local.check(&checks.list, now);
        self.verdict(checks, &decisions)
    }

    /// Checks and consumes `checks` in the configured store at `now`. Errors only when Redis
    /// fails and `on_store_error` is deny.
    pub async fn check(
        &self,
        checks: Checks<'_>,
        now: u64,
        metrics: &Metrics,
    ) -> Result<Verdict, ProxyError> {
        let Some(redis) = self.redis_if_up() else {
            if self.is_local() {
                return Ok(self.check_local(checks, now));
            }
            let decisions = self.fallback(&checks.list, now)?;
            return Ok(self.verdict(checks, &decisions));
        };
        let list = &checks.list;
        let started = Instant::now();
        // Boxed so that the Redis round trip does not enlarge every request's future.
        let mut result = Box::pin(redis.check(list)).await;
        // A connection broken by a Redis restart fails once before the client reconnects,
        // so a connection error (not a timeout) gets one more try.
        if let Err(redis_store::RedisError::Redis(_)) = &result {
            result = Box::pin(redis.check(list)).await;
        }
        metrics
            .rate_limit_store_duration
            .observe(started.elapsed().as_secs_f64());
        let decisions = match result {
            Ok((decisions, _)) => {
                self.note_redis_up();
                decisions
            }
            Err(err) => self.on_redis_error(err, list, now, metrics)?,
        };
        Ok(self.verdict(checks, &decisions))
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
        checks: &[Check<'_>],
        now: u64,
        metrics: &Metrics,
    ) -> Result<Decisions, ProxyError> {
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

    fn fallback(&self, checks: &[Check<'_>], now: u64) -> Result<Decisions, ProxyError> {
        match self.settings.on_store_error {
            OnStoreError::Allow => Ok(self.local.check(checks, now)),
            OnStoreError::Deny => Err(ProxyError::LimitStoreUnavailable),
        }
    }

    fn verdict(&self, checks: Checks<'_>, decisions: &[Decision]) -> Verdict {
        let Checks { list, policy_field } = checks;
        let mut rejected = Vec::new();
        let mut retry_after = 0;
        let mut only_quotas = true;
        // The fields report the policy with the fewest requests remaining, a rejecting one
        // first, and among rejecting ones the longest wait, which `Retry-After` also gives.
        let mut tightest: Option<(&Check<'_>, &Decision)> = None;
        for (check, decision) in list.iter().zip(decisions) {
            if !decision.allowed {
                rejected.push(check.policy);
                retry_after = retry_after.max(retry_after_seconds(decision));
                only_quotas &= matches!(check.spec, Spec::Quota { .. });
            }
            let rank = |decision: &Decision| {
                let wait = std::cmp::Reverse(decision.retry_after_us);
                (decision.allowed, decision.remaining, wait)
            };
            if tightest.is_none_or(|(_, current)| rank(decision) < rank(current)) {
                tightest = Some((check, decision));
            }
        }
        Verdict {
            allowed: rejected.is_empty(),
            retry_after,
            quota_exceeded: !rejected.is_empty() && only_quotas,
            rejected,
            fields: tightest
                .and_then(|(check, decision)| self.fields(policy_field, check, decision)),
        }
    }

    /// Returns the response fields that report `decision` of `check`.
    fn fields(
        &self,
        policy_field: Option<HeaderValue>,
        check: &Check<'_>,
        decision: &Decision,
    ) -> Option<LimitFields> {
        let style = match self.settings.headers {
            LimitHeaders::Off => return None,
            LimitHeaders::Draft => Style::Draft {
                policies: policy_field,
                head: check.draft_head.cloned(),
            },
            LimitHeaders::Legacy => Style::Legacy,
        };
        // A rejected request reports when it may be retried, like `Retry-After`.
        let reset_us = if decision.allowed {
            decision.reset_us
        } else {
            decision.retry_after_us
        };
        Some(LimitFields {
            style,
            policy: check.policy,
            quota: check.spec.policy().0,
            remaining: decision.remaining,
            reset: reset_us.div_ceil(1_000_000),
        })
    }

    /// Reports usage of `checks` without consuming.
    pub async fn usage(&self, checks: &[Check<'_>]) -> Result<Vec<Usage>, ProxyError> {
        let now = self.clock.now();
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
    pub async fn reset(&self, checks: &[Check<'_>]) -> Result<(), ProxyError> {
        let ids: Vec<String> = checks.iter().map(Check::id).collect();
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
        match self.local.load(path, self.clock.now()) {
            Ok(Some(count)) => {
                tracing::info!(path = %path.display(), counters = count, "quota counters restored")
            }
            Ok(None) => {
                tracing::info!(path = %path.display(), "no quota state file yet, so quotas start from zero")
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
        if let Err(err) = self.local.save(path, self.clock.now()) {
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
                runtime.clock.calibrate();
                let keys = runtime.local.sweep(runtime.clock.now());
                keys_gauge.set(keys as i64);
                if last_save.elapsed() >= runtime.settings.state_interval {
                    runtime.save_state();
                    last_save = Instant::now();
                }
            }
        });
    }
}

/// Returns the whole seconds, at least 1, that a rejected request waits before a retry can
/// pass. An allowed request gets 0.
fn retry_after_seconds(decision: &Decision) -> u64 {
    match decision.allowed {
        true => 0,
        false => decision.retry_after_us.div_ceil(1_000_000).max(1),
    }
}

fn usage(check: &Check<'_>, stored: u64, now: u64) -> Usage {
    let (used, reset_us, limit) = match check.spec {
        Spec::Rate {
            interval_us, burst, ..
        } => {
            let (used, reset_us) = gcra::rate_usage(stored, now, interval_us, burst);
            (used.min(burst), reset_us, burst)
        }
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

/// Formats the `RateLimit-Policy` value of `items`.
fn policy_text<'a>(items: impl Iterator<Item = (PolicyName, &'a Spec)>) -> String {
    let mut text = String::new();
    let mut digits = itoa::Buffer::new();
    for (policy, spec) in items {
        let (quota, window) = spec.policy();
        if !text.is_empty() {
            text.push_str(", ");
        }
        let (kind, suffix) = policy.parts(&mut digits);
        for part in ["\"", kind, suffix, "\";q="] {
            text.push_str(part);
        }
        text.push_str(digits.format(quota));
        text.push_str(";w=");
        text.push_str(digits.format(window));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate_check(prefix: &str, index: usize) -> Check<'_> {
        let spec = Spec::Rate {
            interval_us: 1_000_000,
            burst: 1,
            limit: 1,
            per_us: 1_000_000,
        };
        Check::for_test(prefix, PolicyName::Route(index), spec)
    }

    fn rejected(retry_after_us: u64) -> Decision {
        Decision {
            allowed: false,
            remaining: 0,
            reset_us: retry_after_us,
            retry_after_us,
            next_value: 0,
            expires_us: 0,
        }
    }

    #[test]
    fn fields_report_longest_rejection() {
        let runtime = LimitRuntime::new(&RateLimiting::default(), 1);
        let checks = Checks {
            list: vec![rate_check("a", 0), rate_check("b", 1)],
            policy_field: None,
        };
        let verdict = runtime.verdict(checks, &[rejected(4_000_000), rejected(10_000_000)]);
        assert_eq!(verdict.retry_after, 10);
        let fields = verdict.fields.unwrap();
        assert_eq!(fields.policy, PolicyName::Route(1));
        assert_eq!(fields.reset, 10);
    }
}
