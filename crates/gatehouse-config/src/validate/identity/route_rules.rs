//! Checks for the `auth` and `ip` blocks of a route, and for `client_ip`.

use serde_saphyr::Spanned;

use crate::file::{self, SpannedList};
use crate::model::{AuthMethod, ClientIp, IpNetwork, IpRules, RouteAuth};
use crate::validate::fields::check_name;
use crate::validate::report::{line_of, Problem, Report};
use crate::validate::suggest::{closest, quoted_list};

use super::network::parse_network;
use super::values::{claim_name, query_parameter};
use super::ProviderNames;

const METHOD_FORMS: &str = "`api_key`, `jwt:NAME` or `introspection:NAME`";

/// Checks a route's `auth` block. Invalid entries are left out of the result.
pub(crate) fn route_auth(
    section: &Spanned<file::RouteAuth>,
    path: &str,
    providers: &ProviderNames,
    report: &mut Report,
) -> RouteAuth {
    let file = &section.value;
    let methods = methods(section, path, providers, report);
    let scopes = scopes(file.scopes.as_ref(), &format!("{path}.scopes"), report);
    let claims = file
        .claims
        .as_ref()
        .map_or(&[][..], |map| map.value.0.as_slice());
    for (claim, _) in claims {
        if let Err(problem) = claim_name(&claim.value, "claims") {
            let claim_path = format!("{path}.claims.{}", claim.value);
            report.push(&claim.referenced, &claim_path, problem);
        }
    }
    let tags = file
        .consumers
        .as_ref()
        .and_then(|filter| filter.value.allow_tags.as_ref());
    let tags = tags.map_or(&[][..], |list| list.value.as_slice());
    for (index, tag) in tags.iter().enumerate() {
        check_name(
            report,
            tag,
            &format!("{path}.consumers.allow_tags[{index}]"),
            "tag",
        );
    }
    let token_query = token_query(file.token_query.as_ref(), &methods, path, report);
    RouteAuth {
        methods,
        scopes,
        claims: claims
            .iter()
            .map(|(claim, value)| (claim.value.clone(), value.value.clone()))
            .collect(),
        allow_tags: tags.iter().map(|tag| tag.value.clone()).collect(),
        keep_credential: file.keep_credential.as_ref().is_some_and(|flag| flag.value),
        token_query,
    }
}

/// Checks `methods`: present, each a known method or a defined provider, none twice.
fn methods(
    section: &Spanned<file::RouteAuth>,
    path: &str,
    providers: &ProviderNames,
    report: &mut Report,
) -> Vec<AuthMethod> {
    let list_path = format!("{path}.methods");
    let list = section.value.methods.as_ref();
    let Some(items) = list
        .map(|list| &list.value)
        .filter(|items| !items.is_empty())
    else {
        let at = list.map_or(&section.referenced, |list| &list.referenced);
        let help = format!("add `methods:` with at least one of {METHOD_FORMS}, or remove `auth` to let every request through");
        report.push(
            at,
            &list_path,
            Problem::new("route auth lists no methods", help),
        );
        return Vec::new();
    };
    let mut methods: Vec<(AuthMethod, u64)> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{list_path}[{index}]");
        let Some(method) = method(item, &item_path, providers, report) else {
            continue;
        };
        if let Some((_, line)) = methods.iter().find(|(listed, _)| *listed == method) {
            let message = format!(
                "method {:?} is listed twice; the first is at line {line}",
                item.value
            );
            report.error(item, &item_path, message, "remove one of them");
            continue;
        }
        methods.push((method, line_of(item)));
    }
    methods.into_iter().map(|(method, _)| method).collect()
}

/// Parses one entry of `methods`: `api_key`, or a provider kind and a defined name.
fn method(
    item: &Spanned<String>,
    path: &str,
    providers: &ProviderNames,
    report: &mut Report,
) -> Option<AuthMethod> {
    let text = item.value.as_str();
    if text == "api_key" {
        return Some(AuthMethod::ApiKey);
    }
    let (kind, name) = text.split_once(':').unwrap_or((text, ""));
    let provider = match kind {
        "jwt" => ProviderKind::Jwt,
        "introspection" => ProviderKind::Introspection,
        _ => {
            let message = format!("unknown authentication method {text:?}");
            report.error(item, path, message, unknown_method_help(text, providers));
            return None;
        }
    };
    let prefix = provider.prefix();
    if name.is_empty() {
        let message = format!("method `{prefix}` needs a provider name");
        let help = format!(
            "write `{prefix}:NAME` with the name of a provider under `authentication.{prefix}`"
        );
        report.error(item, path, message, help);
        return None;
    }
    let index = provider_index(item, path, provider, name, providers, report)?;
    Some(match provider {
        ProviderKind::Jwt => AuthMethod::Jwt(index),
        ProviderKind::Introspection => AuthMethod::Introspection(index),
    })
}

#[derive(Clone, Copy)]
enum ProviderKind {
    Jwt,
    Introspection,
}

