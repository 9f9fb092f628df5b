//! `parallel`: fan-out and join inside one run.
//!
//! Puts a workflow whose only state is a `parallel` state of `--branches`
//! branches, each one `echo` step, joined with `join: all`, and runs it
//! `--runs` times, `--concurrency` runs at a time (one after another by
//! default). Reports each run's latency from the `run.start` request to
//! `workflow.run.completed` (the figures are described in `wide.rs`) and the
//! steps completed per second.

use serde_json::json;

use super::Common;
use super::wide::{Plan, Scenario};
use crate::cluster::Cluster;
use crate::report::ScenarioReport;
use crate::workflow::ParallelWorkflow;

pub const DEFAULT_BRANCHES: u32 = 50;
pub const DEFAULT_RUNS: u32 = 20;
pub const DEFAULT_CONCURRENCY: u32 = 1;

/// Options of `parallel`.
#[derive(Debug, Clone, clap::Args)]
pub struct ParallelArgs {
    /// Branches of the parallel state, each one `echo` step.
    #[arg(long, default_value_t = DEFAULT_BRANCHES,
          value_parser = clap::value_parser!(u32).range(1..=9_999))]
    pub branches: u32,
    /// Measured runs in total.
    #[arg(long, default_value_t = DEFAULT_RUNS, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Runs in flight at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
}

impl Default for ParallelArgs {
    fn default() -> Self {
        Self {
            branches: DEFAULT_BRANCHES,
            runs: DEFAULT_RUNS,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Runs the scenario; problems end up in the report, never as a panic.
pub async fn run(cluster: &Cluster, args: &ParallelArgs, common: &Common) -> ScenarioReport {
    let params = json!({
        "branches": args.branches,
        "runs": args.runs,
        "concurrency": args.concurrency,
        "warmup": common.warmup,
    });
    let wf = ParallelWorkflow::new(args.branches);
    let plan = Plan::new(
        "parallel",
        &wf.id,
        (args.runs, args.concurrency),
        args.branches as usize,
        common,
    );
    let scenario = Scenario::new(plan, wf.yaml());
    ScenarioReport::new("parallel", params)
        .run(args.runs, async |report| {
            scenario.run(cluster, common, report).await.map(drop)
        })
        .await
}
