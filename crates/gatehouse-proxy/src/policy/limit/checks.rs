//! The counters a request touches: the route's limits first, then the consumer's (or its
//! plan's) rate limits and quotas.
//!
//! A counter id is a prefix that names the limit (`r:prices:0:`, `g:shared:100:60000000:`,
//! `p:acme:plan:0:`, `q:acme:month:`) followed by the key text that names who is counted
//! (`c=acme`, `ip=192.0.2.1`, `h=…`, `cl=…`, `all`, or the start of a quota window). So a
//! limit keyed by consumer is never shared between consumers, and a route limit is never
//! shared between routes unless the limits share a `group`. The prefixes, the GCRA
//! parameters and the `RateLimit-Policy` values are built once per snapshot in a
//! `LimitTable`. A request borrows them, and its key text borrows from the request where it
//! can, so building the checks formats nothing.

use std::fmt::Write;
use std::hash::{BuildHasher, DefaultHasher, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::OnceLock;

use bytes::Bytes;
use gatehouse_config::model::{Config, LimitKey, Quota, QuotaWindow, RateLimit};
use http::{HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

use super::text::InlineText;
use super::{fields, policy_text, window, PolicyName, Spec};
use crate::policy::auth::Identity;

/// Request facts that limits key on.
pub struct Subject<'a> {
    pub consumer: Option<usize>,
    pub identity: Option<&'a Identity>,
    pub client_ip: IpAddr,
    pub headers: &'a HeaderMap,
}

/// One counter a request touches.
#[derive(Debug, Clone)]
pub struct Check<'a> {
    /// Names the limit: the first part of the counter id.
    pub prefix: &'a str,
    /// Names who is counted: the rest of the counter id.
    pub key: KeyText<'a>,
    pub policy: PolicyName,
    pub spec: Spec,
    /// The id hasher with `prefix` already written, made once per limit.
    pub prefix_hash: &'a DefaultHasher,
    /// The start of the draft response lines for this check (`fields::draft_head`), when
    /// its limit set announces all the request's policies.
    pub draft_head: Option<&'a Bytes>,
}

impl<'a> Check<'a> {
    /// Returns a check of a route limit with an empty key, for tests.
    #[cfg(test)]
    pub fn for_test(prefix: &'a str, policy: PolicyName, spec: Spec) -> Self {
        Check {
            prefix,
            prefix_hash: Box::leak(Box::new(prefix_hash(prefix))),
            key: KeyText::default(),
            policy,
            spec,
            draft_head: None,
        }
    }

    /// Returns the counter id, unique per limit and key.
    pub fn id(&self) -> String {
        let mut id = String::with_capacity(self.id_len());
        self.push_id(&mut id);
        id
    }

    /// Returns the length in bytes of the counter id.
    pub fn id_len(&self) -> usize {
        self.prefix.len() + self.key.tag.len() + self.key.value().len()
    }

    /// Appends the counter id to `out`.
    pub fn push_id(&self, out: &mut String) {
        out.push_str(self.prefix);
        out.push_str(self.key.tag);
        out.push_str(std::str::from_utf8(self.key.value()).unwrap_or_default());
    }

    /// Returns the 64-bit hash of the counter id under the process's `id_hasher`, from the
    /// prefix hash made in advance.
    pub fn id_hash(&self) -> u64 {
        let mut hasher = self.prefix_hash.clone();
        hasher.write(self.key.tag.as_bytes());
        hasher.write(self.key.value());
        hasher.finish()
    }
}

/// Room for the key values that are not borrowed: an address, a digest, a window start or
/// a short non-string claim.
type KeyBuffer = InlineText<64>;

/// The key part of a counter id: a tag and a value, borrowed or held inline.
#[derive(Debug, Clone)]
pub struct KeyText<'a> {
    tag: &'static str,
    value: KeyValue<'a>,
}

#[derive(Debug, Clone)]
enum KeyValue<'a> {
    Borrowed(&'a [u8]),
    Inline(KeyBuffer),
}

impl Default for KeyText<'_> {
    /// Returns the empty key text.
    fn default() -> Self {
        KeyText::borrowed("", "")
    }
}

impl<'a> KeyText<'a> {
    fn borrowed(tag: &'static str, value: &'a str) -> Self {
        KeyText::borrowed_bytes(tag, value.as_bytes())
    }

