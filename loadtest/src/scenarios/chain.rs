//! `chain`: the engine's per-step overhead.
//!
//! Runs of an n-step echo chain, one after another. The gaps between the
//! arrivals of `workflow.run.started`, then each `workflow.step.completed`, are
//! the per-step overhead samples (the echo agent answers at once).

use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use tokio::time::{Instant, timeout_at};

use super::{Common, failure, prepare, progress, start_and_wait, timed_out, warmup_runs};
use crate::cluster::Cluster;
use crate::report::ScenarioReport;
use crate::stats::{mean, ms};
use crate::workflow::ChainWorkflow;

pub const DEFAULT_STEPS: u32 = 40;
pub const DEFAULT_RUNS: u32 = 20;
/// How long to wait for step events still in flight after the run's end.
const STRAGGLER_GRACE: Duration = Duration::from_millis(250);

/// Options of `chain`.
#[derive(Debug, Clone, clap::Args)]
pub struct ChainArgs {
    /// Steps in the chain.
    #[arg(long, default_value_t = DEFAULT_STEPS,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub steps: u32,
    /// Measured runs, one after another.
    #[arg(long, default_value_t = DEFAULT_RUNS, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
}

impl Default for ChainArgs {
    fn default() -> Self {
        Self {
            steps: DEFAULT_STEPS,
            runs: DEFAULT_RUNS,
        }
    }
}

/// Runs the scenario; problems end up in the report, never as a panic.
pub async fn run(cluster: &Cluster, args: &ChainArgs, common: &Common) -> ScenarioReport {
    ScenarioReport::new(
        "chain",
        json!({ "steps": args.steps, "runs": args.runs, "warmup": common.warmup }),
    )
    .run(args.runs, async |report| {
        run_inner(cluster, args, common, report).await
    })
    .await
}

async fn run_inner(
    cluster: &Cluster,
    args: &ChainArgs,
    common: &Common,
    report: &mut ScenarioReport,
) -> Result<()> {
    let wf = ChainWorkflow::new(
        format!("lt-chain{}", args.steps),
        format!("loadtest.chain{}", args.steps),
        args.steps,
    );
    let deadline = Instant::now() + common.timeout;
    prepare(cluster, &wf, report).await?;
    warmup_runs(cluster, &wf.id, common.warmup, deadline).await?;

    let runs = args.runs as usize;
    let expected_steps = args.steps as usize;
    let mut overhead = Vec::with_capacity(runs * expected_steps);
    let mut durations = Vec::with_capacity(runs);
    let mut end_to_end = Vec::with_capacity(runs);
    let mut short_runs = 0usize;
    let measured_start = Instant::now();
    for i in 0..runs {
        let (t0, mut trace) = match timeout_at(deadline, start_and_wait(cluster, &wf.id)).await {
            Err(_) => {
                timed_out(report, common, runs - i);
                break;
            }
            Ok(Err(error)) => {
                report.fail_run(format!("{error:#}"));
                continue;
            }
            Ok(Ok(done)) => done,
        };
        if let Some(error) = failure(&trace) {
            report.fail_run(error);
            continue;
        }
        if trace.step_completed.len() < expected_steps {
            tokio::time::sleep(STRAGGLER_GRACE).await;
            trace = cluster.tracker().snapshot(&trace.run_id).unwrap_or(trace);
            if trace.step_completed.len() < expected_steps {
                short_runs += 1;
            }
        }
        report.counts.completed += 1;
        let mut arrivals: Vec<Instant> = trace.started.into_iter().collect();
        arrivals.extend(trace.step_completed.iter().copied());
        arrivals.sort();
        overhead.extend(arrivals.windows(2).map(|w| ms(w[1] - w[0])));
        if let Some(end) = &trace.end {
            if let Some(started) = trace.started {
                durations.push(ms(end.at.saturating_duration_since(started)));
            }
            end_to_end.push(ms(end.at.saturating_duration_since(t0)));
        }
        progress("chain", i + 1, runs);
    }
    report.wall_seconds = measured_start.elapsed().as_secs_f64();

    report.latency("step_overhead", &overhead);
    report.latency("run_duration", &durations);
    report.latency("run_latency_from_start_request", &end_to_end);
    if let Some(m) = mean(&durations) {
        report.figure("mean_run_duration_ms", m);
    }
    if short_runs > 0 {
        report.notes.push(format!(
            "{short_runs} completed runs showed fewer than {expected_steps} step.completed events"
        ));
    }
    Ok(())
}
