//! The invariants checked once the cluster has drained, from Postgres (the
//! runs, their step attempts and stored events) and from the agents' call
//! log (every call's idempotency key):
//!
//! - every run is terminal, in the status its workflow (and, for an
//!   approval, the test's decision) implies;
//! - every start the cluster took started exactly one run: one per signal
//!   id however often it was published, one per `run.start` key, one child
//!   per parent;
//! - every run's events are gapless by `seq` from 1, with exactly one
//!   terminal event, whose type is the run's status;
//! - the timeline rebuilt from the events (each step attempt's last status,
//!   the run's end) matches the run record;
//! - no step was executed again after it succeeded: no agent call for an
//!   attempt after the step's succeeded attempt, and at most one succeeded
//!   attempt per step. The same idempotency key called twice is not a
//!   duplicate but the at-least-once delivery the agents dedupe by that key
//!   (a worker killed or stalled before it recorded the result, whose task
//!   another worker took over); those are counted as re-executions.

use super::driver::{How, Ledger};
use super::workload::Kind;
use junction_example_agents::CallRecord;
use std::collections::{BTreeMap, HashMap};

/// One stored event, as the checks need it.
#[derive(Debug, Clone)]
pub struct Event {
    pub seq: i64,
    pub kind: String,
    pub time: chrono::DateTime<chrono::Utc>,
    pub state: Option<String>,
    pub path: Option<String>,
    pub attempt: Option<i32>,
}

/// One run and everything stored of it.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: String,
    pub kind: Option<Kind>,
    pub status: String,
    pub dedupe_key: Option<String>,
    pub causation_id: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub events: Vec<Event>,
    /// (path, attempt) → status, from `step_attempts`.
    pub attempts: BTreeMap<(String, i32), String>,
    /// Step id → its attempts recorded `SUCCEEDED`.
    pub succeeded: BTreeMap<String, Vec<u32>>,
}

/// Reads every run with its events and attempts.
pub async fn load(db: &tokio_postgres::Client) -> anyhow::Result<Vec<RunRecord>> {
    let mut runs: BTreeMap<String, RunRecord> = BTreeMap::new();
    for row in db
        .query(
            "SELECT id, workflow_id, status, dedupe_key, causation_id, created_at FROM runs",
            &[],
        )
        .await?
    {
        let id: String = row.get(0);
        let workflow: String = row.get(1);
        runs.insert(
            id.clone(),
            RunRecord {
                id,
                kind: Kind::from_workflow_id(&workflow),
                status: row.get(2),
                dedupe_key: row.get(3),
                causation_id: row.get(4),
                created_at: row.get(5),
                events: Vec::new(),
                attempts: BTreeMap::new(),
                succeeded: BTreeMap::new(),
            },
        );
    }
    for row in db
        .query(
            "SELECT run_id, seq, type, time, state, path, attempt FROM events ORDER BY run_id, seq",
            &[],
        )
        .await?
    {
        let run_id: String = row.get(0);
        if let Some(run) = runs.get_mut(&run_id) {
            run.events.push(Event {
                seq: row.get(1),
                kind: row.get(2),
                time: row.get(3),
                state: row.get(4),
                path: row.get(5),
                attempt: row.get(6),
            });
        }
    }
    for row in db
        .query(
            "SELECT run_id, path, attempt, status, step_id FROM step_attempts",
            &[],
        )
        .await?
    {
        let run_id: String = row.get(0);
        if let Some(run) = runs.get_mut(&run_id) {
            let (attempt, status): (i32, String) = (row.get(2), row.get(3));
            if status == "SUCCEEDED" {
                let attempt = u32::try_from(attempt).unwrap_or_default();
                run.succeeded.entry(row.get(4)).or_default().push(attempt);
            }
            run.attempts.insert((row.get(1), attempt), status);
        }
    }
    Ok(runs.into_values().collect())
}

