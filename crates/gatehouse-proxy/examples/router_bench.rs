//! Measures route lookup cost on the GitHub, Okta and OpenAI route tables and on synthetic
//! tables of 100 to 10,000 routes, to show that it does not grow with the number of routes.
//!
//! Run with `bench/router.sh` (or `cargo run --release -p gatehouse-proxy --example
//! router_bench -- PATH_TO_SHARED_ROUTES`). Prints nanoseconds per lookup, the median of
//! five runs over every concrete path of the table.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use gatehouse_config::model::{PathMatch, Route};
use gatehouse_proxy::route::Router;

fn route(name: String, path: PathMatch) -> Route {
    Route::with_path(&name, path)
}

/// Replaces every `{name}` segment with a value, as a client request would.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "v42"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Builds a table of `count` routes: a third exact paths, a third templates, a third prefixes.
fn synthetic(count: usize) -> (Vec<Route>, Vec<String>) {
    let mut routes = Vec::with_capacity(count);
    let mut paths = Vec::with_capacity(count);
    for index in 0..count {
        let service = format!("svc{}", index % 97);
        let (path, concrete_path) = match index % 3 {
            0 => (
                PathMatch::Exact(format!("/{service}/exact{index}/status")),
                format!("/{service}/exact{index}/status"),
            ),
            1 => (
                PathMatch::Template(format!("/{service}/items{index}/{{id}}/detail")),
                format!("/{service}/items{index}/7/detail"),
            ),
            _ => (
                PathMatch::Prefix(format!("/{service}/tree{index}")),
                format!("/{service}/tree{index}/a/b"),
            ),
        };
        routes.push(route(format!("route-{index}"), path));
        paths.push(concrete_path);
    }
    (routes, paths)
}

fn shared_table(directory: &Path, name: &str) -> (Vec<Route>, Vec<String>) {
    let text = std::fs::read_to_string(directory.join(name))
        .unwrap_or_else(|err| panic!("reading {name}: {err}"));
    let templates: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with('/'))
        .map(|line| line.split('?').next().unwrap_or(line))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<&str> = templates
        .into_iter()
        .filter(|template| seen.insert(*template))
        .collect();
    let routes = unique
        .iter()
        .enumerate()
        .map(|(index, template)| {
            route(
                format!("{name}-{index}"),
                PathMatch::Template(template.to_string()),
            )
        })
        .collect();
    let paths = unique.iter().map(|template| concrete(template)).collect();
    (routes, paths)
}

fn nanoseconds_per_lookup(router: &Router, paths: &[String]) -> f64 {
    let rounds = (200_000 / paths.len()).max(1);
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..rounds {
                for path in paths {
                    black_box(router.find(black_box(path), |_| true));
                }
            }
            started.elapsed().as_nanos() as f64 / (rounds * paths.len()) as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[2]
}

fn main() {
    let directory = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/routes"));
    println!("{:<24} {:>8} {:>14}", "table", "routes", "ns/lookup");
    for name in ["openai.txt", "okta.txt", "github.txt"] {
        let (routes, paths) = shared_table(&directory, name);
        let router = Router::build(&routes).expect("route table builds");
        println!(
            "{:<24} {:>8} {:>14.1}",
            name,
            routes.len(),
            nanoseconds_per_lookup(&router, &paths)
        );
    }
    for count in [100, 1_000, 10_000] {
        let (routes, paths) = synthetic(count);
        let router = Router::build(&routes).expect("synthetic table builds");
        println!(
            "{:<24} {:>8} {:>14.1}",
            format!("synthetic-{count}"),
            count,
            nanoseconds_per_lookup(&router, &paths)
        );
    }
}