    /// Returns a key text of printable ASCII bytes.
    fn borrowed_bytes(tag: &'static str, value: &'a [u8]) -> Self {
        KeyText {
            tag,
            value: KeyValue::Borrowed(value),
        }
    }

    fn inline(tag: &'static str, value: KeyBuffer) -> Self {
        KeyText {
            tag,
            value: KeyValue::Inline(value),
        }
    }

    /// Returns the value: printable ASCII.
    fn value(&self) -> &[u8] {
        match &self.value {
            KeyValue::Borrowed(text) => text,
            KeyValue::Inline(text) => text.as_bytes().unwrap_or_default(),
        }
    }
}

/// The limits of a configuration as requests use them, built once per snapshot.
pub struct LimitTable {
    routes: Vec<LimitSet>,
    consumers: Vec<ConsumerLimits>,
}

/// The rate limits of one route or consumer and their `RateLimit-Policy` value.
struct LimitSet {
    limits: Vec<Entry>,
    policy_field: Option<HeaderValue>,
}

struct Entry {
    prefix: Box<str>,
    prefix_hash: DefaultHasher,
    key: LimitKey,
    policy: PolicyName,
    spec: Spec,
    draft_head: Option<Bytes>,
}

struct ConsumerLimits {
    rates: LimitSet,
    quotas: Vec<QuotaEntry>,
}

struct QuotaEntry {
    prefix: Box<str>,
    prefix_hash: DefaultHasher,
    window: QuotaWindow,
    limit: u64,
}

impl LimitTable {
    pub fn build(config: &Config) -> Self {
        let routes = config
            .routes
            .iter()
            .map(|route| {
                let entries = route.rate_limits.iter().enumerate().map(|(index, limit)| {
                    let prefix = match &limit.group {
                        Some(group) => format!(
                            "g:{group}:{}:{}:",
                            limit.limit,
                            limit.per.as_micros() as u64
                        ),
                        None => format!("r:{}:{index}:", route.name),
                    };
                    (prefix, PolicyName::Route(index), limit)
                });
                LimitSet::new(entries)
            })
            .collect();
        let consumers = (0..config.consumers.len())
            .map(|consumer| {
                let (rate_limits, quotas, source) = consumer_limits(config, consumer);
                let id = &config.consumers[consumer].id;
                let entries = rate_limits.iter().enumerate().map(|(index, limit)| {
                    let policy = match source {
                        "consumer" => PolicyName::Consumer(index),
                        _ => PolicyName::Plan(index),
                    };
                    (format!("p:{id}:{source}:{index}:"), policy, limit)
                });
                ConsumerLimits {
                    rates: LimitSet::new(entries),
                    quotas: quotas
                        .iter()
                        .map(|quota| QuotaEntry::new(id, quota))
                        .collect(),
                }
            })
            .collect();
        LimitTable { routes, consumers }
    }
}

impl LimitSet {
    fn new<'a>(entries: impl Iterator<Item = (String, PolicyName, &'a RateLimit)>) -> Self {
        let mut limits: Vec<Entry> = entries
            .map(|(prefix, policy, limit)| Entry {
                prefix_hash: prefix_hash(&prefix),
                prefix: prefix.into_boxed_str(),
                key: limit.key.clone(),
                policy,
                spec: rate_spec(limit),
                draft_head: None,
            })
            .collect();
        let text = policy_text(limits.iter().map(|entry| (entry.policy, &entry.spec)));
        let policy_field = HeaderValue::from_str(&text)
            .ok()
            .filter(|_| !limits.is_empty());
        if let Some(field) = &policy_field {
            for entry in &mut limits {
                entry.draft_head = Some(fields::draft_head(field, entry.policy));
            }
        }
        LimitSet {
            policy_field,
            limits,
        }
    }

    fn push_checks<'a>(
        &'a self,
        checks: &mut impl Extend<Check<'a>>,
        config: &'a Config,
        subject: &Subject<'a>,
    ) {
        checks.extend(self.limits.iter().map(|entry| Check {
            prefix: &entry.prefix,
            prefix_hash: &entry.prefix_hash,
            key: key_text(config, &entry.key, subject),
            policy: entry.policy,
            spec: entry.spec,
            draft_head: entry.draft_head.as_ref(),
        }));
    }
}

impl QuotaEntry {
    fn new(consumer: &str, quota: &Quota) -> Self {
        let prefix = format!("q:{consumer}:{}:", window::name(quota.per));
        QuotaEntry {
            prefix_hash: prefix_hash(&prefix),
            prefix: prefix.into_boxed_str(),
            window: quota.per,
            limit: quota.limit,
        }
    }

