//! Errors the gateway responds with itself, and their mapping to HTTP.
//!
//! Every phase returns a `ProxyError`; `ProxyError::status`, `code` and `error_response` are the
//! one place that decides the status, the JSON body and whether the error is the client's,
//! the upstream's or ours (which sets the log level).

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::body::{self, ProxyBody};

/// A reason the gateway responds to a request itself instead of forwarding the upstream's response.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("invalid request target: {0}")]
    InvalidTarget(&'static str),
    #[error("invalid request: {0}")]
    BadRequest(&'static str),
    #[error("the request body length is ambiguous: Content-Length with Transfer-Encoding, conflicting lengths, Transfer-Encoding on HTTP/1.0, or chunked applied twice")]
    AmbiguousLength,
    #[error(
        "the request uses a transfer coding other than chunked, which the gateway does not support"
    )]
    UnsupportedTransferCoding,
    #[error("request head is too large: {0}")]
    HeadTooLarge(&'static str),
    #[error("no route matches the request")]
    RouteNotFound,
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: u64 },
    #[error("upstream {upstream:?} could not be reached: {reason}")]
    UpstreamUnavailable { upstream: String, reason: String },
    #[error("upstream {upstream:?} did not answer within {timeout_ms} ms")]
    UpstreamTimeout { upstream: String, timeout_ms: u128 },
    #[error("upstream {upstream:?} sent an invalid response: {reason}")]
    UpstreamProtocol { upstream: String, reason: String },
    #[error("the gateway is shutting down")]
    ShuttingDown,
    #[error("{}", if *invalid_token { "the credential is invalid" } else { "authentication is required" })]
    Unauthorized { invalid_token: bool, bearer: bool },
    #[error("the credential lacks the required scope or claims")]
    InsufficientScope { scope: String },
    #[error("{message}")]
    Forbidden {
        code: &'static str,
        message: &'static str,
    },
    #[error("the authentication service of provider {provider:?} is unavailable")]
    AuthUnavailable { provider: String },
    #[error("{} exceeded; retry in {retry_after} s", if *quota { "quota" } else { "rate limit" })]
    RateLimited { retry_after: u64, quota: bool },
    #[error("the rate limit store is unavailable")]
    LimitStoreUnavailable,
}

