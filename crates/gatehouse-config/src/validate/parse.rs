//! Turns YAML text into the file structs, or into one diagnostic when that fails.
//!
//! serde stops at the first structural problem (a syntax error, an unknown key, a wrong type),
//! so this stage reports one at a time. To give that problem a key path and describe the value found there,
//! the text is also read into a generic tree of positioned nodes and searched by position.

use std::fmt;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::{Error as YamlError, MessageFormatter, Spanned};

use super::report::Problem;
use super::suggest::{closest, quoted_list};
use crate::file::ConfigFile;

/// A problem found while parsing, with the position and key path it was found at.
pub(super) struct ParseFailure {
    pub line: u64,
    pub column: u64,
    pub path: String,
    pub problem: Problem,
}

/// Parses the configuration text into the file structs.
pub(super) fn parse(text: &str) -> Result<ConfigFile, ParseFailure> {
    let tree: Spanned<Node> = match serde_saphyr::from_str(text) {
        Ok(tree) => tree,
        Err(error) => return Err(describe(&error, &[])),
    };
    if matches!(tree.value, Node::Empty) {
        return Err(ParseFailure {
            line: 1,
            column: 1,
            path: String::new(),
            problem: Problem::new(
                "the configuration is empty",
                "add at least a `listeners` list, such as `listeners: [{ name: public, address: \"0.0.0.0:8080\" }]`",
            ),
        });
    }
    let mut entries = Vec::new();
    flatten(&tree, "", 0, &mut entries);
    serde_saphyr::from_str(text).map_err(|error| describe(&error, &entries))
}

/// A YAML node of any shape, used only to find key paths and describe found values.
enum Node {
    Mapping(Vec<(Spanned<String>, Spanned<Node>)>),
    List(Vec<Spanned<Node>>),
    Scalar(String),
    Empty,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_string()))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_string()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_string()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_string()))
    }

    fn visit_str<E>(self, value: &str) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_string()))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Empty)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Empty)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Mapping(entries))
    }
}

/// A key or value of the tree with its position and key path, in document order.
struct Entry {
    line: u64,
    column: u64,
    path: String,
    depth: usize,
    found: Found,
}

/// The kind of node written at an entry's position.
#[derive(Clone)]
enum Found {
    Key(String),
    Mapping,
    List,
    Scalar(String),
    Empty,
}

impl Found {
    fn describe(&self) -> String {
        match self {
            Found::Key(key) => format!("the key `{key}`"),
            Found::Mapping => "a mapping".to_string(),
            Found::List => "a list".to_string(),
            Found::Scalar(text) => format!("{text:?}"),
            Found::Empty => "an empty value".to_string(),
        }
    }
}

fn flatten(node: &Spanned<Node>, path: &str, depth: usize, out: &mut Vec<Entry>) {
    let found = match &node.value {
        Node::Mapping(_) => Found::Mapping,
        Node::List(_) => Found::List,
        Node::Scalar(text) => Found::Scalar(text.clone()),
        Node::Empty => Found::Empty,
    };
    out.push(entry_at(&node.referenced, path, depth, found));
    match &node.value {
        Node::Mapping(pairs) => {
            for (key, value) in pairs {
                let child = if path.is_empty() {
                    key.value.clone()
                } else {
                    format!("{path}.{}", key.value)
                };
                let found = Found::Key(key.value.clone());
                out.push(entry_at(&key.referenced, &child, depth + 1, found));
                flatten(value, &child, depth + 1, out);
            }
        }
        Node::List(items) => {
            for (index, item) in items.iter().enumerate() {
                flatten(item, &format!("{path}[{index}]"), depth + 1, out);
            }
        }
        Node::Scalar(_) | Node::Empty => {}
    }
}

fn entry_at(at: &serde_saphyr::Location, path: &str, depth: usize, found: Found) -> Entry {
    Entry {
        line: at.line(),
        column: at.column(),
        path: path.to_string(),
        depth,
        found,
    }
}

/// The preferred entry when several start at the error position.
enum Prefer<'a> {
    /// The key with this name: unknown keys.
    Key(&'a str),
    /// The innermost value: type errors are reported at the offending value.
    Value,
}

