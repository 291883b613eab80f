//! Header handling on the way through: hop-by-hop removal, forwarding headers, identity
//! header spoofing, request ids and the route's header rules.

use std::net::IpAddr;

use gatehouse_config::model::HeaderRules;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::policy::limit::fields::LimitFields;

/// Names that are hop-by-hop (RFC 9110 section 7.6.1), plus `Proxy-Connection` and
/// `Proxy-Authorization`, which are never meant for the upstream either.
/// `Trailer` is end-to-end and stays.
static HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Headers the gateway sets itself or that upstreams may trust as set by the gateway. A client
/// header that differs from one of these only by `_` in place of `-` is dropped, because
/// servers that map headers to variables (CGI, some frameworks) treat both spellings alike.
const IDENTITY_HEADERS: [&str; 7] = [
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "x-consumer-id",
    "x-consumer-plan",
];
const IDENTITY_PREFIXES: [&str; 3] = ["x-consumer-", "x-forwarded-", "x-authenticated-"];

/// Removes hop-by-hop headers and every header that `Connection` names. With `upgrade`, the
/// `Upgrade` header and a `Connection: upgrade` survive. A `TE` that lists `trailers` becomes
/// `TE: trailers`, since gRPC over HTTP/2 needs it and it is the only TE value HTTP/2 allows.
pub fn remove_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // Most messages carry none of these; one pass over the names is cheaper than a lookup
    // per hop-by-hop name.
    let present = headers.keys().any(|name| HOP_BY_HOP.contains(name));
    if !present && !upgrade {
        return;
    }
    // Fields that `Connection` names besides the hop-by-hop ones removed below; most
    // messages name only those (`keep-alive`, `upgrade`), so this rarely allocates.
    let mut named: Vec<HeaderName> = Vec::new();
    let tokens = headers
        .get_all(header::CONNECTION)
        .into_iter()
        .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
        .map(<[u8]>::trim_ascii);
    for token in tokens {
        let listed = HOP_BY_HOP
            .iter()
            .any(|hop| hop.as_str().as_bytes().eq_ignore_ascii_case(token));
        if !listed {
            if let Ok(name) = HeaderName::from_bytes(token) {
                named.push(name);
            }
        }
    }
    for name in named {
        if !(upgrade && name == header::UPGRADE) {
            headers.remove(&name);
        }
    }
    let accepts_trailers = headers
        .get_all(header::TE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
        .any(|element| element.trim_ascii().eq_ignore_ascii_case(b"trailers"));
    for name in &HOP_BY_HOP {
        if !(upgrade && name == header::UPGRADE) {
            headers.remove(name);
        }
    }
    if accepts_trailers {
        // Other codings a client accepts concern only its own hop.
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Returns true when a `Connection` field lists `token`, compared without case.
pub fn has_connection_token(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
        .any(|element| element.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Returns true when the request requests a protocol upgrade (WebSocket and others).
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    has_connection_token(headers, "upgrade") && headers.contains_key(header::UPGRADE)
}

/// Drops client headers whose names imitate an identity header with `_` for `-`.
pub fn remove_spoofed_identity(headers: &mut HeaderMap) {
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().contains('_'))
        .filter(|name| {
            let dashed = name.as_str().replace('_', "-");
            IDENTITY_HEADERS.contains(&dashed.as_str())
                || IDENTITY_PREFIXES
                    .iter()
                    .any(|prefix| dashed.starts_with(prefix))
        })
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
}

/// Appends the client address to `X-Forwarded-For` (keeping earlier hops in order) and sets
/// `X-Forwarded-Proto` and `X-Forwarded-Host`.
/// `client` is the client's IP address as a header value.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    client: &HeaderValue,
    https: bool,
    host: Option<&HeaderValue>,
) {
    let previous: Vec<&[u8]> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    if previous.is_empty() {
        headers.insert(X_FORWARDED_FOR.clone(), client.clone());
    } else {
        let mut chain = previous.join(&b", "[..]);
        chain.extend_from_slice(b", ");
        chain.extend_from_slice(client.as_bytes());
        if let Ok(value) = HeaderValue::from_bytes(&chain) {
            headers.insert(X_FORWARDED_FOR.clone(), value);
        }
    }
    let proto = if https { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    match host {
        Some(host) => headers.insert(X_FORWARDED_HOST.clone(), host.clone()),
        None => headers.remove(&X_FORWARDED_HOST),
    };
}

/// Applies a route's header rules: remove, then set, then add.
pub fn apply_rules(headers: &mut HeaderMap, rules: &HeaderRules) {
    for name in &rules.remove {
        headers.remove(name);
    }
    for (name, value) in &rules.set {
        headers.insert(name.clone(), value.clone());
    }
    for (name, value) in &rules.add {
        headers.append(name.clone(), value.clone());
    }
}

/// Formats the client's IP address as a header value, for `X-Forwarded-For`.
pub fn address_value(client: IpAddr) -> HeaderValue {
    HeaderValue::from_str(&client.to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Returns the client's request id when it is usable (1 to 128 visible ASCII characters),
/// otherwise a new random one.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(value) = headers.get(&X_REQUEST_ID) {
        let bytes = value.as_bytes();
        if !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_graphic()) {
            return value.clone();
        }
    }
    new_request_id()
}

fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    let mut bits = (u128::from(fastrand::u64(..)) << 64) | u128::from(fastrand::u64(..));
    for byte in out.iter_mut() {
        *byte = HEX[(bits & 0xF) as usize];
        bits >>= 4;
    }
    HeaderValue::from_bytes(&out).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// The fields the gateway adds to every response: the request id and, on routes with
/// limits, the rate limit fields. The HTTP/1.1 writer writes them after the response's own
/// fields, in place of any of the same names, without inserting them into the header map;
/// HTTP/2 responses get them as map entries.
pub struct AddedFields {
    pub request_id: HeaderValue,
    pub limits: Option<LimitFields>,
}

impl AddedFields {
    /// Returns true when a response field named `name` gives way to an added field.
    #[inline]
    pub fn replaces(&self, name: &HeaderName) -> bool {
        let name = name.as_str();
        // No added name has another length, so most fields take the last arm.
        match name.len() {
            12 => name == X_REQUEST_ID.as_str(),
            9 | 16 | 17 | 21 => self
                .limits
                .as_ref()
                .is_some_and(|limits| limits.replaces(name)),
            _ => false,
        }
    }

    /// Writes the fields as lines of an HTTP/1.1 head.
    pub fn write_to(&self, out: &mut bytes::BytesMut) {
        use bytes::BufMut;
        out.put_slice(b"x-request-id: ");
        out.put_slice(self.request_id.as_bytes());
        out.put_slice(b"\r\n");
        if let Some(limits) = &self.limits {
            limits.write_to(out);
        }
    }

    /// Sets the fields in `headers`, replacing fields of the same names.
    pub fn insert_into(self, headers: &mut HeaderMap) {
        headers.insert(X_REQUEST_ID.clone(), self.request_id);
        if let Some(limits) = &self.limits {
            limits.insert_into(headers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_named_headers_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut headers, false);
        assert!(!headers.contains_key("x-secret"));
        assert!(!headers.contains_key("keep-alive"));
        assert!(!headers.contains_key(header::CONNECTION));
        assert!(headers.contains_key("x-kept"));
    }

    #[test]
    fn te_reduced_to_trailers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::TE,
            HeaderValue::from_static("trailers, deflate;q=0.5"),
        );
        remove_hop_by_hop(&mut headers, false);
        assert_eq!(headers[header::TE], "trailers");

        let mut headers = HeaderMap::new();
        headers.insert(header::TE, HeaderValue::from_static("deflate"));
        remove_hop_by_hop(&mut headers, false);
        assert!(!headers.contains_key(header::TE));
    }

    #[test]
    fn underscore_identity_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert("x_consumer_id", HeaderValue::from_static("admin"));
        headers.insert("x_forwarded_for", HeaderValue::from_static("1.2.3.4"));
        headers.insert("x_custom_thing", HeaderValue::from_static("kept"));
        remove_spoofed_identity(&mut headers);
        assert!(!headers.contains_key("x_consumer_id"));
        assert!(!headers.contains_key("x_forwarded_for"));
        assert!(headers.contains_key("x_custom_thing"));
    }

    #[test]
    fn request_id_kept_or_generated() {
        let mut headers = HeaderMap::new();
        assert_eq!(request_id(&headers).len(), 32);
        headers.insert(X_REQUEST_ID.clone(), HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&headers), "abc-123");
        headers.insert(X_REQUEST_ID.clone(), HeaderValue::from_static("has space"));
        assert_ne!(request_id(&headers), "has space");
    }
}
