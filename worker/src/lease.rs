//! Keeping a claim alive while a step executes: every third of the lease,
//! an in-progress ack to JetStream and a lease extension in Postgres.

use crate::task::Worker;
use async_nats::jetstream::{AckKind, Message};
use junction_core::wire::StepTask;
use std::sync::Arc;

/// Aborts the keeper task when dropped.
pub struct LeaseKeeper(tokio::task::JoinHandle<()>);

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts keeping the claim of `task` alive until the returned guard is dropped.
pub fn keep(worker: Arc<Worker>, message: &Message, task: &StepTask) -> LeaseKeeper {
    let interval = worker.lease / 3;
    let (run_id, step_id, attempt) = (task.run_id.clone(), task.step_id.clone(), task.attempt);
    let acker = message.clone();
    LeaseKeeper(tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let _ = acker.ack_with(AckKind::Progress).await;
            match worker
                .store
                .extend_lease(
                    &run_id,
                    &step_id,
                    attempt,
                    &worker.id,
                    worker.lease.as_secs_f64(),
                )
                .await
            {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    run_id,
                    step_id,
                    attempt,
                    "lease lost: another worker took this attempt over"
                ),
                Err(error) => {
                    tracing::warn!(run_id, step_id, attempt, %error, "could not extend the lease")
                }
            }
        }
    }))
}
