//! Prometheus metrics of the request path, in the text exposition format.
//!
//! Label sets are resolved when a configuration loads (per route) or on first use (per
//! method and status class), and the resulting counter handles are cached, so recording a
//! request costs atomic adds and one histogram lock, never a label-map lookup.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status_class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub upstream: String,
    pub target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    pub listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderResultLabels {
    pub provider: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    pub route: String,
    pub method: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    pub route: String,
    pub plan: String,
    pub limit: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    pub store: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

fn duration_histogram() -> Histogram {
    let buckets = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    Histogram::new(buckets)
}

/// Every metric the gateway exports, registered once per process.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub upstream_duration: Family<UpstreamLabels, Histogram, fn() -> Histogram>,
    pub upstream_errors: Family<UpstreamLabels, Counter>,
    pub open_connections: Family<ListenerLabels, Gauge>,
    pub target_healthy: Family<TargetLabels, Gauge>,
    pub reloads: Family<ResultLabels, Counter>,
    pub config_generation: Gauge,
    pub jwks_fetches: Family<ProviderResultLabels, Counter>,
    pub auth: Family<AuthLabels, Counter>,
    pub rate_limit_decisions: Family<LimitLabels, Counter>,
    pub rate_limit_store_errors: Family<StoreLabels, Counter>,
    pub rate_limit_store_duration: Histogram,
    pub rate_limit_local_keys: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_duration =
            Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        let upstream_duration =
            Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        let upstream_errors = Family::<UpstreamLabels, Counter>::default();
        let open_connections = Family::<ListenerLabels, Gauge>::default();
        let target_healthy = Family::<TargetLabels, Gauge>::default();
        let reloads = Family::<ResultLabels, Counter>::default();
        let config_generation = Gauge::<i64>::default();
        let jwks_fetches = Family::<ProviderResultLabels, Counter>::default();
        let auth = Family::<AuthLabels, Counter>::default();
        let rate_limit_decisions = Family::<LimitLabels, Counter>::default();
        let rate_limit_store_errors = Family::<StoreLabels, Counter>::default();
        let rate_limit_store_duration = duration_histogram();
        let rate_limit_local_keys = Gauge::<i64>::default();
        registry.register(
            "rate_limit_decisions",
            "Rate limit and quota decisions by route, plan, limit and result (allowed or limited)",
            rate_limit_decisions.clone(),
        );
        registry.register(
            "rate_limit_store_errors",
            "Failed calls to the rate limit store",
            rate_limit_store_errors.clone(),
        );
        registry.register(
            "rate_limit_store_duration_seconds",
            "Time of one call to the rate limit store",
            rate_limit_store_duration.clone(),
        );
        registry.register(
            "rate_limit_local_keys",
            "Counters held in the local rate limit store",
            rate_limit_local_keys.clone(),
        );
        registry.register(
            "requests",
            "Requests by route, method and status class",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from the request head to the end of the response, by route",
            request_duration.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Time from sending to an upstream to its response head",
            upstream_duration.clone(),
        );
        registry.register(
            "upstream_errors",
            "Requests that got no response from an upstream (refused, reset, timed out)",
            upstream_errors.clone(),
        );
        registry.register(
            "open_connections",
            "Client connections open, by listener",
            open_connections.clone(),
        );
        registry.register(
            "upstream_target_healthy",
            "1 when a target takes part in balancing, 0 while passive health checks eject it",
            target_healthy.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads by result",
            reloads.clone(),
        );
        registry.register(
            "config_generation",
            "Generation of the configuration in use",
            config_generation.clone(),
        );
        registry.register(
            "jwks_fetches",
            "JWKS fetches by provider and result",
            jwks_fetches.clone(),
        );
        registry.register(
            "auth",
            "Authentication outcomes by route, method and result (success or the failure code)",
            auth.clone(),
        );
        Metrics {
            jwks_fetches,
            auth,
            rate_limit_decisions,
            rate_limit_store_errors,
            rate_limit_store_duration,
            rate_limit_local_keys,
            registry,
            requests,
            request_duration,
            upstream_duration,
            upstream_errors,
            open_connections,
            target_healthy,
            reloads,
            config_generation,
        }
    }

    /// Encodes all metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %err, "encoding metrics failed");
        }
        out
    }

    /// Creates the cached handles of one upstream.
    pub fn upstream(&self, upstream: &str) -> UpstreamMetrics {
        let labels = UpstreamLabels {
            upstream: upstream.to_string(),
        };
        UpstreamMetrics {
            duration: self.upstream_duration.get_or_create(&labels).clone(),
            errors: self.upstream_errors.get_or_create(&labels).clone(),
        }
    }

    /// Creates the cached handles of one route; `plans` is the number of plans.
    pub fn route(&self, route: &str, plans: usize) -> RouteMetrics {
        let labels = RouteLabels {
            route: route.to_string(),
        };
        RouteMetrics {
            name: route.to_string(),
            duration: self.request_duration.get_or_create(&labels).clone(),
            requests: Default::default(),
            auth_success: Default::default(),
            limits_allowed: (0..=plans).map(|_| OnceLock::new()).collect(),
        }
    }
}

