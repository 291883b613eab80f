//! Router tests on synthetic tables and on the route tables of three public APIs (GitHub,
//! Okta, OpenAI), loaded from `shared/routes` next to the repository.

use std::path::PathBuf;

use gatehouse_config::model::{HostPattern, PathMatch, Route};

use super::*;

fn route(name: &str, path: PathMatch) -> Route {
    Route::with_path(name, path)
}

fn find(router: &Router, path: &str) -> Option<usize> {
    router.find(path, |_| true).map(|found| found.route)
}

#[test]
fn precedence_exact_template_regex_prefix() {
    let routes = vec![
        route("prefix", PathMatch::Prefix("/api".into())),
        route("regex", PathMatch::Regex("/api/v[0-9]+/items".into())),
        route(
            "template",
            PathMatch::Template("/api/{version}/items".into()),
        ),
        route("exact", PathMatch::Exact("/api/v1/items".into())),
        route("longer-prefix", PathMatch::Prefix("/api/v2".into())),
    ];
    let router = Router::build(&routes).unwrap();
    assert_eq!(find(&router, "/api/v1/items"), Some(3));
    assert_eq!(find(&router, "/api/v2/items"), Some(2));
    assert_eq!(find(&router, "/api/v2/other"), Some(4));
    assert_eq!(find(&router, "/api/v3/other"), Some(0));
    assert_eq!(find(&router, "/apiv2"), None);
}

#[test]
fn regex_wins_over_prefix() {
    let routes = vec![
        route("prefix", PathMatch::Prefix("/".into())),
        route("regex", PathMatch::Regex("/files/.+\\.png".into())),
    ];
    let router = Router::build(&routes).unwrap();
    assert_eq!(find(&router, "/files/a.png"), Some(1));
    assert_eq!(find(&router, "/files/a.jpg"), Some(0));
}

#[test]
fn root_prefix_matches_everything() {
    let router = Router::build(&[route("root", PathMatch::Prefix("/".into()))]).unwrap();
    assert_eq!(find(&router, "/"), Some(0));
    assert_eq!(find(&router, "/a/b/c"), Some(0));
}

#[test]
fn filters_fall_through_to_next_path() {
    let routes = vec![
        route("me", PathMatch::Template("/users/me".into())),
        route("user", PathMatch::Template("/users/{id}".into())),
        route("users", PathMatch::Prefix("/users".into())),
    ];
    let router = Router::build(&routes).unwrap();
    assert_eq!(
        router
            .find("/users/me", |index| index != 0)
            .map(|found| found.route),
        Some(1)
    );
    assert_eq!(
        router
            .find("/users/me", |index| index == 2)
            .map(|found| found.route),
        Some(2)
    );
}

#[test]
fn same_position_different_names() {
    let routes = vec![
        route(
            "status",
            PathMatch::Template("/repos/{owner}/{repo}/commits/{ref}/status".into()),
        ),
        route(
            "commit",
            PathMatch::Template("/repos/{owner}/{repo}/commits/{commit_sha}".into()),
        ),
    ];
    let router = Router::build(&routes).unwrap();
    let status = router
        .find("/repos/o/r/commits/main/status", |_| true)
        .unwrap();
    assert_eq!(status.route, 0);
    assert_eq!(status.captures[2], ("ref".to_string(), "main".to_string()));
    let commit = router.find("/repos/o/r/commits/abc123", |_| true).unwrap();
    assert_eq!(commit.route, 1);
    assert_eq!(
        commit.captures[2],
        ("commit_sha".to_string(), "abc123".to_string())
    );
}

#[test]
fn catch_all_captures_rest() {
    let router = Router::build(&[route(
        "git",
        PathMatch::Template("/repos/{owner}/git/{*path}".into()),
    )])
    .unwrap();
    let found = router
        .find("/repos/o/git/refs/heads/main", |_| true)
        .unwrap();
    assert_eq!(
        found.captures[1],
        ("path".to_string(), "refs/heads/main".to_string())
    );
}

#[test]
fn hosts_filter_in_router() {
    let mut hosted = route("hosted", PathMatch::Prefix("/".into()));
    hosted.matcher.hosts = vec![HostPattern::Wildcard(".example.org".into())];
    let routes = vec![hosted, route("fallback", PathMatch::Prefix("/".into()))];
    let router = Router::build(&routes).unwrap();
    for (request_host, expected) in [("a.example.org", 0), ("example.org", 1)] {
        let found = router.find("/x", |index| {
            host::matches_any(&routes[index].matcher.hosts, request_host)
        });
        assert_eq!(
            found.map(|found| found.route),
            Some(expected),
            "host {request_host}"
        );
    }
}

/// Loads a table from `shared/routes`, one template per line, a query suffix becoming a
/// query filter.
fn shared_table(name: &str) -> Vec<Route> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/routes")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("route table {} is missing ({err}); the router tests need shared/routes beside the repository", path.display()));
    text.lines()
        .filter(|line| line.starts_with('/'))
        .enumerate()
        .map(|(index, line)| {
            let (template, query) = line.split_once('?').unwrap_or((line, ""));
            let mut route = route(
                &format!("{name}-{index}"),
                PathMatch::Template(template.to_string()),
            );
            route.matcher.query = query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect();
            route
        })
        .collect()
}

/// Fills every `{name}` with a value no static segment uses and returns the expected captures.
fn concrete(template: &str) -> (String, Captures) {
    let mut captures = Vec::new();
    let path = template
        .split('/')
        .map(|segment| {
            match segment
                .strip_prefix('{')
                .and_then(|rest| rest.strip_suffix('}'))
            {
                Some(name) => {
                    let name = name.trim_start_matches('*');
                    let value = format!("v{}x{}", captures.len(), name.len());
                    captures.push((name.to_string(), value.clone()));
                    value
                }
                None => segment.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    (path, captures)
}

fn check_table(name: &str) {
    let routes = shared_table(name);
    let router = Router::build(&routes).unwrap_or_else(|err| panic!("{name}: {err}"));
    for (index, route) in routes.iter().enumerate() {
        let PathMatch::Template(template) = &route.matcher.path else {
            unreachable!()
        };
        let (path, captures) = concrete(template);
        let query = &route.matcher.query;
        let found = router.find(&path, |candidate| routes[candidate].matcher.query == *query);
        let found = found.unwrap_or_else(|| panic!("{name}: {path} matched no route"));
        assert_eq!(
            found.route, index,
            "{name}: {path} reached {} instead of {template}",
            routes[found.route].name
        );
        assert_eq!(found.captures, captures, "{name}: captures of {path}");
    }
}

#[test]
fn github_table_routes_each_path() {
    check_table("github.txt");
}

#[test]
fn okta_table_routes_each_path() {
    check_table("okta.txt");
}

#[test]
fn openai_table_routes_each_path() {
    check_table("openai.txt");
}