/// The run status a terminal event type stands for.
fn terminal_status(kind: &str) -> Option<&'static str> {
    match kind {
        "workflow.run.completed" => Some("COMPLETED"),
        "workflow.run.failed" => Some("FAILED"),
        "workflow.run.cancelled" => Some("CANCELLED"),
        "workflow.run.timed_out" => Some("TIMED_OUT"),
        _ => None,
    }
}

/// The step status a step event type leaves.
fn step_status(kind: &str) -> Option<&'static str> {
    match kind {
        "workflow.step.started" => Some("RUNNING"),
        "workflow.step.completed" => Some("SUCCEEDED"),
        "workflow.step.failed" => Some("FAILED"),
        "workflow.step.timed_out" => Some("TIMED_OUT"),
        "workflow.step.cancelled" => Some("CANCELLED"),
        _ => None,
    }
}

/// What the checks found.
#[derive(Debug, Default)]
pub struct Findings {
    pub violations: Vec<String>,
    /// Steps executed again after they succeeded (must be 0).
    pub duplicates: usize,
    /// Idempotency keys called more than once (at-least-once delivery).
    pub re_executed_keys: usize,
    /// Runs in the status their workflow implies.
    pub as_expected: usize,
    /// Violations per category.
    pub per_category: BTreeMap<&'static str, usize>,
    /// Violations past the cap of their category, not listed.
    pub hidden: usize,
}

impl Findings {
    /// Records a violation of `category`; past ten of one category only
    /// the count grows, so every category stays visible in the report.
    pub(super) fn violate(&mut self, category: &'static str, what: String) {
        let seen = self.per_category.entry(category).or_default();
        *seen += 1;
        if *seen <= 10 {
            self.violations.push(what);
        } else {
            self.hidden += 1;
        }
    }

    /// Every violation, with a line for those past the cap.
    pub fn report(&self) -> Vec<String> {
        let mut lines = self.violations.clone();
        if self.hidden > 0 {
            lines.push(format!(
                "… and {} more ({:?})",
                self.hidden, self.per_category
            ));
        }
        lines
    }

    /// How many violations were found in all.
    pub fn count(&self) -> usize {
        self.violations.len() + self.hidden
    }
}

