//! Checks for `upstreams`: names, target URLs and weights, load balancing, protocol,
//! timeouts and TLS.

use std::collections::HashMap;
use std::net::Ipv6Addr;

use serde_saphyr::Spanned;

use super::fields::{
    check_name, check_unique_names, choose, existing_file, header_name, is_host_name,
    positive_duration,
};
use super::report::{line_of, Problem, Report};
use super::FileBase;
use crate::file::{self, SpannedList};
use crate::model::{
    HashKey, LoadBalancing, Scheme, Target, Upstream, UpstreamProtocol, UpstreamTimeouts,
    UpstreamTls,
};

/// Checks every upstream. Returns one model upstream per entry, in file order, so that route
/// references resolve by index; fields with problems keep their defaults.
pub(super) fn upstreams(
    section: Option<&SpannedList<file::Upstream>>,
    base: &FileBase,
    report: &mut Report,
) -> Vec<Upstream> {
    let Some(items) = section.map(|list| &list.value) else {
        return Vec::new();
    };
    let names = items.iter().enumerate();
    let names = names.map(|(index, item)| (&item.value.name, format!("upstreams[{index}].name")));
    check_unique_names(report, "upstream", names);
    items
        .iter()
        .enumerate()
        .map(|(index, item)| upstream(item, &format!("upstreams[{index}]"), base, report))
        .collect()
}

fn upstream(
    item: &Spanned<file::Upstream>,
    path: &str,
    base: &FileBase,
    report: &mut Report,
) -> Upstream {
    let file = &item.value;
    check_name(report, &file.name, &format!("{path}.name"), "upstream");
    let targets = targets(item, path, report);
    let max_idle_per_target = match &file.max_idle_per_target {
        None => 128,
        Some(count) => usize::try_from(count.value).unwrap_or_else(|_| {
            let message = format!("max_idle_per_target {} is too large", count.value);
            report.error(
                count,
                &format!("{path}.max_idle_per_target"),
                message,
                "use a smaller number, such as 128",
            );
            128
        }),
    };
    Upstream {
        name: file.name.value.clone(),
        load_balancing: load_balancing(file, path, report),
        protocol: protocol(file, &targets, path, report),
        preserve_host: file.preserve_host.as_ref().is_some_and(|flag| flag.value),
        timeouts: timeouts(file.timeouts.as_ref(), path, report),
        tls: tls(file.tls.as_ref(), path, base, report),
        max_idle_per_target,
        targets,
    }
}

fn targets(item: &Spanned<file::Upstream>, path: &str, report: &mut Report) -> Vec<Target> {
    let name = &item.value.name.value;
    let targets_path = format!("{path}.targets");
    let section = item.value.targets.as_ref();
    let Some(list) = section.filter(|list| !list.value.is_empty()) else {
        let at = section.map_or(&item.referenced, |list| &list.referenced);
        let help = format!(
            "add at least one under {targets_path}, such as `- url: \"http://127.0.0.1:9001\"`"
        );
        let message = format!("upstream {name:?} has no targets");
        report.push(at, &targets_path, Problem::new(message, help));
        return Vec::new();
    };
    let mut first_lines: HashMap<String, u64> = HashMap::new();
    let mut targets = Vec::new();
    for (index, target_item) in list.value.iter().enumerate() {
        let target_path = format!("{targets_path}[{index}]");
        let Some(target) = target(&target_item.value, &target_path, report) else {
            continue;
        };
        let url = &target_item.value.url;
        let key = format!("{:?}://{}", target.scheme, target.authority());
        match first_lines.get(&key) {
            Some(first_line) => {
                let message = format!(
                    "target {:?} is listed twice in upstream {name:?}; the first is at line {first_line}",
                    url.value
                );
                let help = "remove one of them, or raise the weight of the first";
                report.error(url, &format!("{target_path}.url"), message, help);
            }
            None => {
                first_lines.insert(key, line_of(url));
            }
        }
        targets.push(target);
    }
    targets
}

fn target(file: &file::Target, path: &str, report: &mut Report) -> Option<Target> {
    let weight = match &file.weight {
        None => Some(1),
        Some(weight) if weight.value == 0 => {
            let help = "set a weight of 1 or more; to stop traffic to this target, remove it";
            report.error(
                weight,
                &format!("{path}.weight"),
                "weight must be at least 1, found 0",
                help,
            );
            None
        }
        Some(weight) => u32::try_from(weight.value).ok().or_else(|| {
            let message = format!(
                "weight {} is too large; the maximum is {}",
                weight.value,
                u32::MAX
            );
            report.error(
                weight,
                &format!("{path}.weight"),
                message,
                "use smaller weights with the same ratios",
            );
            None
        }),
    };
    let parsed = match target_url(&file.url.value) {
        Ok(parsed) => Some(parsed),
        Err(problem) => {
            report.push(&file.url.referenced, &format!("{path}.url"), problem);
            None
        }
    };
    let (scheme, host, port) = parsed?;
    Some(Target {
        url: file.url.value.clone(),
        scheme,
        host,
        port,
        weight: weight?,
    })
}

