//! The transform request, forward and transform response phases.
//!
//! The upstream request carries the normalized (and rewritten) path with the client's query
//! string byte for byte, the forwarding headers and the request id. Bodies stream in both
//! directions, and upgrades become a byte tunnel once the upstream responds 101.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_config::model::{HashKey, Rewrite};
use http::uri::PathAndQuery;
use http::{header, HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;

use super::{ConnectionInfo, Exchange};
use crate::body::{BodyLimitExceeded, ExpectGate, GateSwitch, LimitedBody, ProxyBody, RequestBody};
use crate::error::ProxyError;
use crate::h1::client::{ContinueHook, ExchangeError};
use crate::headers;
use crate::policy::auth;
use crate::route::Matched;
use crate::snapshot::RouteRuntime;
use crate::upstream::balance::BalanceInput;
use crate::upstream::{SendError, UpstreamRuntime};

/// Time an upstream gets to respond to `Expect: 100-continue` before the body is sent anyway.
const EXPECT_CONTINUE_WAIT: Duration = Duration::from_secs(1);

pub(super) async fn forward(
    connection: &ConnectionInfo,
    request: Request<RequestBody>,
    exchange: &mut Exchange,
    matched: Matched,
    normalized: Option<String>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let snapshot = exchange.snapshot.clone();
    let route = &snapshot.routes[matched.route];
    let upstream = &route.upstream;
    let upgrade =
        request.version() == Version::HTTP_11 && headers::is_upgrade_request(request.headers());

    let target = pick_target(upstream, connection, &request);
    exchange.target = Some(target);
    let host_header = upstream.targets[target].host_header.clone();
    let outgoing = transform_request(
        connection,
        request,
        exchange,
        route,
        &matched,
        normalized,
        upgrade,
        host_header,
    )?;

    let sent_at = Instant::now();
    let result = upstream.send(target, outgoing).await;
    let elapsed = sent_at.elapsed();
    exchange.upstream_duration = Some(elapsed);
    let mut response = result.map_err(|err| {
        snapshot.upstream_metrics[route.model.upstream].errors.inc();
        send_error(upstream, err, exchange)
    })?;
    let upstream_metrics = &snapshot.upstream_metrics[route.model.upstream];
    upstream_metrics.duration.observe(elapsed.as_secs_f64());

    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if !upgrade {
            return Err(ProxyError::UpstreamProtocol {
                upstream: upstream.name.clone(),
                reason: "101 Switching Protocols without an upgrade request".to_string(),
            });
        }
        // The listener joins the two connections once it has sent this head.
        return Ok(response.map(|_| crate::body::empty()));
    }
    transform_response(response.headers_mut(), route);
    // The client gets the gateway's HTTP version, whatever the upstream spoke.
    *response.version_mut() = Version::HTTP_11;
    Ok(response.map(|body| body.map_err(Into::into).boxed()))
}

fn pick_target(
    upstream: &UpstreamRuntime,
    connection: &ConnectionInfo,
    request: &Request<RequestBody>,
) -> usize {
    let client_ip;
    let hash_key: Option<&[u8]> = match upstream.balancer.hash_key() {
        Some(HashKey::Header(name)) => request.headers().get(name).map(|value| value.as_bytes()),
        Some(HashKey::Cookie(name)) => cookie_value(request, name),
        Some(HashKey::ClientIp) => {
            client_ip = connection.client.ip().to_string();
            Some(client_ip.as_bytes())
        }
        None => None,
    };
    upstream
        .balancer
        .pick(&upstream.targets, &BalanceInput { hash_key })
}

fn cookie_value<'a>(request: &'a Request<RequestBody>, name: &str) -> Option<&'a [u8]> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.as_bytes())
}

/// Runs the transform request phase: path rewrite, URI, headers and the body wrappers.
/// `target_host` is the chosen target's authority, sent as `Host` unless the upstream
/// preserves the client's.
#[allow(clippy::too_many_arguments)]
fn transform_request(
    connection: &ConnectionInfo,
    request: Request<RequestBody>,
    exchange: &Exchange,
    route: &RouteRuntime,
    matched: &Matched,
    normalized: Option<String>,
    upgrade: bool,
    target_host: HeaderValue,
) -> Result<Request<ProxyBody>, ProxyError> {
    let (mut parts, body) = request.into_parts();
    let client_host = parts
        .uri
        .authority()
        .map(|authority| authority.as_str().to_string());
    parts.uri = upstream_uri(&parts.uri, exchange, route, matched, normalized)?;
    let config = &exchange.snapshot.config;

    let request_headers = &mut parts.headers;
    let host_value = match client_host {
        Some(authority) => HeaderValue::from_str(&authority).ok(),
        None => request_headers.get(header::HOST).cloned(),
    };
    let expect_continue = parts.version == Version::HTTP_11
        && request_headers
            .get(header::EXPECT)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    headers::remove_hop_by_hop(request_headers, upgrade);
    headers::remove_spoofed_identity(request_headers);
    headers::set_forwarded(
        request_headers,
        &connection.client_address,
        connection.https,
        host_value.as_ref(),
    );
    request_headers.insert(headers::X_REQUEST_ID.clone(), exchange.request_id.clone());
    let upstream_host = match (route.upstream.preserve_host, host_value) {
        (true, Some(host)) => host,
        _ => target_host,
    };
    request_headers.insert(header::HOST, upstream_host);
    let identity = exchange.identity.as_ref();
    auth::forward::apply_identity_headers(
        request_headers,
        &exchange.snapshot.auth,
        config,
        &route.model,
        identity,
    );
    headers::apply_rules(request_headers, &route.model.request_headers);
    parts.version = Version::HTTP_11;

    let limited = LimitedBody::new(body, route.max_body_size, exchange.bytes_in.clone());
    if !expect_continue {
        return Ok(Request::from_parts(parts, limited.boxed()));
    }
    let switch = Arc::new(GateSwitch::default());
    let opener = switch.clone();
    let gated = ExpectGate::new(limited, switch, EXPECT_CONTINUE_WAIT).boxed();
    let mut request = Request::from_parts(parts, gated);
    request.extensions_mut().insert(ContinueHook(opener));
    Ok(request)
}

