//! One step task, from delivery to ack (DESIGN §4.2). A step that finishes
//! quickly costs the worker ONE durable commit, its result with the claim
//! folded in; only a step still running at a third of the lease is claimed
//! on its own commit first.
//!
//! 1. **Check** ([`Store::check_attempt`], a read-only query, no commit):
//!    a task whose run has ended, or whose attempt does not exist, is acked
//!    and dropped; a `PENDING` attempt of a paused run is nak'ed for 3 s; a
//!    finished attempt gets its stored completion event re-emitted (a
//!    redelivery after a crash between commit and ack); an attempt `RUNNING`
//!    under another worker's live lease is nak'ed until that lease ends. A
//!    `PENDING` attempt, or a `RUNNING` one whose lease expired, is executed.
//! 2. **Execute** at once (fault point `worker.after_claim` just before).
//!    An execution that ends before the *claim deadline*, a third of the
//!    lease (when a lease keeper would first renew), is recorded by
//!    [`Store::claim_and_finish_attempt`]: ONE statement moves the attempt
//!    from `PENDING` straight to its final status and appends
//!    `step.started` (timed at the execution's start), any warnings and the
//!    completion event. If the attempt is no longer claimable by then
//!    (another worker claimed or finished it after a redelivery, or it was
//!    cancelled), nothing is written and the result is discarded.
//! 3. **Lazy claim.** An execution still running at the claim deadline sends
//!    JetStream an in-progress ack and is claimed then
//!    ([`Store::claim_attempt`]: `RUNNING` with a lease, `step.started`, the
//!    coordinator's `step_deadline` backstop), fault point
//!    `worker.after_claim` again; from there the lease keeper renews the
//!    claim and [`Store::finish_attempt`] records the result, as for any
//!    claimed step. A lazy claim that finds the attempt no longer claimable
//!    abandons the execution (the future is dropped) and acks or naks as the
//!    refusal says; one that fails on the database is tried again a third of
//!    a lease later while the execution goes on.
//!
//! A worker that dies before its lazy claim leaves the attempt `PENDING`
//! with no lease: JetStream redelivers the task after `ack_wait` (= the
//! lease) and the next worker executes the attempt again, with the same
//! idempotency key. Nothing that was recorded runs twice: the check and both
//! claiming statements refuse a finished attempt.
//!
//! Warnings of a successful execution (an output failing the agent's
//! `output_schema`) are stored by the same statement as the result, as
//! `workflow.step.warning` events just before `step.completed`, and published
//! with it through the outbox. A deferred execution (the agent registry was
//! unreachable) records nothing and is redelivered.
//!
//! From before the check until the result is recorded, a [`CancelWatch`]
//! listens on the step's event subject. When the coordinator cancels the
//! attempt, the executor is dropped (no longer awaited) and
//! `agents.<name>.cancel` is published. Before the lazy claim that is all:
//! the attempt row was still `PENDING`, and the coordinator's cancel marked
//! it `CANCELLED` itself (a cancelled takeover is closed by the worker).
//! After it, the worker closes its claimed row as `CANCELLED` without a new
//! event. Either way the task is acked. A cancel that arrives after the
//! result was recorded changes nothing (the engine ignores the late result).

