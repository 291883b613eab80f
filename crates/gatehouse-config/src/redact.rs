//! The validated model as JSON for `GET /admin/config`, with secrets replaced.
//!
//! Secrets are credentials in target URLs, the values of credential headers such as
//! `authorization` in route matches and header rules, introspection client secrets, HMAC
//! secrets and Redis passwords. API key digests are cut to a short prefix. A new secret field gets its own
//! `redact_*` helper here or in `identity`. Durations are strings such as "5s"; sizes are
//! numbers of bytes.

mod identity;
mod limits;

use http::{HeaderName, HeaderValue};
use serde_json::{json, Value};

use crate::model::{
    AccessLogFormat, Config, HashKey, HeaderRules, HostPattern, Listener, LoadBalancing, PathMatch,
    Rewrite, Route, Scheme, Server, Target, Upstream, UpstreamProtocol,
};
use crate::precedence::tier_name;
use crate::units::format_duration;

/// The text that replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Header names whose configured values are credentials.
const SECRET_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
];

/// Returns the whole configuration as JSON, with secrets replaced by `"<redacted>"`.
pub fn redacted_json(config: &Config) -> Value {
    json!({
        "source": config.source,
        "listeners": config.listeners.iter().map(listener_json).collect::<Vec<_>>(),
        "admin": { "address": config.admin.address.map(|address| address.to_string()) },
        "access_log": { "format": access_log_name(config.access_log) },
        "server": server_json(&config.server),
        "upstreams": config.upstreams.iter().map(upstream_json).collect::<Vec<_>>(),
        "routes": config.routes.iter().map(|route| route_json(route, config)).collect::<Vec<_>>(),
        "plans": config.plans.iter().map(|plan| identity::plan_json(plan, &config.routes)).collect::<Vec<_>>(),
        "consumers": config.consumers.iter().map(|consumer| identity::consumer_json(consumer, &config.plans)).collect::<Vec<_>>(),
        "authentication": identity::authentication_json(&config.authentication),
        "client_ip": identity::client_ip_json(&config.client_ip),
        "rate_limiting": limits::rate_limiting_json(&config.rate_limiting),
    })
}

fn listener_json(listener: &Listener) -> Value {
    // The key file path is shown; the key itself is never read here.
    let tls = listener.tls.as_ref().map(|tls| {
        json!({
            "certificate": tls.certificate.display().to_string(),
            "key": tls.key.display().to_string(),
        })
    });
    json!({
        "name": listener.name,
        "address": listener.address.to_string(),
        "tls": tls,
    })
}

fn access_log_name(format: AccessLogFormat) -> &'static str {
    match format {
        AccessLogFormat::Json => "json",
        AccessLogFormat::Text => "text",
        AccessLogFormat::Off => "off",
    }
}

fn server_json(server: &Server) -> Value {
    json!({
        "header_read_timeout": format_duration(server.header_read_timeout),
        "max_header_size": server.max_header_size,
        "max_headers": server.max_headers,
        "max_body_size": server.max_body_size,
        "idle_timeout": format_duration(server.idle_timeout),
        "shutdown_timeout": format_duration(server.shutdown_timeout),
        "log_level": server.log_level,
    })
}

fn upstream_json(upstream: &Upstream) -> Value {
    let (policy, hash_key) = match &upstream.load_balancing {
        LoadBalancing::RoundRobin => ("round_robin", None),
        LoadBalancing::LeastRequests => ("least_requests", None),
        LoadBalancing::Random => ("random", None),
        LoadBalancing::ConsistentHash(key) => ("consistent_hash", Some(hash_key_text(key))),
    };
    let protocol = match upstream.protocol {
        UpstreamProtocol::Http1 => "http1",
        UpstreamProtocol::H2c => "h2c",
    };
    json!({
        "name": upstream.name,
        "targets": upstream.targets.iter().map(target_json).collect::<Vec<_>>(),
        "load_balancing": policy,
        "hash_key": hash_key,
        "protocol": protocol,
        "preserve_host": upstream.preserve_host,
        "max_idle_per_target": upstream.max_idle_per_target,
        "timeouts": {
            "connect": format_duration(upstream.timeouts.connect),
            "request": format_duration(upstream.timeouts.request),
            "idle": format_duration(upstream.timeouts.idle),
        },
        "tls": {
            "ca": upstream.tls.ca.as_ref().map(|path| path.display().to_string()),
            "verify": !upstream.tls.insecure_skip_verify,
            "server_name": upstream.tls.server_name,
        },
    })
}

fn hash_key_text(key: &HashKey) -> String {
    match key {
        HashKey::Header(name) => format!("header:{name}"),
        HashKey::Cookie(name) => format!("cookie:{name}"),
        HashKey::ClientIp => "client_ip".to_string(),
    }
}

fn target_json(target: &Target) -> Value {
    let scheme = match target.scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    };
    json!({
        "url": redact_url_credentials(&target.url),
        "scheme": scheme,
        "host": target.host,
        "port": target.port,
        "weight": target.weight,
    })
}

