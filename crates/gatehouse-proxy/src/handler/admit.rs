//! The admit phase: the body size limit, then the route's policies in a fixed order: IP
//! rules, authentication, authorization.

use http::{header, Request};
use hyper::body::Incoming;

use super::{ConnectionInfo, Exchange};
use crate::error::ProxyError;
use crate::policy::{auth, client_ip, ip};
use crate::route::Matched;
use crate::snapshot::Shared;
use crate::telemetry::metrics::AuthLabels;

/// Runs the admit policies of the matched route.
pub(super) async fn admit(
    shared: &Shared,
    connection: &ConnectionInfo,
    request: &Request<Incoming>,
    exchange: &mut Exchange,
    matched: &Matched,
) -> Result<(), ProxyError> {
    let snapshot = exchange.snapshot.clone();
    let route = &snapshot.routes[matched.route];
    check_body_size(request, route.max_body_size)?;

    if let Some(rules) = &route.model.ip {
        let trusted = &snapshot.config.client_ip.trusted_proxies;
        let client = client_ip::resolve(connection.client.ip(), request.headers(), trusted);
        ip::check(rules, client)?;
    }

    let Some(rules) = &route.model.auth else {
        return Ok(());
    };
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
    let outcome = match &result {
        Ok(()) => "success",
        Err(err) => err.code(),
    };
    let labels = AuthLabels {
        route: route.model.name.clone(),
        method: method.to_string(),
        result: outcome.to_string(),
    };
    shared.metrics.auth.get_or_create(&labels).inc();
    result
}

fn check_body_size(request: &Request<Incoming>, limit: u64) -> Result<(), ProxyError> {
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
