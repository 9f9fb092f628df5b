//! The lost-task sweep (ARCHITECTURE.md, "Lost tasks"). Every third of
//! `coordinator.lost_task_seconds`, the attempts of running or waiting runs
//! that are still `PENDING` that long after their task was published are
//! looked up in `WORKFLOW_TASKS`:
//!
//! - where the stream still holds the attempt's task and its executor's
//!   consumer has handed out every message (so the queue is not merely
//!   behind, and some worker pulls from it), the task is published again
//!   under a new message id (`redispatched`);
//! - where the stream no longer holds it (a work queue drops a message once
//!   it is acked, and no worker claimed this attempt), the task is built
//!   again from the run, which Postgres keeps, with the input its dispatch
//!   stored, and published (`rebuilt`).
//!
//! Claims are idempotent by `run + step + attempt`, so a copy that was not
//! needed changes nothing.

use crate::driver::Driver;
use crate::metrics::{LostTask, lost_task_recovered};
use crate::run_queue::CachedRun;
use junction_bus::Bus;
use junction_bus::redispatch::StoredTask;
use junction_core::engine::{self, ApplyContext, RunMeta};
use junction_core::ids::{RunId, StepId};
use junction_store::UnclaimedAttempt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;

/// Most attempts looked at per sweep.
const SWEEP_LIMIT: i64 = 100;

/// Sweeps until `stop` turns; does nothing when `lost_after` is zero.
pub async fn run(driver: Driver, bus: Bus, lost_after: Duration, mut stop: watch::Receiver<bool>) {
    if lost_after.is_zero() {
        return;
    }
    let every = lost_after / 3;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(error) = sweep(&driver, &bus, lost_after).await {
            tracing::warn!(%error, "lost-task sweep failed; it looks again later");
        }
    }
}

/// One sweep; returns how many tasks it published again.
async fn sweep(driver: &Driver, bus: &Bus, lost_after: Duration) -> anyhow::Result<usize> {
    let attempts = driver
        .store
        .long_unclaimed_attempts(lost_after.as_secs_f64(), SWEEP_LIMIT)
        .await?;
    if attempts.is_empty() {
        return Ok(0);
    }
    // Coordinators sweeping the same attempt in the same round publish one copy.
    let round = chrono::Utc::now().timestamp().unsigned_abs() / lost_after.as_secs().max(1);
    let mut caught_up: HashMap<&str, bool> = HashMap::new();
    let mut published = 0;
    for attempt in attempts {
        let (run_id, step_id, number) = (&attempt.run_id, &attempt.step_id, attempt.attempt);
        let key = junction_core::ids::idempotency_key(run_id, step_id, number);
        let Some(task) = bus.stored_task(run_id, step_id, number).await? else {
            let Some(task) = rebuilt_task(driver, &attempt).await? else {
                continue;
            };
            bus.redispatch(&task, &key, round).await?;
            lost_task_recovered(LostTask::Rebuilt);
            published += 1;
            tracing::warn!(%run_id, %step_id, attempt = number, executor = task.executor, "task unclaimed long after its dispatch is no longer in WORKFLOW_TASKS: built again from the run and published");
            continue;
        };
        let ready = match caught_up.get(task.executor) {
            Some(ready) => *ready,
            None => {
                let ready = bus.task_consumer_caught_up(task.executor).await?;
                caught_up.insert(task.executor, ready);
                ready
            }
        };
        if !ready {
            continue;
        }
        bus.redispatch(&task, &key, round).await?;
        lost_task_recovered(LostTask::Redispatched);
        published += 1;
        tracing::warn!(%run_id, %step_id, attempt = number, executor = task.executor, "task unclaimed long after its dispatch, with nothing left to deliver: published again");
    }
    Ok(published)
}

/// The task of `attempt` built again from its run, carrying the input its
/// dispatch stored; `None` (logged) when the run no longer waits on a worker
/// for that attempt, or its workflow revision is gone.
async fn rebuilt_task(
    driver: &Driver,
    attempt: &UnclaimedAttempt,
) -> anyhow::Result<Option<StoredTask>> {
    let (run_id, step_id, number) = (&attempt.run_id, &attempt.step_id, attempt.attempt);
    let Some(locked) = driver.store.load_run(run_id).await? else {
        return Ok(None);
    };
    let run = CachedRun::from_locked(locked)?;
    let Some(workflow) = driver
        .catalog
        .get(&run.tenant, &run.workflow_id, run.version)
        .await?
    else {
        tracing::error!(%run_id, %step_id, attempt = number, workflow_id = %run.workflow_id, version = run.version, "a lost task's workflow revision is gone; the step waits for its timeout");
        return Ok(None);
    };
    let meta = RunMeta {
        run_id: RunId::new(run_id.clone()),
        tenant: run.tenant.clone(),
        version: run.version,
    };
    let cx = ApplyContext {
        now: chrono::Utc::now(),
        payload_limit: driver.payload_limit,
    };
    let step = StepId::new(step_id.clone());
    let Some(mut task) =
        engine::lost_task(&workflow.workflow, &meta, &run.state, &step, number, &cx)
    else {
        tracing::info!(%run_id, %step_id, attempt = number, "an attempt unclaimed long after its dispatch is no longer one the run waits on; nothing to publish");
        return Ok(None);
    };
    if let Some(input) = &attempt.input {
        input.clone_into(task.action.input_mut());
    }
    let traceparent = run
        .traced
        .as_ref()
        .map(|traced| traced.trace.traceparent_for(Some(step_id)));
    Ok(Some(StoredTask::rebuilt(
        &driver.subjects,
        &task,
        traceparent,
    )?))
}
