//! The command line as a user runs it: `validate`, `routes`, `--version` and `--help`.

use std::path::Path;
use std::process::{Command, Output};

fn gatehouse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .output()
        .expect("run gatehouse")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const VALID: &str = "listeners:\n  - name: public\n    address: \"127.0.0.1:8080\"\nupstreams:\n  - name: prices\n    targets:\n      - url: \"http://127.0.0.1:9001\"\nroutes:\n  - name: prices\n    match:\n      path_prefix: /v1/prices\n    upstream: prices\n  - name: quote\n    match:\n      path_template: \"/v1/prices/{symbol}\"\n    upstream: prices\n  - name: status\n    match:\n      path: /status\n    upstream: prices\n";

#[test]
fn validate_accepts_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "good.yaml", VALID);
    let output = gatehouse(&["validate", &file]);
    assert!(output.status.success());
    assert!(
        stdout(&output).contains("valid (3 routes, 1 upstream)"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn validate_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yaml", VALID);
    let broken = VALID
        .replace(
            "upstream: prices\n  - name: quote",
            "upstream: pricse\n  - name: quote",
        )
        .replace(
            "url: \"http://127.0.0.1:9001\"",
            "url: \"ftp://127.0.0.1:9001\"",
        )
        .replace("address: \"127.0.0.1:8080\"", "address: \"localhost:8080\"");
    let bad = write(dir.path(), "bad.yaml", &broken);
    let output = gatehouse(&["validate", &good, &bad]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("good.yaml: valid"), "{text}");
    for (key_path, words) in [
        ("listeners[0].address", "localhost"),
        ("upstreams[0].targets[0].url", "ftp"),
        ("routes[0].upstream", "prices"),
    ] {
        let line = text
            .lines()
            .find(|line| line.contains(key_path))
            .unwrap_or_else(|| panic!("no diagnostic for {key_path}:\n{text}"));
        assert!(line.starts_with(&format!("{bad}:")), "{line}");
        assert!(line.contains(words) || text.contains(words), "{line}");
    }
    assert!(text.matches("help:").count() >= 3, "{text}");
}

#[test]
fn validate_reports_unknown_key_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "typo.yaml",
        &VALID.replace("path_prefix: /v1/prices", "path_prefx: /v1/prices"),
    );
    let output = gatehouse(&["validate", &file]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains(&format!("{file}:11:7: routes[0].match.path_prefx")),
        "{text}"
    );
    assert!(text.contains("did you mean `path_prefix`"), "{text}");
}

#[test]
fn validate_reports_shadowed_route() {
    let dir = tempfile::tempdir().unwrap();
    let shadowed = format!("{VALID}  - name: prices-get\n    match:\n      path_prefix: /v1/prices\n      methods: [GET]\n    upstream: prices\n");
    let file = write(dir.path(), "shadow.yaml", &shadowed);
    let text = stdout(&gatehouse(&["validate", &file]));
    assert!(text.contains("routes[3]"), "{text}");
    assert!(text.contains("can never match"), "{text}");
}

#[test]
fn routes_prints_matching_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "good.yaml", VALID);
    let output = gatehouse(&["routes", &file]);
    assert!(output.status.success());
    let text = stdout(&output);
    let order: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1))
        .collect();
    assert_eq!(order, ["status", "quote", "prices"], "{text}");
}

#[test]
fn version_and_help() {
    let version = gatehouse(&["--version"]);
    assert!(
        stdout(&version).starts_with("gatehouse 0."),
        "{}",
        stdout(&version)
    );
    for subcommand in ["run", "validate", "routes", "demo"] {
        let help = gatehouse(&[subcommand, "--help"]);
        assert!(help.status.success(), "{subcommand} --help failed");
        assert!(
            stdout(&help).contains("Usage: gatehouse"),
            "{}",
            stdout(&help)
        );
    }
}

#[test]
fn run_with_invalid_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "bad.yaml", "listeners: []\n");
    let output = gatehouse(&["run", "--config", &file]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("listeners"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
