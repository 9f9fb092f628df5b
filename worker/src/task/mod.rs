//! One step task, from delivery to ack (ARCHITECTURE.md, bird's-eye view). A step that finishes
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
//!    claimed step. Both present the claim's generation (fencing): a worker
//!    that stalled past its lease and was taken over gets its result refused
//!    ([`junction_store::FinishOutcome::Fenced`]), logs it, and acks its
//!    task without writing anything or emitting an event. A lazy claim that finds the attempt no longer claimable
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

mod endings;
mod record;

use self::endings::{abandoned, cancelled, cancelled_unclaimed, refused};
use self::record::{Recording, draft_at, record};
use crate::cancel::{CancelWatch, Cancellation};
use crate::executor::{Execution, Outcome, Registry};
use crate::lease;
use async_nats::jetstream::{AckKind, Message};
use chrono::{DateTime, Utc};
use junction_bus::Subjects;
use junction_core::outbox::OutboxMessage;
use junction_core::trace::SpanContext;
use junction_core::wire::task::STEP_DEADLINE_GRACE_SECONDS;
use junction_core::wire::{EventType, StepTask};
use junction_runtime::fault::{self, Faults};
use junction_runtime::otel;
use junction_runtime::outbox::Publisher;
use junction_store::{AttemptCheck, ClaimOutcome, Refusal, StepEventDraft, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

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
    let mut task: StepTask = match serde_json::from_slice(&message.payload) {
        Ok(task) => task,
        Err(error) => {
            tracing::error!(subject = %message.subject, %error, "unreadable task dropped");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
    };
    task.traceparent = message
        .headers
        .as_ref()
        .and_then(|headers| headers.get("traceparent"))
        .map(|value| value.as_str().to_owned());
    let span = tracing::info_span!("step", run_id = %task.run_id, step_id = %task.step_id, attempt = task.attempt, worker_id = %worker.id);
    run(worker, message, task).instrument(span).await;
}

/// The attempt's `StepExecute` span (PROTOCOL §9), under the state span the
/// task names; none without trace export (the `step` span around it already
/// gives the logs their fields).
fn step_execute_span(worker: &Worker, task: &StepTask) -> tracing::Span {
    if !otel::exporting() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "StepExecute",
        action = task.action.name(),
        run_id = %task.run_id,
        step_id = %task.step_id,
        attempt = task.attempt,
        worker_id = %worker.id,
    );
    if let Some(parent) = task.traceparent.as_deref().and_then(SpanContext::parse) {
        let _ = span.set_parent(otel::remote_context(&parent));
    }
    span
}

/// One task's life after it was read: check, execute, then record (claim
/// folded in) or claim lazily and record.
async fn run(worker: Arc<Worker>, message: Message, task: StepTask) {
    // Listen before checking: a cancel committed after the check (or after
    // the lazy claim) is published after it, so it cannot slip through.
    let watch = CancelWatch::start(&worker.client, &worker.subjects, &task).await;
    let Some(takeover) = check(&worker, &message, &task).await else {
        return;
    };
    let span = step_execute_span(&worker, &task);
    execute_and_record(worker, message, task, watch, takeover)
        .instrument(span)
        .await;
}

/// A checked attempt: execute, then record (claim folded in) or claim
/// lazily and record, inside its `StepExecute` span.
async fn execute_and_record(
    worker: Arc<Worker>,
    message: Message,
    task: StepTask,
    mut watch: CancelWatch,
    takeover: bool,
) {
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
    let unclaimed = Unclaimed {
        worker: &worker,
        message: &message,
        task: &task,
        started: &started,
        clock,
    };
    match unclaimed.run(&mut execution, &mut watch).await {
        BeforeClaim::Finished(outcome) => {
            let recording = Recording::Folded {
                started: &started,
                ran_for: clock.elapsed(),
            };
            record(
                &worker,
                &message,
                &task,
                outcome,
                recording,
                clock.elapsed(),
            )
            .await;
        }
        BeforeClaim::Cancelled(cancellation) => {
            drop(execution);
            cancelled_unclaimed(&worker, &message, &task, cancellation, takeover).await;
        }
        BeforeClaim::Refused(refusal) => {
            drop(execution);
            abandoned(&worker, &message, &task, refusal).await;
        }
        BeforeClaim::Claimed(started_message, claim) => {
            let execution_parts = (execution, watch, clock);
            let started = (started_message, claim);
            claimed(&worker, &message, &task, started, execution_parts).await;
        }
    }
}

