//! Serde structs that mirror the YAML configuration file.
//!
//! Values that are checked later keep their source position in `Spanned`, and units and
//! enumerations stay strings here, so that `validate` can report every bad value at once with
//! its own message. Unknown keys are rejected. Nothing outside this crate reads these types.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
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
    pub plans: Option<SpannedList<Plan>>,
    pub consumers: Option<SpannedList<Consumer>>,
    pub authentication: Option<Spanned<Authentication>>,
    pub client_ip: Option<Spanned<ClientIp>>,
    pub rate_limiting: Option<Spanned<RateLimiting>>,
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
    pub auth: Option<Spanned<RouteAuth>>,
    pub ip: Option<Spanned<IpRules>>,
    pub rate_limits: Option<SpannedList<RateLimit>>,
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

/// `routes[].auth`; `validate` reports a missing or empty `methods`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteAuth {
    pub methods: Option<SpannedList<String>>,
    pub scopes: Option<SpannedList<String>>,
    pub claims: Option<Spanned<StringMap>>,
    pub consumers: Option<Spanned<ConsumerFilter>>,
    pub keep_credential: Option<Spanned<bool>>,
    pub token_query: Option<SpannedList<String>>,
}

/// `routes[].auth.consumers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerFilter {
    pub allow_tags: Option<SpannedList<String>>,
}

/// `routes[].ip`: unparsed networks such as `10.0.0.0/8`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpRules {
    pub allow: Option<SpannedList<String>>,
    pub deny: Option<SpannedList<String>>,
}

/// The `client_ip` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientIp {
    pub trusted_proxies: Option<SpannedList<String>>,
}

/// An entry of `plans`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub name: Spanned<String>,
    pub routes: Option<SpannedList<String>>,
    pub rate_limits: Option<SpannedList<RateLimit>>,
    pub quotas: Option<SpannedList<Quota>>,
}

/// An entry of `consumers`. Each API key is a `sha256:` hash or an `{ env: NAME }` mapping.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    pub id: Spanned<String>,
    pub plan: Option<Spanned<String>>,
    pub api_keys: Option<SpannedList<SecretValue>>,
    pub tags: Option<SpannedList<String>>,
    pub rate_limits: Option<SpannedList<RateLimit>>,
    pub quotas: Option<SpannedList<Quota>>,
}

/// An entry of `rate_limits` in a plan, consumer or route. Counts are `i64` so that a
/// negative number reaches `validate` and gets its own message instead of a type error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub key: Option<Spanned<String>>,
    pub limit: Spanned<i64>,
    pub per: Spanned<String>,
    pub burst: Option<Spanned<i64>>,
    pub group: Option<Spanned<String>>,
}

/// An entry of `quotas` in a plan or consumer; `per` is `hour`, `day` or `month`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub limit: Spanned<i64>,
    pub per: Spanned<String>,
}

/// The `rate_limiting` section; enumerations and durations are unparsed strings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimiting {
    pub store: Option<Spanned<String>>,
    pub state_file: Option<Spanned<String>>,
    pub state_interval: Option<Spanned<String>>,
    pub redis: Option<Spanned<Redis>>,
    pub on_store_error: Option<Spanned<String>>,
    pub headers: Option<Spanned<String>>,
}

/// `rate_limiting.redis`; `validate` reports a missing `url`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redis {
    pub url: Option<Spanned<OneOrMany>>,
    pub timeout: Option<Spanned<String>>,
    pub key_prefix: Option<Spanned<String>>,
}

/// A value written as one string or as a list of strings.
#[derive(Debug)]
pub enum OneOrMany {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OneOrManyVisitor)
    }
}

struct OneOrManyVisitor;

impl<'de> Visitor<'de> for OneOrManyVisitor {
    type Value = OneOrMany;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string or a list of strings")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<OneOrMany, E> {
        Ok(OneOrMany::One(value.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(OneOrMany::Many(items))
    }
}

/// The `authentication` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authentication {
    pub api_key: Option<Spanned<ApiKey>>,
    pub jwt: Option<SpannedList<JwtProvider>>,
    pub introspection: Option<SpannedList<IntrospectionProvider>>,
}

/// `authentication.api_key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub header: Option<Spanned<String>>,
    pub bearer: Option<Spanned<bool>>,
    pub query: Option<Spanned<String>>,
}

/// An entry of `authentication.jwt`; `validate` checks that exactly one of `jwks_url`, `keys`
/// and `secrets` is present. Durations are unparsed strings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtProvider {
    pub name: Spanned<String>,
    pub issuer: Spanned<String>,
    pub audiences: Option<SpannedList<String>>,
    pub jwks_url: Option<Spanned<String>>,
    pub keys: Option<SpannedList<String>>,
    pub secrets: Option<SpannedList<SecretValue>>,
    pub jwks_refresh: Option<Spanned<String>>,
    pub jwks_min_refetch_interval: Option<Spanned<String>>,
    pub jwks_timeout: Option<Spanned<String>>,
    pub algorithms: Option<SpannedList<String>>,
    pub consumer_claim: Option<Spanned<String>>,
    pub require_consumer: Option<Spanned<bool>>,
    pub leeway: Option<Spanned<String>>,
    pub require_exp: Option<Spanned<bool>>,
    pub forward_claims: Option<Spanned<StringMap>>,
}

/// An entry of `authentication.introspection`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionProvider {
    pub name: Spanned<String>,
    pub url: Spanned<String>,
    pub client_id: Spanned<String>,
    pub client_secret: Spanned<SecretValue>,
    pub cache_ttl: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub consumer_claim: Option<Spanned<String>>,
    pub require_consumer: Option<Spanned<bool>>,
}

/// A value written in the file as a string, or as `{ env: NAME }` to read it from an
/// environment variable while loading. `Debug` leaves out the string, which may be a secret.
pub enum SecretValue {
    Plain(String),
    Env(Spanned<String>),
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretValue::Plain(_) => formatter.write_str("Plain(<redacted>)"),
            SecretValue::Env(name) => formatter.debug_tuple("Env").field(&name.value).finish(),
        }
    }
}

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretValueVisitor)
    }
}

struct SecretValueVisitor;

impl<'de> Visitor<'de> for SecretValueVisitor {
    type Value = SecretValue;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string or a mapping with the key `env`")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<SecretValue, E> {
        Ok(SecretValue::Plain(value.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretValue, A::Error> {
        let mut name = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "env" {
                return Err(de::Error::unknown_field(&key, &["env"]));
            }
            name = Some(map.next_value()?);
        }
        name.map(SecretValue::Env)
            .ok_or_else(|| de::Error::missing_field("env"))
    }
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
