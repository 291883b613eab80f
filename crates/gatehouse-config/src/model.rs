//! The validated configuration model.
//!
//! `validate` builds these types from the file structs in `file`; nothing here derives serde,
//! and every value has already been checked, so the runtime builder in `gatehouse-proxy` can
//! trust it without re-checking. Cross-references are resolved to indexes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};

pub use crate::identity::{
    ApiKeySettings, AuthMethod, Authentication, ClientIp, Consumer, IntrospectionProvider,
    IpNetwork, IpRules, JwtKeys, JwtProvider, Plan, RouteAuth, Secret,
};
pub use crate::limits::{
    LimitHeaders, LimitKey, LimitStore, OnStoreError, Quota, QuotaWindow, RateLimit, RateLimiting,
    RedisSettings,
};

/// A complete, valid configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Origin of the configuration (a file path or `<embedded demo>`), for messages.
    pub source: String,
    pub listeners: Vec<Listener>,
    pub admin: Admin,
    pub access_log: AccessLogFormat,
    pub server: Server,
    pub upstreams: Vec<Upstream>,
    pub routes: Vec<Route>,
    pub plans: Vec<Plan>,
    pub consumers: Vec<Consumer>,
    pub authentication: Authentication,
    pub client_ip: ClientIp,
    pub rate_limiting: RateLimiting,
}

/// Connection and request limits that apply to every listener.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// Time a client has to send a complete request head (default 10s).
    pub header_read_timeout: Duration,
    /// Maximum size of a request head in bytes (default 64 KiB).
    pub max_header_size: usize,
    /// Maximum number of request header fields (default 100).
    pub max_headers: usize,
    /// Maximum request body size in bytes, unless a route sets its own (default 10 MiB).
    pub max_body_size: u64,
    /// Time a keep-alive client connection may stay idle (default 60s).
    pub idle_timeout: Duration,
    /// Time requests in flight get to finish at shutdown (default 30s).
    pub shutdown_timeout: Duration,
    /// Diagnostic log filter such as `info` or `gatehouse_proxy=debug`; `RUST_LOG` wins.
    pub log_level: Option<String>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            header_read_timeout: Duration::from_secs(10),
            max_header_size: 64 * 1024,
            max_headers: 100,
            max_body_size: 10 * 1024 * 1024,
            idle_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            log_level: None,
        }
    }
}

/// A socket on which the gateway accepts client connections.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub name: String,
    pub address: SocketAddr,
    pub tls: Option<ListenerTls>,
}

/// Certificate chain and private key of an HTTPS listener, both PEM files.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerTls {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// The admin listener (health, metrics, reload).
#[derive(Debug, Clone, PartialEq)]
pub struct Admin {
    /// `None` when the admin listener is disabled (`admin: { enabled: false }`).
    pub address: Option<SocketAddr>,
}

/// Access log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogFormat {
    Json,
    Text,
    Off,
}

/// A named group of targets that serve the same API.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    pub targets: Vec<Target>,
    pub load_balancing: LoadBalancing,
    pub protocol: UpstreamProtocol,
    /// Forward the client's `Host` header instead of the target's authority.
    pub preserve_host: bool,
    pub timeouts: UpstreamTimeouts,
    pub tls: UpstreamTls,
    /// Idle keep-alive connections kept per target and worker (default 128).
    pub max_idle_per_target: usize,
}

/// One server of an upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The URL as written in the file, for messages and the admin API.
    pub url: String,
    pub scheme: Scheme,
    /// Host name or IP address, without brackets.
    pub host: String,
    pub port: u16,
    /// Relative share of requests for weighted balancing (default 1).
    pub weight: u32,
}

impl Target {
    /// Returns `host:port`, with brackets around an IPv6 host.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LoadBalancing {
    /// Smooth weighted round robin.
    RoundRobin,
    /// The target with the minimum of requests in flight per unit of weight.
    LeastRequests,
    /// Two random choices, the one with fewer requests in flight wins.
    Random,
    /// A hash ring keyed by part of the request.
    ConsistentHash(HashKey),
}

