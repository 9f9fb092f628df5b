//! Recording an execution's outcome: the result (with its claim folded in,
//! or on a claimed attempt) and its warnings in one statement through the
//! worker's group commit, retried through database trouble.

use super::Worker;
use super::endings::ack;
use crate::executor::Outcome;
use async_nats::jetstream::{AckKind, Message};
use chrono::{DateTime, Utc};
use junction_core::status::StepStatus;
use junction_core::wire::error::codes;
use junction_core::wire::{ErrorInfo, EventType, StepTask};
use junction_runtime::fault;
use junction_store::{AttemptOutcome, FinishOutcome, FinishRequest, StepEventDraft};
use serde_json::{Value, json};
use std::time::Duration;

/// How a result is written.
pub(super) enum Recording<'a> {
    /// Unclaimed: claim and result in one statement, `step.started` (timed
    /// at the start) first.
    Folded {
        started: &'a StepEventDraft,
        ran_for: Duration,
    },
    /// Lazily claimed: the result alone, fenced by the claim's generation.
    Claimed { claim: i32 },
}

/// What a finished execution stores: its completion event's type and data,
/// the attempt's outcome, and the warnings to store before it.
struct StepResult {
    kind: EventType,
    data: Value,
    outcome: AttemptOutcome,
    warnings: Vec<Value>,
}

impl StepResult {
    /// The result of `outcome`; `None` for a deferred execution (nothing
    /// ran, nothing is stored). An error or warning that cannot be encoded
    /// is stored as its text rather than lost.
    fn of(outcome: Outcome) -> Option<Self> {
        match outcome {
            Outcome::Succeeded { output, warnings } => {
                let warnings = warnings
                    .iter()
                    .map(|warning| {
                        tracing::warn!(code = warning.code, message = %warning.message, "step succeeded with a warning");
                        encoded(warning, || json!({ "code": warning.code, "message": warning.message }))
                    })
                    .collect();
                Some(Self {
                    kind: EventType::StepCompleted,
                    data: json!({ "output": output }),
                    outcome: AttemptOutcome::Succeeded(output),
                    warnings,
                })
            }
            Outcome::Failed { status, error } => {
                let kind = match status {
                    StepStatus::TimedOut => EventType::StepTimedOut,
                    _ => EventType::StepFailed,
                };
                tracing::info!(code = %error.code, message = %error.message, "step attempt failed");
                let error = encoded(
                    &error,
                    || json!({ "code": error.code.to_string(), "message": error.message }),
                );
                Some(Self {
                    kind,
                    data: json!({ "error": error }),
                    outcome: AttemptOutcome::Failed { status, error },
                    warnings: Vec::new(),
                })
            }
            Outcome::Deferred { reason } => {
                tracing::warn!(%reason, "step not executed; the task will be redelivered");
                None
            }
        }
    }

    /// The attempt's end, logged with every field operators filter on
    /// (PROTOCOL §9): the step span adds `run_id`, `step_id`, `attempt` and
    /// `worker_id`.
    fn log_end(&self, task: &StepTask, ran_for: Duration) {
        let (status, error_type) = match &self.outcome {
            AttemptOutcome::Succeeded(_) => (StepStatus::Succeeded, None),
            AttemptOutcome::Failed { status, error } => (
                *status,
                Some(error_type(error["code"].as_str().unwrap_or_default())),
            ),
        };
        tracing::info!(
            executor = task.action.name(),
            duration_ms = u64::try_from(ran_for.as_millis()).unwrap_or(u64::MAX),
            status = status.as_str(),
            error_type,
            "step attempt ended"
        );
    }

    /// The statement's request for this result, completion timed now.
    fn request(
        &self,
        worker: &Worker,
        task: &StepTask,
        recording: &Recording<'_>,
    ) -> FinishRequest {
        let completed = draft(worker, task, self.kind, self.data.clone());
        match recording {
            Recording::Folded { started, ran_for } => FinishRequest::Folded {
                started: Box::new((*started).clone()),
                completed,
                outcome: self.outcome.clone(),
                warnings: self.warnings.clone(),
                ran_seconds: ran_for.as_secs_f64(),
            },
            Recording::Claimed { claim } => FinishRequest::Claimed {
                completed,
                outcome: self.outcome.clone(),
                warnings: self.warnings.clone(),
                claim: *claim,
            },
        }
    }
}

/// The lower-case kind of a failure, for logs (PROTOCOL §9).
fn error_type(code: &str) -> &'static str {
    match code {
        codes::STEP_TIMEOUT => "timeout",
        codes::AGENT_UNAVAILABLE | crate::executor::AGENT_NOT_FOUND => "unavailable",
        codes::PAYLOAD_TOO_LARGE => "payload",
        code if code.starts_with("SCHEMA_VALIDATION") => "validation",
        _ => "agent_error",
    }
}

