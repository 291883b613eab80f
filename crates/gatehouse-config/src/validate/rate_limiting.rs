//! Checks for the `rate_limiting` section: the counter store, the state file of the memory
//! store, the Redis settings, and the store error and response header choices.

use std::path::PathBuf;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::fields::{choose, positive_duration};
use super::report::{line_of, Problem, Report};
use super::upstreams::split_host_port;
use super::FileBase;
use crate::file::{self, OneOrMany};
use crate::model::{LimitHeaders, LimitStore, OnStoreError, RateLimiting, RedisSettings};
use crate::redact::redact_redis_url;

/// Default of `redis.timeout`.
const REDIS_TIMEOUT: Duration = Duration::from_millis(50);

/// Default of `redis.key_prefix`.
const KEY_PREFIX: &str = "gatehouse";

/// Checks the `rate_limiting` section; an absent section gives the defaults.
pub(super) fn rate_limiting(
    section: Option<&Spanned<file::RateLimiting>>,
    base: &FileBase,
    report: &mut Report,
) -> RateLimiting {
    let defaults = RateLimiting::default();
    let Some(section) = section else {
        return defaults;
    };
    let file = &section.value;
    let path = |key: &str| format!("rate_limiting.{key}");

    let stores = [("memory", LimitStore::Memory), ("redis", LimitStore::Redis)];
    let store = file.store.as_ref().map_or(Some(defaults.store), |value| {
        choose(report, value, &path("store"), "rate limit store", &stores)
    });
    let redis = file
        .redis
        .as_ref()
        .and_then(|redis| redis_settings(redis, &path("redis"), report));
    if let (Some(LimitStore::Redis), None, Some(value)) = (store, &file.redis, &file.store) {
        let message = "`store: redis` needs a `redis` section with a url";
        let help = "add `redis: { url: \"redis://127.0.0.1:6379/0\" }` under `rate_limiting`";
        report.error(value, &path("store"), message, help);
    }

    let state_file = file.state_file.as_ref().and_then(|value| {
        if store == Some(LimitStore::Redis) {
            let message = "state_file is only used with the memory store; Redis keeps quota \
                           counters itself";
            let help = "remove state_file, or set `store: memory`";
            report.error(value, &path("state_file"), message, help);
            return None;
        }
        state_file(report, base, value, &path("state_file"))
    });
    let interval = file.state_interval.as_ref();
    let state_interval = positive_duration(report, interval, &path("state_interval"));
    let (on_store_error, headers) = response_choices(file, report);

    RateLimiting {
        store: store.unwrap_or(defaults.store),
        state_file,
        state_interval: state_interval.unwrap_or(defaults.state_interval),
        redis,
        on_store_error: on_store_error.unwrap_or(defaults.on_store_error),
        headers: headers.unwrap_or(defaults.headers),
    }
}

/// Parses `on_store_error` and `headers`; `None` stands for an absent or invalid value.
fn response_choices(
    file: &file::RateLimiting,
    report: &mut Report,
) -> (Option<OnStoreError>, Option<LimitHeaders>) {
    let path = |key: &str| format!("rate_limiting.{key}");
    let on_store_error = file.on_store_error.as_ref().and_then(|value| {
        let options = [("allow", OnStoreError::Allow), ("deny", OnStoreError::Deny)];
        choose(
            report,
            value,
            &path("on_store_error"),
            "on_store_error value",
            &options,
        )
    });
    let headers = file.headers.as_ref().and_then(|value| {
        let options = [
            ("draft", LimitHeaders::Draft),
            ("legacy", LimitHeaders::Legacy),
            ("off", LimitHeaders::Off),
        ];
        choose(
            report,
            value,
            &path("headers"),
            "rate limit header format",
            &options,
        )
    });
    (on_store_error, headers)
}

/// Resolves the state file against `base` and checks that its directory exists. The file
/// itself need not exist, because the gateway creates it.
fn state_file(
    report: &mut Report,
    base: &FileBase,
    value: &Spanned<String>,
    path: &str,
) -> Option<PathBuf> {
    if value.value.is_empty() {
        let help = "write a file path such as /var/lib/gatehouse/limits.state, or remove the key";
        report.error(value, path, "state_file is empty", help);
        return None;
    }
    let resolved = base.resolve(&value.value);
    let resolved_text = resolved.display().to_string();
    let directory = match resolved.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let problem = if resolved.is_dir() {
        Some(format!("state_file {resolved_text:?} is a directory"))
    } else if !directory.is_dir() {
        Some(format!(
            "directory {:?} of state_file {resolved_text:?} not found",
            directory.display().to_string()
        ))
    } else {
        None
    };
    if let Some(message) = problem {
        let help = format!(
            "create the directory or correct the path; relative paths start from {}",
            base.described
        );
        report.error(value, path, message, help);
        return None;
    }
    Some(resolved)
}

