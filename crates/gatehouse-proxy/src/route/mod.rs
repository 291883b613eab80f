//! The route table: compiled once per configuration, looked up once per request.
//!
//! Precedence is fixed: an exact `path`, then `path_template` (static segments before
//! parameters before catch-alls, as matchit orders them), then `path_regex` in file order,
//! then `path_prefix`, longest first. Routes with the same path keep file order. Hosts,
//! methods, headers and query are filters checked on the candidates of a path; when every
//! candidate of the best path fails its filters, the next path in precedence is tried.
//!
//! Exact paths and prefixes are hash lookups (one per path segment for prefixes), templates
//! go through a matchit radix tree, so lookup cost does not grow with the number of routes.
//! Regex routes are tried one after another and cost grows with their count.

pub mod host;
pub mod path;
pub mod table;
mod template;

use std::collections::HashMap;

use gatehouse_config::model::{PathMatch, Route};
use gatehouse_config::precedence;
use regex::Regex;

use template::Template;

/// Captured path parameters: name and raw (still percent-encoded) value.
pub type Captures = Vec<(String, String)>;

/// The route a request matched, with its captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub route: usize,
    pub captures: Captures,
}

/// A failure to build the route table.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error(
        "route {route:?}: path template {template:?} is not supported by the router: {reason}"
    )]
    Template {
        route: String,
        template: String,
        reason: String,
    },
    #[error("route {route:?}: invalid path regex: {reason}")]
    Regex { route: String, reason: String },
}

/// Routes that share one template, with each route's own parameter names.
struct TemplateGroup {
    routes: Vec<(usize, Vec<String>)>,
}

/// The compiled route table.
#[derive(Default)]
pub struct Router {
    exact: HashMap<String, Vec<usize>>,
    templates: matchit::Router<usize>,
    template_groups: Vec<TemplateGroup>,
    /// Every template route in precedence order, for the rare fallback scan.
    template_order: Vec<(usize, Template)>,
    regexes: Vec<(usize, Regex)>,
    prefixes: HashMap<String, Vec<usize>>,
}

impl Router {
    /// Compiles the routes. Indexes in the result refer to positions in `routes`.
    pub fn build(routes: &[Route]) -> Result<Router, RouterError> {
        let mut router = Router::default();
        let mut group_index: HashMap<String, usize> = HashMap::new();
        for index in precedence::match_order(routes) {
            let route = &routes[index];
            match &route.matcher.path {
                PathMatch::Exact(path) => router.exact.entry(path.clone()).or_default().push(index),
                PathMatch::Prefix(prefix) => router
                    .prefixes
                    .entry(prefix.clone())
                    .or_default()
                    .push(index),
                PathMatch::Template(text) => {
                    router.add_template(&mut group_index, route, index, text)?
                }
                PathMatch::Regex(pattern) => {
                    let regex = Regex::new(&format!("^(?:{pattern})$")).map_err(|err| {
                        RouterError::Regex {
                            route: route.name.clone(),
                            reason: err.to_string(),
                        }
                    })?;
                    router.regexes.push((index, regex));
                }
            }
        }
        Ok(router)
    }

    fn add_template(
        &mut self,
        group_index: &mut HashMap<String, usize>,
        route: &Route,
        index: usize,
        text: &str,
    ) -> Result<(), RouterError> {
        let error = |reason: String| RouterError::Template {
            route: route.name.clone(),
            template: text.to_string(),
            reason,
        };
        let template = Template::parse(text).map_err(error)?;
        let key = template.positional();
        let names = template.param_names();
        let group = match group_index.get(&key) {
            Some(group) => *group,
            None => {
                let group = self.template_groups.len();
                self.templates
                    .insert(key.clone(), group)
                    .map_err(|err| error(err.to_string()))?;
                self.template_groups
                    .push(TemplateGroup { routes: Vec::new() });
                group_index.insert(key, group);
                group
            }
        };
        self.template_groups[group].routes.push((index, names));
        self.template_order.push((index, template));
        Ok(())
    }

    /// Finds the first route in precedence order whose path matches `path` (normalized) and
    /// for which `accepts` (the host, method, header and query filters) returns true.
    pub fn find(&self, path: &str, accepts: impl Fn(usize) -> bool) -> Option<Matched> {
        if let Some(route) = first_accepted(self.exact.get(path), &accepts) {
            return Some(Matched {
                route,
                captures: Vec::new(),
            });
        }
        if let Some(found) = self.find_template(path, &accepts) {
            return Some(found);
        }
        for (route, regex) in &self.regexes {
            if let Some(found) = regex_match(*route, regex, path, &accepts) {
                return Some(found);
            }
        }
        self.find_prefix(path, &accepts)
    }

    fn find_template(&self, path: &str, accepts: &impl Fn(usize) -> bool) -> Option<Matched> {
        let found = self.templates.at(path).ok()?;
        let group = &self.template_groups[*found.value];
        for (route, names) in &group.routes {
            if accepts(*route) {
                let captures = names
                    .iter()
                    .zip(found.params.iter())
                    .map(|(name, (_, value))| (name.clone(), value.to_string()))
                    .collect();
                return Some(Matched {
                    route: *route,
                    captures,
                });
            }
        }
        // Every route of the best template failed its filters: scan the others in order.
        self.template_order.iter().find_map(|(route, template)| {
            if group.routes.iter().any(|(grouped, _)| grouped == route) || !accepts(*route) {
                return None;
            }
            let captures = template.captures(path)?;
            Some(Matched {
                route: *route,
                captures,
            })
        })
    }

    fn find_prefix(&self, path: &str, accepts: &impl Fn(usize) -> bool) -> Option<Matched> {
        let mut end = path.len();
        loop {
            let candidate = if end == 0 { "/" } else { &path[..end] };
            if let Some(route) = first_accepted(self.prefixes.get(candidate), accepts) {
                return Some(Matched {
                    route,
                    captures: Vec::new(),
                });
            }
            if end == 0 {
                return None;
            }
            end = path[..end].rfind('/').unwrap_or(0);
        }
    }
}

fn first_accepted(
    candidates: Option<&Vec<usize>>,
    accepts: &impl Fn(usize) -> bool,
) -> Option<usize> {
    candidates?.iter().copied().find(|route| accepts(*route))
}

fn regex_match(
    route: usize,
    regex: &Regex,
    path: &str,
    accepts: &impl Fn(usize) -> bool,
) -> Option<Matched> {
    let groups = regex.captures(path)?;
    if !accepts(route) {
        return None;
    }
    let captures = regex
        .capture_names()
        .flatten()
        .filter_map(|name| Some((name.to_string(), groups.name(name)?.as_str().to_string())))
        .collect();
    Some(Matched { route, captures })
}

#[cfg(test)]
mod tests;
