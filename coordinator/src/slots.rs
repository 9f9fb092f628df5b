//! Concurrency keys (docs/language.md §1, `concurrency`), the driver's side.
//! A run of a limited workflow is created under its key's lock
//! ([`create_limited`]): started if a slot is free and nobody waits,
//! otherwise queued `PENDING`. A run that held a slot stores a
//! `release_slot` timer when it ends; firing it ([`release`]) admits the
//! key's queued runs, oldest first, each under its own revision's limit.
//! The counting and the admissions happen in the store under the key's
//! advisory lock, so any number of coordinators agree.

use crate::catalog::CompiledWorkflow;
use crate::driver::{Driver, StartRequest};
use crate::trace::{self, RunLabels, TraceWork};
use junction_core::engine::Input;
use junction_core::status::RunStatus;
use junction_store::{CreateOutcome, DueTimer, NewRun, SlotKey, TransitionWrite};
use std::collections::HashMap;
use std::sync::Arc;

/// The two first inputs a new run may get: its start, or its queueing.
pub(crate) struct StartInputs<'r> {
    pub request: &'r StartRequest,
    pub correlation_id: String,
}

impl StartInputs<'_> {
    pub fn input(&self, admitted: bool) -> Input {
        let request = self.request;
        if admitted {
            Input::Start {
                input: request.input.clone(),
                signal: request.signal.clone(),
                causation_id: request.causation_id.clone(),
                correlation_id: self.correlation_id.clone(),
                parent: request.parent.clone(),
            }
        } else {
            Input::Queue {
                input: request.input.clone(),
                signal: request.signal.clone(),
                causation_id: request.causation_id.clone(),
                correlation_id: self.correlation_id.clone(),
                parent: request.parent.clone(),
            }
        }
    }
}

/// What the start path needs of a write once it is handed to the store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteFacts {
    pub has_timers: bool,
    pub state_hash: u64,
    pub status: RunStatus,
}

impl WriteFacts {
    pub fn of(write: &TransitionWrite) -> Self {
        Self {
            has_timers: !write.timers.is_empty(),
            state_hash: write.state.hash(),
            status: write.status,
        }
    }
}

/// Creates a run of a limited workflow: `decide(admitted)` builds its first
/// transition under the key's lock.
pub(crate) async fn create_limited<F>(
    driver: &Driver,
    run: &NewRun,
    limit: u32,
    decide: F,
) -> anyhow::Result<(CreateOutcome, TraceWork, WriteFacts)>
where
    F: FnOnce(bool) -> anyhow::Result<(TransitionWrite, TraceWork)>,
{
    let mut decided = None;
    let mut failure = None;
    let created = driver
        .store
        .create_limited_run(run, limit, |admitted| match decide(admitted) {
            Ok((write, work)) => {
                decided = Some((work, WriteFacts::of(&write)));
                Some(write)
            }
            Err(error) => {
                failure = Some(error);
                None
            }
        })
        .await?;
    match (created, decided) {
        (Some((outcome, admitted)), Some((work, facts))) => {
            if !admitted {
                tracing::info!(run_id = %run.run_id, workflow_id = %run.workflow_id, key = ?run.concurrency_key, "run queued: no free concurrency slot");
            }
            Ok((outcome, work, facts))
        }
        _ => {
            Err(failure
                .unwrap_or_else(|| anyhow::anyhow!("run {}: start was not decided", run.run_id)))
        }
    }
}

/// A `release_slot` timer fired: admits the queued runs of the ended run's
/// key. An error keeps the timer, which fires again.
pub(crate) async fn release(driver: &Driver, timer: &DueTimer) -> anyhow::Result<()> {
    let Some(key) = driver.store.slot_key_of(&timer.run_id).await? else {
        return Ok(());
    };
    admit(driver, &key).await
}

/// One admitted run, for what follows its commit.
struct Admitted {
    from: RunStatus,
    to: RunStatus,
    work: TraceWork,
    traced: Option<crate::trace::TracedRun>,
    has_timers: bool,
}

/// Admits the queued runs of `key` while slots are free. Revisions are
/// compiled outside the store's transaction; a queued run of a revision
/// not loaded yet ends the pass, which is repeated once it is loaded.
pub(crate) async fn admit(driver: &Driver, key: &SlotKey) -> anyhow::Result<()> {
    let mut workflows: HashMap<i32, Arc<CompiledWorkflow>> = HashMap::new();
    loop {
        let mut missing = None;
        let mut decided: HashMap<String, Admitted> = HashMap::new();
        let admitted = driver
            .store
            .admit_queued(key, |run, holders| {
                let Some(workflow) = workflows.get(&run.version) else {
                    missing = Some(run.version);
                    return None;
                };
                let limit = workflow.workflow.concurrency.as_ref().map(|c| c.limit);
                if limit.is_some_and(|limit| holders >= i64::from(limit)) {
                    return None;
                }
                let (write, work, traced) = driver.decide_locked(workflow, run, Input::Admit)?;
                let facts = WriteFacts::of(&write);
                decided.insert(
                    run.run_id.clone(),
                    Admitted {
                        from: run.status,
                        to: facts.status,
                        work,
                        traced,
                        has_timers: facts.has_timers,
                    },
                );
                Some(write)
            })
            .await?;
        for (run_id, committed) in admitted {
            // Written outside its run queue: what is remembered is stale.
            driver.runs.forget(&run_id);
            let Some(run) = decided.remove(&run_id) else {
                continue;
            };
            tracing::info!(run_id = %run_id, workflow_id = %key.workflow_id, key = %key.key, "queued run admitted");
            driver.metrics.transition_committed(1);
            let (from, to) = (run.from, run.to);
            driver
                .metrics
                .run_committed(&run_id, &key.workflow_id, from, to);
            let labels = RunLabels {
                run_id: &run_id,
                workflow_id: &key.workflow_id,
                tenant: &key.tenant,
            };
            trace::export(&driver.otel, run.traced.as_ref(), labels, run.work);
            driver
                .after_commit(&committed.messages, run.has_timers)
                .await;
        }
        let Some(version) = missing else {
            return Ok(());
        };
        let workflow = driver
            .catalog
            .get(&key.tenant, &key.workflow_id, version)
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "queued run of {} v{version}, which is not stored",
                    key.workflow_id
                )
            })?;
        workflows.insert(version, workflow);
    }
}
