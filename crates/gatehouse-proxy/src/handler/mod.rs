//! The request phases for one request, from parse to log.
//!
//! `handle` is the service function every listener connection calls. It runs parse, route,
//! admit, transform request, forward and transform response in order; any phase may end the
//! request with a `ProxyError`, which `error::error_response` turns into the JSON error response. The
//! log phase runs when the response body ends, whatever happened before.

mod admit;
mod forward;
mod log;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{header, HeaderValue, Method, Request, Response, Uri, Version};

use crate::body::{ProxyBody, RequestBody};
use crate::error::{error_response, Fault, ProxyError};
use crate::headers::{self, AddedFields};
use crate::listener::idle::Activity;
use crate::policy::auth::Identity;
use crate::policy::limit::fields::LimitFields;
use crate::route::{self, host, Matched};
use crate::snapshot::{Shared, Snapshot};
use log::{LogEntry, LoggedBody};

/// Facts about the client connection that every request on it shares.
pub struct ConnectionInfo {
    pub listener: Arc<str>,
    pub https: bool,
    pub client: SocketAddr,
    /// The client's IP address as a header value, for `X-Forwarded-For`.
    pub client_address: HeaderValue,
    /// Requests in flight, for the idle timeout of HTTP/2 connections.
    pub activity: Arc<Activity>,
}

/// State of one request as it moves through the phases, and what the log phase reports.
pub struct Exchange {
    pub request_id: HeaderValue,
    pub snapshot: Arc<Snapshot>,
    pub started: Instant,
    pub method: Method,
    pub uri: Uri,
    /// The request host in lower case without port; empty when the request has none.
    pub host: String,
    pub protocol: &'static str,
    pub head_only: bool,
    /// Index into the snapshot's routes, once the route phase found one.
    pub route: Option<usize>,
    /// Index into the route's upstream targets, once the forward phase chose one.
    pub target: Option<usize>,
    pub status: u16,
    pub upstream_duration: Option<Duration>,
    /// The gateway's error code when the gateway responded itself.
    pub error: Option<&'static str>,
    pub bytes_in: Arc<AtomicU64>,
    /// The caller's identity from the admit phase, on routes with `auth`.
    pub identity: Option<Identity>,
    /// Rate limit fields for the response.
    pub limit_fields: Option<LimitFields>,
}

/// Runs all phases for one request, with the added fields in the response's header map.
/// Errors become JSON error responses, so the result is always `Ok`.
pub async fn handle(
    shared: Arc<Shared>,
    connection: Arc<ConnectionInfo>,
    request: Request<RequestBody>,
) -> Result<Response<ProxyBody>, Infallible> {
    let (mut response, added) = respond(shared, connection, request).await;
    added.insert_into(response.headers_mut());
    Ok(response)
}

/// Runs all phases for one request; returns the response and the fields to add to it.
pub async fn respond(
    shared: Arc<Shared>,
    connection: Arc<ConnectionInfo>,
    request: Request<RequestBody>,
) -> (Response<ProxyBody>, AddedFields) {
    let mut exchange = parse(&shared, &request);
    connection.activity.request_started();

    let response = match run_phases(&shared, &connection, request, &mut exchange).await {
        Ok(response) => response,
        Err(err) => {
            exchange.error = Some(err.code());
            reject(&err, &exchange)
        }
    };
    finish(shared, connection, exchange, response)
}

/// Builds the error response of a request that the listener rejected before the phases (for
/// its framing), with the same request id field, metrics and access log line as any other
/// request.
pub fn reject_request(
    shared: Arc<Shared>,
    connection: Arc<ConnectionInfo>,
    request: &Request<RequestBody>,
    err: &ProxyError,
) -> (Response<ProxyBody>, AddedFields) {
    let mut exchange = parse(&shared, request);
    connection.activity.request_started();
    exchange.error = Some(err.code());
    let response = reject(err, &exchange);
    finish(shared, connection, exchange, response)
}

/// Attaches the log phase to the end of the response body; returns the response with the
/// request id and limit fields to add to it.
fn finish(
    shared: Arc<Shared>,
    connection: Arc<ConnectionInfo>,
    mut exchange: Exchange,
    response: Response<ProxyBody>,
) -> (Response<ProxyBody>, AddedFields) {
    let added = AddedFields {
        request_id: exchange.request_id.clone(),
        limits: exchange.limit_fields.take(),
    };
    exchange.status = response.status().as_u16();

    let entry = LogEntry {
        shared,
        exchange,
        connection,
    };
    let response = response.map(|body| {
        use http_body_util::BodyExt;
        LoggedBody::new(body, entry).boxed()
    });
    (response, added)
}