use crate::cancel::{self, CancelWatch, Cancellation};
use crate::executor::{Execution, Outcome, Registry};
use crate::lease;
use async_nats::jetstream::{AckKind, Message};
use chrono::{DateTime, Utc};
use junction_bus::Subjects;
use junction_bus::messages::event_message;
use junction_core::status::StepStatus;
use junction_core::wire::task::STEP_DEADLINE_GRACE_SECONDS;
use junction_core::wire::{Event, EventType, StepTask, TaskAction};
use junction_runtime::fault::{self, Faults};
use junction_runtime::outbox::Publisher;
use junction_store::{
    AttemptCheck, AttemptOutcome, ClaimOutcome, FinishOutcome, FinishRequest, Refusal,
    StepEventDraft, Store,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
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
    /// Group commit of results.
    pub results: crate::commit::ResultCommitter,
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
    // Listen before checking: a cancel committed after the check (or after
    // the lazy claim) is published after it, so it cannot slip through.
    let mut watch = CancelWatch::start(&worker.client, &worker.subjects, &task).await;
    let takeover = match worker
        .store
        .check_attempt(&task.run_id, &task.step_id, task.attempt)
        .await
    {
        Ok(AttemptCheck::Claimable { takeover }) => takeover,
        Ok(AttemptCheck::Unclaimable(refusal)) => return refused(&worker, &message, refusal).await,
        Err(error) => {
            tracing::warn!(%error, "could not check the attempt; the task will be redelivered");
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
            return;
        }
    };
    if takeover {
        tracing::info!("taking over an attempt whose lease had expired");
    }
    worker.faults.hit(fault::WORKER_AFTER_CLAIM);
    let started_at = Utc::now();
    let clock = Instant::now();
    let started = draft_at(
        &worker,
        &task,
        EventType::StepStarted,
        json!({ "input": task.action.input() }),
        started_at,
    );
    // Boxed, so that abandoning it can drop it on the spot.
    let mut execution = Box::pin(execute(&worker, &task, started_at));

    // Unclaimed: a result now is recorded with its claim folded in.
    let claim_every = worker.lease / 3;
    let mut claim_at = tokio::time::Instant::now() + claim_every;
    let started_message = loop {
        tokio::select! {
            outcome = &mut execution => {
                let recording = Recording::Folded { started: &started, ran_for: clock.elapsed() };
                return record(&worker, &message, &task, outcome, recording).await;
            }
            cancellation = watch.cancelled() => {
                drop(execution);
                return cancelled_unclaimed(&worker, &message, &task, cancellation, takeover).await;
            }
            () = tokio::time::sleep_until(claim_at) => {}
        }
        // Still running at the claim deadline: claim it now (lazily).
        let _ = message.ack_with(AckKind::Progress).await;
        let running = clock.elapsed().as_secs_f64();
        let deadline = task.timeout_seconds as f64 + STEP_DEADLINE_GRACE_SECONDS - running;
        match worker
            .store
            .claim_attempt(
                started.clone(),
                worker.lease.as_secs_f64(),
                deadline,
                running,
            )
            .await
        {
            Ok(ClaimOutcome::Claimed { started, claims }) => {
                tracing::debug!(claims, "still running at a third of the lease; claimed");
                break started;
            }
            Ok(ClaimOutcome::Refused(refusal)) => {
                drop(execution);
                return abandoned(&worker, &message, &task, refusal).await;
            }
            Err(error) => {
                tracing::warn!(%error, "could not claim the running step; it runs on, claim retried later");
                claim_at += claim_every;
            }
        }
    };

    // Claimed: the lease keeper holds the claim until the result.
    worker.faults.hit(fault::WORKER_AFTER_CLAIM);
    let publish_started = worker
        .publisher
        .publish(std::slice::from_ref(&started_message));
    let keeper = lease::keep(worker.clone(), &message, &task);
    // Only the execution is abandoned on cancel; `step.started` is always
    // published.
    let execute = async {
        tokio::select! {
            outcome = &mut execution => Ok(outcome),
            cancellation = watch.cancelled() => Err(cancellation),
        }
    };
    let ((), outcome) = tokio::join!(publish_started, execute);
    drop(execution);
    drop(keeper);
    drop(watch);
    match outcome {
        Ok(outcome) => record(&worker, &message, &task, outcome, Recording::Claimed).await,
        Err(cancellation) => cancelled(&worker, &message, &task, cancellation).await,
    }
}