fn redis_settings(
    section: &Spanned<file::Redis>,
    path: &str,
    report: &mut Report,
) -> Option<RedisSettings> {
    let file = &section.value;
    let urls = match &file.url {
        Some(url) => redis_urls(url, &format!("{path}.url"), report),
        None => {
            let help = "add `url:` such as \"redis://127.0.0.1:6379/0\", or a list of URLs for \
                        the nodes of a Redis Cluster";
            report.error(section, path, "redis section has no url", help);
            None
        }
    };
    let timeout = positive_duration(report, file.timeout.as_ref(), &format!("{path}.timeout"));
    let key_prefix = match &file.key_prefix {
        Some(value) => match check_key_prefix(&value.value) {
            Ok(()) => Some(value.value.clone()),
            Err(problem) => {
                report.push(&value.referenced, &format!("{path}.key_prefix"), problem);
                None
            }
        },
        None => Some(KEY_PREFIX.to_string()),
    };
    Some(RedisSettings {
        urls: urls?,
        timeout: timeout.unwrap_or(REDIS_TIMEOUT),
        key_prefix: key_prefix?,
    })
}

/// Checks one URL or a list of cluster node URLs.
fn redis_urls(value: &Spanned<OneOrMany>, path: &str, report: &mut Report) -> Option<Vec<String>> {
    let items = match &value.value {
        OneOrMany::One(text) => {
            return match redis_url(text) {
                Ok(_) => Some(vec![text.clone()]),
                Err(problem) => {
                    report.push(&value.referenced, path, problem);
                    None
                }
            };
        }
        OneOrMany::Many(items) => items,
    };
    if items.is_empty() {
        let help = "write at least one URL such as \"redis://10.0.0.5:6379\"";
        report.error(value, path, "redis url list is empty", help);
        return None;
    }
    let mut valid = true;
    let mut first_lines: Vec<(&str, u64)> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let problem = match redis_url(&item.value) {
            Ok(url) => cluster_problem(&url, &first_lines),
            Err(problem) => Some(problem),
        };
        if let Some(problem) = problem {
            report.push(&item.referenced, &item_path, problem);
            valid = false;
        }
        first_lines.push((&item.value, line_of(item)));
    }
    valid.then(|| items.iter().map(|item| item.value.clone()).collect())
}

/// The parts of a Redis URL that cluster checks compare.
struct RedisUrl {
    scheme: String,
    database: u32,
}

/// Checks a node URL of a Redis Cluster against the nodes before it: one scheme for all,
/// database 0 only, no repeats.
fn cluster_problem(url: &RedisUrl, earlier: &[(&str, u64)]) -> Option<Problem> {
    if url.database != 0 {
        return Some(Problem::new(
            format!(
                "Redis Cluster has only database 0, but the URL selects database {}",
                url.database
            ),
            "remove the database number from the URL, or use a single URL for a standalone server",
        ));
    }
    let (first, _) = earlier.first()?;
    if !first
        .to_ascii_lowercase()
        .starts_with(&format!("{}://", url.scheme))
    {
        return Some(Problem::new(
            "the cluster URLs mix `redis://` and `rediss://`",
            "use `rediss://` for every node when the cluster uses TLS, otherwise `redis://`",
        ));
    }
    None
}

/// Checks a `redis://` or `rediss://` URL: a host, an optional port, optional credentials and
/// an optional database number as the path. Messages show the URL with its password replaced.
fn redis_url(text: &str) -> Result<RedisUrl, Problem> {
    let redacted_url = redact_redis_url(text);
    let invalid = |reason: &str, help: &str| {
        Problem::new(
            format!("invalid Redis URL {redacted_url:?}: {reason}"),
            help,
        )
    };
    let example = "write a URL such as redis://127.0.0.1:6379/0";
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(invalid("missing `redis://` or `rediss://`", example));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "redis" && scheme != "rediss" {
        let reason = format!("unsupported scheme `{scheme}`");
        return Err(invalid(&reason, "use redis://, or rediss:// for TLS"));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    split_host_port(host_port).map_err(|(reason, help)| invalid(&reason, help))?;
    if tail.contains('#') {
        return Err(invalid(
            "fragments are not allowed",
            "remove the part from `#` on",
        ));
    }
    let path = tail.split('?').next().unwrap_or_default();
    let database = match path.trim_start_matches('/') {
        "" => 0,
        digits => digits.parse::<u32>().map_err(|_| {
            let reason = format!("invalid database number `{digits}`");
            invalid(
                &reason,
                "write the database as a number after the host, such as /0",
            )
        })?,
    };
    Ok(RedisUrl { scheme, database })
}

/// Checks `redis.key_prefix`: letters, digits, `-`, `_`, `:` and `.`, not empty.
fn check_key_prefix(text: &str) -> Result<(), Problem> {
    let help = "use letters, digits, `-`, `_`, `:` and `.`, such as `gatehouse` or `gw:prod`";
    if text.is_empty() {
        return Err(Problem::new("key_prefix is empty", help));
    }
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.');
    match text.chars().find(|&c| !valid(c)) {
        Some(character) => Err(Problem::new(
            format!("invalid key_prefix {text:?}: it contains {character:?}"),
            help,
        )),
        None => Ok(()),
    }
}
