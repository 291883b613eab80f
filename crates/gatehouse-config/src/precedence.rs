//! The order in which routes are tried against a request.
//!
//! Path match kinds form tiers tried in this order: exact `path`, `path_template`, `path_regex`,
//! `path_prefix`. Within a tier, exact paths and regular expressions keep file order, longer
//! prefixes win, and templates follow the router's rule: per segment, literal text beats
//! `{name}`, which beats `{*name}`. Ties keep file order.

use std::cmp::Ordering;

use crate::model::{PathMatch, Route};

/// One segment of a `path_template`, reduced to what matching and ordering compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TemplateShape<'a> {
    Static(&'a str),
    Capture,
    CatchAll,
}

impl TemplateShape<'_> {
    /// Returns the router's priority for this segment kind, where lower values are tried first.
    fn priority(self) -> u8 {
        match self {
            TemplateShape::Static(_) => 0,
            TemplateShape::Capture => 1,
            TemplateShape::CatchAll => 2,
        }
    }
}

/// Splits a template into segment shapes: `{*name}` is a catch-all, any other `{…}` segment a
/// capture, and everything else literal text.
pub(crate) fn template_shapes(template: &str) -> Vec<TemplateShape<'_>> {
    let body = template.strip_prefix('/').unwrap_or(template);
    body.split('/')
        .map(|segment| {
            let inner = segment
                .strip_prefix('{')
                .and_then(|rest| rest.strip_suffix('}'));
            match inner {
                Some(name) if name.starts_with('*') => TemplateShape::CatchAll,
                Some(_) => TemplateShape::Capture,
                None => TemplateShape::Static(segment),
            }
        })
        .collect()
}

/// Returns the tier of a path match: `exact`, `template`, `regex` or `prefix`.
pub fn tier_name(path: &PathMatch) -> &'static str {
    match path {
        PathMatch::Exact(_) => "exact",
        PathMatch::Template(_) => "template",
        PathMatch::Regex(_) => "regex",
        PathMatch::Prefix(_) => "prefix",
    }
}

fn tier_rank(path: &PathMatch) -> u8 {
    match path {
        PathMatch::Exact(_) => 0,
        PathMatch::Template(_) => 1,
        PathMatch::Regex(_) => 2,
        PathMatch::Prefix(_) => 3,
    }
}

/// Returns a key that is equal for two path matches exactly when they match the same paths
/// in the same tier: the tier plus the value, with template capture names left out, so
/// `/a/{x}` and `/a/{y}` have the same key.
pub(crate) fn path_key(path: &PathMatch) -> (u8, String) {
    let text = match path {
        PathMatch::Template(template) => template_shapes(template)
            .iter()
            .map(|shape| match shape {
                TemplateShape::Static(text) => format!("/{text}"),
                TemplateShape::Capture => "/{}".to_string(),
                TemplateShape::CatchAll => "/{*}".to_string(),
            })
            .collect(),
        PathMatch::Exact(text) | PathMatch::Prefix(text) | PathMatch::Regex(text) => text.clone(),
    };
    (tier_rank(path), text)
}

/// Returns the indexes of `routes` in the order the router tries them.
pub fn match_order(routes: &[Route]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..routes.len()).collect();
    // A stable sort keeps file order for routes that compare equal.
    order.sort_by(|&a, &b| compare_paths(&routes[a].matcher.path, &routes[b].matcher.path));
    order
}

fn compare_paths(a: &PathMatch, b: &PathMatch) -> Ordering {
    let by_tier = tier_rank(a).cmp(&tier_rank(b));
    if by_tier != Ordering::Equal {
        return by_tier;
    }
    match (a, b) {
        (PathMatch::Prefix(a), PathMatch::Prefix(b)) => b.len().cmp(&a.len()),
        (PathMatch::Template(a), PathMatch::Template(b)) => {
            let priorities = |template| -> Vec<u8> {
                template_shapes(template)
                    .into_iter()
                    .map(TemplateShape::priority)
                    .collect()
            };
            priorities(a).cmp(&priorities(b))
        }
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: PathMatch) -> Route {
        Route::with_path("", path)
    }

    #[test]
    fn tiers_in_order() {
        let routes = vec![
            route(PathMatch::Prefix("/".into())),
            route(PathMatch::Regex("/a.*".into())),
            route(PathMatch::Template("/a/{x}".into())),
            route(PathMatch::Exact("/a".into())),
        ];
        assert_eq!(match_order(&routes), vec![3, 2, 1, 0]);
    }

    #[test]
    fn longer_prefix_first() {
        let routes = vec![
            route(PathMatch::Prefix("/".into())),
            route(PathMatch::Prefix("/api".into())),
            route(PathMatch::Prefix("/api/v1".into())),
            route(PathMatch::Prefix("/web".into())),
        ];
        assert_eq!(match_order(&routes), vec![2, 1, 3, 0]);
    }

    #[test]
    fn exact_and_regex_keep_file_order() {
        let routes = vec![
            route(PathMatch::Regex("/b.*".into())),
            route(PathMatch::Exact("/z".into())),
            route(PathMatch::Regex("/a.*".into())),
            route(PathMatch::Exact("/a".into())),
        ];
        assert_eq!(match_order(&routes), vec![1, 3, 0, 2]);
    }

    #[test]
    fn templates_static_before_capture() {
        let routes = vec![
            route(PathMatch::Template("/a/{*rest}".into())),
            route(PathMatch::Template("/a/{x}/c".into())),
            route(PathMatch::Template("/a/b/{y}".into())),
            route(PathMatch::Template("/{x}/b".into())),
        ];
        assert_eq!(match_order(&routes), vec![2, 1, 0, 3]);
    }

    #[test]
    fn tier_names() {
        assert_eq!(tier_name(&PathMatch::Exact("/".into())), "exact");
        assert_eq!(tier_name(&PathMatch::Template("/".into())), "template");
        assert_eq!(tier_name(&PathMatch::Regex("/".into())), "regex");
        assert_eq!(tier_name(&PathMatch::Prefix("/".into())), "prefix");
    }

    #[test]
    fn template_key_ignores_names() {
        let a = path_key(&PathMatch::Template("/a/{x}/{*rest}".into()));
        let b = path_key(&PathMatch::Template("/a/{y}/{*tail}".into()));
        assert_eq!(a, b);
        assert_eq!(a.1, "/a/{}/{*}");
    }
}
