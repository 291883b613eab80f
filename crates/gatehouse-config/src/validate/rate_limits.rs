//! Checks for the `rate_limits` and `quotas` lists of plans, consumers and routes: counts,
//! durations, calendar windows, limit keys, groups and repeated entries.

use std::collections::HashMap;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::fields::{check_name, header_name};
use super::report::{line_of, Problem, Report};
use super::suggest::{closest, did_you_mean_or_list};
use crate::file::{self, SpannedList};
use crate::model::{LimitKey, Quota, QuotaWindow, RateLimit};
use crate::units::parse_duration;

/// The section that a `rate_limits` list belongs to. Only route limits may use `key: route`
/// and `group`, because plan and consumer limits are not tied to one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LimitOwner {
    Plan,
    Consumer,
    Route,
}

impl LimitOwner {
    fn noun(self) -> &'static str {
        match self {
            LimitOwner::Plan => "plan",
            LimitOwner::Consumer => "consumer",
            LimitOwner::Route => "route",
        }
    }
}

/// The plain keys of `rate_limits[].key`; `header:NAME` and `claim:NAME` are parsed apart.
const PLAIN_KEYS: [&str; 3] = ["consumer", "client_ip", "route"];

/// The calendar windows of `quotas[].per`.
const QUOTA_WINDOWS: [(&str, QuotaWindow); 3] = [
    ("hour", QuotaWindow::Hour),
    ("day", QuotaWindow::Day),
    ("month", QuotaWindow::Month),
];

/// Checks a `rate_limits` list. Returns `None` when the key is absent, so that a consumer
/// without the key keeps its plan's limits. Invalid entries are left out of the result.
pub(super) fn rate_limits(
    list: Option<&SpannedList<file::RateLimit>>,
    path: &str,
    owner: LimitOwner,
    report: &mut Report,
) -> Option<Vec<RateLimit>> {
    let items = &list?.value;
    // `LimitKey` is not `Hash`, and lists are short, so repeats are found by a linear search.
    let mut first_sites: Vec<(LimitKey, u64, Duration, u64, String)> = Vec::new();
    let mut limits = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let Some(limit) = rate_limit(&item.value, &item_path, owner, report) else {
            continue;
        };
        let first = first_sites.iter().find(|(key, count, per, _, _)| {
            (key, *count, *per) == (&limit.key, limit.limit, limit.per)
        });
        match first {
            Some((_, _, _, line, first_path)) => {
                let message = format!(
                    "duplicate rate limit: the limit at line {line} ({first_path}) has the same \
                     key, limit and per"
                );
                report.error(item, &item_path, message, "remove one of them");
            }
            None => {
                let site = (limit.key.clone(), limit.limit, limit.per);
                first_sites.push((site.0, site.1, site.2, line_of(item), item_path));
            }
        }
        limits.push(limit);
    }
    Some(limits)
}

/// Reports each `claim:` key of a route whose authentication cannot produce claims, where
/// every request would count under one missing claim.
pub(super) fn reject_claim_keys(
    list: Option<&SpannedList<file::RateLimit>>,
    path: &str,
    report: &mut Report,
) {
    let items = list.map_or(&[][..], |list| list.value.as_slice());
    for (index, item) in items.iter().enumerate() {
        let Some(key) = &item.value.key else {
            continue;
        };
        if !key.value.starts_with("claim:") {
            continue;
        }
        let message = format!(
            "rate limit key {:?} needs claims, but the route has no JWT or introspection \
             authentication, so every request would count together",
            key.value
        );
        let help = "add a `jwt:NAME` or `introspection:NAME` method to the route's `auth`, or \
                    key the limit by `consumer`, `client_ip` or `header:NAME`";
        report.error(key, &format!("{path}[{index}].key"), message, help);
    }
}

fn rate_limit(
    file: &file::RateLimit,
    path: &str,
    owner: LimitOwner,
    report: &mut Report,
) -> Option<RateLimit> {
    let key = match &file.key {
        None => Some(LimitKey::Consumer),
        Some(value) => limit_key(value, &format!("{path}.key"), owner, report),
    };
    let limit = positive_count(report, &file.limit, &format!("{path}.limit"));
    let per = rate_window(report, &file.per, &format!("{path}.per"));
    let (limit, per) = match (limit, per) {
        (Some(limit), Some(per)) => check_resolution(report, file, limit, per, path),
        other => other,
    };
    let burst = match (&file.burst, limit) {
        (None, _) => limit,
        (Some(burst), Some(limit)) => check_burst(report, burst, limit, &format!("{path}.burst")),
        (Some(_), None) => None,
    };
    let group = file.group.as_ref().and_then(|group| {
        let group_path = format!("{path}.group");
        if owner != LimitOwner::Route {
            let message = format!("`group` is not allowed in a {} rate limit", owner.noun());
            let help = "remove `group`; groups share counters between routes, so they belong \
                        on route limits";
            report.error(group, &group_path, message, help);
            return None;
        }
        check_name(report, group, &group_path, "group");
        Some(group.value.clone())
    });
    Some(RateLimit {
        key: key?,
        limit: limit?,
        per: per?,
        burst: burst?,
        group,
    })
}

