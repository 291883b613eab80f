//! The `gatehouse` command: run, validate, list routes, or start the demo.
//!
//! The rustls crypto provider (aws-lc-rs) is installed before anything else, so every TLS
//! configuration in the process uses it.

mod cli;
mod demo;
mod logging;
mod sample_upstream;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc keeps per-thread free lists, which suits one runtime per worker thread and cuts
/// allocator time on the proxy path (see docs/benchmarks.md) for a few MiB of extra memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        eprintln!("error: a rustls crypto provider was already installed");
        return ExitCode::FAILURE;
    }
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
