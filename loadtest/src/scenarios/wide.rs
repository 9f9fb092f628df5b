//! What `fanout`, `parallel` and `foreach` share: measured runs of a
//! workflow (one that fans out inside each run, for the last two),
//! `--concurrency` runs at a time, and their figures.
//!
//! Per run, from the tracker's arrival stamps:
//! - `run_latency`: `run.start` request sent → `workflow.run.completed`
//!   (the whole fan-out and join, as a caller sees it);
//! - `run_duration`: `workflow.run.started` → `workflow.run.completed`;
//! - `first_step_latency`: `run.start` request sent → first
//!   `workflow.step.started`;
//! - `join_latency`: last `workflow.step.completed` → `workflow.run.completed`
//!   (what the join itself adds after the last step's result).
//!
//! Throughput is the `workflow.step.completed` events of the measured runs
//! over the measured wall time (first `run.start` → last run's end).

use std::time::Duration;

use anyhow::Result;
use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::time::{Instant, timeout_at};

use super::{
    Common, failure, prepare_source, progress, start_and_wait_with, timed_out, warmup_runs_with,
};
use crate::cluster::Cluster;
use crate::report::ScenarioReport;
use crate::stats::ms;

/// How long to wait for step events still in flight after the run's end.
const STRAGGLER_GRACE: Duration = Duration::from_millis(250);

/// The measured part of a scenario.
pub(crate) struct Plan<'a> {
    /// Scenario name, for progress lines.
    pub name: &'static str,
    pub workflow_id: &'a str,
    /// The input of every measured run.
    pub input: Value,
    pub runs: u32,
    /// Runs in flight at once.
    pub concurrency: u32,
    /// `workflow.step.completed` events each run should produce.
    pub expected_steps: usize,
    pub deadline: Instant,
}

/// What the measured runs add up to, for scenario-specific figures.
pub(crate) struct Totals {
    /// `workflow.step.completed` events of the completed measured runs.
    pub steps_completed: usize,
    /// Measured wall time, in seconds.
    pub wall_seconds: f64,
}

impl<'a> Plan<'a> {
    /// Measured runs of `workflow_id` with an empty input, ending within
    /// `common.timeout` from now.
    pub(crate) fn new(
        name: &'static str,
        workflow_id: &'a str,
        (runs, concurrency): (u32, u32),
        expected_steps: usize,
        common: &Common,
    ) -> Self {
        Self {
            name,
            workflow_id,
            input: json!({}),
            runs,
            concurrency,
            expected_steps,
            deadline: Instant::now() + common.timeout,
        }
    }
}

/// A measured scenario of one workflow: put it, warm it up, measure it.
pub(crate) struct Scenario<'a> {
    pub plan: Plan<'a>,
    /// The workflow's YAML source.
    pub source: String,
    /// The input of each warmup run (empty unless set).
    pub warmup_input: Value,
}

impl<'a> Scenario<'a> {
    pub(crate) fn new(plan: Plan<'a>, source: String) -> Self {
        Self {
            plan,
            source,
            warmup_input: json!({}),
        }
    }

    /// Puts the workflow, runs `common.warmup` unmeasured runs, then the
    /// measured ones, all before the plan's deadline.
    pub(crate) async fn run(
        self,
        cluster: &Cluster,
        common: &Common,
        report: &mut ScenarioReport,
    ) -> Result<Totals> {
        let plan = &self.plan;
        prepare_source(cluster, plan.workflow_id, &self.source, report).await?;
        warmup_runs_with(
            cluster,
            plan.workflow_id,
            &self.warmup_input,
            common.warmup,
            plan.deadline,
        )
        .await?;
        measure(cluster, plan, common, report).await
    }
}

/// One completed run.
struct Sample {
    latency: Duration,
    duration: Option<Duration>,
    first_step: Option<Duration>,
    join: Option<Duration>,
    ended: Instant,
    steps: usize,
}

