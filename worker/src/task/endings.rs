//! How a task ends when it is not a recorded result: refused by the check
//! or the lazy claim, cancelled by the coordinator before or after the claim,
//! and the acks, naks and re-emits those imply.

use super::Worker;
use crate::cancel::{self, Cancellation};
use async_nats::jetstream::{AckKind, Message};
use chrono::Utc;
use junction_bus::messages::event_message;
use junction_core::wire::{Event, EventType, StepTask, TaskAction};
use junction_store::Refusal;
use serde_json::Value;
use std::time::Duration;

/// How soon a task of a paused run is offered again.
const PAUSED_RETRY: Duration = Duration::from_secs(3);

/// A task that is not to be executed now: ack or nak it as `refusal` says.
pub(super) async fn refused(worker: &Worker, message: &Message, refusal: Refusal) {
    match refusal {
        Refusal::AlreadyFinished(event) => {
            tracing::debug!("attempt already finished; re-emitting its completion event");
            if let Some(event) = event {
                reemit(worker, &event).await;
            }
            ack(message).await;
        }
        Refusal::Held { lease_until } => {
            let wait = lease_until
                .and_then(|until| (until - Utc::now()).to_std().ok())
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_millis(500));
            tracing::debug!(?wait, "attempt held under a live lease; leaving it alone");
            let _ = message.ack_with(AckKind::Nak(Some(wait))).await;
        }
        Refusal::Paused => {
            // Redelivered until the run resumes (the WORKERS consumer has no
            // delivery limit), or is cancelled.
            tracing::debug!("run is paused; the task waits");
            let _ = message.ack_with(AckKind::Nak(Some(PAUSED_RETRY))).await;
        }
        Refusal::RunEnded => {
            // Debug only: a cancelled fan-out may leave thousands of queued tasks.
            tracing::debug!("run has ended; task dropped without executing");
            ack(message).await;
        }
        Refusal::Missing => {
            tracing::warn!("task for an attempt that does not exist; dropping it");
            ack(message).await;
        }
    }
}

/// The lazy claim was refused: the execution was dropped (abandoned). If
/// the attempt was cancelled or its run
/// ended, nobody will execute it, so the agent is told to stop; if another
/// worker holds or finished it, the agent call is left alone (it may be
/// serving that worker under the same idempotency key).
pub(super) async fn abandoned(
    worker: &Worker,
    message: &Message,
    task: &StepTask,
    refusal: Refusal,
) {
    let reason = match &refusal {
        Refusal::RunEnded => Some("the run has ended".to_owned()),
        Refusal::AlreadyFinished(Some(event)) if event.kind == EventType::StepCancelled => Some(
            event
                .data
                .as_ref()
                .and_then(|data| data.pointer("/error/message"))
                .and_then(Value::as_str)
                .unwrap_or("cancelled")
                .to_owned(),
        ),
        _ => None,
    };
    tracing::info!(refusal = ?refusal, "lazy claim refused; execution abandoned");
    if let Some(reason) = reason {
        tell_agent_to_cancel(worker, task, &reason).await;
    }
    refused(worker, message, refusal).await;
}

/// Publishes `agents.<name>.cancel` for an `agent.run` attempt; other
/// executors run inside the worker, and dropping them stopped them.
async fn tell_agent_to_cancel(worker: &Worker, task: &StepTask, reason: &str) {
    let TaskAction::AgentRun { agent, .. } = &task.action else {
        return;
    };
    match serde_json::to_vec(&cancel::agent_cancel(task, reason)) {
        Ok(body) => {
            if let Err(error) = worker
                .client
                .publish(worker.subjects.agent_cancel(agent), body.into())
                .await
            {
                tracing::warn!(%error, "could not tell the agent to cancel");
            }
        }
        Err(error) => tracing::warn!(%error, "cannot encode the agent cancel"),
    }
}

/// The coordinator cancelled the attempt before the lazy claim: tell the
/// agent and ack. The row was `PENDING`, and the coordinator's cancel
/// marked it `CANCELLED`; only a takeover (a row still `RUNNING` under an
/// expired lease, which the coordinator leaves to its worker) is closed here.
pub(super) async fn cancelled_unclaimed(
    worker: &Worker,
    message: &Message,
    task: &StepTask,
    cancellation: Cancellation,
    takeover: bool,
) {
    if takeover {
        return cancelled(worker, message, task, cancellation, None).await;
    }
    let executor = task.action.name();
    tracing::info!(executor, reason = %cancellation.reason, seq = cancellation.seq, "step cancelled by the coordinator before its claim; execution abandoned");
    tell_agent_to_cancel(worker, task, &cancellation.reason).await;
    ack(message).await;
}

/// The coordinator cancelled the attempt while it executed: tell the agent,
/// close the attempt row without an event (the coordinator's
/// `step.cancelled` ended it), ack. `claim` is this worker's claim
/// generation (`None` for a takeover not claimed yet: only an expired lease
/// may then be closed).
pub(super) async fn cancelled(
    worker: &Worker,
    message: &Message,
    task: &StepTask,
    cancellation: Cancellation,
    claim: Option<i32>,
) {
    let executor = task.action.name();
    tracing::info!(executor, reason = %cancellation.reason, seq = cancellation.seq, "step cancelled by the coordinator; execution abandoned");
    tell_agent_to_cancel(worker, task, &cancellation.reason).await;
    let mut delay = Duration::from_millis(100);
    for try_number in 1..=8 {
        match worker
            .store
            .cancel_attempt(
                &task.run_id,
                &task.step_id,
                task.attempt,
                claim.map(|claim| (worker.id.as_str(), claim)),
                cancellation.seq,
                &cancellation.error,
            )
            .await
        {
            Ok(true) => break,
            Ok(false) => {
                tracing::info!("attempt had already ended or been taken over; left as it is");
                break;
            }
            Err(error) if try_number < 8 => {
                tracing::warn!(%error, try_number, "could not mark the attempt cancelled; retrying");
                let _ = message.ack_with(AckKind::Progress).await;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                // Acked anyway: executing a cancelled step again would be worse
                // than a row left RUNNING (the run no longer waits for it).
                tracing::error!(%error, "giving up marking the attempt cancelled");
            }
        }
    }
    ack(message).await;
}

/// Publishes a stored event again (deduplicated by its `Nats-Msg-Id`).
async fn reemit(worker: &Worker, event: &Event) {
    match event_message(&worker.subjects, event, None) {
        Ok(message) => worker.publisher.publish_untracked(&message).await,
        Err(error) => tracing::error!(
            run_id = %event.run_id, seq = event.seq, %error,
            "cannot serialize a stored event to publish it again"
        ),
    }
}

pub(super) async fn ack(message: &Message) {
    if let Err(error) = message.ack().await {
        tracing::warn!(%error, "could not ack task");
    }
}