impl ProviderKind {
    /// Returns the method prefix, which is also the list's key under `authentication`.
    fn prefix(self) -> &'static str {
        match self {
            ProviderKind::Jwt => "jwt",
            ProviderKind::Introspection => "introspection",
        }
    }
}

/// Returns the index of the provider `name`, or reports it as undefined with a close name
/// or the defined methods of that kind.
fn provider_index(
    item: &Spanned<String>,
    path: &str,
    provider: ProviderKind,
    name: &str,
    providers: &ProviderNames,
    report: &mut Report,
) -> Option<usize> {
    let (names, label) = match provider {
        ProviderKind::Jwt => (&providers.jwt, "JWT provider"),
        ProviderKind::Introspection => (&providers.introspection, "introspection provider"),
    };
    if let Some(index) = names.iter().position(|defined| *defined == name) {
        return Some(index);
    }
    let prefix = provider.prefix();
    let methods: Vec<String> = names
        .iter()
        .map(|defined| format!("{prefix}:{defined}"))
        .collect();
    let methods: Vec<&str> = methods.iter().map(String::as_str).collect();
    let help = match closest(name, names.iter().copied()) {
        Some(close) => format!("did you mean `{prefix}:{close}`?"),
        None if names.is_empty() => {
            format!("define a {label} named {name:?} under `authentication.{prefix}`")
        }
        None => format!(
            "define it under `authentication.{prefix}`, or use {}",
            quoted_list(&methods)
        ),
    };
    let message = format!("route uses undefined {label} {name:?}");
    report.error(item, path, message, help);
    None
}

fn unknown_method_help(text: &str, providers: &ProviderNames) -> String {
    let mut methods = vec!["api_key".to_string()];
    methods.extend(providers.jwt.iter().map(|name| format!("jwt:{name}")));
    methods.extend(
        providers
            .introspection
            .iter()
            .map(|name| format!("introspection:{name}")),
    );
    match closest(text, methods.iter().map(String::as_str)) {
        Some(close) => format!("did you mean `{close}`?"),
        None => format!("write {METHOD_FORMS}"),
    }
}

/// Checks `scopes`: each non-empty and without spaces, because a granted `scope` claim is a
/// space-separated list and a scope with a space could never match.
fn scopes(list: Option<&SpannedList<String>>, path: &str, report: &mut Report) -> Vec<String> {
    let items = list.map_or(&[][..], |list| list.value.as_slice());
    let mut scopes = Vec::new();
    for (index, scope) in items.iter().enumerate() {
        let help = "list each scope as its own entry, such as [\"prices:read\", \"prices:write\"]";
        if scope.value.is_empty() || scope.value.chars().any(char::is_whitespace) {
            let message = format!(
                "invalid scope {:?}: a scope is one word without spaces",
                scope.value
            );
            report.error(scope, &format!("{path}[{index}]"), message, help);
            continue;
        }
        scopes.push(scope.value.clone());
    }
    scopes
}

/// Checks `token_query`: parameter names, and only on routes that accept bearer tokens.
fn token_query(
    list: Option<&SpannedList<String>>,
    methods: &[AuthMethod],
    path: &str,
    report: &mut Report,
) -> Vec<String> {
    let Some(list) = list else {
        return Vec::new();
    };
    let list_path = format!("{path}.token_query");
    let takes_tokens = methods
        .iter()
        .any(|method| !matches!(method, AuthMethod::ApiKey));
    if !list.value.is_empty() && !methods.is_empty() && !takes_tokens {
        let message = "token_query is only used with `jwt:` or `introspection:` methods";
        let help = "remove token_query; to read API keys from the query, set `authentication.api_key.query`";
        report.error(list, &list_path, message, help);
    }
    let mut names = Vec::new();
    for (index, name) in list.value.iter().enumerate() {
        match query_parameter(&name.value, "token_query") {
            Ok(()) => names.push(name.value.clone()),
            Err(problem) => {
                report.push(&name.referenced, &format!("{list_path}[{index}]"), problem)
            }
        }
    }
    names
}

/// Checks a route's `ip` block.
pub(crate) fn ip_rules(
    section: &Spanned<file::IpRules>,
    path: &str,
    report: &mut Report,
) -> IpRules {
    let file = &section.value;
    IpRules {
        allow: networks(file.allow.as_ref(), &format!("{path}.allow"), report),
        deny: networks(file.deny.as_ref(), &format!("{path}.deny"), report),
    }
}

/// Checks the `client_ip` section.
pub(crate) fn client_ip(
    section: Option<&Spanned<file::ClientIp>>,
    report: &mut Report,
) -> ClientIp {
    let proxies = section.and_then(|section| section.value.trusted_proxies.as_ref());
    ClientIp {
        trusted_proxies: networks(proxies, "client_ip.trusted_proxies", report),
    }
}

fn networks(list: Option<&SpannedList<String>>, path: &str, report: &mut Report) -> Vec<IpNetwork> {
    let items = list.map_or(&[][..], |list| list.value.as_slice());
    let mut networks = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match parse_network(&item.value) {
            Ok(network) => networks.push(network),
            Err(problem) => report.push(&item.referenced, &format!("{path}[{index}]"), problem),
        }
    }
    networks
}