/// Parses `http://HOST[:PORT][/]` or `https://…`. The port defaults to 80 or 443. Paths other
/// than `/`, queries, fragments and credentials are rejected. The host is lower-cased and
/// IPv6 brackets are removed.
fn target_url(text: &str) -> Result<(Scheme, String, u16), Problem> {
    let invalid = |reason: &str, help: &str| {
        Problem::new(format!("invalid target URL {text:?}: {reason}"), help)
    };
    let example = "write a URL such as http://127.0.0.1:9001 or https://api.internal";
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(invalid("missing `http://` or `https://`", example));
    };
    let (scheme, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "http" => (Scheme::Http, 80),
        "https" => (Scheme::Https, 443),
        _ => {
            return Err(invalid(
                &format!("unsupported scheme `{scheme}`"),
                "use http:// or https://",
            ))
        }
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.contains('@') {
        // The URL is left out of this message because the part before `@` may be a password.
        return Err(Problem::new(
            "target URL contains credentials (`user:password@`)",
            "remove them from the URL; to send credentials, set a header under the route's `request_headers`",
        ));
    }
    check_url_tail(tail).map_err(|(reason, help)| invalid(&reason, help))?;
    let (host, port) =
        split_host_port(authority).map_err(|(reason, help)| invalid(&reason, help))?;
    Ok((scheme, host, port.unwrap_or(default_port)))
}

fn check_url_tail(tail: &str) -> Result<(), (String, &'static str)> {
    if let Some(fragment_start) = tail.find('#') {
        return Err((
            format!("fragment `{}` is not allowed", &tail[fragment_start..]),
            "remove the part from `#` on",
        ));
    }
    if let Some(query_start) = tail.find('?') {
        return Err((
            format!("query `{}` is not allowed", &tail[query_start..]),
            "remove the part from `?` on; target URLs name a server, not a resource",
        ));
    }
    if !tail.is_empty() && tail != "/" {
        return Err((
            format!("path `{tail}` is not allowed"),
            "remove the path; to change request paths, use the route's `rewrite`",
        ));
    }
    Ok(())
}

