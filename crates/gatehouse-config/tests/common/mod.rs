//! Helpers shared by the integration tests: YAML builders and diagnostic lookups.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gatehouse_config::{load_str, Config, Diagnostic, Diagnostics};

/// Joins lines into a YAML document, so line N of the document is `lines[N - 1]`.
pub fn yaml(lines: &[&str]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// An `authentication` section with the JWT provider `corp`, seven lines long.
pub const CORP_JWT: &[&str] = &[
    "authentication:",
    "  jwt:",
    "    - name: corp",
    "      issuer: \"https://idp.example.com/\"",
    "      audiences: [gatehouse]",
    "      jwks_url: \"https://idp.example.com/jwks.json\"",
    "      algorithms: [RS256]",
];

/// Returns a listener (lines 1-3) and an upstream `prices` (lines 4-7) followed by `rest`,
/// which therefore starts at line 8.
pub fn with_base(rest: &[&str]) -> String {
    let mut lines = vec![
        "listeners:",
        "  - name: public",
        "    address: \"0.0.0.0:8080\"",
        "upstreams:",
        "  - name: prices",
        "    targets:",
        "      - url: \"http://127.0.0.1:9001\"",
    ];
    lines.extend_from_slice(rest);
    yaml(&lines)
}

/// `with_base` plus `routes:` on line 8, so the given route lines start at line 9.
pub fn with_routes(routes: &[&str]) -> String {
    let mut lines = vec!["routes:"];
    lines.extend_from_slice(routes);
    with_base(&lines)
}

pub fn valid(text: &str) -> Config {
    load_str("test.yaml", text)
        .unwrap_or_else(|diagnostics| panic!("rejected:\n{diagnostics}\n---\n{text}"))
}

pub fn problems(text: &str) -> Vec<Diagnostic> {
    match load_str("test.yaml", text) {
        Ok(_) => panic!("accepted, but diagnostics were expected:\n{text}"),
        Err(diagnostics) => diagnostics.0,
    }
}

/// Returns the only diagnostic, failing with all of them listed when there are more.
pub fn single(text: &str) -> Diagnostic {
    let all = problems(text);
    assert_eq!(
        all.len(),
        1,
        "expected one diagnostic, got:\n{}",
        Diagnostics(all.clone())
    );
    all.into_iter().next().expect("one diagnostic")
}

pub fn at_path<'a>(all: &'a [Diagnostic], path: &str) -> &'a Diagnostic {
    all.iter()
        .find(|diagnostic| diagnostic.path == path)
        .unwrap_or_else(|| {
            panic!(
                "no diagnostic at {path}; got:\n{}",
                Diagnostics(all.to_vec())
            )
        })
}

pub fn help(diagnostic: &Diagnostic) -> &str {
    diagnostic
        .help
        .as_deref()
        .unwrap_or_else(|| panic!("no help in: {diagnostic}"))
}

/// Creates an empty directory with a `certs` subdirectory for tests that need files.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gatehouse-config-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("certs")).expect("create temp dir");
    dir
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write test file");
}
