//! `signal`: latency from publishing a signal to its run's first step and end.
//!
//! A one-step workflow triggered by `loadtest.latency`. For each run, one after
//! another: publish a signal with a fresh id at t0, find the run whose
//! `workflow.run.started` carries `data.causation_id` = that id, and measure the
//! arrivals of its first `workflow.step.started` and of `workflow.run.completed`.

use anyhow::{Context as _, Result, bail};
use serde_json::json;
use tokio::time::{Instant, timeout_at};

use super::{Common, failure, prepare, progress, timed_out};
use crate::cluster::{Cluster, RunTrace};
use crate::report::ScenarioReport;
use crate::stats::ms;
use crate::workflow::ChainWorkflow;

pub const DEFAULT_RUNS: u32 = 200;
/// The signal type the scenario's workflow is triggered by.
pub const SIGNAL_TYPE: &str = "loadtest.latency";
/// The scenario's workflow id.
pub const WORKFLOW_ID: &str = "lt-signal-latency";

/// Options of `signal`.
#[derive(Debug, Clone, clap::Args)]
pub struct SignalArgs {
    /// Measured runs (signals), one after another.
    #[arg(long, default_value_t = DEFAULT_RUNS, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
}

impl Default for SignalArgs {
    fn default() -> Self {
        Self { runs: DEFAULT_RUNS }
    }
}

/// Timings of one signal, from just before its publish.
struct Timing {
    ack: std::time::Duration,
    first_step: Option<std::time::Duration>,
    completed: std::time::Duration,
}

/// Runs the scenario; problems end up in the report, never as a panic.
pub async fn run(cluster: &Cluster, args: &SignalArgs, common: &Common) -> ScenarioReport {
    ScenarioReport::new(
        "signal",
        json!({ "runs": args.runs, "warmup": common.warmup, "signal_type": SIGNAL_TYPE }),
    )
    .run(args.runs, async |report| {
        run_inner(cluster, args, common, report).await
    })
    .await
}

/// Publishes one signal and follows its run to the end.
async fn signal_once(cluster: &Cluster, seq: u64) -> Result<(Timing, RunTrace)> {
    let id = format!("lt-{}", uuid::Uuid::now_v7());
    let t0 = Instant::now();
    cluster
        .publish_signal(SIGNAL_TYPE, &id, json!({ "seq": seq }))
        .await?;
    let ack = t0.elapsed();
    let run_id = cluster.tracker().run_for_causation(&id).await?;
    let trace = cluster.tracker().run_end(&run_id).await?;
    if let Some(error) = failure(&trace) {
        bail!("{error}");
    }
    let completed = trace
        .end
        .as_ref()
        .map(|e| e.at.saturating_duration_since(t0))
        .context("run has no terminal event")?;
    let first_step = trace
        .first_step_started
        .map(|t| t.saturating_duration_since(t0));
    Ok((
        Timing {
            ack,
            first_step,
            completed,
        },
        trace,
    ))
}

async fn run_inner(
    cluster: &Cluster,
    args: &SignalArgs,
    common: &Common,
    report: &mut ScenarioReport,
) -> Result<()> {
    let wf = ChainWorkflow::new(WORKFLOW_ID, SIGNAL_TYPE, 1);
    let deadline = Instant::now() + common.timeout;
    prepare(cluster, &wf, report).await?;
    for i in 1..=common.warmup {
        match timeout_at(deadline, signal_once(cluster, 0)).await {
            Err(_) => bail!("timed out during warmup signal {i} of {}", common.warmup),
            Ok(result) => {
                result.with_context(|| format!("warmup signal {i} of {}", common.warmup))?;
            }
        }
    }

    let runs = args.runs as usize;
    let (mut acks, mut first_steps, mut completions) = (Vec::new(), Vec::new(), Vec::new());
    let mut missing_step_started = 0usize;
    let measured_start = Instant::now();
    for i in 0..runs {
        match timeout_at(deadline, signal_once(cluster, i as u64 + 1)).await {
            Err(_) => {
                timed_out(report, common, runs - i);
                break;
            }
            Ok(Err(error)) => report.fail_run(format!("{error:#}")),
            Ok(Ok((timing, _))) => {
                report.counts.completed += 1;
                acks.push(ms(timing.ack));
                completions.push(ms(timing.completed));
                match timing.first_step {
                    Some(d) => first_steps.push(ms(d)),
                    None => missing_step_started += 1,
                }
            }
        }
        progress("signal", i + 1, runs);
    }
    report.wall_seconds = measured_start.elapsed().as_secs_f64();

    report.latency("publish_ack", &acks);
    report.latency("to_first_step_started", &first_steps);
    report.latency("to_run_completed", &completions);
    if missing_step_started > 0 {
        report.notes.push(format!(
            "{missing_step_started} completed runs showed no workflow.step.started event"
        ));
    }
    Ok(())
}