    fn check(&self, now: u64) -> Check<'_> {
        let (start, end) = window::bounds(self.window, now / 1_000_000);
        let mut start_text = KeyBuffer::new();
        let _ = start_text.write_str(itoa::Buffer::new().format(start));
        Check {
            prefix: &self.prefix,
            prefix_hash: &self.prefix_hash,
            key: KeyText::inline("", start_text),
            policy: PolicyName::Quota(window::name(self.window)),
            spec: Spec::Quota {
                limit: self.limit,
                window_end_us: end * 1_000_000,
                window_us: (end - start) * 1_000_000,
            },
            draft_head: None,
        }
    }
}

/// A request's checks and the `RateLimit-Policy` value that announces them.
pub struct Checks<'a> {
    pub list: Vec<Check<'a>>,
    pub policy_field: Option<HeaderValue>,
}

/// Returns the checks for a request on route `route` at `now` (Unix microseconds).
pub fn for_request<'a>(
    table: &'a LimitTable,
    config: &'a Config,
    route: usize,
    subject: &Subject<'a>,
    now: u64,
) -> Checks<'a> {
    let route_limits = &table.routes[route];
    let consumer_limits = subject.consumer.map(|consumer| &table.consumers[consumer]);
    let count = route_limits.limits.len()
        + consumer_limits.map_or(0, |limits| limits.rates.limits.len() + limits.quotas.len());
    let mut list = Vec::with_capacity(count);
    route_limits.push_checks(&mut list, config, subject);
    let Some(consumer_limits) = consumer_limits else {
        return Checks {
            list,
            policy_field: route_limits.policy_field.clone(),
        };
    };
    consumer_limits
        .rates
        .push_checks(&mut list, config, subject);
    list.extend(consumer_limits.quotas.iter().map(|quota| quota.check(now)));
    let policy_field = match (
        &route_limits.policy_field,
        &consumer_limits.rates.policy_field,
    ) {
        (field, None) | (None, field) if consumer_limits.quotas.is_empty() => field.clone(),
        _ => {
            // Several limit sets announce their policies together, so no prepared head applies.
            for check in &mut list {
                check.draft_head = None;
            }
            HeaderValue::from_str(&policy_text(
                list.iter().map(|check| (check.policy, &check.spec)),
            ))
            .ok()
        }
    };
    Checks { list, policy_field }
}

/// Returns the checks of a consumer's own or plan rate limits and quotas.
pub fn for_consumer<'a>(
    table: &'a LimitTable,
    config: &'a Config,
    consumer: usize,
    subject: &Subject<'a>,
    now: u64,
) -> Vec<Check<'a>> {
    let limits = &table.consumers[consumer];
    let mut list = Vec::new();
    limits.rates.push_checks(&mut list, config, subject);
    list.extend(limits.quotas.iter().map(|quota| quota.check(now)));
    list
}

/// Returns the consumer's limits (its own when set, else its plan's) and where they came from.
pub fn consumer_limits(config: &Config, consumer: usize) -> (&[RateLimit], &[Quota], &'static str) {
    let model = &config.consumers[consumer];
    let plan = model.plan.map(|plan| &config.plans[plan]);
    let rate_limits = match (&model.rate_limits, plan) {
        (Some(own), _) => own.as_slice(),
        (None, Some(plan)) => plan.rate_limits.as_slice(),
        (None, None) => &[],
    };
    let quotas = match (&model.quotas, plan) {
        (Some(own), _) => own.as_slice(),
        (None, Some(plan)) => plan.quotas.as_slice(),
        (None, None) => &[],
    };
    let source = if model.rate_limits.is_some() {
        "consumer"
    } else {
        "plan"
    };
    (rate_limits, quotas, source)
}

/// Returns the GCRA parameters of a rate limit.
pub fn rate_spec(limit: &RateLimit) -> Spec {
    let per_us = limit.per.as_micros() as u64;
    let interval_us = (per_us / limit.limit.max(1)).max(1);
    Spec::Rate {
        interval_us,
        burst: limit.burst,
        limit: limit.limit,
        per_us,
    }
}

