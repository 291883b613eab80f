//! Serde structs that mirror the YAML configuration file.
//!
//! Values that are checked later keep their source position in `Spanned`, and units and
//! enumerations stay strings here, so that `validate` can report every bad value at once with
//! its own message. Unknown keys are rejected. Nothing outside this crate reads these types.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

/// A list whose own position and whose items' positions are kept.
pub type SpannedList<T> = Spanned<Vec<Spanned<T>>>;

/// The whole file. Every section is optional here; `validate` reports a missing `listeners`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub listeners: Option<SpannedList<Listener>>,
    pub admin: Option<Spanned<Admin>>,
    pub access_log: Option<Spanned<AccessLog>>,
    pub server: Option<Spanned<Server>>,
    pub upstreams: Option<SpannedList<Upstream>>,
    pub routes: Option<SpannedList<Route>>,
}

/// An entry of `listeners`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub name: Spanned<String>,
    pub address: Spanned<String>,
    pub tls: Option<Spanned<ListenerTls>>,
}

/// `listeners[].tls`: paths of PEM files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    pub certificate: Spanned<String>,
    pub key: Spanned<String>,
}

/// The `admin` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    pub address: Option<Spanned<String>>,
    pub enabled: Option<Spanned<bool>>,
}

/// The `access_log` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLog {
    pub format: Option<Spanned<String>>,
}

/// The `server` section; durations and sizes are unparsed strings such as `10s` and `64KiB`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub header_read_timeout: Option<Spanned<String>>,
    pub max_header_size: Option<Spanned<String>>,
    pub max_headers: Option<Spanned<u64>>,
    pub max_body_size: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<String>>,
    pub shutdown_timeout: Option<Spanned<String>>,
    pub log_level: Option<Spanned<String>>,
}

/// An entry of `upstreams`; enumerations such as `load_balancing` are unparsed strings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    pub name: Spanned<String>,
    pub targets: Option<SpannedList<Target>>,
    pub load_balancing: Option<Spanned<String>>,
    pub hash_key: Option<Spanned<String>>,
    pub protocol: Option<Spanned<String>>,
    pub preserve_host: Option<Spanned<bool>>,
    pub max_idle_per_target: Option<Spanned<u64>>,
    pub timeouts: Option<Spanned<UpstreamTimeouts>>,
    pub tls: Option<Spanned<UpstreamTls>>,
}

/// An entry of `upstreams[].targets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub url: Spanned<String>,
    pub weight: Option<Spanned<u64>>,
}

/// `upstreams[].timeouts`, as unparsed durations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTimeouts {
    pub connect: Option<Spanned<String>>,
    pub request: Option<Spanned<String>>,
    pub idle: Option<Spanned<String>>,
}

/// `upstreams[].tls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    pub ca: Option<Spanned<String>>,
    pub verify: Option<Spanned<bool>>,
    pub server_name: Option<Spanned<String>>,
}

/// An entry of `routes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: Spanned<String>,
    #[serde(rename = "match")]
    pub matcher: Spanned<RouteMatch>,
    pub upstream: Spanned<String>,
    pub rewrite: Option<Spanned<Rewrite>>,
    pub request_headers: Option<Spanned<HeaderRules>>,
    pub response_headers: Option<Spanned<HeaderRules>>,
    pub max_body_size: Option<Spanned<String>>,
}

/// `routes[].match`; `validate` checks that exactly one of the four path keys is present.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    pub hosts: Option<SpannedList<String>>,
    pub path: Option<Spanned<String>>,
    pub path_prefix: Option<Spanned<String>>,
    pub path_template: Option<Spanned<String>>,
    pub path_regex: Option<Spanned<String>>,
    pub methods: Option<SpannedList<String>>,
    pub headers: Option<Spanned<StringMap>>,
    pub query: Option<Spanned<StringMap>>,
}

/// `routes[].rewrite`; `validate` checks that exactly one of the two keys is present.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rewrite {
    pub strip_prefix: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
}

/// `routes[].request_headers` or `routes[].response_headers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRules {
    pub set: Option<Spanned<StringMap>>,
    pub add: Option<Spanned<StringMap>>,
    pub remove: Option<SpannedList<String>>,
}

/// A YAML mapping of strings, kept in file order with the position of every key and value.
/// The parser rejects a key that appears twice.
#[derive(Debug, Default)]
pub struct StringMap(pub Vec<(Spanned<String>, Spanned<String>)>);

impl<'de> Deserialize<'de> for StringMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StringMapVisitor)
    }
}

struct StringMapVisitor;

impl<'de> Visitor<'de> for StringMapVisitor {
    type Value = StringMap;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a mapping of names to string values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringMap, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key()? {
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(StringMap(entries))
    }
}
