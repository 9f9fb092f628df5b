//! `junction-coordinator`: turns signals into runs and advances them.
//! Thin: parse flags, load config, start logging, run until SIGTERM.
#![recursion_limit = "512"]

mod api;
mod approvals;
mod auth;
mod catalog;
mod children;
mod commit;
mod consume;
mod control;
mod driver;
mod events;
mod failure;
mod http;
mod lost_tasks;
mod members;
mod metrics;
mod routing;
mod run_queue;
mod schedules;
mod service;
mod signals;
mod slots;
mod sync;
mod timers;
mod trace;
mod ui;
mod write;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "junction-coordinator",
    version,
    about = "Junction coordinator: signal intake, run advancement, timers, control plane"
)]
struct Cli {
    /// TOML configuration file (also `JUNCTION_CONFIG`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the coordinator (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (config, runtime, otel) =
        match junction_runtime::process::start(cli.config.as_deref(), "junction-coordinator") {
            Ok(started) => started,
            Err(code) => return code,
        };
    let exporter = otel.clone();
    let code = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Migrate => match service::migrate(&config).await {
                Ok(applied) => {
                    tracing::info!(?applied, "migrations up to date");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "migration failed");
                    ExitCode::from(2)
                }
            },
            Command::Serve => {
                match service::run(config, otel, junction_runtime::shutdown::first_signal()).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(service::StartupError(error)) => {
                        tracing::error!(
                            error = format!("{error:#}"),
                            "coordinator failed to start"
                        );
                        ExitCode::from(2)
                    }
                }
            }
        }
    });
    // Last stage of the shutdown: the spans of the last transitions go out.
    exporter.shutdown();
    code
}