/// Returns the key part of a counter id: who the limit counts in this request.
fn key_text<'a>(config: &'a Config, key: &LimitKey, subject: &Subject<'a>) -> KeyText<'a> {
    match key {
        LimitKey::Consumer => match subject.consumer {
            Some(consumer) => KeyText::borrowed("c=", &config.consumers[consumer].id),
            None => address_text(subject.client_ip),
        },
        LimitKey::ClientIp => address_text(subject.client_ip),
        LimitKey::Route => KeyText::borrowed("all", ""),
        LimitKey::Header(name) => match subject.headers.get(name) {
            Some(value) => compact_bytes("h=", value.as_bytes()),
            None => KeyText::borrowed("h=", ""),
        },
        LimitKey::Claim(name) => {
            let claim = subject
                .identity
                .and_then(|identity| identity.claims.as_deref())
                .and_then(|claims| claims.get(name));
            match claim {
                Some(serde_json::Value::String(text)) => compact_text("cl=", text),
                Some(other) => copied_compact_text("cl=", &other.to_string()),
                None => KeyText::borrowed("cl=", ""),
            }
        }
    }
}

fn address_text(address: IpAddr) -> KeyText<'static> {
    let mut text = KeyBuffer::new();
    match address {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (index, octet) in v4.octets().into_iter().enumerate() {
                if index > 0 {
                    let _ = text.write_str(".");
                }
                let _ = text.write_str(digits.format(octet));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(text, "{v6}");
        }
    }
    KeyText::inline("ip=", text)
}

/// Returns short printable values as they are and others as a digest.
fn compact_bytes<'a>(tag: &'static str, value: &'a [u8]) -> KeyText<'a> {
    if value.len() <= 64 && value.iter().all(u8::is_ascii_graphic) {
        return KeyText::borrowed_bytes(tag, value);
    }
    digest_text(tag, value)
}

fn compact_text<'a>(tag: &'static str, value: &'a str) -> KeyText<'a> {
    compact_bytes(tag, value.as_bytes())
}

#[cold]
fn digest_text(tag: &'static str, value: &[u8]) -> KeyText<'static> {
    let mut digest = KeyBuffer::new();
    for byte in Sha256::digest(value).iter().take(16) {
        let _ = write!(digest, "{byte:02x}");
    }
    KeyText::inline(tag, digest)
}

/// `compact_text` of a value that lives only in this call.
fn copied_compact_text(tag: &'static str, value: &str) -> KeyText<'static> {
    match compact_text(tag, value).value {
        KeyValue::Borrowed(text) => {
            let mut copy = KeyBuffer::new();
            copy.push(text);
            KeyText::inline(tag, copy)
        }
        KeyValue::Inline(digest) => KeyText::inline(tag, digest),
    }
}

/// Returns a hasher of counter ids under a random key drawn once per process, so that keys
/// stay the same across reloads and clients cannot choose ids whose hashes collide.
pub fn id_hasher() -> DefaultHasher {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    KEY.get_or_init(RandomState::new).build_hasher()
}

/// Returns `id_hasher` with `prefix` written.
fn prefix_hash(prefix: &str) -> DefaultHasher {
    let mut hasher = id_hasher();
    hasher.write(prefix.as_bytes());
    hasher
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<'a>(prefix: &'a str, key: KeyText<'a>) -> Check<'a> {
        let spec = Spec::Quota {
            limit: 1,
            window_end_us: 1,
            window_us: 1,
        };
        Check {
            key,
            ..Check::for_test(prefix, PolicyName::Route(0), spec)
        }
    }

    #[test]
    fn id_hash_equals_hash_of_id() {
        let address = address_text("192.0.2.10".parse().unwrap());
        for check in [
            check("r:prices:0:", address),
            check("r:prices:0:", compact_text("h=", "client-7")),
            check("r:prices:0:", compact_text("h=", &"x".repeat(100))),
            check("q:acme:month:", KeyText::borrowed("", "1764547200")),
        ] {
            let mut whole = id_hasher();
            whole.write(check.id().as_bytes());
            assert_eq!(check.id_hash(), whole.finish(), "{}", check.id());
        }
    }

    #[test]
    fn key_texts() {
        let v4 = address_text("192.0.2.10".parse().unwrap());
        assert_eq!(check("", v4).id(), "ip=192.0.2.10");
        let v6 = address_text("2001:db8::1".parse().unwrap());
        assert_eq!(check("", v6).id(), "ip=2001:db8::1");
        assert_eq!(check("", compact_text("h=", "abc")).id(), "h=abc");
        let spaced = check("", compact_text("h=", "a b")).id();
        assert_eq!(spaced.len(), 2 + 32, "{spaced}");
    }
}