/// Metric handles of one upstream.
pub struct UpstreamMetrics {
    pub duration: Histogram,
    pub errors: Counter,
}

/// Methods with their own label value; others count as `OTHER`.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER",
];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn method_slot(method: &http::Method) -> usize {
    METHODS
        .iter()
        .position(|known| *known == method.as_str())
        .unwrap_or(METHODS.len() - 1)
}

/// Metric handles of one route (or of the requests that matched no route).
pub struct RouteMetrics {
    name: String,
    pub duration: Histogram,
    requests: [[OnceLock<Counter>; 5]; 8],
    /// Successful authentications by method (`api_key`, `jwt`, `introspection`).
    auth_success: [OnceLock<Counter>; 3],
    /// Requests every limit allowed, by plan index (the last slot for no plan).
    limits_allowed: Vec<OnceLock<Counter>>,
}

impl RouteMetrics {
    /// Counts a successful authentication without building labels after the first time.
    pub fn count_auth_success(&self, metrics: &Metrics, method: &'static str) {
        let slot = ["api_key", "jwt", "introspection"]
            .iter()
            .position(|known| *known == method)
            .unwrap_or(0);
        let counter = self.auth_success[slot].get_or_init(|| {
            let labels = AuthLabels {
                route: self.name.clone(),
                method: method.to_string(),
                result: "success".to_string(),
            };
            metrics.auth.get_or_create_owned(&labels)
        });
        counter.inc();
    }

    /// Counts a request that every limit allowed; `plan` is the plan's index and name.
    pub fn count_limits_allowed(&self, metrics: &Metrics, plan: Option<(usize, &str)>) {
        let slot = plan.map_or(self.limits_allowed.len() - 1, |(index, _)| {
            index.min(self.limits_allowed.len() - 1)
        });
        let counter = self.limits_allowed[slot].get_or_init(|| {
            let labels = LimitLabels {
                route: self.name.clone(),
                plan: plan.map_or(String::new(), |(_, name)| name.to_string()),
                limit: String::new(),
                result: "allowed".to_string(),
            };
            metrics.rate_limit_decisions.get_or_create_owned(&labels)
        });
        counter.inc();
    }

    /// Counts one finished request.
    pub fn count(&self, metrics: &Metrics, method: &http::Method, status: u16) {
        let method = method_slot(method);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let counter = self.requests[method][class].get_or_init(|| {
            let labels = RequestLabels {
                route: self.name.clone(),
                method: METHODS[method].to_string(),
                status_class: STATUS_CLASSES[class].to_string(),
            };
            metrics.requests.get_or_create(&labels).clone()
        });
        counter.inc();
    }
}