/// The part of a request that consistent hashing keys on.
#[derive(Debug, Clone, PartialEq)]
pub enum HashKey {
    Header(HeaderName),
    Cookie(String),
    ClientIp,
}

/// Wire protocol towards `http://` targets; `https://` targets negotiate by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamProtocol {
    Http1,
    /// HTTP/2 over cleartext with prior knowledge.
    H2c,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamTimeouts {
    /// TCP connect plus TLS handshake (default 1s).
    pub connect: Duration,
    /// From sending the request to receiving the response head (default 30s).
    pub request: Duration,
    /// How long an idle pooled connection is kept (default 90s).
    pub idle: Duration,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        UpstreamTimeouts {
            connect: Duration::from_secs(1),
            request: Duration::from_secs(30),
            idle: Duration::from_secs(90),
        }
    }
}

/// TLS settings towards `https://` targets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpstreamTls {
    /// PEM file of CA certificates to trust instead of the built-in web PKI roots.
    pub ca: Option<PathBuf>,
    /// Skip certificate verification (`verify: false`); for test set-ups only.
    pub insecure_skip_verify: bool,
    /// Name to send in SNI and verify, instead of the target host.
    pub server_name: Option<String>,
}

/// A rule that maps matching requests to an upstream.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub matcher: RouteMatch,
    /// Index into `Config::upstreams`.
    pub upstream: usize,
    pub rewrite: Option<Rewrite>,
    pub request_headers: HeaderRules,
    pub response_headers: HeaderRules,
    /// Overrides `server.max_body_size` for this route.
    pub max_body_size: Option<u64>,
    /// Authentication and authorization rules of the route; `None` lets every request through.
    pub auth: Option<RouteAuth>,
    /// Client address rules; `None` allows every address.
    pub ip: Option<IpRules>,
    /// Rate limits checked before the consumer's and plan's.
    pub rate_limits: Vec<RateLimit>,
}

impl Route {
    /// Returns a route that matches `path` alone, sends to upstream 0 and has no policies,
    /// for tests and benchmarks that build route tables in code.
    pub fn with_path(name: &str, path: PathMatch) -> Route {
        Route {
            name: name.to_string(),
            matcher: RouteMatch {
                hosts: Vec::new(),
                path,
                methods: Vec::new(),
                headers: Vec::new(),
                query: Vec::new(),
            },
            upstream: 0,
            rewrite: None,
            request_headers: HeaderRules::default(),
            response_headers: HeaderRules::default(),
            max_body_size: None,
            auth: None,
            ip: None,
            rate_limits: Vec::new(),
        }
    }
}

/// The conditions a request must meet to match a route. Empty lists match anything.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatch {
    pub hosts: Vec<HostPattern>,
    pub path: PathMatch,
    pub methods: Vec<Method>,
    /// Header name and exact value that must be present.
    pub headers: Vec<(HeaderName, String)>,
    /// Query parameter name and exact (decoded) value that must be present.
    pub query: Vec<(String, String)>,
}

/// The path condition of a route, matched against the normalized request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// The whole path, e.g. `/v1/status`.
    Exact(String),
    /// The path or any path below it on a segment boundary, e.g. `/v1/prices`.
    Prefix(String),
    /// Segments with `{name}` captures and an optional trailing `{*name}`.
    Template(String),
    /// A regular expression that must match the whole path; named groups are captures.
    Regex(String),
}

/// A host name pattern, stored in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    /// `*.example.org`, stored as `.example.org`: one or more labels before the suffix.
    Wildcard(String),
}

/// Path rewrite applied before forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// Remove this prefix (segment-aligned) from the matched path.
    StripPrefix(String),
    /// Replace the path with this template, filled from the route's captures.
    Path(String),
}

/// Header edits applied in order: remove, then set, then add.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderRules {
    pub remove: Vec<HeaderName>,
    pub set: Vec<(HeaderName, HeaderValue)>,
    pub add: Vec<(HeaderName, HeaderValue)>,
}

impl HeaderRules {
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }
}