/// A task that is not to be executed now: ack or nak it as `refusal` says.
async fn refused(worker: &Worker, message: &Message, refusal: Refusal) {
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
async fn abandoned(worker: &Worker, message: &Message, task: &StepTask, refusal: Refusal) {
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

async fn execute(worker: &Worker, task: &StepTask, started_at: DateTime<Utc>) -> Outcome {
    let timeout = chrono::Duration::seconds(task.timeout_seconds.min(i64::MAX as u64) as i64);
    let execution = Execution {
        task,
        idempotency_key: task.idempotency_key(),
        deadline: started_at + timeout,
    };
    worker.executors.for_task(task).execute(execution).await
}

/// How a result is written.
enum Recording<'a> {
    /// Unclaimed: claim and result in one statement, `step.started` (timed
    /// at the start) first.
    Folded {
        started: &'a StepEventDraft,
        ran_for: Duration,
    },
    /// Lazily claimed: the result alone.
    Claimed,
}

/// Stores the outcome, retrying database trouble for a while: a result is
/// worth keeping. If it cannot be stored, the task is redelivered.
async fn record(
    worker: &Worker,
    message: &Message,
    task: &StepTask,
    outcome: Outcome,
    recording: Recording<'_>,
) {
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
        let request = match &recording {
            Recording::Folded { started, ran_for } => FinishRequest::Folded {
                started: Box::new((*started).clone()),
                completed,
                outcome: stored.clone(),
                warnings: warnings.clone(),
                ran_seconds: ran_for.as_secs_f64(),
            },
            Recording::Claimed => FinishRequest::Claimed {
                completed,
                outcome: stored.clone(),
                warnings: warnings.clone(),
            },
        };
        let written = worker.results.write(request).await;
        match written {
            Ok(FinishOutcome::Recorded(messages)) => {
                worker
                    .faults
                    .hit(fault::WORKER_AFTER_RESULT_COMMIT_BEFORE_ACK);
                worker.publisher.publish(&messages).await;
                return ack(message).await;
            }
            Ok(FinishOutcome::AlreadyFinished) => {
                tracing::info!(
                    "attempt was claimed or finished elsewhere, or cancelled, first; result discarded"
                );
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

/// Publishes `agents.<name>.cancel` for the task's attempt.
async fn tell_agent_to_cancel(worker: &Worker, task: &StepTask, reason: &str) {
    let TaskAction::AgentRun { agent, .. } = &task.action;
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
async fn cancelled_unclaimed(
    worker: &Worker,
    message: &Message,
    task: &StepTask,
    cancellation: Cancellation,
    takeover: bool,
) {
    if takeover {
        return cancelled(worker, message, task, cancellation).await;
    }
    let TaskAction::AgentRun { agent, .. } = &task.action;
    tracing::info!(agent, reason = %cancellation.reason, seq = cancellation.seq, "step cancelled by the coordinator before its claim; agent call abandoned");
    tell_agent_to_cancel(worker, task, &cancellation.reason).await;
    ack(message).await;
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
    tell_agent_to_cancel(worker, task, &cancellation.reason).await;
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

/// A step event of this worker, timed now; the store assigns its seq.
fn draft(worker: &Worker, task: &StepTask, kind: EventType, data: Value) -> StepEventDraft {
    draft_at(worker, task, kind, data, Utc::now())
}

/// A step event of this worker at `time`; the store assigns its seq.
fn draft_at(
    worker: &Worker,
    task: &StepTask,
    kind: EventType,
    data: Value,
    time: DateTime<Utc>,
) -> StepEventDraft {
    StepEventDraft {
        run_id: task.run_id.clone(),
        step_id: task.step_id.clone(),
        state: task.state.clone(),
        path: task.path.clone(),
        attempt: task.attempt,
        worker_id: worker.id.clone(),
        kind,
        time,
        data,
        subject: worker.subjects.event(&task.run_id, Some(&task.step_id)),
    }
}

/// Publishes a stored event again (deduplicated by its `Nats-Msg-Id`).
async fn reemit(worker: &Worker, event: &Event) {
    match event_message(&worker.subjects, event) {
        Ok(message) => worker.publisher.publish_untracked(&message).await,
        Err(error) => tracing::error!(
            run_id = %event.run_id, seq = event.seq, %error,
            "cannot serialize a stored event to publish it again"
        ),
    }
}

async fn ack(message: &Message) {
    if let Err(error) = message.ack().await {
        tracing::warn!(%error, "could not ack task");
    }
}