/// Parses `consumer`, `client_ip`, `route`, `header:NAME` or `claim:NAME`.
fn limit_key(
    value: &Spanned<String>,
    path: &str,
    owner: LimitOwner,
    report: &mut Report,
) -> Option<LimitKey> {
    match parse_limit_key(&value.value) {
        Ok(LimitKey::Route) if owner != LimitOwner::Route => {
            let message = format!(
                "`key: route` is not allowed in a {} rate limit, because it counts all \
                 requests of a route together",
                owner.noun()
            );
            let help = "put route-wide limits under the route's `rate_limits`";
            report.error(value, path, message, help);
            None
        }
        Ok(key) => Some(key),
        Err(problem) => {
            report.push(&value.referenced, path, problem);
            None
        }
    }
}

fn parse_limit_key(text: &str) -> Result<LimitKey, Problem> {
    match text {
        "consumer" => return Ok(LimitKey::Consumer),
        "client_ip" => return Ok(LimitKey::ClientIp),
        "route" => return Ok(LimitKey::Route),
        _ => {}
    }
    if let Some(name) = text.strip_prefix("header:") {
        return header_name(name).map(LimitKey::Header);
    }
    if let Some(name) = text.strip_prefix("claim:") {
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(Problem::new(
                format!("invalid claim name {name:?} in rate limit key {text:?}"),
                "write `claim:NAME` with the claim as it appears in the token, such as `claim:sub`",
            ));
        }
        return Ok(LimitKey::Claim(name.to_string()));
    }
    let help = match text.split_once(':') {
        Some((prefix, name)) => match closest(prefix, ["header", "claim"]) {
            Some(kind) => format!("did you mean `{kind}:{name}`?"),
            None => key_list_help(),
        },
        None => match closest(text, PLAIN_KEYS) {
            Some(key) => format!("did you mean `{key}`?"),
            None => key_list_help(),
        },
    };
    Err(Problem::new(
        format!("unknown rate limit key {text:?}"),
        help,
    ))
}

fn key_list_help() -> String {
    "write one of `consumer`, `client_ip`, `route`, `header:NAME` or `claim:NAME`".to_string()
}

/// Checks a request count: a whole number of 1 or more.
fn positive_count(report: &mut Report, value: &Spanned<i64>, path: &str) -> Option<u64> {
    let help = "write the number of requests allowed, a whole number of 1 or more";
    match u64::try_from(value.value) {
        Ok(0) => {
            let message = "limit is 0, which would reject every request";
            let help = "set limit to 1 or more; to block requests, use the route's `ip` or \
                        `auth` rules";
            report.error(value, path, message, help);
            None
        }
        Ok(count) => Some(count),
        Err(_) => {
            let message = format!("limit {} is negative", value.value);
            report.error(value, path, message, help);
            None
        }
    }
}

/// Parses the `per` of a rate limit: a duration of at least 1ms.
fn rate_window(report: &mut Report, value: &Spanned<String>, path: &str) -> Option<Duration> {
    let text = value.value.as_str();
    if QUOTA_WINDOWS.iter().any(|(name, _)| *name == text) {
        let message = format!("rate limit per {text:?} is a calendar window, not a duration");
        let help = "write a duration such as 1s, 1m or 1h; to count a consumer's requests per \
                    calendar hour, day or month, add a quota to its plan's or its own `quotas`";
        report.error(value, path, message, help);
        return None;
    }
    match parse_duration(text) {
        Ok(duration) if duration < Duration::from_millis(1) => {
            let message = format!("rate limit per must be at least 1ms, found {text:?}");
            report.error(value, path, message, "write a duration such as 1s or 1m");
            None
        }
        Ok(duration) => Some(duration),
        Err(error) => {
            report.error(value, path, error.problem(), error.help());
            None
        }
    }
}

/// Checks that a rate limit allows at most one request per microsecond, the resolution of
/// the limiter's clock. A finer limit would be enforced as one per microsecond.
fn check_resolution(
    report: &mut Report,
    file: &file::RateLimit,
    limit: u64,
    per: Duration,
    path: &str,
) -> (Option<u64>, Option<Duration>) {
    let per_us = u64::try_from(per.as_micros()).unwrap_or(u64::MAX);
    if limit <= per_us {
        return (Some(limit), Some(per));
    }
    let message = format!(
        "limit {limit} per {} is more than one request per microsecond, finer than the rate limiter can count",
        file.per.value
    );
    let help = format!("lower limit to at most {per_us} or lengthen per");
    report.error(&file.limit, &format!("{path}.limit"), message, help);
    (None, Some(per))
}

