//! The coordinator's Prometheus families (docs/http.md), recorded through
//! the `metrics` facade into the recorder that `junction_runtime::metrics`
//! installs and `/metrics` renders: counters where things happen (a
//! transition committed or redone, a run ended, a signal rejected), and the
//! cluster-wide gauges read from Postgres at scrape time ([`ScrapeGauges`]).
//! `junction_consumer_pending` for `SIGNAL_INTAKE` and `EVENT_INTAKE` is
//! refreshed by the runtime's `/metrics` route.

use chrono::{DateTime, Utc};
use junction_core::status::RunStatus;
use junction_store::Store;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::PrometheusHandle;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// Counter `{workflow_id, status}`: runs that reached a terminal status.
pub const RUNS_TOTAL: &str = "junction_runs_total";
/// Gauge `{status}`: runs in each non-terminal status, cluster-wide.
pub const RUNS_ACTIVE: &str = "junction_runs_active";
/// Histogram `{workflow_id}`: an ended run's `created_at` → `ended_at`
/// (from its id's time to the commit of its end).
pub const RUN_DURATION: &str = "junction_run_duration_seconds";
/// Gauge `{tenant}`: stored, non-archived workflows, cluster-wide.
pub const WORKFLOWS: &str = "junction_workflows";
/// Counter `{reason}`: signals refused at intake.
pub const SIGNALS_REJECTED: &str = "junction_signals_rejected_total";
/// Gauge: age of the oldest unpublished outbox row (0 when empty).
pub const OUTBOX_OLDEST_AGE: &str = "junction_outbox_oldest_age_seconds";
/// Counter: run transitions this coordinator committed.
pub const TRANSITIONS: &str = "junction_transitions_total";
/// Counter: inputs those transitions applied.
pub const TRANSITION_INPUTS: &str = "junction_transition_inputs_total";
/// Counter: decisions redone because the run moved on meanwhile.
pub const TRANSITION_CONFLICTS: &str = "junction_transition_conflicts_total";
/// Counter `{recovery}`: tasks the lost-task sweep published again,
/// `redispatched` (read back from the stream) or `rebuilt` (from the run).
pub const LOST_TASKS: &str = "junction_lost_tasks_total";

/// Upper bounds of the run duration buckets, in seconds: 10 ms to a day
/// (runs may wait for people and timers).
pub const RUN_DURATION_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0,
    86400.0,
];

/// Installs the process's recorder and describes every family; the ones
/// without labels are exposed from now on (counters at 0).
pub fn install() -> Result<PrometheusHandle, junction_runtime::metrics::Error> {
    let handle = junction_runtime::metrics::install(&[(RUN_DURATION, RUN_DURATION_BUCKETS)])?;
    describe();
    Ok(handle)
}

/// HELP and TYPE of every family, and the unlabelled ones at 0.
fn describe() {
    describe_counter!(
        RUNS_TOTAL,
        "Runs that reached a terminal status, by workflow and status (counted by the coordinator that committed the end)."
    );
    describe_gauge!(
        RUNS_ACTIVE,
        "Runs currently in each non-terminal status, cluster-wide (read from Postgres at scrape; use max() across coordinators)."
    );
    describe_histogram!(
        RUN_DURATION,
        "Duration of ended runs, created_at to ended_at, in seconds."
    );
    describe_gauge!(
        WORKFLOWS,
        "Stored, non-archived workflows per tenant, cluster-wide (read from Postgres at scrape; use max() across coordinators)."
    );
    describe_counter!(SIGNALS_REJECTED, "Signals rejected at intake, by reason.");
    describe_gauge!(
        OUTBOX_OLDEST_AGE,
        "Age of the oldest unpublished outbox message in seconds (0 when empty)."
    );
    describe_counter!(
        TRANSITIONS,
        "Run transitions committed by this coordinator."
    );
    describe_counter!(
        TRANSITION_INPUTS,
        "Inputs (results, signals, actions) those transitions applied; several results of one run are decided together."
    );
    describe_counter!(
        TRANSITION_CONFLICTS,
        "Advances decided again after a write conflict (the run moved on meanwhile)."
    );
    describe_counter!(
        LOST_TASKS,
        "Tasks unclaimed long after their dispatch that the lost-task sweep published again: redispatched (read back from WORKFLOW_TASKS) or rebuilt (gone from the stream, built again from the run)."
    );
    for name in [TRANSITIONS, TRANSITION_INPUTS, TRANSITION_CONFLICTS] {
        counter!(name).increment(0);
    }
    for recovery in [LostTask::Redispatched, LostTask::Rebuilt] {
        counter!(LOST_TASKS, "recovery" => recovery.label()).increment(0);
    }
    gauge!(OUTBOX_OLDEST_AGE).set(0.0);
}

