//! The admit phase: the body size limit, then the route's policies in a fixed order: IP
//! rules, authentication, authorization, rate limits and quotas.

use http::{header, Request};

use super::{ConnectionInfo, Exchange};
use crate::body::RequestBody;
use crate::error::ProxyError;
use crate::policy::limit::checks;
use crate::policy::{auth, client_ip, ip};
use crate::route::Matched;
use crate::snapshot::{Shared, Snapshot};
use crate::telemetry::metrics::{AuthLabels, LimitLabels};

/// Runs the admit policies of the matched route.
pub(super) async fn admit(
    shared: &Shared,
    connection: &ConnectionInfo,
    request: &Request<RequestBody>,
    exchange: &mut Exchange,
    matched: &Matched,
) -> Result<(), ProxyError> {
    let snapshot = exchange.snapshot.clone();
    let route = &snapshot.routes[matched.route];
    check_body_size(request, route.max_body_size)?;

    let trusted = &snapshot.config.client_ip.trusted_proxies;
    let client = client_ip::resolve(connection.client.ip(), request.headers(), trusted);
    if let Some(rules) = &route.model.ip {
        ip::check(rules, client)?;
    }
    if let Some(rules) = &route.model.auth {
        // Boxed: token checks may fetch keys or introspect, and that state would otherwise
        // be part of every request's future, moved with it.
        Box::pin(authenticate(shared, request, exchange, matched, rules)).await?;
    }
    limit(shared, &snapshot, request, exchange, matched, client).await
}

/// Authenticates and authorizes the request, storing the identity in the exchange.
async fn authenticate(
    shared: &Shared,
    request: &Request<RequestBody>,
    exchange: &mut Exchange,
    matched: &Matched,
    rules: &gatehouse_config::model::RouteAuth,
) -> Result<(), ProxyError> {
    let snapshot = exchange.snapshot.clone();
    let route = &snapshot.routes[matched.route];
    let authenticated = snapshot
        .auth
        .authenticate(
            &snapshot.config,
            rules,
            request.headers(),
            request.uri().query(),
        )
        .await;
    let result = authenticated.and_then(|identity| {
        let authorized = auth::authorize(&snapshot.config, rules, &identity, matched.route);
        exchange.identity = Some(identity);
        authorized
    });
    let method = exchange
        .identity
        .as_ref()
        .map_or("none", |identity| identity.method);
    match &result {
        Ok(()) => route.metrics.count_auth_success(&shared.metrics, method),
        Err(err) => {
            let labels = AuthLabels {
                route: route.model.name.clone(),
                method: method.to_string(),
                result: err.code().to_string(),
            };
            shared.metrics.auth.get_or_create(&labels).inc();
        }
    }
    result
}

fn check_body_size(request: &Request<RequestBody>, limit: u64) -> Result<(), ProxyError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit => Err(ProxyError::BodyTooLarge { limit }),
        _ => Ok(()),
    }
}

/// Checks and consumes the route's and the consumer's rate limits and quotas.
async fn limit(
    shared: &Shared,
    snapshot: &Snapshot,
    request: &Request<RequestBody>,
    exchange: &mut Exchange,
    matched: &Matched,
    client: std::net::IpAddr,
) -> Result<(), ProxyError> {
    let config = &snapshot.config;
    let identity = exchange.identity.as_ref();
    let subject = checks::Subject {
        consumer: identity.and_then(|identity| identity.consumer),
        identity,
        client_ip: client,
        headers: request.headers(),
    };
    // The request's arrival time, so that the limiter reads no clock of its own.
    let now = shared.limits.clock().unix_us(exchange.started);
    let checks = checks::for_request(&snapshot.limits, config, matched.route, &subject, now);
    if checks.list.is_empty() {
        return Ok(());
    }
    let verdict = match shared.limits.is_local() {
        true => shared.limits.check_local(checks, now),
        false => shared.limits.check(checks, now, &shared.metrics).await?,
    };
    let plan = subject
        .consumer
        .and_then(|consumer| config.consumers[consumer].plan)
        .map(|plan| (plan, config.plans[plan].name.as_str()));
    count_limit_decisions(shared, &snapshot.routes[matched.route], plan, &verdict);
    exchange.limit_fields = verdict.fields;
    if verdict.allowed {
        Ok(())
    } else {
        Err(ProxyError::RateLimited {
            retry_after: verdict.retry_after,
            quota: verdict.quota_exceeded,
        })
    }
}

/// Counts allowed requests once each; a limited request counts under every policy that
/// rejected it.
fn count_limit_decisions(
    shared: &Shared,
    route: &crate::snapshot::RouteRuntime,
    plan: Option<(usize, &str)>,
    verdict: &crate::policy::limit::Verdict,
) {
    if verdict.allowed {
        route.metrics.count_limits_allowed(&shared.metrics, plan);
        return;
    }
    for policy in &verdict.rejected {
        let labels = LimitLabels {
            route: route.model.name.clone(),
            plan: plan.map_or(String::new(), |(_, name)| name.to_string()),
            limit: policy.to_string(),
            result: "limited".to_string(),
        };
        shared
            .metrics
            .rate_limit_decisions
            .get_or_create(&labels)
            .inc();
    }
}
