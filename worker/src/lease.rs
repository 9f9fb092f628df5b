//! Keeping a claim alive while a step executes: every third of the lease,
//! a lease extension in Postgres, fenced by the claim's generation, then an
//! in-progress ack to JetStream. A claim found taken over is neither
//! extended nor kept alive any more (its result will be refused).

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

/// Starts keeping the claim of `task` (generation `claim`) alive until the
/// returned guard is dropped.
pub fn keep(worker: Arc<Worker>, message: &Message, task: &StepTask, claim: i32) -> LeaseKeeper {
    let interval = worker.lease / 3;
    let (run_id, step_id, attempt) = (task.run_id.clone(), task.step_id.clone(), task.attempt);
    let acker = message.clone();
    LeaseKeeper(tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            match worker
                .store
                .extend_lease(
                    &run_id,
                    &step_id,
                    attempt,
                    &worker.id,
                    claim,
                    worker.lease.as_secs_f64(),
                )
                .await
            {
                Ok(true) => {
                    let _ = acker.ack_with(AckKind::Progress).await;
                }
                Ok(false) => {
                    // No more in-progress acks either: once taken over, the
                    // task was redelivered, and they would keep the new
                    // holder's delivery alive (JetStream goes by sequence).
                    tracing::warn!(
                        run_id,
                        step_id,
                        attempt,
                        claim,
                        "lease lost: the attempt was taken over or ended; this claim's result will be refused"
                    );
                    return;
                }
                Err(error) => {
                    let _ = acker.ack_with(AckKind::Progress).await;
                    tracing::warn!(run_id, step_id, attempt, %error, "could not extend the lease")
                }
            }
        }
    }))
}