/// The party at fault, which sets the log level of the diagnostic line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Client,
    Upstream,
    Gateway,
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::InvalidTarget(_)
            | ProxyError::BadRequest(_)
            | ProxyError::AmbiguousLength => StatusCode::BAD_REQUEST,
            ProxyError::HeadTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ProxyError::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            ProxyError::RouteNotFound => StatusCode::NOT_FOUND,
            ProxyError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::UpstreamUnavailable { .. } | ProxyError::UpstreamProtocol { .. } => {
                StatusCode::BAD_GATEWAY
            }
            ProxyError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::ShuttingDown | ProxyError::AuthUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ProxyError::InsufficientScope { .. } | ProxyError::Forbidden { .. } => {
                StatusCode::FORBIDDEN
            }
            ProxyError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ProxyError::LimitStoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Returns the stable machine-readable code of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::InvalidTarget(_) => "invalid_request_target",
            ProxyError::BadRequest(_) => "bad_request",
            ProxyError::AmbiguousLength => "ambiguous_message_length",
            ProxyError::HeadTooLarge(_) => "request_header_fields_too_large",
            ProxyError::UnsupportedTransferCoding => "unsupported_transfer_coding",
            ProxyError::RouteNotFound => "route_not_found",
            ProxyError::BodyTooLarge { .. } => "payload_too_large",
            ProxyError::UpstreamUnavailable { .. } => "upstream_unavailable",
            ProxyError::UpstreamTimeout { .. } => "upstream_timeout",
            ProxyError::UpstreamProtocol { .. } => "upstream_protocol_error",
            ProxyError::ShuttingDown => "shutting_down",
            ProxyError::Unauthorized {
                invalid_token: true,
                ..
            } => "invalid_token",
            ProxyError::Unauthorized {
                invalid_token: false,
                ..
            } => "unauthorized",
            ProxyError::InsufficientScope { .. } => "insufficient_scope",
            ProxyError::Forbidden { code, .. } => code,
            ProxyError::AuthUnavailable { .. } => "authentication_unavailable",
            ProxyError::RateLimited { quota: true, .. } => "quota_exceeded",
            ProxyError::RateLimited { quota: false, .. } => "rate_limited",
            ProxyError::LimitStoreUnavailable => "rate_limit_unavailable",
        }
    }

    pub fn fault(&self) -> Fault {
        match self {
            ProxyError::UpstreamUnavailable { .. }
            | ProxyError::UpstreamTimeout { .. }
            | ProxyError::UpstreamProtocol { .. }
            | ProxyError::AuthUnavailable { .. }
            | ProxyError::LimitStoreUnavailable => Fault::Upstream,
            ProxyError::ShuttingDown => Fault::Gateway,
            _ => Fault::Client,
        }
    }

    /// Returns the message shown to the client. Upstream errors leave out target addresses
    /// and low-level causes, which stay in the diagnostic log.
    pub fn public_message(&self) -> String {
        match self {
            ProxyError::UpstreamUnavailable { upstream, .. } => {
                format!("upstream {upstream:?} is unavailable")
            }
            ProxyError::UpstreamProtocol { upstream, .. } => {
                format!("upstream {upstream:?} sent an invalid response")
            }
            other => other.to_string(),
        }
    }

    /// Returns true when the connection must be closed after the error response.
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            ProxyError::AmbiguousLength
                | ProxyError::UnsupportedTransferCoding
                | ProxyError::BodyTooLarge { .. }
                | ProxyError::HeadTooLarge(_)
        )
    }
}

/// Builds the gateway's JSON error response:
/// `{"error": {"status", "code", "message", "request_id"}}`.
///
/// With `head_only` (a HEAD request) the body is empty but `Content-Length` still gives the
/// length a GET would have received.
pub fn error_response(err: &ProxyError, request_id: &str, head_only: bool) -> Response<ProxyBody> {
    let status = err.status();
    let json = serde_json::json!({
        "error": {
            "status": status.as_u16(),
            "code": err.code(),
            "message": err.public_message(),
            "request_id": request_id,
        }
    });
    let text = Bytes::from(json.to_string());
    let length = HeaderValue::from(text.len());
    let body = if head_only {
        body::empty()
    } else {
        body::full(text)
    };

    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, length);
    match err {
        ProxyError::RateLimited { retry_after, .. } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        ProxyError::LimitStoreUnavailable => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    if let Some(challenge) = challenge(err) {
        headers.insert(header::WWW_AUTHENTICATE, challenge);
    }
    if err.closes_connection() {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Builds the `WWW-Authenticate` challenge of a 401 or scope failure (RFC 6750 section 3).
/// It names the error code only, never the reason a token failed.
fn challenge(err: &ProxyError) -> Option<HeaderValue> {
    let text = match err {
        // Routes that take API keys only in their own header get a scheme of that name, since
        // a bearer token would not be read there.
        ProxyError::Unauthorized { bearer: false, .. } => "ApiKey realm=\"gatehouse\"".to_string(),
        ProxyError::Unauthorized {
            invalid_token: false,
            ..
        } => "Bearer realm=\"gatehouse\"".to_string(),
        ProxyError::Unauthorized {
            invalid_token: true,
            ..
        } => "Bearer realm=\"gatehouse\", error=\"invalid_token\"".to_string(),
        ProxyError::InsufficientScope { scope } if !scope.is_empty() => {
            format!("Bearer realm=\"gatehouse\", error=\"insufficient_scope\", scope=\"{scope}\"")
        }
        ProxyError::InsufficientScope { .. } => {
            "Bearer realm=\"gatehouse\", error=\"insufficient_scope\"".to_string()
        }
        _ => return None,
    };
    HeaderValue::from_str(&text).ok()
}