/// How the lost-task sweep recovered a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostTask {
    /// Read back from `WORKFLOW_TASKS` and published again.
    Redispatched,
    /// Gone from the stream; built again from the run and published.
    Rebuilt,
}

impl LostTask {
    fn label(self) -> &'static str {
        match self {
            Self::Redispatched => "redispatched",
            Self::Rebuilt => "rebuilt",
        }
    }
}

/// `junction_lost_tasks_total{recovery}` += 1.
pub fn lost_task_recovered(recovery: LostTask) {
    counter!(LOST_TASKS, "recovery" => recovery.label()).increment(1);
}

/// What the coordinator's tasks count. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Where an ended run's duration is read.
    store: Store,
}

impl Metrics {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// A transition applying `inputs` inputs was committed.
    pub fn transition_committed(&self, inputs: u64) {
        counter!(TRANSITIONS).increment(1);
        counter!(TRANSITION_INPUTS).increment(inputs);
    }

    /// A decision was refused by the optimistic check and is redone.
    pub fn transition_conflict(&self) {
        counter!(TRANSITION_CONFLICTS).increment(1);
    }

    /// `junction_signals_rejected_total{reason}` += 1.
    pub fn signal_rejected(&self, reason: &'static str) {
        counter!(SIGNALS_REJECTED, "reason" => reason).increment(1);
    }

    /// A transition of the run from status `from` to `to` was committed:
    /// if it ended the run, counts the end and records the run's duration.
    /// Every path that commits a run's status calls this after the commit
    /// (a start, the run's queued inputs, a timer), so each run's end is
    /// counted once, by the coordinator that committed it.
    pub fn run_committed(&self, run_id: &str, workflow_id: &str, from: RunStatus, to: RunStatus) {
        if from.is_terminal() || !to.is_terminal() {
            return;
        }
        // A run id is a UUID v7 taken when the run is created (decisions.md),
        // so its time is the run's start, to the millisecond, without a read.
        if let Some(created) = created_at(run_id) {
            let seconds = (Utc::now() - created).as_seconds_f64().max(0.0);
            return record_run_end(workflow_id, to, Some(seconds));
        }
        // Any other id: the stored created_at → ended_at, read in the
        // background so the caller does not wait.
        let (store, run_id, workflow_id) = (
            self.store.clone(),
            run_id.to_owned(),
            workflow_id.to_owned(),
        );
        tokio::spawn(async move {
            let duration = match store.run_duration_seconds(&run_id).await {
                Ok(duration) => duration,
                Err(error) => {
                    tracing::warn!(%run_id, %error, "cannot read an ended run's duration; not recorded");
                    None
                }
            };
            record_run_end(&workflow_id, to, duration);
        });
    }
}

/// When a run was created, from the time in its UUID v7 id.
fn created_at(run_id: &str) -> Option<DateTime<Utc>> {
    let uuid = uuid::Uuid::parse_str(run_id).ok()?;
    if uuid.get_version_num() != 7 {
        return None;
    }
    let (seconds, nanos) = uuid.get_timestamp()?.to_unix();
    DateTime::from_timestamp(i64::try_from(seconds).ok()?, nanos)
}

/// `junction_runs_total{workflow_id,status}` += 1, and the duration if known.
fn record_run_end(workflow_id: &str, status: RunStatus, duration: Option<f64>) {
    counter!(RUNS_TOTAL, "workflow_id" => workflow_id.to_owned(), "status" => status.as_str())
        .increment(1);
    if let Some(seconds) = duration {
        histogram!(RUN_DURATION, "workflow_id" => workflow_id.to_owned()).record(seconds);
    }
}

/// The gauges read from Postgres at each scrape. A tenant whose workflows
/// are all archived drops to 0 rather than keeping its last count.
#[derive(Debug, Default)]
pub struct ScrapeGauges {
    tenants: Mutex<BTreeSet<String>>,
}