pub(super) fn split_host_port(
    authority: &str,
) -> Result<(String, Option<u16>), (String, &'static str)> {
    let host_help = "write a host name or IP address after `://`";
    let bracketed = authority.starts_with('[');
    let (host, port) = if let Some(after_bracket) = authority.strip_prefix('[') {
        let (inside, after) = after_bracket
            .split_once(']')
            .ok_or_else(|| ("unclosed `[` in the host".to_string(), host_help))?;
        if inside.parse::<Ipv6Addr>().is_err() {
            return Err((format!("invalid IPv6 address `{inside}`"), host_help));
        }
        match after {
            "" => (inside.to_string(), None),
            _ => match after.strip_prefix(':') {
                Some(port) => (inside.to_string(), Some(port)),
                None => return Err((format!("unexpected `{after}` after the host"), host_help)),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_ascii_lowercase(), Some(port)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() {
        return Err(("missing host".to_string(), host_help));
    }
    if !bracketed && host.contains(':') {
        return Err((
            format!("IPv6 address `{host}` needs brackets"),
            "write the address in brackets, such as http://[::1]:9001",
        ));
    }
    if !bracketed && !is_host_name(&host) {
        return Err((format!("invalid host `{host}`"), host_help));
    }
    let port = match port {
        None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => {
                return Err((
                    format!("invalid port `{text}`"),
                    "write a port from 1 to 65535, or leave it out for 80 or 443",
                ))
            }
        },
    };
    Ok((host, port))
}

/// The `load_balancing` names, before `hash_key` is attached.
#[derive(Clone, Copy, PartialEq)]
enum Policy {
    RoundRobin,
    LeastRequests,
    Random,
    ConsistentHash,
}

fn load_balancing(file: &file::Upstream, path: &str, report: &mut Report) -> LoadBalancing {
    let options = [
        ("round_robin", Policy::RoundRobin),
        ("least_requests", Policy::LeastRequests),
        ("random", Policy::Random),
        ("consistent_hash", Policy::ConsistentHash),
    ];
    let policy = match &file.load_balancing {
        None => Policy::RoundRobin,
        Some(value) => {
            let policy_path = format!("{path}.load_balancing");
            match choose(
                report,
                value,
                &policy_path,
                "load balancing policy",
                &options,
            ) {
                Some(policy) => policy,
                // Whether hash_key belongs depends on the policy, so do not guess.
                None => return LoadBalancing::RoundRobin,
            }
        }
    };
    let key_path = format!("{path}.hash_key");
    match (policy, &file.hash_key, &file.load_balancing) {
        (Policy::ConsistentHash, Some(key), _) => match hash_key(&key.value) {
            Ok(key) => return LoadBalancing::ConsistentHash(key),
            Err(problem) => report.push(&key.referenced, &key_path, problem),
        },
        (Policy::ConsistentHash, None, Some(value)) => report.error(
            value,
            &key_path,
            "load_balancing consistent_hash needs a hash_key",
            "add `hash_key:` with `header:NAME`, `cookie:NAME` or `client_ip`",
        ),
        (_, Some(key), _) => report.error(
            key,
            &key_path,
            "hash_key is only used with `load_balancing: consistent_hash`",
            "remove hash_key, or set `load_balancing: consistent_hash`",
        ),
        _ => {}
    }
    match policy {
        Policy::LeastRequests => LoadBalancing::LeastRequests,
        Policy::Random => LoadBalancing::Random,
        Policy::RoundRobin | Policy::ConsistentHash => LoadBalancing::RoundRobin,
    }
}

/// Parses `header:NAME`, `cookie:NAME` or `client_ip`.
fn hash_key(text: &str) -> Result<HashKey, Problem> {
    let help = "write `header:NAME`, `cookie:NAME` or `client_ip`";
    if text == "client_ip" {
        return Ok(HashKey::ClientIp);
    }
    if let Some(name) = text.strip_prefix("header:") {
        return header_name(name).map(HashKey::Header);
    }
    if let Some(name) = text.strip_prefix("cookie:") {
        let is_token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if !name.is_empty() && name.chars().all(is_token_char) {
            return Ok(HashKey::Cookie(name.to_string()));
        }
        return Err(Problem::new(
            format!("invalid cookie name {name:?} in hash_key"),
            help,
        ));
    }
    let help = match super::suggest::closest(text, ["client_ip"]) {
        Some(_) => "did you mean `client_ip`?",
        None => help,
    };
    Err(Problem::new(format!("invalid hash_key {text:?}"), help))
}

fn protocol(
    file: &file::Upstream,
    targets: &[Target],
    path: &str,
    report: &mut Report,
) -> UpstreamProtocol {
    let Some(value) = &file.protocol else {
        return UpstreamProtocol::Http1;
    };
    let options = [
        ("http1", UpstreamProtocol::Http1),
        ("h2c", UpstreamProtocol::H2c),
    ];
    let protocol_path = format!("{path}.protocol");
    let protocol = choose(report, value, &protocol_path, "upstream protocol", &options);
    let tls_target = targets.iter().find(|target| target.scheme == Scheme::Https);
    if let (Some(UpstreamProtocol::H2c), Some(target)) = (protocol, tls_target) {
        let message = format!(
            "protocol h2c is cleartext HTTP/2, but target {:?} uses https",
            target.url
        );
        let help = "use http:// targets with h2c, or remove `protocol`: https targets negotiate HTTP/2 by ALPN";
        report.error(value, &protocol_path, message, help);
    }
    protocol.unwrap_or(UpstreamProtocol::Http1)
}

fn timeouts(
    section: Option<&Spanned<file::UpstreamTimeouts>>,
    path: &str,
    report: &mut Report,
) -> UpstreamTimeouts {
    let mut timeouts = UpstreamTimeouts::default();
    let Some(section) = section else {
        return timeouts;
    };
    let file = &section.value;
    let mut timeout = |value: &Option<Spanned<String>>, key: &str| {
        positive_duration(report, value.as_ref(), &format!("{path}.timeouts.{key}"))
    };
    if let Some(duration) = timeout(&file.connect, "connect") {
        timeouts.connect = duration;
    }
    if let Some(duration) = timeout(&file.request, "request") {
        timeouts.request = duration;
    }
    if let Some(duration) = timeout(&file.idle, "idle") {
        timeouts.idle = duration;
    }
    timeouts
}

fn tls(
    section: Option<&Spanned<file::UpstreamTls>>,
    path: &str,
    base: &FileBase,
    report: &mut Report,
) -> UpstreamTls {
    let Some(section) = section else {
        return UpstreamTls::default();
    };
    let file = &section.value;
    let ca = file
        .ca
        .as_ref()
        .map(|ca| existing_file(report, base, ca, &format!("{path}.tls.ca")));
    if let Some(name) = &file.server_name {
        let is_ip = name.value.parse::<std::net::IpAddr>().is_ok();
        if !is_ip && !is_host_name(&name.value) {
            let message = format!("invalid server_name {:?}", name.value);
            let help =
                "write the DNS name or IP address that the target's certificate is issued for";
            report.error(name, &format!("{path}.tls.server_name"), message, help);
        }
    }
    UpstreamTls {
        ca,
        insecure_skip_verify: file.verify.as_ref().is_some_and(|verify| !verify.value),
        server_name: file.server_name.as_ref().map(|name| name.value.clone()),
    }
}
