//! Runtime state of one target: idle connections per worker, requests in flight and
//! passive health.
//!
//! A target that fails to connect `EJECT_AFTER_FAILURES` times in a row is ejected from
//! balancing for `EJECT_FOR`; the next successful connection clears the count.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use gatehouse_config::model::Target;
use http::uri::Authority;
use http::HeaderValue;
use hyper::client::conn::http2;

use crate::body::ProxyBody;
use crate::h1::client::ClientConnection;

/// Consecutive connection failures that eject a target.
pub const EJECT_AFTER_FAILURES: u32 = 3;
/// How long an ejected target stays out of balancing.
pub const EJECT_FOR: Duration = Duration::from_secs(10);

/// Milliseconds since the process started, for cheap atomic timestamps.
pub fn now_millis() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// An idle HTTP/1.1 connection with the time it was returned.
pub struct IdleConnection {
    pub connection: ClientConnection,
    pub since: Instant,
}

/// Connections of one worker to one target.
#[derive(Default)]
pub struct WorkerPool {
    pub idle: Vec<IdleConnection>,
    pub http2: Option<http2::SendRequest<ProxyBody>>,
}

pub struct TargetRuntime {
    pub target: Target,
    pub authority: Authority,
    /// `Host` header value sent when the upstream does not preserve the client's.
    pub host_header: HeaderValue,
    /// The target's label in metrics and the access log (`host:port`).
    pub label: String,
    pub in_flight: AtomicU64,
    failures: AtomicU32,
    ejected_until: AtomicU64,
    /// One pool per worker slot, indexed by `listener::worker_slot`.
    pools: Box<[Mutex<WorkerPool>]>,
}

impl TargetRuntime {
    pub fn new(target: Target, workers: usize) -> Result<Self, http::Error> {
        let authority: Authority = target.authority().parse()?;
        let host_header = HeaderValue::from_str(authority.as_str())?;
        let pools = (0..=workers)
            .map(|_| Mutex::new(WorkerPool::default()))
            .collect();
        Ok(TargetRuntime {
            label: authority.to_string(),
            target,
            authority,
            host_header,
            in_flight: AtomicU64::new(0),
            failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            pools,
        })
    }

    pub fn is_healthy(&self, now_millis: u64) -> bool {
        self.ejected_until.load(Ordering::Relaxed) <= now_millis
    }

    pub fn record_connect_failure(&self) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= EJECT_AFTER_FAILURES {
            let until = now_millis() + EJECT_FOR.as_millis() as u64;
            self.ejected_until.store(until, Ordering::Relaxed);
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    pub fn record_connect_success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.ejected_until.load(Ordering::Relaxed) != 0 {
            self.ejected_until.store(0, Ordering::Relaxed);
        }
    }

    /// Runs `f` on this worker's pool. The lock is never held across an await, and only
    /// one thread uses each slot, so it is uncontended.
    pub fn with_pool<R>(&self, f: impl FnOnce(&mut WorkerPool) -> R) -> R {
        let slot = crate::listener::slot_index(self.pools.len());
        let mut pool = self.pools[slot]
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        f(&mut pool)
    }

    /// Takes the most recently used idle HTTP/1.1 connection that is still open and not too
    /// old, or, when the target speaks HTTP/2 on an open connection, that connection's sender.
    pub fn take_idle(
        &self,
        max_idle: Duration,
    ) -> Result<Option<ClientConnection>, http2::SendRequest<ProxyBody>> {
        self.with_pool(|pool| {
            if let Some(sender) = pool.http2.as_ref().filter(|sender| !sender.is_closed()) {
                return Err(sender.clone());
            }
            while let Some(mut idle) = pool.idle.pop() {
                if idle.since.elapsed() < max_idle && idle.connection.is_usable() {
                    return Ok(Some(idle.connection));
                }
            }
            Ok(None)
        })
    }

    /// Returns a connection to this worker's pool, dropping it when the pool is full.
    pub fn put_idle(&self, connection: ClientConnection, max: usize) {
        self.with_pool(|pool| {
            if pool.idle.len() < max {
                pool.idle.push(IdleConnection {
                    connection,
                    since: Instant::now(),
                });
            }
        });
    }
}
