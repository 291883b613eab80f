//! Diagnostic logging on stderr through `tracing`; the access log goes to stdout separately.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the subscriber. `RUST_LOG` wins over the configuration's `server.log_level`,
/// which wins over `info`.
pub fn init(config_level: Option<&str>) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.is_empty() => EnvFilter::new(value),
        _ => EnvFilter::new(config_level.unwrap_or("info")),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
