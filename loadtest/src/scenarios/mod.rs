//! The scenarios, and what they share: putting the workflow, warming up,
//! starting a run and waiting for its end, and the scenario deadline.

pub mod chain;
pub mod fanout;
pub mod foreach;
pub mod inflight;
pub mod parallel;
pub mod signal;
mod wide;

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use junction_bus::ControlSubject;
use serde_json::{Value, json};
use tokio::time::{Instant, timeout_at};

use crate::cluster::{Cluster, Outcome, RunTrace};
use crate::report::ScenarioReport;
use crate::workflow::ChainWorkflow;

/// Settings every scenario shares.
#[derive(Debug, Clone)]
pub struct Common {
    /// The whole scenario (put, warmup and measured runs) must end within this.
    pub timeout: Duration,
    /// Runs done first and not counted.
    pub warmup: u32,
}

/// Starts tracking `wf`'s runs and puts it (idempotent), recording its version.
pub(crate) async fn prepare(
    cluster: &Cluster,
    wf: &ChainWorkflow,
    report: &mut ScenarioReport,
) -> Result<()> {
    prepare_source(cluster, &wf.id, &wf.yaml(), report).await
}

/// [`prepare`] for any YAML `source` whose workflow id is `id`.
pub(crate) async fn prepare_source(
    cluster: &Cluster,
    id: &str,
    source: &str,
    report: &mut ScenarioReport,
) -> Result<()> {
    cluster.tracker().track_workflow(id);
    let put = cluster
        .put_workflow(source)
        .await
        .with_context(|| format!("putting workflow {id}"))?;
    if put.id != id {
        bail!(
            "{} stored id {:?}, expected {id:?}",
            ControlSubject::WorkflowsPut,
            put.id
        );
    }
    report.workflow_id = Some(put.id);
    report.workflow_version = Some(put.version);
    if put.created {
        report.notes.push(format!(
            "workflow {id} stored as new version {}",
            put.version
        ));
    }
    for warning in put.warnings {
        report
            .notes
            .push(format!("put warning: {}", describe_diag(&warning)));
    }
    Ok(())
}

/// `CODE at path: message` for a diagnostic.
fn describe_diag(diag: &Value) -> String {
    let field = |name: &str| diag.get(name).and_then(Value::as_str).unwrap_or("?");
    format!(
        "{} at {}: {}",
        field("code"),
        field("path"),
        field("message")
    )
}

/// Starts a run with `run.start` and waits for its terminal event. Returns the
/// instant just before the request was sent, and the run's trace.
pub(crate) async fn start_and_wait(
    cluster: &Cluster,
    workflow_id: &str,
) -> Result<(Instant, RunTrace)> {
    start_and_wait_with(cluster, workflow_id, json!({})).await
}

/// [`start_and_wait`] with the run input `input`.
pub(crate) async fn start_and_wait_with(
    cluster: &Cluster,
    workflow_id: &str,
    input: Value,
) -> Result<(Instant, RunTrace)> {
    let t0 = Instant::now();
    let run_id = cluster.start_run(workflow_id, input).await?;
    let trace = cluster.tracker().run_end(&run_id).await?;
    Ok((t0, trace))
}

/// Why the run did not complete, if it did not.
pub(crate) fn failure(trace: &RunTrace) -> Option<String> {
    match trace.end.as_ref().map(|e| &e.outcome) {
        Some(Outcome::Completed) => None,
        Some(Outcome::Failed { event_type, error }) => Some(format!("{event_type}: {error}")),
        None => Some("run has no terminal event".to_owned()),
    }
}

/// Runs `n` unmeasured runs of `workflow_id` one after another; any failure is fatal.
pub(crate) async fn warmup_runs(
    cluster: &Cluster,
    workflow_id: &str,
    n: u32,
    deadline: Instant,
) -> Result<()> {
    warmup_runs_with(cluster, workflow_id, &json!({}), n, deadline).await
}

/// [`warmup_runs`] with the run input `input`.
pub(crate) async fn warmup_runs_with(
    cluster: &Cluster,
    workflow_id: &str,
    input: &Value,
    n: u32,
    deadline: Instant,
) -> Result<()> {
    for i in 1..=n {
        let started = start_and_wait_with(cluster, workflow_id, input.clone());
        let (_, trace) = match timeout_at(deadline, started).await {
            Err(_) => bail!("timed out during warmup run {i} of {n}"),
            Ok(result) => result.with_context(|| format!("warmup run {i} of {n}"))?,
        };
        if let Some(error) = failure(&trace) {
            bail!("warmup run {i} of {n} ({}) failed: {error}", trace.run_id);
        }
    }
    Ok(())
}

/// Records that the deadline struck with `incomplete` measured runs unfinished.
pub(crate) fn timed_out(report: &mut ScenarioReport, common: &Common, incomplete: usize) {
    report.counts.incomplete = incomplete;
    report.fatal = Some(format!(
        "timed out after {} s: {incomplete} of {} runs incomplete",
        common.timeout.as_secs(),
        report.counts.requested
    ));
}

/// Prints progress to stderr at every tenth of `total`.
pub(crate) fn progress(name: &str, done: usize, total: usize) {
    let step = (total / 10).max(1);
    if done.is_multiple_of(step) || done == total {
        eprintln!("[{name}] {done}/{total} runs finished");
    }
}