/// Finds the entry at `line:column` matching `prefer`, or else the last entry before it.
fn locate<'e>(entries: &'e [Entry], line: u64, column: u64, prefer: Prefer) -> Option<&'e Entry> {
    let at = |entry: &&Entry| entry.line == line && entry.column == column;
    let exact = match prefer {
        Prefer::Key(name) => entries
            .iter()
            .filter(at)
            .find(|entry| matches!(&entry.found, Found::Key(key) if key == name)),
        Prefer::Value => entries
            .iter()
            .filter(at)
            .filter(|entry| !matches!(entry.found, Found::Key(_)))
            .max_by_key(|entry| entry.depth),
    };
    exact.or_else(|| {
        entries
            .iter()
            .rfind(|entry| (entry.line, entry.column) <= (line, column))
    })
}

/// Turns a parser or serde error into a positioned problem.
fn describe(error: &YamlError, entries: &[Entry]) -> ParseFailure {
    let (line, column) = error
        .location()
        .map_or((1, 1), |at| (at.line().max(1), at.column().max(1)));
    let path_at = |prefer| {
        locate(entries, line, column, prefer)
            .map(|entry| entry.path.clone())
            .unwrap_or_default()
    };
    let inner = error.without_snippet();
    let (path, problem) = match inner {
        YamlError::SerdeMissingField { field, .. } => {
            return missing_key_failure(entries, line, column, field);
        }
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => (path_at(Prefer::Key(field)), unknown_key(field, expected)),
        _ => {
            let path = path_at(Prefer::Value);
            let problem = match expected_kind(inner) {
                Some(expected) => {
                    let found = locate(entries, line, column, Prefer::Value)
                        .filter(|entry| entry.line == line && entry.column == column)
                        .map(|entry| entry.found.clone());
                    wrong_type(expected, found, path.is_empty())
                }
                None => syntax_problem(inner),
            };
            (path, problem)
        }
    };
    ParseFailure {
        line,
        column,
        path,
        problem,
    }
}

/// Reports a missing key at the start of the mapping that lacks it. The parser (serde-saphyr
/// 2.2) places the error at the last key it read from that mapping, or at the mapping itself
/// when it is empty, so the mapping is the parent of the key found there.
fn missing_key_failure(entries: &[Entry], line: u64, column: u64, field: &str) -> ParseFailure {
    let at = |entry: &&Entry| entry.line == line && entry.column == column;
    let parent_path = entries
        .iter()
        .filter(at)
        .find_map(|entry| match &entry.found {
            Found::Key(key) => Some(parent_of(&entry.path, key)),
            _ => None,
        })
        .or_else(|| {
            let mapping = entries
                .iter()
                .filter(at)
                .find(|entry| matches!(entry.found, Found::Mapping));
            mapping.map(|entry| entry.path.clone())
        });
    let mapping = parent_path.as_ref().and_then(|path| {
        entries
            .iter()
            .find(|entry| &entry.path == path && matches!(entry.found, Found::Mapping))
    });
    ParseFailure {
        line: mapping.map_or(line, |entry| entry.line),
        column: mapping.map_or(column, |entry| entry.column),
        path: parent_path.unwrap_or_default(),
        problem: missing_key(field),
    }
}

/// Returns the path of the mapping that contains `key`, whose own path is `path`.
fn parent_of(path: &str, key: &str) -> String {
    let parent = path.strip_suffix(key).unwrap_or(path);
    parent.strip_suffix('.').unwrap_or(parent).to_string()
}

fn unknown_key(field: &str, expected: &[&str]) -> Problem {
    let help = match closest(field, expected.iter().copied()) {
        Some(candidate) => format!("did you mean `{candidate}`?"),
        None if expected.is_empty() => "remove it".to_string(),
        None => format!(
            "remove it; the keys allowed here are {}",
            quoted_list(expected)
        ),
    };
    Problem::new(format!("unknown key `{field}`"), help)
}

fn missing_key(field: &str) -> Problem {
    let help = match field {
        "name" => "add `name:` with a name that is unique in its list",
        "address" => "add `address:` with an IP address and port, such as \"0.0.0.0:8080\"",
        "certificate" => "add `certificate:` with the path of a PEM certificate chain",
        "key" => "add `key:` with the path of a PEM private key",
        "url" => "add `url:` such as \"http://127.0.0.1:9001\"",
        "match" => {
            "add `match:` with one of `path`, `path_prefix`, `path_template` or `path_regex`"
        }
        "upstream" => "add `upstream:` with the name of one of the `upstreams`",
        "id" => "add `id:` with a name that is unique among the consumers",
        "issuer" => "add `issuer:` with the `iss` value that the provider puts in its tokens",
        "client_id" => "add `client_id:` with the client id that the introspection endpoint knows the gateway by",
        "client_secret" => "add `client_secret:` with the secret, or `{ env: NAME }` to read it from an environment variable",
        "env" => "write `{ env: NAME }` with the name of an environment variable",
        "limit" => "add `limit:` with the number of requests allowed, such as 100",
        "per" => "add `per:` with a duration such as 1s for a rate limit, or hour, day or month for a quota",
        _ => "add the key",
    };
    Problem::new(format!("missing required key `{field}`"), help)
}

