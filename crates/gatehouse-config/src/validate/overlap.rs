//! Checks across routes: identical matches, routes that can never match, and templates that
//! the router cannot hold together.

use super::report::{Problem, Report};
use super::routes::CheckedRoute;
use crate::model::{HostPattern, PathMatch, RouteMatch};
use crate::precedence::{path_key, template_shapes, TemplateShape};

/// Reports each route whose match repeats or is covered by an earlier route with the same
/// path match, and each template that conflicts with an earlier one.
pub(super) fn check(routes: &[CheckedRoute], report: &mut Report) {
    let keys: Vec<(u8, String)> = routes
        .iter()
        .map(|checked| path_key(&checked.route.matcher.path))
        .collect();
    for (index, later) in routes.iter().enumerate() {
        // Same tier and value means the earlier route also comes first in the match order.
        let same_path: Vec<&CheckedRoute> = (0..index)
            .filter(|&earlier| keys[earlier] == keys[index])
            .map(|earlier| &routes[earlier])
            .collect();
        let later_match = &later.route.matcher;
        if let Some(first) = same_path
            .iter()
            .find(|earlier| identical(&earlier.route.matcher, later_match))
        {
            report.push(
                &later.path_at,
                &later.path_key,
                identical_problem(later, first),
            );
        } else if let Some(winner) = same_path
            .iter()
            .find(|earlier| covers(&earlier.route.matcher, later_match))
        {
            report.push(
                &later.path_at,
                &later.path_key,
                shadowed_problem(later, winner),
            );
        }
        if let Some(winner) = routes
            .iter()
            .find(|template| catch_all_covers_prefix(template, later))
        {
            report.push(
                &later.path_at,
                &later.path_key,
                shadowed_problem(later, winner),
            );
        }
        if let Some(other) = routes[..index]
            .iter()
            .find(|earlier| templates_conflict(earlier, later))
        {
            report.push(
                &later.path_at,
                &later.path_key,
                template_conflict_problem(later, other),
            );
        }
    }
}

/// Returns true when `template` ends in a catch-all that takes every path of the prefix route
/// `later`, with filters no stricter. Templates are tried before prefixes, so such a prefix
/// route never receives a request.
fn catch_all_covers_prefix(template: &CheckedRoute, later: &CheckedRoute) -> bool {
    let (PathMatch::Template(text), PathMatch::Prefix(prefix)) =
        (&template.route.matcher.path, &later.route.matcher.path)
    else {
        return false;
    };
    let shapes = template_shapes(text);
    let Some((TemplateShape::CatchAll, leading)) = shapes.split_last() else {
        return false;
    };
    let prefix_segments: Vec<&str> = prefix[1..].split('/').collect();
    let long_enough = prefix != "/" && prefix_segments.len() > leading.len();
    let segments_match = leading
        .iter()
        .zip(&prefix_segments)
        .all(|(shape, segment)| match shape {
            TemplateShape::Static(text) => text == segment,
            TemplateShape::Capture => !segment.is_empty(),
            TemplateShape::CatchAll => false,
        });
    long_enough && segments_match && covers(&template.route.matcher, &later.route.matcher)
}

fn identical_problem(later: &CheckedRoute, first: &CheckedRoute) -> Problem {
    let (name, first_name) = (&later.route.name, &first.route.name);
    Problem::new(
        format!("route {name:?} has the same match as route {first_name:?} (line {})", first.line),
        format!("remove one of them, or change one match; as written, only {first_name:?} receives these requests"),
    )
}

fn shadowed_problem(later: &CheckedRoute, winner: &CheckedRoute) -> Problem {
    let (name, winner_name) = (&later.route.name, &winner.route.name);
    Problem::new(
        format!(
            "route {name:?} can never match: route {winner_name:?} (line {}) matches every request it would",
            winner.line
        ),
        format!("remove it, or move it before route {winner_name:?}, or make the match of {winner_name:?} stricter"),
    )
}

