//! One step task, from delivery to ack: claim `(run, step, attempt)` with a
//! lease, execute, record the result with its event in one transaction,
//! publish, ack. Redeliveries of finished attempts re-emit the stored
//! completion event instead of executing again (DESIGN §4.2).
//!
//! Warnings of a successful execution (an output failing the agent's
//! `output_schema`) are stored by the same statement as the result, as
//! `workflow.step.warning` events just before `step.completed`, and published
//! with it through the outbox. A deferred execution (the agent registry was
//! unreachable) records nothing and is redelivered.
//!
//! While the step executes, a [`CancelWatch`] listens on the step's event
//! subject. When the coordinator cancels the claimed attempt, the executor
//! is dropped (no longer awaited), `agents.<name>.cancel` is published, the
//! attempt row is closed as `CANCELLED` without a new event, and the task is
//! acked. A cancel that arrives after the result was recorded changes
//! nothing (the engine ignores the late result). A task claimed after its
//! run ended is refused by the claim and acked without executing.

use crate::cancel::{self, CancelWatch, Cancellation};
use crate::executor::{Execution, Outcome, Registry};
use crate::lease;
use async_nats::jetstream::{AckKind, Message};
use chrono::Utc;
use junction_shared::bus::Subjects;
use junction_shared::bus::messages::event_message;
use junction_shared::fault::{self, Faults};
use junction_shared::outbox::Publisher;
use junction_shared::status::StepStatus;
use junction_shared::store::{AttemptOutcome, ClaimOutcome, FinishOutcome, StepEventDraft, Store};
use junction_shared::wire::task::STEP_DEADLINE_GRACE_SECONDS;
use junction_shared::wire::{Event, EventType, StepTask, TaskAction};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// How soon a task of a paused run is offered again.
const PAUSED_RETRY: Duration = Duration::from_secs(3);

/// What every task handler shares.
pub struct Worker {
    pub id: String,
    /// Core NATS, for cancellation: the step event subscription and
    /// `agents.<name>.cancel`.
    pub client: async_nats::Client,
    pub store: Store,
    pub publisher: Publisher,
    pub subjects: Subjects,
    pub executors: Registry,
    pub faults: Faults,
    pub lease: Duration,
}

/// Handles one delivery from `WORKERS`.
pub async fn handle(worker: Arc<Worker>, message: Message) {
    let task: StepTask = match serde_json::from_slice(&message.payload) {
        Ok(task) => task,
        Err(error) => {
            tracing::error!(subject = %message.subject, %error, "unreadable task dropped");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
    };
    let span = tracing::info_span!("step", run_id = %task.run_id, step_id = %task.step_id, attempt = task.attempt, worker_id = %worker.id);
    run(worker, message, task).instrument(span).await;
}

async fn run(worker: Arc<Worker>, message: Message, task: StepTask) {
    // Listen before claiming: a cancel committed right after the claim is
    // published after it, so it cannot slip between claim and subscription.
    let mut watch = CancelWatch::start(&worker.client, &worker.subjects, &task).await;
    let claimed_at = Utc::now();
    let input = task.action.input().clone();
    let started = draft(
        &worker,
        &task,
        EventType::StepStarted,
        json!({ "input": input }),
    );
    let claim = worker
        .store
        .claim_attempt(
            started,
            worker.lease.as_secs_f64(),
            task.timeout_seconds as f64 + STEP_DEADLINE_GRACE_SECONDS,
        )
        .await;
    match claim {
        Ok(ClaimOutcome::Claimed { started, claims }) => {
            if claims > 1 {
                tracing::info!(claims, "took over an attempt whose lease had expired");
            }
            worker.faults.hit(fault::WORKER_AFTER_CLAIM);
            let publish_started = worker.publisher.publish(std::slice::from_ref(&started));
            let keeper = lease::keep(worker.clone(), &message, &task);
            // Only the execution is abandoned on cancel; `step.started`
            // is always published.
            let execute = async {
                tokio::select! {
                    outcome = execute(&worker, &task, claimed_at) => Ok(outcome),
                    cancellation = watch.cancelled() => Err(cancellation),
                }
            };
            let ((), outcome) = tokio::join!(publish_started, execute);
            drop(keeper);
            drop(watch);
            match outcome {
                Ok(outcome) => record(&worker, &message, &task, outcome).await,
                Err(cancellation) => cancelled(&worker, &message, &task, cancellation).await,
            }
        }
        Ok(ClaimOutcome::AlreadyFinished(event)) => {
            tracing::debug!("attempt already finished; re-emitting its completion event");
            if let Some(event) = event {
                reemit(&worker, &event).await;
            }
            ack(&message).await;
        }
        Ok(ClaimOutcome::Held { lease_until }) => {
            let wait = lease_until
                .and_then(|until| (until - Utc::now()).to_std().ok())
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_millis(500));
            tracing::debug!(?wait, "attempt held under a live lease; leaving it alone");
            let _ = message.ack_with(AckKind::Nak(Some(wait))).await;
        }
        Ok(ClaimOutcome::Paused) => {
            // Redelivered until the run resumes (the WORKERS consumer has no
            // delivery limit), or is cancelled.
            tracing::debug!("run is paused; the task waits");
            let _ = message.ack_with(AckKind::Nak(Some(PAUSED_RETRY))).await;
        }
        Ok(ClaimOutcome::RunEnded) => {
            // Debug only: a cancelled fan-out may leave thousands of queued tasks.
            tracing::debug!("run has ended; task dropped without executing");
            ack(&message).await;
        }
        Ok(ClaimOutcome::Missing) => {
            tracing::warn!("task for an attempt that does not exist; dropping it");
            ack(&message).await;
        }
        Err(error) => {
            tracing::warn!(%error, "claim failed; the task will be redelivered");
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
        }
    }
}

