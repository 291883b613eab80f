//! Command-line interface: `run`, `validate`, `routes` and `demo`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gatehouse_config::Config;
use gatehouse_proxy::route::table;
use gatehouse_proxy::snapshot::Snapshot;
use gatehouse_proxy::telemetry::metrics::Metrics;
use gatehouse_proxy::{Gateway, GatewayOptions};

#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about = "A declarative API gateway")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a configuration file until SIGTERM or SIGINT; SIGHUP reloads it.
    Run {
        /// Configuration file.
        #[arg(long, short, default_value = "gatehouse.yaml")]
        config: PathBuf,
        /// Worker threads, each with its own event loop (default: one per CPU core).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        workers: Option<u16>,
    },
    /// Check configuration files without serving; exit 1 and list every problem if any is invalid.
    Validate {
        /// Configuration files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the compiled route table in the order requests are matched.
    Routes {
        /// Configuration file.
        file: PathBuf,
    },
    /// Read an API key on standard input and print the `sha256:` form that `consumers[].api_keys` takes.
    HashKey,
    /// Start the gateway on a built-in configuration with a sample market-data upstream.
    Demo {
        /// Port of the demo gateway listener on 127.0.0.1.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Port of the demo admin listener on 127.0.0.1.
        #[arg(long, default_value_t = 9901)]
        admin_port: u16,
        /// Worker threads (default: one per CPU core).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        workers: Option<u16>,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run { config, workers } => serve_file(&config, workers),
        Command::Validate { files } => Ok(validate(&files)),
        Command::Routes { file } => routes(&file),
        Command::HashKey => hash_key(),
        Command::Demo {
            port,
            admin_port,
            workers,
        } => crate::demo::run(port, admin_port, default_workers(workers)),
    }
}

/// Returns the requested worker count, or one per available core.
pub fn default_workers(requested: Option<u16>) -> usize {
    requested
        .map(usize::from)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1)
        })
        .max(1)
}

fn load(path: &Path) -> anyhow::Result<Config> {
    gatehouse_config::load_file(path)
        .map_err(|diagnostics| anyhow::anyhow!("invalid configuration\n{diagnostics}"))
}

fn serve_file(path: &Path, workers: Option<u16>) -> anyhow::Result<ExitCode> {
    let config = load(path)?;
    crate::logging::init(config.server.log_level.as_deref());
    let options = GatewayOptions {
        workers: default_workers(workers),
        config_path: Some(path.to_path_buf()),
    };
    serve(config, options, |_| {})
}

/// Starts the gateway on a small control runtime and blocks until it stops.
pub fn serve(
    config: Config,
    options: GatewayOptions,
    on_started: impl FnOnce(&Gateway),
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let gateway = Gateway::start(config, options.clone()).await?;
        for (name, address) in gateway.listener_addresses() {
            tracing::info!(listener = %name, address = %address, workers = options.workers, "listener started");
        }
        if let Some(address) = gateway.admin_address() {
            tracing::info!(listener = "admin", address = %address, "admin listener started");
        }
        tracing::info!(pid = std::process::id(), "gateway started");
        on_started(&gateway);
        gateway.run_until_signal().await.context("serving failed")?;
        Ok(ExitCode::SUCCESS)
    })
}

fn validate(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        match check(file) {
            Ok(config) => println!(
                "{}: valid ({}, {})",
                file.display(),
                count(config.routes.len(), "route"),
                count(config.upstreams.len(), "upstream")
            ),
            Err(message) => {
                failed = true;
                println!("{message}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Validates one file and builds its runtime objects (router, TLS material) without binding.
fn check(file: &Path) -> Result<Config, String> {
    let config =
        gatehouse_config::load_file(file).map_err(|diagnostics| diagnostics.to_string())?;
    let metrics = Metrics::new();
    Snapshot::build(config.clone(), 1, &metrics, 1, None)
        .map_err(|err| format!("{}: {err}", file.display()))?;
    Ok(config)
}

fn routes(file: &Path) -> anyhow::Result<ExitCode> {
    let config = load(file)?;
    print!("{}", table::render_text(&table::rows(&config)));
    Ok(ExitCode::SUCCESS)
}

/// Prints the digest of the key on standard input; one trailing line break is not part of
/// the key, so `echo KEY | gatehouse hash-key` works.
fn hash_key() -> anyhow::Result<ExitCode> {
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
        .context("reading standard input failed")?;
    let key = input
        .strip_suffix('\n')
        .map(|key| key.strip_suffix('\r').unwrap_or(key))
        .unwrap_or(&input);
    if key.is_empty() {
        anyhow::bail!("no key on standard input; try: echo -n 'my-key' | gatehouse hash-key");
    }
    println!(
        "{}",
        gatehouse_config::keys::format_key_hash(&gatehouse_config::keys::hash_api_key(key))
    );
    Ok(ExitCode::SUCCESS)
}

fn count(number: usize, noun: &str) -> String {
    if number == 1 {
        format!("1 {noun}")
    } else {
        format!("{number} {noun}s")
    }
}