/// Checks every invariant.
pub fn check(runs: &[RunRecord], ledger: &Ledger, calls: &[CallRecord]) -> Findings {
    let mut found = Findings::default();
    let decisions = ledger.decisions();
    let by_key: HashMap<&str, Vec<&RunRecord>> =
        runs.iter().fold(HashMap::new(), |mut map, run| {
            if let Some(key) = &run.dedupe_key {
                map.entry(key.as_str()).or_default().push(run);
            }
            map
        });
    let ids: HashMap<&str, &RunRecord> = runs.iter().map(|r| (r.id.as_str(), r)).collect();

    // Every run terminal, in its expected status.
    for run in runs {
        let Some(kind) = run.kind else {
            found.violate("workflow", format!("run {} of an unknown workflow", run.id));
            continue;
        };
        let expected = kind.expected_status(decisions.get(&run.id).copied());
        if run.status == expected {
            found.as_expected += 1;
        } else {
            found.violate(
                "status",
                format!(
                    "run {} ({}) is {}, expected {expected}",
                    run.id,
                    kind.name(),
                    run.status
                ),
            );
        }
    }
    // One run per start, per signal id, per key; one child per parent.
    for start in ledger.starts() {
        let key = start.dedupe_key();
        let matching = by_key.get(key.as_str()).map_or(0, Vec::len);
        if start.taken && matching != 1 {
            found.violate(
                "one run per start",
                format!(
                    "{key} ({} by {:?}) started {matching} runs, not 1",
                    start.kind.name(),
                    start.how
                ),
            );
        }
        if let (How::Signal { id, .. }, Some([run])) =
            (&start.how, by_key.get(key.as_str()).map(Vec::as_slice))
            && run.causation_id.as_deref() != Some(id.as_str())
        {
            found.violate(
                "causation",
                format!(
                    "run {} of signal {id} has causation {:?}",
                    run.id, run.causation_id
                ),
            );
        }
    }
    let mut children: HashMap<&str, usize> = HashMap::new();
    for run in runs.iter().filter(|r| r.kind == Some(Kind::Child)) {
        let parent = run.causation_id.as_deref().unwrap_or_default();
        if ids.get(parent).and_then(|p| p.kind) != Some(Kind::Parent) {
            found.violate(
                "children",
                format!("child run {} has no parent ({parent:?})", run.id),
            );
        }
        *children.entry(parent).or_default() += 1;
    }
    for run in runs.iter().filter(|r| r.kind == Some(Kind::Parent)) {
        let n = children.get(run.id.as_str()).copied().unwrap_or(0);
        if n != 1 {
            found.violate(
                "children",
                format!("parent run {} started {n} children", run.id),
            );
        }
    }
    // Events: gapless, one terminal event, the timeline matches the record.
    for run in runs {
        let seqs: Vec<i64> = run.events.iter().map(|e| e.seq).collect();
        if seqs != (1..=seqs.len() as i64).collect::<Vec<_>>() {
            found.violate(
                "seq",
                format!("run {} has seq gaps or repeats: {seqs:?}", run.id),
            );
        }
        let terminals: Vec<&str> = run
            .events
            .iter()
            .filter_map(|e| terminal_status(&e.kind))
            .collect();
        if terminals.len() != 1 {
            found.violate(
                "terminal event",
                format!(
                    "run {} has {} terminal events: {terminals:?}",
                    run.id,
                    terminals.len()
                ),
            );
        } else if terminals[0] != run.status {
            found.violate(
                "terminal event",
                format!(
                    "run {} is {} but its terminal event says {}",
                    run.id, run.status, terminals[0]
                ),
            );
        }
        let mut rebuilt: BTreeMap<(String, i32), String> = BTreeMap::new();
        for event in &run.events {
            if let Some(status) = step_status(&event.kind) {
                let key = (
                    event.path.clone().unwrap_or_default(),
                    event.attempt.unwrap_or(0),
                );
                rebuilt.insert(key, status.to_owned());
            }
        }
        if rebuilt != run.attempts {
            let differ: Vec<String> = run
                .attempts
                .iter()
                .filter(|(k, v)| rebuilt.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k:?} recorded {v}, events say {:?}", rebuilt.get(k)))
                .chain(
                    rebuilt
                        .iter()
                        .filter(|(k, _)| !run.attempts.contains_key(*k))
                        .map(|(k, v)| format!("{k:?} only in events ({v})")),
                )
                .collect();
            found.violate(
                "timeline",
                format!(
                    "run {} timeline differs from its record: {}",
                    run.id,
                    differ.join("; ")
                ),
            );
        }
    }
    // Duplicates, from the agents' call log against the recorded attempts.
    let mut calls_per_key: HashMap<&str, usize> = HashMap::new();
    let mut calls_per_step: HashMap<(&str, &str), Vec<u32>> = HashMap::new();
    for call in calls {
        *calls_per_key
            .entry(call.idempotency_key.as_str())
            .or_default() += 1;
        calls_per_step
            .entry((call.run_id.as_str(), call.step_id.as_str()))
            .or_default()
            .push(call.attempt);
    }
    found.re_executed_keys = calls_per_key.values().filter(|n| **n > 1).count();
    found.duplicates = 0;
    for ((run_id, step_id), attempts) in &calls_per_step {
        let Some(ok) = ids.get(run_id).and_then(|run| run.succeeded.get(*step_id)) else {
            continue;
        };
        if ok.len() > 1 {
            found.duplicates += 1;
            found.violate(
                "duplicate",
                format!("step {step_id} of run {run_id} succeeded in attempts {ok:?}"),
            );
        }
        let first = ok.iter().min().copied().unwrap_or(u32::MAX);
        let after: Vec<u32> = attempts.iter().copied().filter(|a| *a > first).collect();
        if !after.is_empty() {
            found.duplicates += 1;
            found.violate("duplicate", format!("step {step_id} of run {run_id} succeeded in attempt {first} and was called again in attempts {after:?}"));
        }
    }
    found
}

#[cfg(test)]
#[path = "invariants_tests.rs"]
mod tests;
