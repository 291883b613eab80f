//! Checks for `routes`: names, the upstream reference, the `match` block, `rewrite`, header
//! rules, the body size limit and rate limits. Checks across routes are in `overlap`.

use http::{HeaderName, HeaderValue, Method};
use serde_saphyr::{Location, Spanned};

use super::fields::{
    check_name, check_unique_names, header_name, header_value, reference_index, size,
};
use super::identity::{self, ProviderNames};
use super::overlap;
use super::paths::{self, is_segment_prefix};
use super::rate_limits::{self, LimitOwner};
use super::report::{line_of, Problem, Report};
use super::suggest::{closest, quoted_list};
use crate::file::{self, SpannedList, StringMap};
use crate::model::{HeaderRules, HostPattern, PathMatch, Rewrite, Route, RouteMatch, Upstream};

/// Headers that the gateway writes itself to frame messages and manage connections, so
/// header rules cannot set or add them.
pub(super) const MANAGED_HEADERS: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
];

/// A valid route with the positions that cross-route messages refer to.
pub(super) struct CheckedRoute {
    pub route: Route,
    /// Line of the route's entry in the `routes` list.
    pub line: u64,
    /// Position and key path of the route's path match value.
    pub path_at: Location,
    pub path_key: String,
}

/// Facts about the route's path match that the `rewrite` checks need.
struct PathFacts {
    /// `path`, `path_prefix`, `path_template` or `path_regex`.
    key: &'static str,
    captures: Vec<String>,
    /// The literal path that every matched request starts with, at a segment boundary.
    static_path: Option<String>,
}

/// Checks every route and the conflicts between them. Routes with an invalid path match or
/// an undefined upstream are left out of the result. `providers` resolves `auth.methods`.
pub(super) fn routes(
    section: Option<&SpannedList<file::Route>>,
    upstreams: &[Upstream],
    providers: &ProviderNames,
    report: &mut Report,
) -> Vec<Route> {
    let Some(items) = section.map(|list| &list.value) else {
        return Vec::new();
    };
    let names = items.iter().enumerate();
    let names = names.map(|(index, item)| (&item.value.name, format!("routes[{index}].name")));
    check_unique_names(report, "route", names);
    let checked: Vec<CheckedRoute> = items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| {
            let path = format!("routes[{index}]");
            route(item, &path, upstreams, providers, report)
        })
        .collect();
    overlap::check(&checked, report);
    rate_limits::check_groups(items, report);
    checked.into_iter().map(|checked| checked.route).collect()
}

fn route(
    item: &Spanned<file::Route>,
    path: &str,
    upstreams: &[Upstream],
    providers: &ProviderNames,
    report: &mut Report,
) -> Option<CheckedRoute> {
    let file = &item.value;
    let key_path = |key: &str| format!("{path}.{key}");
    check_name(report, &file.name, &key_path("name"), "route");
    let upstream = upstream_index(&file.upstream, &key_path("upstream"), upstreams, report);

    let matched = path_match(&file.matcher, &key_path("match"), report);
    let facts = matched.as_ref().map(|(_, facts, _)| facts);
    let rewrite = file
        .rewrite
        .as_ref()
        .and_then(|rewrite| check_rewrite(rewrite, facts, &key_path("rewrite"), report));
    let filters = filters(&file.matcher.value, &key_path("match"), report);

    let request_headers = header_rules(
        file.request_headers.as_ref(),
        &key_path("request_headers"),
        report,
    );
    let response_headers = header_rules(
        file.response_headers.as_ref(),
        &key_path("response_headers"),
        report,
    );
    let max_body_size = size(
        report,
        file.max_body_size.as_ref(),
        &key_path("max_body_size"),
    );
    let auth = file
        .auth
        .as_ref()
        .map(|auth| identity::route_auth(auth, &key_path("auth"), providers, report));
    let ip = file
        .ip
        .as_ref()
        .map(|ip| identity::ip_rules(ip, &key_path("ip"), report));

    let rate_limits = rate_limits::rate_limits(
        file.rate_limits.as_ref(),
        &key_path("rate_limits"),
        LimitOwner::Route,
        report,
    );
    // Any method but `api_key` may bring claims. A misspelled method has its own error.
    let claims_possible = file
        .auth
        .as_ref()
        .and_then(|auth| auth.value.methods.as_ref())
        .is_some_and(|methods| methods.value.iter().any(|method| method.value != "api_key"));
    if !claims_possible {
        rate_limits::reject_claim_keys(file.rate_limits.as_ref(), &key_path("rate_limits"), report);
    }

    let (path_match, facts, path_value) = matched?;
    Some(CheckedRoute {
        route: Route {
            name: file.name.value.clone(),
            matcher: filters.with_path(path_match),
            upstream: upstream?,
            rewrite,
            request_headers,
            response_headers,
            max_body_size,
            auth,
            ip,
            rate_limits: rate_limits.unwrap_or_default(),
        },
        line: line_of(item),
        path_at: path_value.referenced,
        path_key: format!("{}.{}", key_path("match"), facts.key),
    })
}

