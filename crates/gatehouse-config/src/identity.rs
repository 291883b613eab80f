//! The validated model of consumers, plans, authentication and IP rules.
//!
//! Built by `validate` like the rest of `model`, with every reference (route, plan,
//! provider) resolved to an index. Secrets are wrapped in `Secret`, whose `Debug` output
//! hides the value.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;

/// A plan: what a consumer has bought.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub name: String,
    /// Indexes into `Config::routes` that consumers on this plan may call; `None` means all.
    pub routes: Option<Vec<usize>>,
    pub rate_limits: Vec<crate::limits::RateLimit>,
    pub quotas: Vec<crate::limits::Quota>,
}

/// A client of the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    pub id: String,
    /// Index into `Config::plans`.
    pub plan: Option<usize>,
    /// SHA-256 digests of the consumer's API keys. Plain keys from environment variables
    /// are hashed while loading, so no plain key stays in the model.
    pub api_keys: Vec<[u8; 32]>,
    pub tags: Vec<String>,
    /// Replace the plan's rate limits for this consumer when set.
    pub rate_limits: Option<Vec<crate::limits::RateLimit>>,
    /// Replace the plan's quotas for this consumer when set.
    pub quotas: Option<Vec<crate::limits::Quota>>,
}

/// A secret value (client secret, plain key) that `Debug` never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Secret(<redacted>)")
    }
}

/// The `authentication` section: how credentials are found and checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Authentication {
    pub api_key: ApiKeySettings,
    pub jwt: Vec<JwtProvider>,
    pub introspection: Vec<IntrospectionProvider>,
}

/// The request locations API keys are read from.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeySettings {
    /// Header that carries the key (default `x-api-key`).
    pub header: HeaderName,
    /// Also accept `Authorization: Bearer <key>` (default false).
    pub bearer: bool,
    /// Query parameter that may carry the key; `None` (the default) disables it.
    pub query: Option<String>,
}

impl Default for ApiKeySettings {
    fn default() -> Self {
        ApiKeySettings {
            header: HeaderName::from_static("x-api-key"),
            bearer: false,
            query: None,
        }
    }
}

/// A trusted issuer of JSON Web Tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtProvider {
    pub name: String,
    /// Required `iss` value.
    pub issuer: String,
    /// Accepted `aud` values; the token must name at least one.
    pub audiences: Vec<String>,
    pub keys: JwtKeys,
    /// Accepted `alg` values (names as in RFC 7518: `RS256`, `ES256`, `EdDSA`, `HS256`, ...).
    /// Validation guarantees they are all HMAC or all public-key algorithms.
    pub algorithms: Vec<String>,
    /// Claim whose value names the consumer (e.g. `sub`); `None` leaves the request anonymous.
    pub consumer_claim: Option<String>,
    /// Reject tokens whose consumer claim names no configured consumer (default false).
    pub require_consumer: bool,
    /// Clock skew allowed for `exp`, `nbf` and `iat` (default 30s).
    pub leeway: Duration,
    /// Reject tokens without `exp` (default true).
    pub require_exp: bool,
    /// Claims copied to upstream request headers: claim name and header name.
    pub forward_claims: Vec<(String, HeaderName)>,
}

/// The source of a JWT provider's verification keys.
#[derive(Debug, Clone, PartialEq)]
pub enum JwtKeys {
    /// A JWKS endpoint, fetched at start and refreshed.
    Jwks {
        url: String,
        /// Refresh period when the response gives no cache lifetime (default 5m).
        refresh: Duration,
        /// Minimum time between fetches caused by unknown `kid`s (default 30s).
        min_refetch_interval: Duration,
        /// Timeout of one fetch (default 5s).
        timeout: Duration,
    },
    /// PEM public keys or JWK/JWKS JSON files, resolved relative to the configuration file.
    Files(Vec<PathBuf>),
    /// HMAC shared secrets.
    Secrets(Vec<Secret>),
}

/// An OAuth 2.0 token introspection endpoint (RFC 7662).
#[derive(Debug, Clone, PartialEq)]
pub struct IntrospectionProvider {
    pub name: String,
    pub url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Maximum time an introspection result is reused (default 60s); a token's `exp` can
    /// shorten it.
    pub cache_ttl: Duration,
    /// Timeout of one introspection call (default 2s).
    pub timeout: Duration,
    /// Field of the introspection response that names the consumer (default `sub`).
    pub consumer_claim: Option<String>,
    pub require_consumer: bool,
}

/// A route's `auth` block.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteAuth {
    /// Methods that may authenticate the request, tried in order; any one suffices.
    pub methods: Vec<AuthMethod>,
    /// Scopes that must all be granted (JWT `scope`/`scp`, introspection `scope`).
    pub scopes: Vec<String>,
    /// Claims that must have exactly these values (strings, or members of array claims).
    pub claims: Vec<(String, String)>,
    /// Consumers must carry at least one of these tags; empty allows any consumer.
    pub allow_tags: Vec<String>,
    /// Forward the credential to the upstream instead of removing it (default false).
    pub keep_credential: bool,
    /// Query parameters that may carry a bearer token (e.g. `access_token`); empty (the
    /// default) ignores tokens in the query. Such parameters are removed before forwarding.
    pub token_query: Vec<String>,
}

/// One way a route accepts credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ApiKey,
    /// Index into `Authentication::jwt`.
    Jwt(usize),
    /// Index into `Authentication::introspection`.
    Introspection(usize),
}

/// An IP network in CIDR form, e.g. `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    pub address: IpAddr,
    pub prefix: u8,
}

impl IpNetwork {
    /// Returns true when `ip` is inside this network. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNetwork {
    /// Writes the network in CIDR form, such as `10.0.0.0/8` or `2001:db8::/32`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.address, self.prefix)
    }
}

/// A route's `ip` block. Deny wins over allow; an empty allow list allows every address.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IpRules {
    pub allow: Vec<IpNetwork>,
    pub deny: Vec<IpNetwork>,
}

/// Settings that decide the client address.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientIp {
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNetwork>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_contains() {
        let network = IpNetwork {
            address: "10.0.0.0".parse().unwrap(),
            prefix: 8,
        };
        assert!(network.contains("10.1.2.3".parse().unwrap()));
        assert!(!network.contains("11.0.0.1".parse().unwrap()));
        assert!(network.contains("::ffff:10.0.0.1".parse().unwrap()));
        let all = IpNetwork {
            address: "0.0.0.0".parse().unwrap(),
            prefix: 0,
        };
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        let host = IpNetwork {
            address: "2001:db8::1".parse().unwrap(),
            prefix: 128,
        };
        assert!(host.contains("2001:db8::1".parse().unwrap()));
        assert!(!host.contains("2001:db8::2".parse().unwrap()));
    }
}