async fn execute(worker: &Worker, task: &StepTask, claimed_at: chrono::DateTime<Utc>) -> Outcome {
    let timeout = chrono::Duration::seconds(task.timeout_seconds.min(i64::MAX as u64) as i64);
    let execution = Execution {
        task,
        idempotency_key: task.idempotency_key(),
        deadline: claimed_at + timeout,
    };
    worker.executors.for_task(task).execute(execution).await
}

/// Stores the outcome, retrying database trouble for a while: a result is
/// worth keeping. If it cannot be stored, the task is redelivered.
async fn record(worker: &Worker, message: &Message, task: &StepTask, outcome: Outcome) {
    let mut warnings = Vec::new();
    let (kind, data, stored) = match outcome {
        Outcome::Succeeded {
            output,
            warnings: raised,
        } => {
            for warning in &raised {
                tracing::warn!(code = warning.code, message = %warning.message, "step succeeded with a warning");
                warnings.push(serde_json::to_value(warning).unwrap_or(Value::Null));
            }
            (
                EventType::StepCompleted,
                json!({ "output": output }),
                AttemptOutcome::Succeeded(output),
            )
        }
        Outcome::Failed { status, error } => {
            let kind = if status == StepStatus::TimedOut {
                EventType::StepTimedOut
            } else {
                EventType::StepFailed
            };
            tracing::info!(code = %error.code, message = %error.message, "step attempt failed");
            let error = serde_json::to_value(&error).unwrap_or(Value::Null);
            (
                kind,
                json!({ "error": error }),
                AttemptOutcome::Failed { status, error },
            )
        }
        Outcome::Deferred { reason } => {
            tracing::warn!(%reason, "step not executed; the task will be redelivered");
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
            return;
        }
    };
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=8 {
        let completed = draft(worker, task, kind, data.clone());
        match worker
            .store
            .finish_attempt(completed, &stored, &warnings)
            .await
        {
            Ok(FinishOutcome::Recorded(messages)) => {
                worker
                    .faults
                    .hit(fault::WORKER_AFTER_RESULT_COMMIT_BEFORE_ACK);
                worker.publisher.publish(&messages).await;
                return ack(message).await;
            }
            Ok(FinishOutcome::AlreadyFinished) => {
                tracing::info!("attempt was finished by another worker first; result discarded");
                return ack(message).await;
            }
            Err(error) => {
                tracing::warn!(%error, try_number = attempt, "could not store the result; retrying");
                let _ = message.ack_with(AckKind::Progress).await;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    tracing::error!(
        "giving up storing the result; the task will be redelivered and executed again"
    );
    let _ = message
        .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
        .await;
}

/// The coordinator cancelled the attempt while it executed: tell the agent,
/// close the attempt row without an event (the coordinator's
/// `step.cancelled` ended it), ack.
async fn cancelled(
    worker: &Worker,
    message: &Message,
    task: &StepTask,
    cancellation: Cancellation,
) {
    let TaskAction::AgentRun { agent, .. } = &task.action;
    tracing::info!(agent, reason = %cancellation.reason, seq = cancellation.seq, "step cancelled by the coordinator; agent call abandoned");
    match serde_json::to_vec(&cancel::agent_cancel(task, &cancellation.reason)) {
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
    let mut delay = Duration::from_millis(100);
    for try_number in 1..=8 {
        match worker
            .store
            .cancel_attempt(
                &task.run_id,
                &task.step_id,
                task.attempt,
                &worker.id,
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

/// A step event of this worker; the store assigns its seq.
fn draft(worker: &Worker, task: &StepTask, kind: EventType, data: Value) -> StepEventDraft {
    StepEventDraft {
        run_id: task.run_id.clone(),
        step_id: task.step_id.clone(),
        state: task.state.clone(),
        path: task.path.clone(),
        attempt: task.attempt,
        worker_id: worker.id.clone(),
        kind,
        time: Utc::now(),
        data,
        subject: worker.subjects.event(&task.run_id, Some(&task.step_id)),
    }
}

/// Publishes a stored event again (deduplicated by its `Nats-Msg-Id`).
async fn reemit(worker: &Worker, event: &Event) {
    let message = event_message(&worker.subjects, event);
    let outbox = junction_shared::store::OutboxMessage {
        id: 0,
        subject: message.subject,
        msg_id: message.msg_id,
        payload: message.payload,
    };
    worker.publisher.publish_untracked(&outbox).await;
}

async fn ack(message: &Message) {
    if let Err(error) = message.ack().await {
        tracing::warn!(%error, "could not ack task");
    }
}
