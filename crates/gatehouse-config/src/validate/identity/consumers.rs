//! Checks for `plans` and `consumers`: names and ids, the route and plan references, tags,
//! API keys, each of which must identify exactly one consumer, and rate limits and quotas.

use std::collections::HashMap;

use serde_saphyr::Spanned;

use crate::file::{self, SecretValue, SpannedList};
use crate::keys::{hash_api_key, parse_key_hash, KeyHashError};
use crate::model::{Consumer, Plan};
use crate::validate::fields::{check_name, check_unique, check_unique_names, reference_index};
use crate::validate::rate_limits::{self, LimitOwner};
use crate::validate::report::{line_of, Problem, Report};

use super::values::env_value;

/// Help for a plain API key in the file.
const KEY_HASH_HELP: &str = "write `sha256:` and the key's SHA-256 digest in 64 hex digits, as \
                             `gatehouse hash-key` prints it, or `{ env: NAME }` to read the key \
                             from an environment variable";

/// Checks every plan. Returns one model plan per entry, in file order, so that consumer
/// references resolve by index. `route_names` are the route names in file order.
pub(crate) fn plans(
    section: Option<&SpannedList<file::Plan>>,
    route_names: &[&str],
    report: &mut Report,
) -> Vec<Plan> {
    let Some(items) = section.map(|list| &list.value) else {
        return Vec::new();
    };
    let names = items.iter().enumerate();
    let names = names.map(|(index, item)| (&item.value.name, format!("plans[{index}].name")));
    check_unique_names(report, "plan", names);
    items
        .iter()
        .enumerate()
        .map(|(index, item)| plan(&item.value, &format!("plans[{index}]"), route_names, report))
        .collect()
}

fn plan(file: &file::Plan, path: &str, route_names: &[&str], report: &mut Report) -> Plan {
    check_name(report, &file.name, &format!("{path}.name"), "plan");
    let routes = file.routes.as_ref().map(|list| {
        let reference = ("plan", "route", "routes");
        let resolve = |(index, route)| {
            let route_path = format!("{path}.routes[{index}]");
            reference_index(report, route, &route_path, route_names, reference)
        };
        list.value.iter().enumerate().filter_map(resolve).collect()
    });
    let rate_limits = file.rate_limits.as_ref();
    let rate_limits = rate_limits::rate_limits(
        rate_limits,
        &format!("{path}.rate_limits"),
        LimitOwner::Plan,
        report,
    );
    let quotas = rate_limits::quotas(file.quotas.as_ref(), &format!("{path}.quotas"), report);
    Plan {
        name: file.name.value.clone(),
        routes,
        rate_limits: rate_limits.unwrap_or_default(),
        quotas: quotas.unwrap_or_default(),
    }
}

/// The consumer, line and key path of an API key's first entry, for duplicate messages.
struct KeySite {
    consumer: String,
    line: u64,
    path: String,
}

/// Checks every consumer and reports API keys that appear more than once. Returns one model
/// consumer per entry; invalid keys and unresolved plans are left out of it.
pub(crate) fn consumers(
    section: Option<&SpannedList<file::Consumer>>,
    plan_names: &[&str],
    report: &mut Report,
) -> Vec<Consumer> {
    let Some(items) = section.map(|list| &list.value) else {
        return Vec::new();
    };
    let ids = items.iter().enumerate();
    let ids = ids.map(|(index, item)| (&item.value.id, format!("consumers[{index}].id")));
    check_unique(report, "consumer id", "give each consumer a unique id", ids);
    let mut seen_keys: HashMap<[u8; 32], KeySite> = HashMap::new();
    let mut consumers = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let path = format!("consumers[{index}]");
        let consumer = consumer(&item.value, &path, plan_names, &mut seen_keys, report);
        consumers.push(consumer);
    }
    consumers
}

