//! The ordered list of request phases.
//!
//! The names are the ones used in span names, log fields and `docs/request-lifecycle.md`.
//! Each later capability (authentication, rate limits, caching) plugs into one of them.

/// One step of a request's way through the gateway, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The listener takes the connection; TLS handshake and protocol choice.
    Accept,
    /// The request head is read under limits, checked and given a request id.
    Parse,
    /// The path is normalized and matched against the route table.
    Route,
    /// Policies decide whether the request may pass (IP rules, authentication, limits).
    Admit,
    /// Header and path rewrites before forwarding.
    TransformRequest,
    /// A target is chosen and the request is sent over a pooled connection.
    Forward,
    /// Header rewrites on the upstream's response.
    TransformResponse,
    /// Access log line and metrics, once per request whatever the outcome.
    Log,
}

impl Phase {
    /// All phases in request order.
    pub const ALL: [Phase; 8] = [
        Phase::Accept,
        Phase::Parse,
        Phase::Route,
        Phase::Admit,
        Phase::TransformRequest,
        Phase::Forward,
        Phase::TransformResponse,
        Phase::Log,
    ];

    /// Returns the phase's name as used in spans and docs.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Accept => "accept",
            Phase::Parse => "parse",
            Phase::Route => "route",
            Phase::Admit => "admit",
            Phase::TransformRequest => "transform_request",
            Phase::Forward => "forward",
            Phase::TransformResponse => "transform_response",
            Phase::Log => "log",
        }
    }
}
