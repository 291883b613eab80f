//! The validated model of rate limits and quotas.
//!
//! Rate limits are token buckets in GCRA form: `limit` requests per `per`, with room for
//! `burst` requests at once (at least `limit`). In any window of length `per`, at most
//! `limit + burst` requests pass. Quotas count requests in calendar windows in UTC.

use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;

/// The `rate_limiting` section.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimiting {
    pub store: LimitStore,
    /// Memory store: file that quota counters are saved to and restored from.
    pub state_file: Option<PathBuf>,
    /// Memory store: how often the state file is written (default 10s); it is also written
    /// at shutdown.
    pub state_interval: Duration,
    /// Required with the Redis store.
    pub redis: Option<RedisSettings>,
    pub on_store_error: OnStoreError,
    pub headers: LimitHeaders,
}

impl Default for RateLimiting {
    fn default() -> Self {
        RateLimiting {
            store: LimitStore::Memory,
            state_file: None,
            state_interval: Duration::from_secs(10),
            redis: None,
            on_store_error: OnStoreError::Allow,
            headers: LimitHeaders::Draft,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitStore {
    Memory,
    Redis,
}

/// How to reach Redis.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisSettings {
    /// One `redis://` or `rediss://` URL for a standalone server, or several for the nodes of
    /// a Redis Cluster.
    pub urls: Vec<String>,
    /// Timeout of every Redis call (default 50ms).
    pub timeout: Duration,
    /// Prefix of every key the gateway writes (default `gatehouse`).
    pub key_prefix: String,
}

/// The treatment of requests while the store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreError {
    /// Let requests through, limited by a local limiter in each gateway instance.
    Allow,
    /// Reject requests with 503.
    Deny,
}

/// The response header fields that report limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHeaders {
    /// `RateLimit-Policy` and `RateLimit` from the IETF httpapi draft.
    Draft,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.
    Legacy,
    Off,
}

/// One rate limit.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub key: LimitKey,
    pub limit: u64,
    pub per: Duration,
    /// Requests allowed at once (default: `limit`), never less than `limit`.
    pub burst: u64,
    /// Route limits with the same group share their counters across routes; `None` keeps a
    /// route's counters to itself.
    pub group: Option<String>,
}

/// The request property a rate limit counts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitKey {
    /// The authenticated consumer; anonymous requests count by client address.
    Consumer,
    ClientIp,
    /// All requests of the route (or of the group) together.
    Route,
    /// The value of a request header; requests without it count together.
    Header(HeaderName),
    /// The value of a token claim; requests without it count together.
    Claim(String),
}

/// A quota: requests per calendar window, per consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct Quota {
    pub limit: u64,
    pub per: QuotaWindow,
}

/// A calendar window in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaWindow {
    Hour,
    Day,
    Month,
}
