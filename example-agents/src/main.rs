//! `junction-example-agents`: serves the built-in demo agents over NATS until
//! SIGTERM or ctrl-c.
//!
//! Exit codes: 0 after a clean shutdown, 2 when it cannot start (bad arguments,
//! bad prefix, unknown agent, NATS unreachable or refusing the credentials of
//! `JUNCTION_NATS__USER` and the other credential variables), 1 when serving
//! fails later.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use junction_bus::{NatsAuth, Subjects};
use junction_example_agents::{CallLog, Registry, serve};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

/// Serves Junction's demo and test agents on `agents.<name>.run`.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// NATS server to connect to.
    #[arg(
        long,
        env = "JUNCTION_NATS__URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats_url: String,
    /// Subject prefix of the Junction deployment (empty for none).
    #[arg(long, env = "JUNCTION_NATS__PREFIX", default_value = "")]
    prefix: String,
    /// Comma-separated agents to serve (default: every built-in agent and
    /// those of Station's examples).
    #[arg(long, value_delimiter = ',')]
    agents: Vec<String>,
}

/// Everything `main` needs once started.
struct Started {
    client: async_nats::Client,
    subjects: Subjects,
    registry: Registry,
    terminate: Signal,
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    let args = Args::parse();
    let started = match start(&args).await {
        Ok(started) => started,
        Err(err) => {
            error!(error = format!("{err:#}"), "startup failed");
            return ExitCode::from(2);
        }
    };
    info!(agents = ?started.registry.names(), prefix = started.subjects.prefix(), "serving agents");
    let shutdown = shutdown_signal(started.terminate);
    match serve(
        started.client,
        started.subjects,
        started.registry,
        CallLog::new(),
        shutdown,
    )
    .await
    {
        Ok(()) => {
            info!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            error!(
                error = format!("{:#}", anyhow::Error::from(err)),
                "serving failed"
            );
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by `JUNCTION_LOG` (default `info`).
fn init_tracing() {
    let filter = EnvFilter::try_from_env("JUNCTION_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Validates the arguments, installs the SIGTERM handler and connects.
async fn start(args: &Args) -> anyhow::Result<Started> {
    let subjects = Subjects::new(&args.prefix)?;
    let registry = match args.agents.as_slice() {
        [] => Registry::examples(),
        names => Registry::examples().only(names).context("select agents")?,
    };
    let terminate = signal(SignalKind::terminate()).context("install the SIGTERM handler")?;
    // Credentials come from the variables only (`JUNCTION_NATS__USER`…),
    // never from options that `ps` would show.
    let auth = NatsAuth::from_env();
    auth.validate().map_err(anyhow::Error::msg)?;
    let client = junction_bus::connect_client(
        &args.nats_url,
        "junction-example-agents",
        &auth,
        async_nats::ConnectOptions::new(),
    )
    .await?;
    Ok(Started {
        client,
        subjects,
        registry,
        terminate,
    })
}

/// Resolves on the first SIGTERM or ctrl-c.
async fn shutdown_signal(mut terminate: Signal) {
    tokio::select! {
        _ = terminate.recv() => info!("received SIGTERM, shutting down"),
        result = tokio::signal::ctrl_c() => match result {
            Ok(()) => info!("received ctrl-c, shutting down"),
            Err(err) => error!(error = %err, "cannot listen for ctrl-c, shutting down"),
        },
    }
}
