//! The lost-task sweep (ARCHITECTURE.md, "Lost tasks"). Every third of
//! `coordinator.lost_task_seconds`, the attempts of running or waiting runs
//! that are still `PENDING` that long after their dispatch are looked up in
//! `WORKFLOW_TASKS`; where the stream still holds the attempt's task and its
//! executor's consumer has handed out every message (so the queue is not
//! merely behind, and some worker pulls from it), the task is published
//! again under a new message id. Claims are idempotent by
//! `run + step + attempt`, so a copy that was not needed changes nothing.

use junction_bus::Bus;
use junction_store::Store;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;

/// Most attempts looked at per sweep.
const SWEEP_LIMIT: i64 = 100;

/// Sweeps until `stop` turns; does nothing when `lost_after` is zero.
pub async fn run(store: Store, bus: Bus, lost_after: Duration, mut stop: watch::Receiver<bool>) {
    if lost_after.is_zero() {
        return;
    }
    let every = lost_after / 3;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(error) = sweep(&store, &bus, lost_after).await {
            tracing::warn!(%error, "lost-task sweep failed; it looks again later");
        }
    }
}

/// One sweep; returns how many tasks it published again.
async fn sweep(store: &Store, bus: &Bus, lost_after: Duration) -> anyhow::Result<usize> {
    let attempts = store
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
        let Some(task) = bus.stored_task(run_id, step_id, number).await? else {
            tracing::warn!(%run_id, %step_id, attempt = number, "a task unclaimed long after its dispatch is no longer in WORKFLOW_TASKS; the step waits for its timeout");
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
        let key = junction_core::ids::idempotency_key(run_id, step_id, number);
        bus.redispatch(&task, &key, round).await?;
        published += 1;
        tracing::warn!(%run_id, %step_id, attempt = number, executor = task.executor, "task unclaimed long after its dispatch, with nothing left to deliver: published again");
    }
    Ok(published)
}
