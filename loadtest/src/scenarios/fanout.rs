//! `fanout`: throughput with many runs in flight.
//!
//! Starts runs of a short echo chain with `run.start`, keeping at most
//! `--concurrency` of them in flight, and waits for every run's end; the
//! measuring is `wide`'s, shared with `parallel` and `foreach`.

use serde_json::json;

use super::Common;
use super::wide::{Plan, Scenario};
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
    let params = json!({
        "runs": args.runs,
        "steps": args.steps,
        "concurrency": args.concurrency,
        "warmup": common.warmup,
    });
    let wf = ChainWorkflow::new(
        format!("lt-fanout{}", args.steps),
        format!("loadtest.fanout{}", args.steps),
        args.steps,
    );
    let plan = Plan::new(
        "fanout",
        &wf.id,
        (args.runs, args.concurrency),
        args.steps as usize,
        common,
    );
    let scenario = Scenario::new(plan, wf.yaml());
    ScenarioReport::new("fanout", params)
        .run(args.runs, async |report| {
            scenario.run(cluster, common, report).await.map(drop)
        })
        .await
}