fn template_conflict_problem(later: &CheckedRoute, other: &CheckedRoute) -> Problem {
    let template = |checked: &CheckedRoute| match &checked.route.matcher.path {
        PathMatch::Template(text) => text.clone(),
        _ => String::new(),
    };
    Problem::new(
        format!(
            "path_template {:?} conflicts with {:?} of route {:?} (line {}): the router cannot hold a `{{name}}` capture and a `{{*name}}` catch-all at the same segment",
            template(later),
            template(other),
            other.route.name,
            other.line
        ),
        "use the same kind of capture at that segment in both templates, or match one of them with `path_regex`",
    )
}

/// Returns true when both templates agree up to a segment where one has a capture and the
/// other a catch-all. The router (matchit 0.9) rejects that pair.
fn templates_conflict(a: &CheckedRoute, b: &CheckedRoute) -> bool {
    let (PathMatch::Template(a), PathMatch::Template(b)) =
        (&a.route.matcher.path, &b.route.matcher.path)
    else {
        return false;
    };
    let mismatch = template_shapes(a)
        .into_iter()
        .zip(template_shapes(b))
        .find(|(a, b)| a != b);
    matches!(
        mismatch,
        Some(
            (TemplateShape::Capture, TemplateShape::CatchAll)
                | (TemplateShape::CatchAll, TemplateShape::Capture)
        )
    )
}

/// Returns true when two matches with the same path accept exactly the same requests.
fn identical(a: &RouteMatch, b: &RouteMatch) -> bool {
    same_set(&a.hosts, &b.hosts)
        && same_set(&a.methods, &b.methods)
        && same_set(&a.headers, &b.headers)
        && same_set(&a.query, &b.query)
}

/// Returns true when every request that `narrow` accepts is also accepted by `wide`, given
/// that both have the same path match. Empty host and method lists accept anything; header
/// and query conditions all have to hold.
fn covers(wide: &RouteMatch, narrow: &RouteMatch) -> bool {
    let hosts = wide.hosts.is_empty()
        || (!narrow.hosts.is_empty()
            && narrow
                .hosts
                .iter()
                .all(|host| wide.hosts.iter().any(|pattern| host_covers(pattern, host))));
    let methods = wide.methods.is_empty()
        || (!narrow.methods.is_empty()
            && narrow
                .methods
                .iter()
                .all(|method| wide.methods.contains(method)));
    let headers = wide
        .headers
        .iter()
        .all(|header| narrow.headers.contains(header));
    let query = wide.query.iter().all(|pair| narrow.query.contains(pair));
    hosts && methods && headers && query
}

/// Returns true when `wide` matches every host that `narrow` matches.
fn host_covers(wide: &HostPattern, narrow: &HostPattern) -> bool {
    match (wide, narrow) {
        (HostPattern::Exact(wide), HostPattern::Exact(narrow)) => wide == narrow,
        // `.example.org` covers `api.example.org` and `.eu.example.org`, but not `example.org`.
        (HostPattern::Wildcard(suffix), HostPattern::Exact(host)) => {
            host.len() > suffix.len() && host.ends_with(suffix.as_str())
        }
        (HostPattern::Wildcard(suffix), HostPattern::Wildcard(narrower)) => {
            narrower.ends_with(suffix.as_str())
        }
        (HostPattern::Exact(_), HostPattern::Wildcard(_)) => false,
    }
}

fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.iter().all(|item| b.contains(item)) && b.iter().all(|item| a.contains(item))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wildcard(suffix: &str) -> HostPattern {
        HostPattern::Wildcard(suffix.to_string())
    }

    fn exact(host: &str) -> HostPattern {
        HostPattern::Exact(host.to_string())
    }

    #[test]
    fn wildcard_covers_subdomains() {
        assert!(host_covers(
            &wildcard(".example.org"),
            &exact("api.example.org")
        ));
        assert!(host_covers(
            &wildcard(".example.org"),
            &wildcard(".eu.example.org")
        ));
        assert!(host_covers(
            &wildcard(".example.org"),
            &wildcard(".example.org")
        ));
    }

    #[test]
    fn wildcard_excludes_apex() {
        assert!(!host_covers(
            &wildcard(".example.org"),
            &exact("example.org")
        ));
        assert!(!host_covers(
            &wildcard(".example.org"),
            &exact("badexample.org")
        ));
    }

    #[test]
    fn exact_never_covers_wildcard() {
        assert!(!host_covers(
            &exact("api.example.org"),
            &wildcard(".example.org")
        ));
    }
}
