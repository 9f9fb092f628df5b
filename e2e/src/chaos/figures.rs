//! The figures a chaos run prints (and the long form writes as JSON for
//! the README): runs, faults by kind, completion rate, duplicates, time to
//! drain, the worst stall and the worst start delay.
//!
//! A stall is a gap between two consecutive events of a run that is not
//! ended, while the run had work pending: gaps that open with the run
//! waiting for a person or a signal (`workflow.run.waiting`), or with a
//! parent's `workflow.run` step starting (its child moves meanwhile, and
//! the child's own gaps count), are not stalls. A coordinator or worker
//! dying shows up here as the time until another one picks the run up.

use super::driver::Ledger;
use super::faults::{Fault, FaultKind};
use super::invariants::{Findings, RunRecord};
use super::workload::Kind;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// What the coordinators log when their lost-task sweep publishes a task
/// again (`coordinator/src/lost_tasks.rs`).
pub const REDISPATCHED_LINE: &str = "with nothing left to deliver: published again";
pub const REBUILT_LINE: &str = "built again from the run and published";

/// Tasks the lost-task sweep published again during the run, counted in
/// the coordinators' logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct LostTasks {
    pub redispatched: usize,
    pub rebuilt: usize,
}

/// The longest gap between two events of one run.
#[derive(Debug, Clone, Default)]
pub struct Stall {
    pub gap: Duration,
    pub run_id: String,
    pub workflow: String,
    pub after: String,
    pub before: String,
}

/// The five worst stalls, worst first, and how many gaps exceeded 10 s.
pub fn stalls(runs: &[RunRecord]) -> (Vec<Stall>, usize) {
    let mut all = Vec::new();
    let mut long = 0;
    for run in runs {
        for pair in run.events.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let waits = a.kind == "workflow.run.waiting"
                || (a.kind == "workflow.step.started" && a.state.as_deref() == Some("spawn"));
            if waits {
                continue;
            }
            let gap = (b.time - a.time).to_std().unwrap_or_default();
            if gap > Duration::from_secs(10) {
                long += 1;
            }
            all.push(Stall {
                gap,
                run_id: run.id.clone(),
                workflow: run.kind.map_or("?", Kind::name).to_owned(),
                after: format!("{} {}", a.kind, a.path.as_deref().unwrap_or("")),
                before: format!("{} {}", b.kind, b.path.as_deref().unwrap_or("")),
            });
        }
    }
    all.sort_by_key(|s| std::cmp::Reverse(s.gap));
    all.truncate(5);
    (all, long)
}

/// The longest time from a start's first publish or request to its run's
/// creation.
pub fn worst_start_delay(runs: &[RunRecord], ledger: &Ledger) -> Duration {
    let created: BTreeMap<&str, chrono::DateTime<chrono::Utc>> = runs
        .iter()
        .filter_map(|r| r.dedupe_key.as_deref().map(|k| (k, r.created_at)))
        .collect();
    ledger
        .starts()
        .iter()
        .filter_map(|s| {
            let at = created.get(s.dedupe_key().as_str())?;
            let sent: chrono::DateTime<chrono::Utc> = s.sent_at.into();
            (*at - sent).to_std().ok()
        })
        .max()
        .unwrap_or_default()
}

/// Builds the figures' JSON and its text form.
#[allow(clippy::too_many_arguments)]
pub fn summarize(
    seed: u64,
    window: Duration,
    wall: Duration,
    runs: &[RunRecord],
    ledger: &Ledger,
    faults: &[Fault],
    findings: &Findings,
    drain: Duration,
    lost: LostTasks,
) -> (Value, String) {
    let mut by_workflow: BTreeMap<&str, usize> = BTreeMap::new();
    for run in runs {
        *by_workflow
            .entry(run.kind.map_or("?", Kind::name))
            .or_default() += 1;
    }
    let mut by_fault: BTreeMap<&str, usize> =
        FaultKind::ALL.iter().map(|k| (k.name(), 0)).collect();
    for fault in faults {
        *by_fault.entry(fault.kind.name()).or_default() += 1;
    }
    let terminal = runs
        .iter()
        .filter(|r| {
            matches!(
                r.status.as_str(),
                "COMPLETED" | "FAILED" | "CANCELLED" | "TIMED_OUT"
            )
        })
        .count();
    let total = runs.len().max(1) as f64;
    let (worst, long_gaps) = stalls(runs);
    let stall = worst.first().cloned().unwrap_or_default();
    let start_delay = worst_start_delay(runs, ledger);
    let value = json!({
        "seed": seed,
        "fault_window_seconds": window.as_secs(),
        "wall_seconds": wall.as_secs(),
        "runs": runs.len(),
        "runs_by_workflow": by_workflow,
        "starts": ledger.starts().len(),
        "signal_copies_published": ledger.published(),
        "faults": faults.len(),
        "faults_by_kind": by_fault,
        "terminal_rate": terminal as f64 / total,
        "completion_rate": findings.as_expected as f64 / total,
        "duplicates": findings.duplicates,
        "re_executed_idempotency_keys": findings.re_executed_keys,
        "time_to_drain_seconds": drain.as_secs_f64(),
        "worst_stall_seconds": stall.gap.as_secs_f64(),
        "worst_stalls": worst.iter().map(|s| json!({
            "seconds": s.gap.as_secs_f64(), "run": s.run_id, "workflow": s.workflow,
            "after": s.after, "before": s.before,
        })).collect::<Vec<_>>(),
        "gaps_over_10s": long_gaps,
        "lost_tasks_redispatched": lost.redispatched,
        "lost_tasks_rebuilt": lost.rebuilt,
        "worst_start_delay_seconds": start_delay.as_secs_f64(),
        "violations": findings.count(),
        "violations_by_kind": findings.per_category,
        "fault_log": faults.iter().map(|f| json!({
            "kind": f.kind.name(), "target": f.target,
            "at_seconds": f.at.as_secs_f64(), "lasted_seconds": f.lasted.as_secs_f64(),
        })).collect::<Vec<_>>(),
    });
    let mut text = String::from("=== chaos figures ===\n");
    text += &format!(
        "seed {seed}, fault window {} s, wall {} s\n",
        window.as_secs(),
        wall.as_secs()
    );
    text += &format!(
        "runs: {} ({} started by the test, {} signal copies published) {by_workflow:?}\n",
        runs.len(),
        ledger.starts().len(),
        ledger.published()
    );
    text += &format!("faults: {} {by_fault:?}\n", faults.len());
    text += &format!(
        "completion: {:.1}% in the expected status, {:.1}% terminal\n",
        100.0 * findings.as_expected as f64 / total,
        100.0 * terminal as f64 / total
    );
    text += &format!(
        "duplicates: {} (re-executed idempotency keys, at-least-once: {})\n",
        findings.duplicates, findings.re_executed_keys
    );
    text += &format!("time to drain: {:.1} s\n", drain.as_secs_f64());
    text += &format!(
        "worst stall: {:.1} s in {} run {} ({} → {}); gaps over 10 s: {long_gaps}\n",
        stall.gap.as_secs_f64(),
        stall.workflow,
        stall.run_id,
        stall.after,
        stall.before
    );
    text += &format!("worst start delay: {:.1} s\n", start_delay.as_secs_f64());
    text += &format!(
        "lost tasks published again: {} read back from the stream, {} built again from the run\n",
        lost.redispatched, lost.rebuilt
    );
    text += &format!(
        "violations: {} {:?}\n",
        findings.count(),
        findings.per_category
    );
    (value, text)
}
