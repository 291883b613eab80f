//! Collects diagnostics while the validator walks the file structs.
//!
//! Checks that can fail return a `Problem` (message and help); the caller adds the position
//! and key path, so the pure checks stay free of file positions.

use serde_saphyr::{Location, Spanned};

use crate::diagnostic::{Diagnostic, Diagnostics};

/// A problem with a value and its fix, before a position is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub message: String,
    pub help: String,
}

impl Problem {
    pub(crate) fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        Problem {
            message: message.into(),
            help: help.into(),
        }
    }
}

/// The diagnostics of one configuration source.
pub(crate) struct Report {
    file: String,
    diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub(crate) fn new(file: &str) -> Self {
        Report {
            file: file.to_string(),
            diagnostics: Vec::new(),
        }
    }

    /// Adds a diagnostic at an explicit 1-based position.
    pub(crate) fn push_at(&mut self, line: u64, column: u64, path: &str, problem: Problem) {
        self.diagnostics.push(Diagnostic {
            file: self.file.clone(),
            line,
            column,
            path: path.to_string(),
            message: problem.message,
            help: Some(problem.help),
        });
    }

    /// Adds a diagnostic at the position of a parsed value.
    pub(crate) fn push(&mut self, at: &Location, path: &str, problem: Problem) {
        self.push_at(at.line(), at.column(), path, problem);
    }

    /// Adds a diagnostic at the position where `value` was written.
    pub(crate) fn error<T>(
        &mut self,
        value: &Spanned<T>,
        path: &str,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(&value.referenced, path, Problem::new(message, help));
    }

    /// Returns the diagnostics sorted by position, or `Ok(value)` when there are none.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.diagnostics.is_empty() {
            return Ok(value);
        }
        Err(self.into_diagnostics())
    }

    /// Returns the diagnostics collected so far, sorted by position.
    pub(crate) fn into_diagnostics(mut self) -> Diagnostics {
        self.diagnostics
            .sort_by_key(|diagnostic| (diagnostic.line, diagnostic.column));
        Diagnostics(self.diagnostics)
    }
}

/// Returns the line where `value` was written, for messages that point back to it.
pub(crate) fn line_of<T>(value: &Spanned<T>) -> u64 {
    value.referenced.line()
}
