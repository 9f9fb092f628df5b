//! `junction-worker`: claims step tasks from the shared `WORKERS` consumer
//! and executes them. Thin: parse flags, load config, start logging, run.

mod cancel;
mod catalog;
mod commit;
mod executor;
mod lease;
mod schema;
mod service;
mod task;

use clap::Parser;
use junction_runtime::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "junction-worker",
    version,
    about = "Junction worker: claims and executes step tasks"
)]
struct Cli {
    /// TOML configuration file (also `JUNCTION_CONFIG`).
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    junction_runtime::telemetry::init("info");
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "invalid configuration");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(service::run(
        config,
        junction_runtime::shutdown::first_signal(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "worker failed");
            ExitCode::from(2)
        }
    }
}
