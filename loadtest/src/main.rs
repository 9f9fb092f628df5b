//! `junction-loadtest`: drives a running Junction cluster over its public NATS
//! protocol and reports latency and throughput.
//!
//! Scenarios: `chain` (per-step overhead), `fanout` (throughput with many runs
//! in flight), `signal` (signal-to-run latency), `inflight` (10,000 runs in
//! flight at once, for the coordinator's memory), `parallel` (one run fanning
//! out to many branches and joining them), `foreach` (one run iterating over
//! many items), or `all` (the default: chain, fanout, signal and parallel;
//! `inflight` and `foreach` take minutes and are run on their own). Each
//! prints a table; a JSON document for all of them follows a `--- json ---`
//! line. Each scenario also reports the coordinators' transition counters over
//! it (`transitions`, `transition_inputs`, `transition_conflicts`,
//! `conflicts_per_transition`, from their `/metrics`). The exit status is
//! non-zero when any run failed or timed out.

mod cluster;
mod counters;
mod report;
mod scenarios;
mod stats;
mod workflow;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use crate::cluster::Cluster;
use crate::report::{Machine, ScenarioReport};
use crate::scenarios::Common;
use crate::scenarios::chain::ChainArgs;
use crate::scenarios::fanout::FanoutArgs;
use crate::scenarios::foreach::ForeachArgs;
use crate::scenarios::inflight::InflightArgs;
use crate::scenarios::parallel::ParallelArgs;
use crate::scenarios::signal::SignalArgs;