impl ScrapeGauges {
    /// Reads runs in flight by status, workflows by tenant and the
    /// outbox's age, at once; a read that fails keeps its gauge's last
    /// value and is logged.
    pub async fn refresh(self: Arc<Self>, store: Store) {
        let (active, workflows, outbox) = tokio::join!(
            store.runs_active(),
            store.workflows_per_tenant(),
            store.outbox_oldest_age_seconds()
        );
        match active {
            Ok(counts) => {
                for (status, count) in counts {
                    gauge!(RUNS_ACTIVE, "status" => status.as_str()).set(count as f64);
                }
            }
            Err(error) => tracing::warn!(%error, "cannot count the active runs for /metrics"),
        }
        match workflows {
            Ok(counts) => self.set_workflows(counts),
            Err(error) => tracing::warn!(%error, "cannot count the workflows for /metrics"),
        }
        match outbox {
            Ok(age) => gauge!(OUTBOX_OLDEST_AGE).set(age),
            Err(error) => tracing::warn!(%error, "cannot read the outbox's age for /metrics"),
        }
    }

    fn set_workflows(&self, counts: Vec<(String, i64)>) {
        let Ok(mut seen) = self.tenants.lock() else {
            return;
        };
        let now: BTreeSet<String> = counts.iter().map(|(tenant, _)| tenant.clone()).collect();
        for gone in seen.difference(&now) {
            gauge!(WORKFLOWS, "tenant" => gone.clone()).set(0.0);
        }
        for (tenant, count) in counts {
            gauge!(WORKFLOWS, "tenant" => tenant).set(count as f64);
        }
        seen.extend(now);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;

    /// Renders what `record` records into a fresh recorder.
    fn rendered(record: impl FnOnce()) -> String {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(RUN_DURATION.to_owned()),
                RUN_DURATION_BUCKETS,
            )
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, record);
        handle.render()
    }

    #[test]
    fn the_unlabelled_families_are_exposed_at_zero_from_the_start() {
        let text = rendered(describe);
        for name in [TRANSITIONS, TRANSITION_INPUTS, TRANSITION_CONFLICTS] {
            assert!(text.contains(&format!("# TYPE {name} counter\n")), "{text}");
            assert!(text.contains(&format!("\n{name} 0\n")), "{text}");
        }
        for recovery in ["redispatched", "rebuilt"] {
            assert!(
                text.contains(&format!("\n{LOST_TASKS}{{recovery=\"{recovery}\"}} 0\n")),
                "{text}"
            );
        }
        assert!(
            text.contains(&format!("# HELP {OUTBOX_OLDEST_AGE} ")),
            "{text}"
        );
        assert!(
            text.contains(&format!("\n{OUTBOX_OLDEST_AGE} 0\n")),
            "{text}"
        );
    }

    #[test]
    fn an_ended_run_is_counted_with_its_workflow_and_status_and_timed() {
        let text = rendered(|| {
            describe();
            record_run_end("ship", RunStatus::Completed, Some(0.3));
            record_run_end("ship", RunStatus::TimedOut, None);
        });
        assert!(
            text.contains(r#"junction_runs_total{workflow_id="ship",status="COMPLETED"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"junction_runs_total{workflow_id="ship",status="TIMED_OUT"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"junction_run_duration_seconds_bucket{workflow_id="ship",le="0.5"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("# TYPE junction_run_duration_seconds histogram"),
            "{text}"
        );
    }

    #[test]
    fn a_runs_creation_time_is_the_time_in_its_uuid_v7_id() {
        let before = Utc::now() - chrono::Duration::milliseconds(1);
        let id = junction_core::ids::RunId::from_uuid(uuid::Uuid::now_v7()).to_string();
        let created = created_at(&id).unwrap();
        assert!(created >= before && created <= Utc::now(), "{created}");
        let v5 = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"x").to_string();
        assert_eq!(created_at(&v5), None);
        assert_eq!(created_at("not-a-uuid"), None);
    }

    #[test]
    fn a_tenant_without_workflows_left_drops_to_zero() {
        let gauges = ScrapeGauges::default();
        let text = rendered(|| {
            gauges.set_workflows(vec![("acme".into(), 2), ("default".into(), 1)]);
            gauges.set_workflows(vec![("default".into(), 3)]);
        });
        assert!(
            text.contains(r#"junction_workflows{tenant="acme"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"junction_workflows{tenant="default"} 3"#),
            "{text}"
        );
    }
}