/// Runs the parse phase: takes the request id, the facts the log phase reports, and the
/// snapshot for this request.
fn parse(shared: &Shared, request: &Request<RequestBody>) -> Exchange {
    let host = request_host(request)
        .map(host::request_host)
        .unwrap_or_default();
    Exchange {
        request_id: headers::request_id(request.headers()),
        snapshot: shared.snapshot.load_full(),
        started: Instant::now(),
        method: request.method().clone(),
        uri: request.uri().clone(),
        host,
        protocol: protocol_name(request.version()),
        head_only: request.method() == Method::HEAD,
        route: None,
        target: None,
        status: 0,
        upstream_duration: None,
        error: None,
        bytes_in: Arc::new(AtomicU64::new(0)),
        identity: None,
        limit_fields: None,
    }
}

async fn run_phases(
    shared: &Shared,
    connection: &ConnectionInfo,
    request: Request<RequestBody>,
    exchange: &mut Exchange,
) -> Result<Response<ProxyBody>, ProxyError> {
    check_message(&request)?;
    let (matched, path) = route_request(&request, exchange)?;
    admit::admit(shared, connection, &request, exchange, &matched).await?;
    forward::forward(connection, request, exchange, matched, path).await
}

/// Rejects what the HTTP layer let through but a proxy must not forward.
fn check_message(request: &Request<RequestBody>) -> Result<(), ProxyError> {
    if request.method() == Method::CONNECT {
        return Err(ProxyError::BadRequest("CONNECT is not supported"));
    }
    if request
        .headers()
        .get_all(header::HOST)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(ProxyError::BadRequest("more than one Host header"));
    }
    let has_host =
        request.headers().contains_key(header::HOST) || request.uri().authority().is_some();
    if request.version() == Version::HTTP_11 && !has_host {
        return Err(ProxyError::BadRequest(
            "an HTTP/1.1 request must have a Host header",
        ));
    }
    if request.uri().path() == "*" {
        return Err(ProxyError::InvalidTarget(
            "asterisk-form is only for server-wide OPTIONS",
        ));
    }
    Ok(())
}

/// Runs the route phase: normalizes the path and finds the route. Returns the normalized
/// path when it differs from the request's.
fn route_request(
    request: &Request<RequestBody>,
    exchange: &mut Exchange,
) -> Result<(Matched, Option<String>), ProxyError> {
    let path = route::path::normalize(request.uri().path())?;
    let snapshot = exchange.snapshot.clone();
    let query = request.uri().query();
    let host = exchange.host.as_str();
    let accepts = |index: usize| {
        let matcher = &snapshot.routes[index].model.matcher;
        host::matches_any(&matcher.hosts, host)
            && (matcher.methods.is_empty() || matcher.methods.contains(request.method()))
            && matcher.headers.iter().all(|(name, value)| {
                request
                    .headers()
                    .get_all(name)
                    .iter()
                    .any(|sent| sent.as_bytes() == value.as_bytes())
            })
            && matcher
                .query
                .iter()
                .all(|(name, value)| query_has(query, name, value))
    };
    let matched = snapshot
        .router
        .find(&path, accepts)
        .ok_or(ProxyError::RouteNotFound)?;
    exchange.route = Some(matched.route);
    let changed = match path {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(path) => Some(path),
    };
    Ok((matched, changed))
}

fn reject(err: &ProxyError, exchange: &Exchange) -> Response<ProxyBody> {
    let request_id = exchange.request_id.to_str().unwrap_or_default();
    match err.fault() {
        Fault::Client => {
            tracing::debug!(request_id, code = err.code(), error = %err, "request rejected")
        }
        // The forward phase and the authentication providers already logged the cause.
        Fault::Upstream => {
            tracing::debug!(request_id, code = err.code(), error = %err, "upstream failed")
        }
        Fault::Gateway => {
            tracing::error!(request_id, code = err.code(), error = %err, "request failed")
        }
    }
    error_response(err, request_id, exchange.head_only)
}

fn request_host(request: &Request<RequestBody>) -> Option<&str> {
    request
        .uri()
        .authority()
        .map(|authority| authority.as_str())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
        })
}

fn protocol_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP",
    }
}

/// Returns true when the raw query string has `name=value`, comparing decoded forms.
fn query_has(query: Option<&str>, name: &str, value: &str) -> bool {
    let Some(query) = query else {
        return false;
    };
    query.split('&').any(|pair| {
        let (key, sent) = pair.split_once('=').unwrap_or((pair, ""));
        decode_query_component(key) == name && decode_query_component(sent) == value
    })
}

pub(crate) fn decode_query_component(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match bytes[i] {
            b'+' => Some((b' ', 1)),
            b'%' => raw
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .map(|byte| (byte, 3)),
            _ => None,
        };
        let (byte, width) = decoded.unwrap_or((bytes[i], 1));
        out.push(byte);
        i += width;
    }
    String::from_utf8_lossy(&out).into_owned()
}