fn consumer(
    file: &file::Consumer,
    path: &str,
    plan_names: &[&str],
    seen_keys: &mut HashMap<[u8; 32], KeySite>,
    report: &mut Report,
) -> Consumer {
    check_consumer_id(report, &file.id, &format!("{path}.id"));
    let plan = file.plan.as_ref().and_then(|plan| {
        let reference = ("consumer", "plan", "plans");
        reference_index(report, plan, &format!("{path}.plan"), plan_names, reference)
    });
    let tags = file.tags.as_ref().map_or(&[][..], |list| &list.value);
    for (index, tag) in tags.iter().enumerate() {
        check_name(report, tag, &format!("{path}.tags[{index}]"), "tag");
    }
    let keys = file.api_keys.as_ref().map_or(&[][..], |list| &list.value);
    let mut api_keys = Vec::with_capacity(keys.len());
    for (index, key) in keys.iter().enumerate() {
        let key_path = format!("{path}.api_keys[{index}]");
        let Some(hash) = api_key(key, &key_path, report) else {
            continue;
        };
        let site = KeySite {
            consumer: file.id.value.clone(),
            line: line_of(key),
            path: key_path,
        };
        match seen_keys.get(&hash) {
            Some(first) => report.push(&key.referenced, &site.path, duplicate_key(first, &site)),
            None => {
                seen_keys.insert(hash, site);
            }
        }
        api_keys.push(hash);
    }
    let rate_limits = file.rate_limits.as_ref();
    let rate_limits = rate_limits::rate_limits(
        rate_limits,
        &format!("{path}.rate_limits"),
        LimitOwner::Consumer,
        report,
    );
    Consumer {
        id: file.id.value.clone(),
        plan,
        api_keys,
        tags: tags.iter().map(|tag| tag.value.clone()).collect(),
        rate_limits,
        quotas: rate_limits::quotas(file.quotas.as_ref(), &format!("{path}.quotas"), report),
    }
}

/// Checks a consumer id: visible ASCII without spaces, because the gateway sends it to
/// upstreams in the `x-consumer-id` header and compares it with token claims such as `sub`.
fn check_consumer_id(report: &mut Report, id: &Spanned<String>, path: &str) {
    let help = "use visible ASCII characters without spaces, such as `acme` or `user-42`";
    if id.value.is_empty() {
        report.error(id, path, "consumer id is empty", help);
    } else if let Some(character) = id.value.chars().find(|c| !c.is_ascii_graphic()) {
        let message = format!(
            "invalid consumer id {:?}: it contains {character:?}",
            id.value
        );
        report.error(id, path, message, help);
    }
}

/// Returns the SHA-256 digest of one `api_keys` entry: the parsed `sha256:` text, or the
/// digest of the key read from the environment.
fn api_key(item: &Spanned<SecretValue>, path: &str, report: &mut Report) -> Option<[u8; 32]> {
    match &item.value {
        SecretValue::Env(name) => env_value(report, name, path).map(|key| hash_api_key(&key)),
        SecretValue::Plain(text) => match parse_key_hash(text) {
            Ok(hash) => Some(hash),
            Err(error) => {
                report.push(&item.referenced, path, key_hash_problem(text, &error));
                None
            }
        },
    }
}

/// Describes an invalid `sha256:` entry. A value without the prefix may be a plain key, so
/// it is never repeated in the message.
fn key_hash_problem(text: &str, error: &KeyHashError) -> Problem {
    match error {
        KeyHashError::MissingPrefix if is_bare_digest(text) => Problem::new(
            "API key digest lacks the `sha256:` prefix",
            "write `sha256:` before the 64 hex digits",
        ),
        KeyHashError::MissingPrefix => Problem::new(
            "API key is not a `sha256:` digest; plain keys cannot be written in the file",
            KEY_HASH_HELP,
        ),
        KeyHashError::WrongLength { .. } | KeyHashError::InvalidDigit { .. } => {
            Problem::new(format!("invalid API key digest: {error}"), KEY_HASH_HELP)
        }
    }
}

fn is_bare_digest(text: &str) -> bool {
    text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit())
}

fn duplicate_key(first: &KeySite, repeat: &KeySite) -> Problem {
    if first.consumer == repeat.consumer {
        return Problem::new(
            format!(
                "consumer {:?} lists the same API key twice; the first is at line {} ({})",
                repeat.consumer, first.line, first.path
            ),
            "remove one of them",
        );
    }
    Problem::new(
        format!(
            "consumer {:?} has the same API key as consumer {:?} at line {} ({})",
            repeat.consumer, first.consumer, first.line, first.path
        ),
        "give each consumer its own keys, because a key must identify exactly one consumer",
    )
}
