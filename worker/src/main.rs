//! `junction-worker`: claims step tasks from the shared `WORKERS` consumer
//! and executes them. Thin: parse flags, load config, start logging, run.

mod cancel;
mod catalog;
mod circuit;
mod commit;
mod executor;
mod lease;
mod metrics;
mod schema;
mod service;
mod task;

use clap::Parser;
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
    let (config, runtime, otel) =
        match junction_runtime::process::start(cli.config.as_deref(), "junction-worker") {
            Ok(started) => started,
            Err(code) => return code,
        };
    let code = match runtime.block_on(service::run(
        config,
        junction_runtime::shutdown::first_signal(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "worker failed");
            ExitCode::from(2)
        }
    };
    // Last stage of the shutdown: the spans of the final steps go out.
    otel.shutdown();
    code
}
