//! Cooperative cancellation of a step in flight (PROTOCOL §5 "Cancellation").
//!
//! The coordinator cancels a step by storing and publishing
//! `workflow.step.cancelled` on the step's event subject
//! `wf.event.step.<run>.<step>` (run cancel, run timeout, a parallel
//! `join: any` that finished, a failed sibling branch or item). While a
//! worker executes a step it keeps one core NATS subscription on that
//! subject; a `step.cancelled` of its attempt is the signal to stop waiting
//! for the executor and tell the agent (`agents.<name>.cancel`). A lazily
//! claimed attempt's row is then closed as `CANCELLED` by the worker without
//! an event of its own (the coordinator's event already ended the attempt);
//! a row not yet claimed was still `PENDING`, and the coordinator's cancel
//! closed it.
//!
//! The subscription is taken before the attempt is checked: the
//! coordinator publishes its cancel only after committing it (serialized
//! with the worker's lazy claim or folded result on the run's seq counter),
//! so a cancel that lands after the check or the claim is still seen.
//! Nothing is polled; when nothing is cancelled this costs one `SUB`/`UNSUB`
//! pair and the few events of the step itself.

use async_nats::{Client, Subscriber};
use futures::StreamExt;
use junction_bus::Subjects;
use junction_core::wire::EventType;
use junction_core::wire::StepTask;
use junction_core::wire::agent::AgentCancel;
use junction_core::wire::error::codes;
use serde::Deserialize;
use serde_json::{Value, json};

/// Why an attempt stopped: the coordinator's `step.cancelled` event.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancellation {
    /// The event's seq; the attempt row keeps it as its `completion_seq`.
    pub seq: i64,
    /// The event's `error.message` (the operator's reason, or why the
    /// engine cancelled), passed on to the agent.
    pub reason: String,
    /// The event's `error` (`{code: CANCELLED, message}`), kept on the
    /// attempt row.
    pub error: Value,
}

/// Listens for the cancellation of one attempt; unsubscribes when dropped.
pub struct CancelWatch {
    subscriber: Option<Subscriber>,
    attempt: u32,
}

impl CancelWatch {
    /// Subscribes to the step's event subject. If NATS refuses, the step
    /// still runs, just without cooperative cancellation.
    pub async fn start(client: &Client, subjects: &Subjects, task: &StepTask) -> Self {
        let subject = subjects.event(&task.run_id, Some(&task.step_id));
        let subscriber = match client.subscribe(subject).await {
            Ok(subscriber) => Some(subscriber),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for this step's cancellation; it will run to its end");
                None
            }
        };
        Self {
            subscriber,
            attempt: task.attempt,
        }
    }

    /// Resolves when the coordinator cancels this attempt, and never
    /// otherwise (other events of the step are skipped).
    pub async fn cancelled(&mut self) -> Cancellation {
        if let Some(subscriber) = self.subscriber.as_mut() {
            while let Some(message) = subscriber.next().await {
                if let Some(cancellation) = cancellation_of(&message.payload, self.attempt) {
                    return cancellation;
                }
            }
        }
        std::future::pending().await
    }
}

/// The fields of a step event that decide whether it cancels an attempt.
#[derive(Deserialize)]
struct StepEvent {
    #[serde(rename = "type")]
    kind: String,
    seq: i64,
    #[serde(default)]
    attempt: Option<u32>,
    #[serde(default)]
    data: Option<EventData>,
}

#[derive(Deserialize)]
struct EventData {
    #[serde(default)]
    error: Option<Value>,
}

/// `Some` if `payload` is the `workflow.step.cancelled` event of `attempt`.
fn cancellation_of(payload: &[u8], attempt: u32) -> Option<Cancellation> {
    let event: StepEvent = serde_json::from_slice(payload).ok()?;
    if event.kind != EventType::StepCancelled.as_str() || event.attempt != Some(attempt) {
        return None;
    }
    let error = event
        .data
        .and_then(|d| d.error)
        .unwrap_or_else(|| json!({ "code": codes::CANCELLED, "message": "cancelled" }));
    let reason = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("cancelled")
        .to_owned();
    Some(Cancellation {
        seq: event.seq,
        reason,
        error,
    })
}

/// The `agents.<name>.cancel` body for `task`.
pub fn agent_cancel(task: &StepTask, reason: &str) -> AgentCancel {
    AgentCancel {
        idempotency_key: task.idempotency_key(),
        run_id: task.run_id.clone(),
        step_id: task.step_id.clone(),
        attempt: task.attempt,
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, attempt: u32) -> Vec<u8> {
        json!({
            "run_id": "r", "seq": 7, "type": kind, "time": "2025-01-01T00:00:00.000Z",
            "workflow_id": "w", "version": 1, "tenant": "default",
            "step_id": "s", "state": "a", "path": "a", "attempt": attempt,
            "data": { "error": { "code": "CANCELLED", "message": "not needed" } }
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn only_the_cancel_of_the_claimed_attempt_counts() {
        assert_eq!(
            cancellation_of(&event("workflow.step.cancelled", 2), 2),
            Some(Cancellation {
                seq: 7,
                reason: "not needed".into(),
                error: json!({ "code": "CANCELLED", "message": "not needed" }),
            })
        );
        assert_eq!(
            cancellation_of(&event("workflow.step.cancelled", 1), 2),
            None
        );
        assert_eq!(cancellation_of(&event("workflow.step.started", 2), 2), None);
        assert_eq!(cancellation_of(b"not json", 2), None);
    }

    #[test]
    fn a_cancel_without_a_message_has_a_default_reason() {
        let payload = json!({ "type": "workflow.step.cancelled", "seq": 3, "attempt": 1 })
            .to_string()
            .into_bytes();
        assert_eq!(
            cancellation_of(&payload, 1).map(|c| c.reason),
            Some("cancelled".into())
        );
    }
}
