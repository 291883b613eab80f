//! Problems found while loading a configuration.
//!
//! A `Diagnostic` names the file, the 1-based line and column, the key path (such as
//! `routes[2].match.path_prefix`) and a message, usually with a help line saying how to fix it.
//! `Diagnostics` is the error type of `load_file` and `load_str`.

use std::fmt;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The source name given to `load_str`, or the path given to `load_file`.
    pub file: String,
    /// 1-based line, or 0 when the problem has no position (the file cannot be read).
    pub line: u64,
    /// 1-based column in characters, or 0 together with `line`.
    pub column: u64,
    /// Key path such as `routes[2].match.path_prefix`, or empty for YAML syntax errors.
    pub path: String,
    /// Description of the problem, naming the offending value.
    pub message: String,
    /// Instructions for fixing the problem.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    /// Writes `FILE:LINE:COL: KEYPATH: MESSAGE` and, when there is help, a second line
    /// `  help: HELP`. The position is left out when `line` is 0, the key path when it is empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found in one configuration, sorted by position.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Returns the number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Returns true when there are no problems.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns an iterator over the problems.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    /// Writes each diagnostic as `Diagnostic` does, one after another on separate lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(help: Option<&str>) -> Diagnostic {
        Diagnostic {
            file: "gatehouse.yaml".to_string(),
            line: 12,
            column: 7,
            path: "routes[2].match.path_prefix".to_string(),
            message: "path must start with `/`".to_string(),
            help: help.map(str::to_string),
        }
    }

    #[test]
    fn display_with_help() {
        let text = sample(Some("write `/v1`")).to_string();
        assert_eq!(
            text,
            "gatehouse.yaml:12:7: routes[2].match.path_prefix: path must start with `/`\n  help: write `/v1`"
        );
    }

    #[test]
    fn display_without_help() {
        let text = sample(None).to_string();
        assert_eq!(
            text,
            "gatehouse.yaml:12:7: routes[2].match.path_prefix: path must start with `/`"
        );
    }

    #[test]
    fn display_without_position_or_path() {
        let diagnostic = Diagnostic {
            line: 0,
            column: 0,
            path: String::new(),
            ..sample(None)
        };
        assert_eq!(
            diagnostic.to_string(),
            "gatehouse.yaml: path must start with `/`"
        );
    }

    #[test]
    fn diagnostics_one_group_per_line() {
        let all = Diagnostics(vec![sample(Some("a")), sample(None)]);
        assert_eq!(all.to_string().lines().count(), 3);
    }
}
