//! The request phases for one request, from parse to log.
//!
//! `handle` is the service function every listener connection calls. It runs parse, route,
//! admit, transform request, forward and transform response in order; any phase may end the
//! request with a `ProxyError`, which `error::error_response` turns into the JSON answer. The
//! log phase runs when the response body ends, whatever happened before.

mod forward;
mod log;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::{header, HeaderValue, Method, Request, Response, Version};
use hyper::body::Incoming;

use crate::body::ProxyBody;
use crate::error::{error_response, Fault, ProxyError};
use crate::headers;
use crate::listener::guard::GuardState;
use crate::route::{self, host, Matched};
use crate::snapshot::{Shared, Snapshot};
use crate::telemetry::access_log::AccessRecord;
use log::{LogEntry, LoggedBody};

/// Facts about the client connection that every request on it shares.
pub struct ConnectionInfo {
    pub listener: Arc<str>,
    pub https: bool,
    pub client: SocketAddr,
    /// The smuggling guard's verdicts for HTTP/1 connections.
    pub guard: Option<Arc<GuardState>>,
}

/// State of one request as it moves through the phases.
pub struct Exchange {
    pub request_id: HeaderValue,
    pub snapshot: Arc<Snapshot>,
    pub route: Option<usize>,
    pub head_only: bool,
    pub bytes_in: Arc<AtomicU64>,
    pub record: AccessRecord,
}

/// Runs all phases for one request. Never fails: errors become JSON error responses.
pub async fn handle(
    shared: Arc<Shared>,
    connection: Arc<ConnectionInfo>,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let may_upgrade = method == Method::CONNECT || request.headers().contains_key(header::UPGRADE);
    let mut exchange = parse(&shared, &connection, &request);

    let response = match run_phases(&connection, request, &mut exchange).await {
        Ok(response) => response,
        Err(err) => {
            exchange.record.error = Some(err.code());
            reject(&err, &exchange)
        }
    };
    let mut response = response;
    response
        .headers_mut()
        .insert(headers::X_REQUEST_ID.clone(), exchange.request_id.clone());
    exchange.record.status = response.status().as_u16();
    if let (true, Some(guard)) = (may_upgrade, &connection.guard) {
        guard.upgrade_finished(response.status() == http::StatusCode::SWITCHING_PROTOCOLS);
    }

    let entry = LogEntry {
        shared,
        snapshot: exchange.snapshot,
        started,
        method,
        route: exchange.route,
        record: exchange.record,
        bytes_in: exchange.bytes_in,
    };
    Ok(response.map(|body| {
        use http_body_util::BodyExt;
        LoggedBody::new(body, entry).boxed()
    }))
}

/// The parse phase: the request id, the access record, and the snapshot for this request.
fn parse(shared: &Shared, connection: &ConnectionInfo, request: &Request<Incoming>) -> Exchange {
    let request_id = headers::request_id(request.headers());
    let host = request_host(request)
        .map(host::request_host)
        .unwrap_or_default();
    let record = AccessRecord {
        time: SystemTime::now(),
        request_id: request_id.to_str().unwrap_or_default().to_string(),
        client: connection.client,
        method: request.method().to_string(),
        host,
        path: request.uri().path().to_string(),
        protocol: protocol_name(request.version()),
        route: None,
        upstream: None,
        target: None,
        status: 0,
        bytes_in: 0,
        bytes_out: 0,
        duration: Default::default(),
        upstream_duration: None,
        error: None,
    };
    Exchange {
        request_id,
        snapshot: shared.snapshot.load_full(),
        route: None,
        head_only: request.method() == Method::HEAD,
        bytes_in: Arc::new(AtomicU64::new(0)),
        record,
    }
}

async fn run_phases(
    connection: &ConnectionInfo,
    request: Request<Incoming>,
    exchange: &mut Exchange,
) -> Result<Response<ProxyBody>, ProxyError> {
    check_message(connection, &request)?;
    let (matched, path) = route_request(&request, exchange)?;
    admit(&request, exchange, &matched)?;
    forward::forward(connection, request, exchange, matched, path).await
}

/// Rejects what the HTTP layer let through but a proxy must not forward.
fn check_message(
    connection: &ConnectionInfo,
    request: &Request<Incoming>,
) -> Result<(), ProxyError> {
    if let Some(guard) = &connection.guard {
        if guard.next_request_is_ambiguous() {
            return Err(ProxyError::AmbiguousLength);
        }
    }
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
    if request.uri().path() == "*" {
        return Err(ProxyError::InvalidTarget(
            "asterisk-form is only for server-wide OPTIONS",
        ));
    }
    Ok(())
}

/// The route phase: normalize the path and find the route.
fn route_request(
    request: &Request<Incoming>,
    exchange: &mut Exchange,
) -> Result<(Matched, String), ProxyError> {
    let path = route::path::normalize(request.uri().path())?;
    let snapshot = exchange.snapshot.clone();
    let query = request.uri().query();
    let host = exchange.record.host.as_str();
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
    let route = &snapshot.routes[matched.route];
    exchange.route = Some(matched.route);
    exchange.record.route = Some(route.model.name.clone());
    exchange.record.upstream = Some(route.upstream.name.clone());
    Ok((matched, path))
}

/// The admit phase. Policies plug in here; the request body size limit is checked first.
fn admit(
    request: &Request<Incoming>,
    exchange: &Exchange,
    matched: &Matched,
) -> Result<(), ProxyError> {
    let limit = exchange.snapshot.routes[matched.route].max_body_size;
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

fn reject(err: &ProxyError, exchange: &Exchange) -> Response<ProxyBody> {
    let request_id = exchange.request_id.to_str().unwrap_or_default();
    match err.fault() {
        Fault::Client => {
            tracing::debug!(request_id, code = err.code(), error = %err, "request rejected")
        }
        Fault::Upstream => {
            tracing::warn!(request_id, code = err.code(), error = %err, "upstream failed")
        }
        Fault::Gateway => {
            tracing::error!(request_id, code = err.code(), error = %err, "request failed")
        }
    }
    error_response(err, request_id, exchange.head_only)
}

fn request_host(request: &Request<Incoming>) -> Option<&str> {
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

fn decode_query_component(raw: &str) -> String {
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