/// Builds the upstream request target: the normalized and rewritten path with the query the
/// client sent, less any credential the route removes. A request whose path and query pass
/// unchanged keeps its target as received.
fn upstream_uri(
    uri: &Uri,
    exchange: &Exchange,
    route: &RouteRuntime,
    matched: &Matched,
    normalized: Option<String>,
) -> Result<Uri, ProxyError> {
    let config = &exchange.snapshot.config;
    let query = auth::forward::forwarded_query(uri.query(), &route.model, config);
    let rewrite = route.model.rewrite.as_ref();
    let query_unchanged = matches!(query, None | Some(Cow::Borrowed(_)));
    if rewrite.is_none() && normalized.is_none() && query_unchanged {
        return Ok(match uri.path_and_query() {
            Some(path_and_query) if uri.authority().is_some() => Uri::from(path_and_query.clone()),
            _ => uri.clone(),
        });
    }
    let path = normalized.as_deref().unwrap_or(uri.path());
    let upstream_path = rewrite_path(rewrite, path, &matched.captures);
    let path_and_query = match query {
        Some(query) => format!("{upstream_path}?{query}"),
        None => upstream_path,
    };
    let path_and_query = PathAndQuery::try_from(path_and_query).map_err(|_| {
        ProxyError::InvalidTarget("the rewritten path is not a valid request target")
    })?;
    Ok(Uri::from(path_and_query))
}

/// Applies the route's rewrite to the normalized path.
fn rewrite_path(rewrite: Option<&Rewrite>, path: &str, captures: &[(String, String)]) -> String {
    match rewrite {
        None => path.to_string(),
        Some(Rewrite::StripPrefix(prefix)) => {
            let rest = path.strip_prefix(prefix.as_str()).unwrap_or(path);
            if rest.is_empty() {
                "/".to_string()
            } else if rest.starts_with('/') {
                rest.to_string()
            } else {
                path.to_string()
            }
        }
        Some(Rewrite::Path(template)) => {
            let mut out = template.clone();
            for (name, value) in captures {
                out = out.replace(&format!("{{{name}}}"), value);
            }
            out
        }
    }
}

/// Runs the transform response phase: removes hop-by-hop headers, then applies the route's rules.
fn transform_response(response_headers: &mut http::HeaderMap, route: &RouteRuntime) {
    headers::remove_hop_by_hop(response_headers, false);
    headers::apply_rules(response_headers, &route.model.response_headers);
}

/// Maps a failed upstream exchange to the error returned to the client, and logs it.
fn send_error(upstream: &UpstreamRuntime, err: SendError, exchange: &mut Exchange) -> ProxyError {
    let name = upstream.name.clone();
    if let Some(exceeded) = find_cause::<BodyLimitExceeded>(&err) {
        return ProxyError::BodyTooLarge {
            limit: exceeded.limit,
        };
    }
    if let SendError::Exchange(ExchangeError::Body(cause)) = &err {
        // The client's body broke off or was malformed; the connection closes after the
        // response because its body was not read to the end.
        tracing::debug!(error = %cause, "request body failed");
        return ProxyError::BadRequest("the request body is incomplete or malformed");
    }
    let request_id = exchange.request_id.to_str().unwrap_or_default();
    let target = exchange
        .target
        .map_or("", |index| upstream.targets[index].label.as_str());
    tracing::warn!(request_id, upstream = %name, target, error = %err, "upstream request failed");
    match err {
        SendError::Timeout(timeout) => ProxyError::UpstreamTimeout {
            upstream: name,
            timeout_ms: timeout.as_millis(),
        },
        SendError::Connect(crate::upstream::connect::ConnectError::Timeout(timeout)) => {
            ProxyError::UpstreamTimeout {
                upstream: name,
                timeout_ms: timeout.as_millis(),
            }
        }
        SendError::Exchange(ExchangeError::Protocol(reason)) => ProxyError::UpstreamProtocol {
            upstream: name,
            reason: reason.to_string(),
        },
        SendError::Http2(err) if err.is_parse() => ProxyError::UpstreamProtocol {
            upstream: name,
            reason: err.to_string(),
        },
        other => ProxyError::UpstreamUnavailable {
            upstream: name,
            reason: other.to_string(),
        },
    }
}

/// Finds an error of type `E` in the error's source chain.
fn find_cause<E: std::error::Error + 'static>(err: &SendError) -> Option<&E> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(found) = current.downcast_ref::<E>() {
            return Some(found);
        }
        source = current.source();
    }
    None
}