fn check_burst(report: &mut Report, burst: &Spanned<i64>, limit: u64, path: &str) -> Option<u64> {
    match u64::try_from(burst.value) {
        Ok(value) if value >= limit => Some(value),
        Err(_) => {
            let message = format!("burst {} is negative", burst.value);
            let help = format!("set burst to {limit} or more, or remove it to use the limit");
            report.error(burst, path, message, help);
            None
        }
        Ok(_) => {
            let message = format!(
                "burst {} is smaller than limit {limit}; a burst smaller than the limit would \
                 reject requests that the limit allows",
                burst.value
            );
            let help = format!("raise burst to at least {limit} or remove it");
            report.error(burst, path, message, help);
            None
        }
    }
}

/// Checks a `quotas` list of a plan or consumer. Returns `None` when the key is absent.
pub(super) fn quotas(
    list: Option<&SpannedList<file::Quota>>,
    path: &str,
    report: &mut Report,
) -> Option<Vec<Quota>> {
    let items = &list?.value;
    let mut first_sites: Vec<(u64, QuotaWindow, u64, String)> = Vec::new();
    let mut quotas = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let limit = positive_count(report, &item.value.limit, &format!("{item_path}.limit"));
        let per = quota_window(report, &item.value.per, &format!("{item_path}.per"));
        let (Some(limit), Some(per)) = (limit, per) else {
            continue;
        };
        let first = first_sites
            .iter()
            .find(|(count, window, _, _)| (*count, *window) == (limit, per));
        match first {
            Some((_, _, line, first_path)) => {
                let message = format!(
                    "duplicate quota: the quota at line {line} ({first_path}) has the same \
                     limit and per"
                );
                report.error(item, &item_path, message, "remove one of them");
            }
            None => {
                first_sites.push((limit, per, line_of(item), item_path));
            }
        }
        quotas.push(Quota { limit, per });
    }
    Some(quotas)
}

/// Parses the `per` of a quota: `hour`, `day` or `month`.
fn quota_window(report: &mut Report, value: &Spanned<String>, path: &str) -> Option<QuotaWindow> {
    let text = value.value.as_str();
    if let Some((_, window)) = QUOTA_WINDOWS.iter().find(|(name, _)| *name == text) {
        return Some(*window);
    }
    let names: Vec<&str> = QUOTA_WINDOWS.iter().map(|(name, _)| *name).collect();
    let (message, help) = if text.starts_with(|c: char| c.is_ascii_digit()) {
        (
            format!("quota per {text:?} is a duration, not a calendar window"),
            "write hour, day or month: quotas count requests in UTC calendar windows, which a \
             duration such as 30d cannot express; for a rolling window use `rate_limits`"
                .to_string(),
        )
    } else {
        (
            format!("unknown quota window {text:?}"),
            did_you_mean_or_list(text, &names),
        )
    };
    report.error(value, path, message, help);
    None
}

/// The first route limit of a group with a given key and `per`.
struct GroupSite {
    limit: i64,
    burst: Option<i64>,
    line: u64,
    path: String,
}

/// Reports route limits that share a group, key and `per` but disagree on `limit` or
/// `burst`. Such limits share one counter, so they need one definition.
pub(super) fn check_groups(routes: &[Spanned<file::Route>], report: &mut Report) {
    let mut first_sites: HashMap<(String, String, Duration), GroupSite> = HashMap::new();
    for (route_index, route) in routes.iter().enumerate() {
        let items = route.value.rate_limits.as_ref();
        let items = items.map_or(&[][..], |list| &list.value);
        for (index, item) in items.iter().enumerate() {
            let limit = &item.value;
            let (Some(group), Ok(per)) = (&limit.group, parse_duration(&limit.per.value)) else {
                continue;
            };
            let key = limit
                .key
                .as_ref()
                .map_or("consumer", |key| key.value.as_str());
            let site = GroupSite {
                limit: limit.limit.value,
                burst: limit.burst.as_ref().map(|burst| burst.value),
                line: line_of(item),
                path: format!("routes[{route_index}].rate_limits[{index}]"),
            };
            let id = (group.value.clone(), key.to_string(), per);
            match first_sites.get(&id) {
                Some(first) if (first.limit, first.burst) != (site.limit, site.burst) => {
                    let message = format!(
                        "rate limit of group {:?} differs from the limit at line {} ({}), \
                         which has the same key and per; limits of one group share their \
                         counters",
                        group.value, first.line, first.path
                    );
                    let help = "give both the same limit and burst, or use another group name";
                    report.error(item, &site.path, message, help);
                }
                Some(_) => {}
                None => {
                    first_sites.insert(id, site);
                }
            }
        }
    }
}
