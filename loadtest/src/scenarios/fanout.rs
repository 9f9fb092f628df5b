//! `fanout`: throughput with many runs in flight.
//!
//! Starts runs of a short echo chain with `run.start`, keeping at most
//! `--concurrency` of them in flight, and waits for every run's end; the
//! measuring is `wide`'s, shared with `parallel` and `foreach`.

use anyhow::Result;
use serde_json::json;
use tokio::time::Instant;

use super::wide::{Plan, measure};
use super::{Common, prepare, warmup_runs};
use crate::cluster::Cluster;
use crate::report::ScenarioReport;
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

/// Runs the scenario; problems end up in the report, never as a panic.
pub async fn run(cluster: &Cluster, args: &FanoutArgs, common: &Common) -> ScenarioReport {
    ScenarioReport::new(
        "fanout",
        json!({
            "runs": args.runs,
            "steps": args.steps,
            "concurrency": args.concurrency,
            "warmup": common.warmup,
        }),
    )
    .run(args.runs, async |report| {
        run_inner(cluster, args, common, report).await
    })
    .await
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

    let plan = Plan {
        name: "fanout",
        workflow_id: &wf.id,
        input: json!({}),
        runs: args.runs,
        concurrency: args.concurrency,
        expected_steps: args.steps as usize,
        deadline,
    };
    measure(cluster, &plan, common, report).await?;
    Ok(())
}