/// Step 1, the read-only check: `Some(takeover)` when the attempt may be
/// executed; otherwise the task has been acked or nak'ed.
async fn check(worker: &Worker, message: &Message, task: &StepTask) -> Option<bool> {
    match worker
        .store
        .check_attempt(&task.run_id, &task.step_id, task.attempt)
        .await
    {
        Ok(AttemptCheck::Claimable { takeover }) => {
            if takeover {
                tracing::info!("taking over an attempt whose lease had expired");
            }
            Some(takeover)
        }
        Ok(AttemptCheck::Unclaimable(refusal)) => {
            refused(worker, message, refusal).await;
            None
        }
        Err(error) => {
            tracing::warn!(%error, "could not check the attempt; the task will be redelivered");
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
            None
        }
    }
}

/// How the unclaimed phase ended.
enum BeforeClaim {
    /// The execution ended first: record it with the claim folded in.
    Finished(Outcome),
    /// The coordinator cancelled the attempt.
    Cancelled(Cancellation),
    /// The lazy claim found the attempt no longer claimable.
    Refused(Refusal),
    /// Claimed lazily: the stored `step.started`, to publish, and the
    /// claim's generation (its fencing token).
    Claimed(OutboxMessage, i32),
}

/// Step 2 and 3: an execution not yet claimed.
struct Unclaimed<'a> {
    worker: &'a Worker,
    message: &'a Message,
    task: &'a StepTask,
    started: &'a StepEventDraft,
    clock: Instant,
}

impl Unclaimed<'_> {
    /// Waits for the execution's end, a cancel, or the claim deadline (a
    /// third of the lease), where it claims the attempt; a claim that fails
    /// on the database is tried again a third of a lease later.
    async fn run(
        &self,
        execution: &mut (impl Future<Output = Outcome> + Unpin),
        watch: &mut CancelWatch,
    ) -> BeforeClaim {
        let claim_every = self.worker.lease / 3;
        let mut claim_at = tokio::time::Instant::now() + claim_every;
        loop {
            tokio::select! {
                outcome = &mut *execution => return BeforeClaim::Finished(outcome),
                cancellation = watch.cancelled() => return BeforeClaim::Cancelled(cancellation),
                () = tokio::time::sleep_until(claim_at) => {}
            }
            match self.claim().await {
                Ok(ClaimOutcome::Claimed { started, claims }) => {
                    tracing::debug!(claims, "still running at a third of the lease; claimed");
                    return BeforeClaim::Claimed(started, claims);
                }
                Ok(ClaimOutcome::Refused(refusal)) => return BeforeClaim::Refused(refusal),
                Err(error) => {
                    tracing::warn!(%error, "could not claim the running step; it runs on, claim retried later");
                    claim_at += claim_every;
                }
            }
        }
    }

    /// The lazy claim, with the step's backstop deadline what remains of
    /// its timeout (plus grace).
    async fn claim(&self) -> junction_store::Result<ClaimOutcome> {
        let _ = self.message.ack_with(AckKind::Progress).await;
        let running = self.clock.elapsed().as_secs_f64();
        let deadline = self.task.timeout_seconds as f64 + STEP_DEADLINE_GRACE_SECONDS - running;
        self.worker
            .store
            .claim_attempt(
                self.started.clone(),
                self.worker.lease.as_secs_f64(),
                deadline,
                running,
            )
            .await
    }
}

/// Claimed (with generation `claim`): the lease keeper holds the claim until
/// the result, and `step.started` is published meanwhile (always, even when
/// a cancel abandons the execution). The result and a cancel close present
/// the claim's generation: if another worker took the attempt over
/// meanwhile, they write nothing.
async fn claimed(
    worker: &Arc<Worker>,
    message: &Message,
    task: &StepTask,
    (started, claim): (OutboxMessage, i32),
    (mut execution, mut watch, clock): (
        impl Future<Output = Outcome> + Unpin,
        CancelWatch,
        Instant,
    ),
) {
    worker.faults.hit(fault::WORKER_AFTER_CLAIM);
    let publish_started = worker.publisher.publish(std::slice::from_ref(&started));
    let keeper = lease::keep(worker.clone(), message, task, claim);
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
        Ok(outcome) => {
            let ran_for = clock.elapsed();
            let recording = Recording::Claimed { claim };
            record(worker, message, task, outcome, recording, ran_for).await;
        }
        Err(cancellation) => cancelled(worker, message, task, cancellation, Some(claim)).await,
    }
}

async fn execute(worker: &Worker, task: &StepTask, started_at: DateTime<Utc>) -> Outcome {
    let timeout = chrono::Duration::seconds(task.timeout_seconds.min(i64::MAX as u64) as i64);
    let execution = Execution {
        task,
        idempotency_key: task.idempotency_key(),
        deadline: started_at + timeout,
    };
    match worker.executors.for_task(task) {
        Some(executor) => executor.execute(execution).await,
        // Only a consumer of an executor this worker runs delivers to it.
        None => Outcome::Deferred {
            reason: format!("this worker does not run `{}`", task.action.name()),
        },
    }
}
