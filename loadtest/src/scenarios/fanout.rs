//! `fanout`: throughput with many runs in flight.
//!
//! Starts runs of a short echo chain with `run.start`, keeping at most
//! `--concurrency` of them in flight, and waits for every run's end.

use std::time::Duration;

use anyhow::Result;
use futures::StreamExt as _;
use serde_json::json;
use tokio::time::{Instant, timeout_at};

use super::{Common, failure, prepare, progress, start_and_wait, timed_out, warmup_runs};
use crate::cluster::Cluster;
use crate::report::ScenarioReport;
use crate::stats::ms;
use crate::workflow::ChainWorkflow;

pub const DEFAULT_RUNS: u32 = 1000;
pub const DEFAULT_STEPS: u32 = 5;
pub const DEFAULT_CONCURRENCY: u32 = 200;

/// Options of `fanout`.
#[derive(Debug, Clone, clap::Args)]
pub struct FanoutArgs {
    /// Measured runs in total.
    #[arg(long, default_value_t = DEFAULT_RUNS, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Steps in each run's chain.
    #[arg(long, default_value_t = DEFAULT_STEPS,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub steps: u32,
    /// Runs in flight at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
}

impl Default for FanoutArgs {
    fn default() -> Self {
        Self {
            runs: DEFAULT_RUNS,
            steps: DEFAULT_STEPS,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// How one measured run went.
enum RunResult {
    Done {
        latency: Duration,
        ended: Instant,
        steps: usize,
    },
    Failed(String),
    Incomplete,
}

/// Runs the scenario; problems end up in the report, never as a panic.
pub async fn run(cluster: &Cluster, args: &FanoutArgs, common: &Common) -> ScenarioReport {
    let mut report = ScenarioReport::new(
        "fanout",
        json!({
            "runs": args.runs,
            "steps": args.steps,
            "concurrency": args.concurrency,
            "warmup": common.warmup,
        }),
    );
    report.counts.requested = args.runs as usize;
    if let Err(error) = run_inner(cluster, args, common, &mut report).await {
        report.set_fatal(&error);
    }
    report.finish();
    report
}

async fn one(cluster: &Cluster, workflow_id: &str, deadline: Instant) -> RunResult {
    // Start nothing once the deadline has passed.
    if Instant::now() >= deadline {
        return RunResult::Incomplete;
    }
    match timeout_at(deadline, start_and_wait(cluster, workflow_id)).await {
        Err(_) => RunResult::Incomplete,
        Ok(Err(error)) => RunResult::Failed(format!("{error:#}")),
        Ok(Ok((t0, trace))) => match (failure(&trace), &trace.end) {
            (None, Some(end)) => RunResult::Done {
                latency: end.at.saturating_duration_since(t0),
                ended: end.at,
                steps: trace.step_completed.len(),
            },
            (error, _) => {
                RunResult::Failed(error.unwrap_or_else(|| "run has no terminal event".to_owned()))
            }
        },
    }
}

async fn run_inner(
    cluster: &Cluster,
    args: &FanoutArgs,
    common: &Common,
    report: &mut ScenarioReport,
) -> Result<()> {
    let wf = ChainWorkflow::new(
        format!("lt-fanout{}", args.steps),
        format!("loadtest.fanout{}", args.steps),
        args.steps,
    );
    let deadline = Instant::now() + common.timeout;
    prepare(cluster, &wf, report).await?;
    warmup_runs(cluster, &wf.id, common.warmup, deadline).await?;

    let runs = args.runs as usize;
    let mut latencies = Vec::with_capacity(runs);
    let mut steps_completed = 0usize;
    let mut incomplete = 0usize;
    let mut last_end: Option<Instant> = None;
    let measured_start = Instant::now();
    let mut results = futures::stream::iter(0..runs)
        .map(|_| one(cluster, &wf.id, deadline))
        .buffer_unordered(args.concurrency as usize);
    let mut finished = 0usize;
    while let Some(result) = results.next().await {
        finished += 1;
        match result {
            RunResult::Done {
                latency,
                ended,
                steps,
            } => {
                report.counts.completed += 1;
                latencies.push(ms(latency));
                steps_completed += steps;
                last_end = Some(last_end.map_or(ended, |t| t.max(ended)));
            }
            RunResult::Failed(error) => report.fail_run(error),
            RunResult::Incomplete => incomplete += 1,
        }
        progress("fanout", finished, runs);
    }
    // Throughput is measured up to the last run's end, unless some never ended.
    let wall_end = match last_end {
        Some(end) if incomplete == 0 => end,
        _ => Instant::now(),
    };
    let wall = wall_end
        .saturating_duration_since(measured_start)
        .as_secs_f64();
    report.wall_seconds = wall;
    if incomplete > 0 {
        timed_out(report, common, incomplete);
    }

    report.latency("run_latency", &latencies);
    report.figure("total_seconds", wall);
    if wall > 0.0 {
        report.figure("runs_per_sec", report.counts.completed as f64 / wall);
        report.figure("steps_per_sec", steps_completed as f64 / wall);
    }
    Ok(())
}
