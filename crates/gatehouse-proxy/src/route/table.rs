//! The route table as people read it: `gatehouse routes` and `GET /admin/routes`.

use gatehouse_config::model::{Config, HostPattern, PathMatch};
use gatehouse_config::precedence;

/// One route in matching order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RouteRow {
    pub order: usize,
    pub name: String,
    /// `exact`, `template`, `regex` or `prefix`.
    pub kind: &'static str,
    pub path: String,
    pub hosts: Vec<String>,
    pub methods: Vec<String>,
    pub upstream: String,
}

/// Returns the routes in the order requests are matched against them.
pub fn rows(config: &Config) -> Vec<RouteRow> {
    precedence::match_order(&config.routes)
        .into_iter()
        .enumerate()
        .map(|(order, index)| {
            let route = &config.routes[index];
            let (kind, path) = match &route.matcher.path {
                PathMatch::Exact(path) => ("exact", path.clone()),
                PathMatch::Template(path) => ("template", path.clone()),
                PathMatch::Regex(path) => ("regex", path.clone()),
                PathMatch::Prefix(path) => ("prefix", path.clone()),
            };
            RouteRow {
                order: order + 1,
                name: route.name.clone(),
                kind,
                path,
                hosts: route.matcher.hosts.iter().map(host_text).collect(),
                methods: route
                    .matcher
                    .methods
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                upstream: config.upstreams[route.upstream].name.clone(),
            }
        })
        .collect()
}

fn host_text(pattern: &HostPattern) -> String {
    match pattern {
        HostPattern::Exact(name) => name.clone(),
        HostPattern::Wildcard(suffix) => format!("*{suffix}"),
    }
}

/// Formats the rows as an aligned text table.
pub fn render_text(rows: &[RouteRow]) -> String {
    let mut out = format!(
        "{:<5} {:<24} {:<8} {:<40} {:<24} {:<12} {}\n",
        "ORDER", "ROUTE", "KIND", "PATH", "HOSTS", "METHODS", "UPSTREAM"
    );
    for row in rows {
        let hosts = if row.hosts.is_empty() {
            "*".to_string()
        } else {
            row.hosts.join(",")
        };
        let methods = if row.methods.is_empty() {
            "*".to_string()
        } else {
            row.methods.join(",")
        };
        out.push_str(&format!(
            "{:<5} {:<24} {:<8} {:<40} {:<24} {:<12} {}\n",
            row.order, row.name, row.kind, row.path, hosts, methods, row.upstream
        ));
    }
    out
}