/// The kind of value that a type error expected.
#[derive(Clone, Copy)]
enum Expected {
    List,
    Mapping,
    Text,
    WholeNumber,
    Boolean,
    /// A string or `{ env: NAME }`, as `file::SecretValue` takes.
    TextOrEnv,
    /// A string or a list of strings, as `file::OneOrMany` takes.
    TextOrList,
}

fn expected_kind(error: &YamlError) -> Option<Expected> {
    let text = match error {
        YamlError::Unexpected { expected, .. } => *expected,
        YamlError::SerdeInvalidType { expected, .. } => expected.as_str(),
        YamlError::InvalidScalar { ty, .. } => *ty,
        YamlError::InvalidBooleanStrict { .. } => "bool",
        YamlError::NullIntoString { .. } => "string",
        _ => return None,
    };
    classify_expected(text)
}

fn classify_expected(text: &str) -> Option<Expected> {
    let text = text.to_lowercase();
    if text.contains("string or a mapping with the key `env`") {
        Some(Expected::TextOrEnv)
    } else if text.contains("string or a list of strings") {
        Some(Expected::TextOrList)
    } else if text.contains("sequence") {
        Some(Expected::List)
    } else if text.contains("mapping") || text.contains("struct") || text.contains("map") {
        Some(Expected::Mapping)
    } else if text.contains("str") {
        Some(Expected::Text)
    } else if text.contains("bool") {
        Some(Expected::Boolean)
    } else if ["u8", "u16", "u32", "u64", "usize", "i64", "integer"]
        .iter()
        .any(|name| text.contains(name))
    {
        Some(Expected::WholeNumber)
    } else {
        None
    }
}

/// Describes a value of the wrong kind; `at_root` is true for the document itself.
fn wrong_type(expected: Expected, found: Option<Found>, at_root: bool) -> Problem {
    let (wanted, help) = match expected {
        Expected::List => (
            "a list",
            "write a list: `[a, b]` on one line, or one `- item` per line",
        ),
        Expected::Mapping if at_root => (
            "a mapping",
            "start the file with top-level keys such as `listeners:` and `routes:`",
        ),
        Expected::Mapping => (
            "a mapping",
            "write `key: value` pairs, indented on the lines below this key",
        ),
        Expected::Text => (
            "a string",
            "write one value; quote it if it starts with `[`, `{`, `*` or `&`",
        ),
        Expected::WholeNumber => (
            "a whole number",
            "write a whole number without quotes or units, such as 100",
        ),
        Expected::Boolean => ("true or false", "write true or false"),
        Expected::TextOrEnv => (
            "a string or `{ env: NAME }`",
            "quote the value, or write `{ env: NAME }` to read it from an environment variable",
        ),
        Expected::TextOrList => (
            "a string or a list of strings",
            "write one quoted value, or a list such as `[\"a\", \"b\"]`",
        ),
    };
    let message = match found {
        Some(found) => format!("expected {wanted}, found {}", found.describe()),
        None => format!("expected {wanted}"),
    };
    Problem::new(message, help)
}

fn syntax_problem(error: &YamlError) -> Problem {
    match error {
        YamlError::DuplicateMappingKey { key: Some(key), .. } => Problem::new(
            format!("duplicate key `{key}`"),
            "remove one of the two; a key may appear only once in a mapping",
        ),
        YamlError::MultipleDocuments { .. } => Problem::new(
            "the file contains more than one YAML document",
            "keep a single document: remove the `---` line and merge what follows it",
        ),
        _ => {
            let text = serde_saphyr::DefaultMessageFormatter.format_message(error);
            let help = if text.contains("tab") {
                "indent with spaces; YAML does not allow tabs for indentation"
            } else {
                "check the indentation, quotes and brackets at this position"
            };
            Problem::new(format!("invalid YAML: {text}"), help)
        }
    }
}