/// Load test for a running Junction cluster (coordinator, workers and the `echo` agent).
#[derive(Debug, Parser)]
#[command(name = "junction-loadtest", version)]
struct Cli {
    /// NATS server of the cluster.
    #[arg(
        long,
        env = "JUNCTION_NATS__URL",
        default_value = "nats://127.0.0.1:4222",
        global = true
    )]
    nats_url: String,
    /// Subject prefix of the cluster (PROTOCOL §1); empty for none.
    #[arg(long, env = "JUNCTION_NATS__PREFIX", default_value = "", global = true)]
    prefix: String,
    /// Time limit of each scenario (put, warmup and measured runs), in seconds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    timeout_secs: u64,
    /// Unmeasured runs before each scenario.
    #[arg(long, default_value_t = 3, global = true)]
    warmup: u32,
    /// Also write the JSON document to this file.
    #[arg(long, value_name = "FILE", global = true)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Per-step engine overhead over sequential runs of an n-step echo chain.
    Chain(ChainArgs),
    /// Throughput: many short chains with bounded runs in flight.
    Fanout(FanoutArgs),
    /// Latency from a published signal to the run's first step and its end.
    Signal(SignalArgs),
    /// Many runs in flight at once: each first sleeps `--hold-ms`, then echoes.
    Inflight(InflightArgs),
    /// Fan-out and join in one run: a parallel state of `--branches` echo branches.
    Parallel(ParallelArgs),
    /// Iteration in one run: a foreach over `--items` items, each one echo step.
    Foreach(ForeachArgs),
    /// chain, fanout, signal and parallel with their default options (the default).
    All,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("junction-loadtest: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the chosen scenarios; `Ok(false)` when any of them failed.
async fn run(cli: Cli) -> Result<bool> {
    let cluster = Cluster::connect(&cli.nats_url, &cli.prefix).await?;
    let common = Common {
        timeout: Duration::from_secs(cli.timeout_secs),
        warmup: cli.warmup,
    };
    let command = cli.command.unwrap_or(Command::All);

    let mut reports: Vec<ScenarioReport> = Vec::new();
    let scenarios: Vec<Command> = match command {
        Command::All => vec![
            Command::Chain(ChainArgs::default()),
            Command::Fanout(FanoutArgs::default()),
            Command::Signal(SignalArgs::default()),
            Command::Parallel(ParallelArgs::default()),
        ],
        one => vec![one],
    };
    for scenario in &scenarios {
        // The coordinators' transition counters around the scenario (warmup
        // included): transitions, batched inputs and conflicts.
        let before = counters::Counters::read(&cluster).await.unwrap_or_default();
        let mut report = match scenario {
            Command::Chain(args) => scenarios::chain::run(&cluster, args, &common).await,
            Command::Fanout(args) => scenarios::fanout::run(&cluster, args, &common).await,
            Command::Signal(args) => scenarios::signal::run(&cluster, args, &common).await,
            Command::Inflight(args) => scenarios::inflight::run(&cluster, args, &common).await,
            Command::Parallel(args) => scenarios::parallel::run(&cluster, args, &common).await,
            Command::Foreach(args) => scenarios::foreach::run(&cluster, args, &common).await,
            Command::All => continue,
        };
        if let Ok(after) = counters::Counters::read(&cluster).await {
            report.figures.extend(before.figures_since(&after));
        }
        print!("{}", report.table());
        reports.push(report);
    }

    let (duplicates, malformed) = cluster.tracker().counters();
    if malformed > 0 {
        eprintln!("note: {malformed} messages on the event subjects were not lifecycle events");
    }
    let mut doc = report::document(&Machine::current(), &cli.nats_url, &cli.prefix, &reports);
    doc["duplicate_events_seen"] = duplicates.into();

    let text = serde_json::to_string_pretty(&doc)?;
    println!();
    println!("--- json ---");
    println!("{text}");
    if let Some(path) = &cli.json {
        std::fs::write(path, format!("{text}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(reports.iter().all(|r| r.ok))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_all_scenario() {
        let cli = Cli::try_parse_from(["junction-loadtest", "chain"]).expect("parses");
        let Some(Command::Chain(args)) = cli.command else {
            panic!("chain expected")
        };
        assert_eq!(
            (args.steps, args.runs),
            (ChainArgs::default().steps, ChainArgs::default().runs)
        );
        let cli = Cli::try_parse_from(["junction-loadtest", "fanout", "--timeout-secs", "9"])
            .expect("parses");
        assert_eq!(cli.timeout_secs, 9);
        let Some(Command::Fanout(args)) = cli.command else {
            panic!("fanout expected")
        };
        let d = FanoutArgs::default();
        assert_eq!(
            (args.runs, args.steps, args.concurrency),
            (d.runs, d.steps, d.concurrency)
        );
        let cli = Cli::try_parse_from(["junction-loadtest", "inflight"]).expect("parses");
        let Some(Command::Inflight(args)) = cli.command else {
            panic!("inflight expected")
        };
        let d = InflightArgs::default();
        assert_eq!(
            (args.runs, args.hold_ms, args.start_concurrency),
            (d.runs, d.hold_ms, d.start_concurrency)
        );
        let cli = Cli::try_parse_from(["junction-loadtest", "parallel"]).expect("parses");
        let Some(Command::Parallel(args)) = cli.command else {
            panic!("parallel expected")
        };
        let d = ParallelArgs::default();
        assert_eq!(
            (args.branches, args.runs, args.concurrency),
            (d.branches, d.runs, d.concurrency)
        );
        assert_eq!((d.branches, d.runs, d.concurrency), (50, 20, 1));
        let cli = Cli::try_parse_from(["junction-loadtest", "foreach"]).expect("parses");
        let Some(Command::Foreach(args)) = cli.command else {
            panic!("foreach expected")
        };
        let d = ForeachArgs::default();
        assert_eq!(
            (
                args.items,
                args.max_concurrency,
                args.runs,
                args.concurrency
            ),
            (d.items, d.max_concurrency, d.runs, d.concurrency)
        );
        assert!(
            Cli::try_parse_from(["junction-loadtest", "foreach", "--max-concurrency", "1001"])
                .is_err()
        );
        let cli = Cli::try_parse_from(["junction-loadtest"]).expect("parses");
        assert!(cli.command.is_none());
        assert!(Cli::try_parse_from(["junction-loadtest", "chain", "--steps", "0"]).is_err());
    }
}
