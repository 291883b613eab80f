//! The runtime layer of the configuration: one immutable snapshot per (re)load.
//!
//! A snapshot contains the compiled router, the upstreams with their pools and the metric
//! handles. It is published behind an `ArcSwap`; a request loads it once in the parse phase
//! and keeps it to the end, so a reload never changes a request midway.

use std::sync::Arc;

use arc_swap::ArcSwap;
use gatehouse_config::model::{Config, Route};

use crate::policy::auth::jwt::ProviderError;
use crate::policy::auth::AuthRuntime;
use crate::policy::limit::checks::LimitTable;
use crate::route::{Router, RouterError};
use crate::telemetry::metrics::{Metrics, RouteMetrics, UpstreamMetrics};
use crate::upstream::{UpstreamBuildError, UpstreamRuntime};

/// A route with what the request path needs of it at run time.
pub struct RouteRuntime {
    pub model: Route,
    pub upstream: Arc<UpstreamRuntime>,
    pub max_body_size: u64,
    pub metrics: RouteMetrics,
}

pub struct Snapshot {
    /// Counts loads since the process started; the first configuration is 1.
    pub generation: u64,
    pub config: Arc<Config>,
    pub router: Router,
    pub routes: Vec<RouteRuntime>,
    pub upstreams: Vec<Arc<UpstreamRuntime>>,
    /// Metric handles of each upstream, in the order of `upstreams`.
    pub upstream_metrics: Vec<UpstreamMetrics>,
    /// Metric handles for requests that matched no route.
    pub unrouted: RouteMetrics,
    pub auth: AuthRuntime,
    pub limits: LimitTable,
}

/// A failure to turn a valid configuration into a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Router(#[from] RouterError),
    #[error(transparent)]
    Upstream(#[from] UpstreamBuildError),
    #[error(transparent)]
    Auth(#[from] ProviderError),
}

impl Snapshot {
    /// Builds the runtime objects of `config`. `workers` sizes the per-worker pools;
    /// `previous` lends authentication providers whose settings did not change.
    pub fn build(
        config: Config,
        generation: u64,
        metrics: &Metrics,
        workers: usize,
        previous: Option<&Snapshot>,
    ) -> Result<Snapshot, BuildError> {
        let router = Router::build(&config.routes)?;
        let auth = AuthRuntime::build(&config, previous.map(|snapshot| &snapshot.auth), metrics)?;
        let upstreams = config
            .upstreams
            .iter()
            .map(|upstream| UpstreamRuntime::build(upstream, workers).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let routes = config
            .routes
            .iter()
            .map(|route| RouteRuntime {
                model: route.clone(),
                upstream: upstreams[route.upstream].clone(),
                max_body_size: route.max_body_size.unwrap_or(config.server.max_body_size),
                metrics: metrics.route(&route.name, config.plans.len()),
            })
            .collect();
        let upstream_metrics = config
            .upstreams
            .iter()
            .map(|upstream| metrics.upstream(&upstream.name))
            .collect();
        let unrouted = metrics.route("", config.plans.len());
        let limits = LimitTable::build(&config);
        Ok(Snapshot {
            generation,
            upstream_metrics,
            config: Arc::new(config),
            router,
            routes,
            upstreams,
            unrouted,
            auth,
            limits,
        })
    }
}

/// The gateway's state shared by all workers: the current snapshot, the metrics and the
/// rate limit counters, which outlive reloads.
pub struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
    pub metrics: Metrics,
    pub limits: Arc<crate::policy::limit::LimitRuntime>,
    pub workers: usize,
}