/// Replaces `user:password@` in a URL. Validation rejects such URLs, so this guards against
/// a model built some other way.
fn redact_url_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{REDACTED}@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Replaces the password in a Redis URL: `redis://user:secret@host` becomes
/// `redis://user:<redacted>@host`. A user part without `:` is replaced whole, because it
/// may be a password written without a user name.
pub fn redact_redis_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    let (user_info, host) = (&rest[..at], &rest[at + 1..]);
    match user_info.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:{REDACTED}@{host}"),
        None => format!("{scheme}://{REDACTED}@{host}"),
    }
}

fn route_json(route: &Route, config: &Config) -> Value {
    let matcher = &route.matcher;
    let (path_key, path_value) = match &matcher.path {
        PathMatch::Exact(path) => ("path", path),
        PathMatch::Prefix(path) => ("path_prefix", path),
        PathMatch::Template(path) => ("path_template", path),
        PathMatch::Regex(path) => ("path_regex", path),
    };
    let headers: Vec<Value> = matcher
        .headers
        .iter()
        .map(|(name, value)| header_json(name, value.as_bytes()))
        .collect();
    let rewrite = route.rewrite.as_ref().map(|rewrite| match rewrite {
        Rewrite::StripPrefix(prefix) => json!({ "strip_prefix": prefix }),
        Rewrite::Path(path) => json!({ "path": path }),
    });
    json!({
        "name": route.name,
        "match": {
            "tier": tier_name(&matcher.path),
            path_key: path_value,
            "hosts": matcher.hosts.iter().map(host_text).collect::<Vec<_>>(),
            "methods": matcher.methods.iter().map(|method| method.as_str()).collect::<Vec<_>>(),
            "headers": headers,
            "query": matcher.query.iter().map(|(name, value)| json!({ "name": name, "value": value })).collect::<Vec<_>>(),
        },
        "upstream": config.upstreams.get(route.upstream).map(|upstream| upstream.name.as_str()),
        "rewrite": rewrite,
        "request_headers": header_rules_json(&route.request_headers),
        "response_headers": header_rules_json(&route.response_headers),
        "max_body_size": route.max_body_size,
        "auth": route.auth.as_ref().map(|auth| identity::route_auth_json(auth, &config.authentication)),
        "ip": route.ip.as_ref().map(identity::ip_rules_json),
        "rate_limits": limits::rate_limits_json(&route.rate_limits),
    })
}

fn host_text(pattern: &HostPattern) -> String {
    match pattern {
        HostPattern::Exact(host) => host.clone(),
        HostPattern::Wildcard(suffix) => format!("*{suffix}"),
    }
}

fn header_rules_json(rules: &HeaderRules) -> Value {
    let edits = |edits: &[(HeaderName, HeaderValue)]| -> Vec<Value> {
        edits
            .iter()
            .map(|(name, value)| header_json(name, value.as_bytes()))
            .collect()
    };
    json!({
        "remove": rules.remove.iter().map(HeaderName::as_str).collect::<Vec<_>>(),
        "set": edits(&rules.set),
        "add": edits(&rules.add),
    })
}

/// Formats a header as `{"name", "value"}`, hiding the value of credential headers.
fn header_json(name: &HeaderName, value: &[u8]) -> Value {
    let value = if SECRET_HEADERS.contains(&name.as_str()) {
        REDACTED.to_string()
    } else {
        String::from_utf8_lossy(value).into_owned()
    };
    json!({ "name": name.as_str(), "value": value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_replaced() {
        assert_eq!(
            redact_url_credentials("http://user:secret@10.0.0.1:9001/"),
            "http://<redacted>@10.0.0.1:9001/"
        );
    }

    #[test]
    fn url_without_credentials_unchanged() {
        assert_eq!(
            redact_url_credentials("https://api.internal"),
            "https://api.internal"
        );
        assert_eq!(redact_url_credentials("http://a/?q=x@y"), "http://a/?q=x@y");
    }

    #[test]
    fn redis_password_replaced() {
        assert_eq!(
            redact_redis_url("redis://:secret@10.0.0.5:6379/0"),
            "redis://:<redacted>@10.0.0.5:6379/0"
        );
        assert_eq!(
            redact_redis_url("rediss://gw:secret@cache.internal"),
            "rediss://gw:<redacted>@cache.internal"
        );
        assert_eq!(
            redact_redis_url("redis://secret@cache.internal"),
            "redis://<redacted>@cache.internal"
        );
        assert_eq!(
            redact_redis_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn secret_header_value_hidden() {
        let name = HeaderName::from_static("authorization");
        let value = header_json(&name, b"Bearer abc");
        assert_eq!(value["value"], REDACTED);
    }

    #[test]
    fn plain_header_value_shown() {
        let name = HeaderName::from_static("x-gateway");
        let value = header_json(&name, b"gatehouse");
        assert_eq!(value["value"], "gatehouse");
    }
}
