//! `foreach`: a foreach state over many items inside one run.
//!
//! Puts a workflow whose only state is a `foreach` over the run input's
//! `items` with `maxConcurrency: --max-concurrency`, its body one `echo` step,
//! and runs it `--runs` times with `--items` items, `--concurrency` runs at a
//! time (one after another by default). Reports each run's latency (the
//! figures are described in `wide.rs`) and the items completed per second
//! (`items_per_sec`, the same as `steps_per_sec`: one step per item).
//!
//! The items are the run's input, so warmup runs use the same definition with
//! at most [`WARMUP_ITEMS`] items: they warm the same paths without costing a
//! full run each.

use serde_json::json;

use super::Common;
use super::wide::{Plan, Scenario};
use crate::cluster::Cluster;
use crate::report::ScenarioReport;
use crate::workflow::ForeachWorkflow;

pub const DEFAULT_ITEMS: u32 = 500;
pub const DEFAULT_MAX_CONCURRENCY: u32 = 32;
pub const DEFAULT_RUNS: u32 = 5;
pub const DEFAULT_CONCURRENCY: u32 = 1;
/// Items of each warmup run (fewer when `--items` is smaller).
pub const WARMUP_ITEMS: u32 = 64;
/// The language's bound on `maxConcurrency`.
const MAX_MAX_CONCURRENCY: u32 = 1000;

/// Options of `foreach`.
#[derive(Debug, Clone, clap::Args)]
pub struct ForeachArgs {
    /// Items of each run's list, each one `echo` step.
    #[arg(long, default_value_t = DEFAULT_ITEMS,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub items: u32,
    /// The foreach state's `maxConcurrency`: items in flight at once in a run.
    #[arg(long, default_value_t = DEFAULT_MAX_CONCURRENCY,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_MAX_CONCURRENCY)))]
    pub max_concurrency: u32,
    /// Measured runs in total.
    #[arg(long, default_value_t = DEFAULT_RUNS, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Runs in flight at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
}

impl Default for ForeachArgs {
    fn default() -> Self {
        Self {
            items: DEFAULT_ITEMS,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            runs: DEFAULT_RUNS,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Runs the scenario; problems end up in the report, never as a panic.
pub async fn run(cluster: &Cluster, args: &ForeachArgs, common: &Common) -> ScenarioReport {
    let params = json!({
        "items": args.items,
        "max_concurrency": args.max_concurrency,
        "runs": args.runs,
        "concurrency": args.concurrency,
        "warmup": common.warmup,
        "warmup_items": args.items.min(WARMUP_ITEMS),
    });
    let wf = ForeachWorkflow::new(args.max_concurrency);
    let mut plan = Plan::new(
        "foreach",
        &wf.id,
        (args.runs, args.concurrency),
        args.items as usize,
        common,
    );
    plan.input = ForeachWorkflow::input(args.items);
    let mut scenario = Scenario::new(plan, wf.yaml());
    scenario.warmup_input = ForeachWorkflow::input(args.items.min(WARMUP_ITEMS));
    ScenarioReport::new("foreach", params)
        .run(args.runs, async |report| {
            let totals = scenario.run(cluster, common, report).await?;
            if totals.wall_seconds > 0.0 {
                report.figure(
                    "items_per_sec",
                    totals.steps_completed as f64 / totals.wall_seconds,
                );
            }
            Ok(())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fit_the_language() {
        let d = ForeachArgs::default();
        assert!((1..=MAX_MAX_CONCURRENCY).contains(&d.max_concurrency));
        assert_eq!((d.items, d.max_concurrency), (500, 32));
        assert!(WARMUP_ITEMS <= d.items);
    }
}