fn upstream_index(
    value: &Spanned<String>,
    path: &str,
    upstreams: &[Upstream],
    report: &mut Report,
) -> Option<usize> {
    let names: Vec<&str> = upstreams
        .iter()
        .map(|upstream| upstream.name.as_str())
        .collect();
    let reference = ("route", "upstream", "upstreams");
    reference_index(report, value, path, &names, reference)
}

/// Checks that exactly one of the four path keys is present and parses it.
fn path_match<'f>(
    matcher: &'f Spanned<file::RouteMatch>,
    path: &str,
    report: &mut Report,
) -> Option<(PathMatch, PathFacts, &'f Spanned<String>)> {
    let file = &matcher.value;
    let candidates = [
        ("path", &file.path),
        ("path_prefix", &file.path_prefix),
        ("path_template", &file.path_template),
        ("path_regex", &file.path_regex),
    ];
    let present: Vec<(&'static str, &Spanned<String>)> = candidates
        .into_iter()
        .filter_map(|(key, value)| value.as_ref().map(|value| (key, value)))
        .collect();
    let help = "keep exactly one of `path`, `path_prefix`, `path_template` or `path_regex`";
    let (key, value) = match present.as_slice() {
        [] => {
            let help = "add one of `path`, `path_prefix`, `path_template` or `path_regex`; `path_prefix: /` matches every path";
            report.error(matcher, path, "route match has no path", help);
            return None;
        }
        [single] => *single,
        [(first, _), (second, value), ..] => {
            let message = format!("`{first}` and `{second}` cannot be combined in one match");
            report.error(value, &format!("{path}.{second}"), message, help);
            return None;
        }
    };
    match parse_path_match(key, &value.value) {
        Ok((path_match, facts)) => Some((path_match, facts, value)),
        Err(problem) => {
            report.push(&value.referenced, &format!("{path}.{key}"), problem);
            None
        }
    }
}

fn parse_path_match(key: &'static str, text: &str) -> Result<(PathMatch, PathFacts), Problem> {
    let facts = |captures, static_path| PathFacts {
        key,
        captures,
        static_path,
    };
    Ok(match key {
        "path" => {
            let exact = paths::exact_path(text)?;
            (
                PathMatch::Exact(exact.clone()),
                facts(Vec::new(), Some(exact)),
            )
        }
        "path_prefix" => {
            let prefix = paths::prefix(text, key)?;
            (
                PathMatch::Prefix(prefix.clone()),
                facts(Vec::new(), Some(prefix)),
            )
        }
        "path_template" => {
            let segments = paths::template(text)?;
            let captures = segments
                .iter()
                .filter_map(|segment| segment.capture_name())
                .map(str::to_string);
            let facts = facts(captures.collect(), paths::static_prefix(&segments));
            (PathMatch::Template(text.to_string()), facts)
        }
        _ => {
            let captures = paths::regex_captures(text)?;
            (PathMatch::Regex(text.to_string()), facts(captures, None))
        }
    })
}

/// The conditions of a route's `match` besides the path.
struct Filters {
    hosts: Vec<HostPattern>,
    methods: Vec<Method>,
    headers: Vec<(HeaderName, String)>,
    query: Vec<(String, String)>,
}

impl Filters {
    fn with_path(self, path: PathMatch) -> RouteMatch {
        RouteMatch {
            hosts: self.hosts,
            path,
            methods: self.methods,
            headers: self.headers,
            query: self.query,
        }
    }
}

/// Checks `hosts`, `methods`, `headers` and `query`; invalid entries are left out.
fn filters(file: &file::RouteMatch, path: &str, report: &mut Report) -> Filters {
    Filters {
        hosts: checked_items(
            &file.hosts,
            &format!("{path}.hosts"),
            report,
            paths::host_pattern,
        ),
        methods: checked_items(
            &file.methods,
            &format!("{path}.methods"),
            report,
            paths::method,
        ),
        headers: match_headers(&file.headers, path, report),
        query: match_query(&file.query, path, report),
    }
}

/// Applies `check` to every item of a list of strings, reporting the failures.
fn checked_items<T>(
    list: &Option<SpannedList<String>>,
    list_path: &str,
    report: &mut Report,
    check: fn(&str) -> Result<T, Problem>,
) -> Vec<T> {
    let mut valid = Vec::new();
    for (index, item) in list_items(list) {
        match check(&item.value) {
            Ok(value) => valid.push(value),
            Err(problem) => {
                report.push(&item.referenced, &format!("{list_path}[{index}]"), problem)
            }
        }
    }
    valid
}

fn match_headers(
    map: &Option<Spanned<StringMap>>,
    path: &str,
    report: &mut Report,
) -> Vec<(HeaderName, String)> {
    let mut headers = Vec::new();
    for (name, value) in map_entries(map) {
        let entry_path = format!("{path}.headers.{}", name.value);
        let header = match header_name(&name.value) {
            Ok(header) => header,
            Err(problem) => {
                report.push(&name.referenced, &entry_path, problem);
                continue;
            }
        };
        match header_value(&name.value, &value.value) {
            Ok(_) => headers.push((header, value.value.clone())),
            Err(problem) => report.push(&value.referenced, &entry_path, problem),
        }
    }
    headers
}

fn match_query(
    map: &Option<Spanned<StringMap>>,
    path: &str,
    report: &mut Report,
) -> Vec<(String, String)> {
    let mut query = Vec::new();
    for (name, value) in map_entries(map) {
        if name.value.is_empty() {
            let help = "write the parameter name before the `:`";
            report.error(
                name,
                &format!("{path}.query"),
                "query parameter name is empty",
                help,
            );
        } else {
            query.push((name.value.clone(), value.value.clone()));
        }
    }
    query
}

fn list_items(
    list: &Option<SpannedList<String>>,
) -> impl Iterator<Item = (usize, &Spanned<String>)> {
    list.iter().flat_map(|list| list.value.iter().enumerate())
}

fn map_entries(
    map: &Option<Spanned<StringMap>>,
) -> impl Iterator<Item = &(Spanned<String>, Spanned<String>)> {
    map.iter().flat_map(|map| map.value.0.iter())
}

fn check_rewrite(
    rewrite: &Spanned<file::Rewrite>,
    facts: Option<&PathFacts>,
    path: &str,
    report: &mut Report,
) -> Option<Rewrite> {
    match (&rewrite.value.strip_prefix, &rewrite.value.path) {
        (None, None) => {
            let help = "set exactly one of them, or remove `rewrite`";
            report.error(
                rewrite,
                path,
                "rewrite sets neither `strip_prefix` nor `path`",
                help,
            );
            None
        }
        (Some(_), Some(value)) => {
            let help = "keep one of them: `strip_prefix` removes a leading part, `path` replaces the whole path";
            report.error(
                value,
                &format!("{path}.path"),
                "`strip_prefix` and `path` cannot be combined",
                help,
            );
            None
        }
        (Some(prefix), None) => {
            strip_prefix(prefix, facts, &format!("{path}.strip_prefix"), report)
        }
        (None, Some(value)) => rewrite_path(value, facts, &format!("{path}.path"), report),
    }
}

fn strip_prefix(
    value: &Spanned<String>,
    facts: Option<&PathFacts>,
    path: &str,
    report: &mut Report,
) -> Option<Rewrite> {
    let prefix = match paths::prefix(&value.value, "strip_prefix") {
        Ok(prefix) => prefix,
        Err(problem) => {
            report.push(&value.referenced, path, problem);
            return None;
        }
    };
    if prefix == "/" {
        let help = "strip a longer prefix such as /v1, or remove `rewrite`";
        report.error(value, path, "strip_prefix \"/\" removes nothing", help);
        return None;
    }
    let facts = facts?;
    match &facts.static_path {
        None if facts.key == "path_regex" => {
            let help = "use `rewrite.path` with the expression's named groups instead";
            report.error(
                value,
                path,
                "strip_prefix cannot be checked against a path_regex",
                help,
            );
        }
        None => {
            let help =
                "start the template with literal segments, or use `rewrite.path` with its captures";
            report.error(value, path, "strip_prefix needs literal leading segments, but the path_template starts with a capture", help);
        }
        Some(route_path) if !is_segment_prefix(&prefix, route_path) => {
            let first_segment = route_path[1..].split('/').next().unwrap_or_default();
            let message = format!(
                "strip_prefix {prefix:?} is not a segment prefix of the route's {} {route_path:?}",
                facts.key
            );
            let help = format!("strip a leading part of {route_path:?} that ends at a `/`, such as \"/{first_segment}\"");
            report.error(value, path, message, help);
        }
        Some(_) => {}
    }
    Some(Rewrite::StripPrefix(prefix))
}

fn rewrite_path(
    value: &Spanned<String>,
    facts: Option<&PathFacts>,
    path: &str,
    report: &mut Report,
) -> Option<Rewrite> {
    let names = match paths::rewrite_placeholders(&value.value) {
        Ok(names) => names,
        Err(problem) => {
            report.push(&value.referenced, path, problem);
            return None;
        }
    };
    let facts = facts?;
    let captures: Vec<&str> = facts.captures.iter().map(String::as_str).collect();
    for name in names
        .iter()
        .filter(|name| !captures.contains(&name.as_str()))
    {
        let message = format!(
            "rewrite.path uses capture `{name}`, which the route's {} does not capture",
            facts.key
        );
        let help = if captures.is_empty() {
            format!(
                "the route's {} captures nothing; match with `path_template` or `path_regex` to capture values",
                facts.key
            )
        } else {
            match closest(name, captures.iter().copied()) {
                Some(capture) => format!("did you mean `{capture}`?"),
                None => format!(
                    "use one of the route's captures: {}",
                    quoted_list(&captures)
                ),
            }
        };
        report.error(value, path, message, help);
    }
    Some(Rewrite::Path(value.value.clone()))
}

fn header_rules(
    section: Option<&Spanned<file::HeaderRules>>,
    path: &str,
    report: &mut Report,
) -> HeaderRules {
    let mut rules = HeaderRules::default();
    let Some(section) = section else {
        return rules;
    };
    let file = &section.value;
    for (name, value) in map_entries(&file.set) {
        let entry_path = format!("{path}.set.{}", name.value);
        rules
            .set
            .extend(header_edit(name, value, &entry_path, report));
    }
    for (name, value) in map_entries(&file.add) {
        let entry_path = format!("{path}.add.{}", name.value);
        rules
            .add
            .extend(header_edit(name, value, &entry_path, report));
    }
    rules.remove = checked_items(&file.remove, &format!("{path}.remove"), report, header_name);
    rules
}

fn header_edit(
    name: &Spanned<String>,
    value: &Spanned<String>,
    path: &str,
    report: &mut Report,
) -> Option<(HeaderName, HeaderValue)> {
    let header = match header_name(&name.value) {
        Ok(header) => header,
        Err(problem) => {
            report.push(&name.referenced, path, problem);
            return None;
        }
    };
    if MANAGED_HEADERS.contains(&header.as_str()) {
        let message = format!("header `{header}` is managed by the gateway and cannot be set here");
        report.error(
            name,
            path,
            message,
            "remove it; the gateway writes framing and connection headers itself",
        );
        return None;
    }
    match header_value(header.as_str(), &value.value) {
        Ok(header_value) => Some((header, header_value)),
        Err(problem) => {
            report.push(&value.referenced, path, problem);
            None
        }
    }
}