/// `value` as JSON, or `fallback` (logged) if it cannot be encoded.
fn encoded<T: serde::Serialize>(value: &T, fallback: impl FnOnce() -> Value) -> Value {
    serde_json::to_value(value).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot encode a step result's detail; storing its text");
        fallback()
    })
}

/// Stores the outcome, retrying database trouble for a while: a result is
/// worth keeping. If it cannot be stored, the task is redelivered.
pub(super) async fn record(
    worker: &Worker,
    message: &Message,
    task: &StepTask,
    outcome: Outcome,
    recording: Recording<'_>,
    ran_for: Duration,
) {
    worker.faults.hit(fault::WORKER_AFTER_EXECUTE);
    let Some(mut result) = StepResult::of(outcome.storable()) else {
        let _ = message
            .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
            .await;
        return;
    };
    let mut delay = Duration::from_millis(100);
    let mut refused = false;
    for attempt in 1..=8 {
        let request = result.request(worker, task, &recording);
        match worker.results.write(request).await {
            Ok(FinishOutcome::Recorded(messages)) => {
                result.log_end(task, ran_for);
                crate::metrics::step_recorded(&task.action, &result.outcome, ran_for);
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
            Ok(FinishOutcome::Fenced { holder, claims }) => {
                return fenced(task, &recording, holder, claims);
            }
            // Permanent (ARCHITECTURE.md, "Transient and permanent
            // failures"): this result can never be stored. The attempt
            // fails with the cause instead (INTERNAL, never retried); if
            // even that is refused, the task is acked and the step's
            // deadline ends the wait: executing it again would loop.
            Err(error) if !error.is_transient() => {
                if refused {
                    tracing::error!(%error, "cannot store the attempt's failure either; the step's deadline will end it");
                    return ack(message).await;
                }
                tracing::error!(%error, "the result cannot be stored; failing the attempt");
                refused = true;
                let cause = format!("the step's result could not be stored: {error}");
                let failure = ErrorInfo::new(codes::INTERNAL, cause.replace('\0', "\u{fffd}"))
                    .not_retryable();
                let replacement = StepResult::of(crate::executor::Outcome::failed(failure));
                let Some(replacement) = replacement else {
                    return ack(message).await;
                };
                result = replacement;
            }
            Err(error) => {
                tracing::warn!(%error, try_number = attempt, "could not store the result; retrying");
                let _ = message.ack_with(AckKind::Progress).await;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    // Redelivered later each time (the database stays away): executed
    // again, under the same idempotency key.
    let delay = junction_runtime::redelivery::delay(message, Duration::from_secs(1));
    tracing::error!(
        ?delay,
        "giving up storing the result; the task will be redelivered and executed again"
    );
    let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
}

/// The result's claim was taken over (this worker stalled past its lease):
/// nothing was written and no event is published. Logged with the attempt's
/// fields (the step span adds `worker_id`), and the task dropped without an
/// ack: this delivery was superseded by the one that took the attempt over,
/// and JetStream acknowledges a message by its stream sequence, so an ack
/// here would acknowledge the new holder's delivery.
fn fenced(task: &StepTask, recording: &Recording<'_>, holder: Option<String>, holder_claim: i32) {
    let claim = match recording {
        Recording::Claimed { claim } => Some(*claim),
        Recording::Folded { .. } => None,
    };
    tracing::warn!(
        run_id = %task.run_id,
        step_id = %task.step_id,
        attempt = task.attempt,
        claim,
        holder = holder.as_deref().unwrap_or(""),
        holder_claim,
        "result fenced off: the attempt was taken over by a newer claim; result dropped"
    );
    crate::metrics::result_fenced();
}

/// A step event of this worker, timed now; the store assigns its seq.
fn draft(worker: &Worker, task: &StepTask, kind: EventType, data: Value) -> StepEventDraft {
    draft_at(worker, task, kind, data, Utc::now())
}

/// A step event of this worker at `time`; the store assigns its seq.
pub(super) fn draft_at(
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
        traceparent: producing_span(task),
    }
}

/// The `traceparent` of what this attempt publishes: its `StepExecute`
/// span (the current one) with trace export on, else the state span the
/// task came with.
pub(crate) fn producing_span(task: &StepTask) -> Option<String> {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if !junction_runtime::otel::exporting() {
        return task.traceparent.clone();
    }
    junction_runtime::otel::span_of(&tracing::Span::current().context())
        .map(|span| span.traceparent())
        .or_else(|| task.traceparent.clone())
}
