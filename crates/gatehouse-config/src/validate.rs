//! Loading and validation: YAML text to the checked `model::Config`.
//!
//! Parsing stops at the first syntax or shape error (unknown key, wrong type). After that, every
//! value is checked and every problem is collected, so one run lists all of them. A
//! configuration with any problem yields `Diagnostics` and no model.

mod fields;
mod identity;
mod overlap;
mod parse;
mod paths;
mod rate_limiting;
mod rate_limits;
mod report;
mod routes;
mod server;
mod suggest;
mod upstreams;

use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::file::ConfigFile;
use crate::model::Config;
use identity::{names_in, ProviderNames};
use report::Report;

/// Base directory for relative file paths in the configuration (TLS certificates, keys, CA
/// files, the rate limit state file).
pub(crate) struct FileBase {
    /// Prefix joined to every relative path, or empty for the current directory.
    dir: PathBuf,
    /// The directory in words, for help messages.
    described: &'static str,
}

impl FileBase {
    /// Resolves `path` against the base directory; absolute paths stay as they are.
    pub(crate) fn resolve(&self, path: &str) -> PathBuf {
        self.dir.join(path)
    }
}

/// Reads and validates the configuration file at `path`.
///
/// Relative TLS file paths are resolved from the file's directory, and `Config::source` is
/// `path` as given. Errors: one diagnostic without a position when the file cannot be read or
/// is not UTF-8, otherwise every problem that `load_str` would report.
pub fn load_file(path: &Path) -> Result<Config, Diagnostics> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| {
        Diagnostics(vec![Diagnostic {
            file: source.clone(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!("failed to read the configuration file: {error}"),
            help: Some("check that the path is right and the file is readable UTF-8 text".into()),
        }])
    })?;
    let base = FileBase {
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        described: "the directory of the configuration file",
    };
    load(&source, &text, &base)
}

/// Validates configuration text; `source_name` is used in diagnostics and `Config::source`.
///
/// Relative TLS file paths are resolved from the current directory. A YAML syntax error, an
/// unknown key or a value of the wrong type yields a single diagnostic. Otherwise the error
/// lists one diagnostic for each invalid value, duplicate name, unknown reference and
/// unreachable route.
pub fn load_str(source_name: &str, text: &str) -> Result<Config, Diagnostics> {
    let base = FileBase {
        dir: PathBuf::new(),
        described: "the current directory",
    };
    load(source_name, text, &base)
}

fn load(source: &str, text: &str, base: &FileBase) -> Result<Config, Diagnostics> {
    let mut report = Report::new(source);
    let file = match parse::parse(text) {
        Ok(file) => file,
        Err(failure) => {
            report.push_at(failure.line, failure.column, &failure.path, failure.problem);
            return Err(report.into_diagnostics());
        }
    };
    let config = build(source, &file, base, &mut report);
    report.finish(config)
}

fn build(source: &str, file: &ConfigFile, base: &FileBase, report: &mut Report) -> Config {
    let listeners = server::listeners(file.listeners.as_ref(), base, report);
    let admin = server::admin(file.admin.as_ref(), &listeners, report);
    let access_log = server::access_log(file.access_log.as_ref(), report);
    let server = server::server(file.server.as_ref(), report);
    let upstreams = upstreams::upstreams(file.upstreams.as_ref(), base, report);
    let authentication = identity::authentication(file.authentication.as_ref(), base, report);
    let providers = ProviderNames::of(file.authentication.as_ref());
    let routes = routes::routes(file.routes.as_ref(), &upstreams, &providers, report);
    let route_names = names_in(file.routes.as_ref(), |route| &route.name);
    let plans = identity::plans(file.plans.as_ref(), &route_names, report);
    let plan_names = names_in(file.plans.as_ref(), |plan| &plan.name);
    let consumers = identity::consumers(file.consumers.as_ref(), &plan_names, report);
    let client_ip = identity::client_ip(file.client_ip.as_ref(), report);
    let rate_limiting = rate_limiting::rate_limiting(file.rate_limiting.as_ref(), base, report);
    Config {
        source: source.to_string(),
        listeners: listeners
            .into_iter()
            .map(|checked| checked.listener)
            .collect(),
        admin,
        access_log,
        server,
        upstreams,
        routes,
        plans,
        consumers,
        authentication,
        client_ip,
        rate_limiting,
    }
}