/// How one measured run went.
enum RunResult {
    Done(Sample),
    Failed(String),
    Incomplete,
}

async fn one(cluster: &Cluster, plan: &Plan<'_>) -> RunResult {
    // Start nothing once the deadline has passed.
    if Instant::now() >= plan.deadline {
        return RunResult::Incomplete;
    }
    let started = start_and_wait_with(cluster, plan.workflow_id, plan.input.clone());
    let (t0, mut trace) = match timeout_at(plan.deadline, started).await {
        Err(_) => return RunResult::Incomplete,
        Ok(Err(error)) => return RunResult::Failed(format!("{error:#}")),
        Ok(Ok(done)) => done,
    };
    if let Some(error) = failure(&trace) {
        return RunResult::Failed(error);
    }
    if trace.step_completed.len() < plan.expected_steps {
        // A step event may still be on its way (the run's end came first).
        tokio::time::sleep(STRAGGLER_GRACE).await;
        trace = cluster.tracker().snapshot(&trace.run_id).unwrap_or(trace);
    }
    let Some(end) = &trace.end else {
        return RunResult::Failed("run has no terminal event".to_owned());
    };
    let last_step = trace.step_completed.iter().max().copied();
    RunResult::Done(Sample {
        latency: end.at.saturating_duration_since(t0),
        duration: trace.started.map(|s| end.at.saturating_duration_since(s)),
        first_step: trace
            .first_step_started
            .map(|s| s.saturating_duration_since(t0)),
        join: last_step.map(|s| end.at.saturating_duration_since(s)),
        ended: end.at,
        steps: trace.step_completed.len(),
    })
}

/// Runs the measured runs of `plan` and records the shared latencies and
/// rates in `report`.
pub(crate) async fn measure(
    cluster: &Cluster,
    plan: &Plan<'_>,
    common: &Common,
    report: &mut ScenarioReport,
) -> Result<Totals> {
    let runs = plan.runs as usize;
    let mut latencies = Vec::with_capacity(runs);
    let mut durations = Vec::with_capacity(runs);
    let mut first_steps = Vec::with_capacity(runs);
    let mut joins = Vec::with_capacity(runs);
    let (mut steps_completed, mut short_runs, mut incomplete) = (0usize, 0usize, 0usize);
    let mut last_end: Option<Instant> = None;
    let measured_start = Instant::now();
    let mut results = futures::stream::iter(0..runs)
        .map(|_| one(cluster, plan))
        .buffer_unordered(plan.concurrency as usize);
    let mut finished = 0usize;
    while let Some(result) = results.next().await {
        finished += 1;
        match result {
            RunResult::Done(sample) => {
                report.counts.completed += 1;
                latencies.push(ms(sample.latency));
                durations.extend(sample.duration.map(ms));
                first_steps.extend(sample.first_step.map(ms));
                joins.extend(sample.join.map(ms));
                steps_completed += sample.steps;
                if sample.steps < plan.expected_steps {
                    short_runs += 1;
                }
                last_end = Some(last_end.map_or(sample.ended, |t| t.max(sample.ended)));
            }
            RunResult::Failed(error) => report.fail_run(error),
            RunResult::Incomplete => incomplete += 1,
        }
        progress(plan.name, finished, runs);
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
    report.latency("run_duration", &durations);
    report.latency("first_step_latency", &first_steps);
    report.latency("join_latency", &joins);
    report.figure("total_seconds", wall);
    if wall > 0.0 {
        report.figure("runs_per_sec", report.counts.completed as f64 / wall);
        report.figure("steps_per_sec", steps_completed as f64 / wall);
    }
    if short_runs > 0 {
        report.notes.push(format!(
            "{short_runs} completed runs showed fewer than {} step.completed events",
            plan.expected_steps
        ));
    }
    Ok(Totals {
        steps_completed,
        wall_seconds: wall,
    })
}
