//! Event intake: a worker's step event that ends an attempt advances its run.
//! Everything else on `wf.event.step.>` is acknowledged and ignored.

use crate::driver::Driver;
use async_nats::jetstream::{AckKind, Message};
use junction_shared::engine::Input;
use junction_shared::wire::error::codes;
use junction_shared::wire::{ErrorInfo, Event, EventType};
use serde_json::Value;
use std::time::Duration;

/// Handles one message from `EVENT_INTAKE`.
pub async fn handle(driver: Driver, message: Message) {
    let event: Event = match serde_json::from_slice(&message.payload) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(subject = %message.subject, %error, "unreadable event ignored");
            return ack(&message).await;
        }
    };
    let Some(input) = input_of(&event) else {
        return ack(&message).await;
    };
    let result = driver
        .advance(
            &event.tenant,
            &event.workflow_id,
            event.version,
            &event.run_id,
            input,
        )
        .await;
    match result {
        Ok(_) => ack(&message).await,
        Err(error) => {
            tracing::warn!(run_id = %event.run_id, step_id = ?event.step_id, attempt = ?event.attempt, %error, "could not advance run; will retry");
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_millis(500))))
                .await;
        }
    }
}

/// The state-machine input of a worker event that ended an attempt.
fn input_of(event: &Event) -> Option<Input> {
    event.worker_id.as_ref()?;
    let step_id = event.step_id.clone()?;
    let attempt = event.attempt?;
    let data = event.data.as_ref();
    match event.kind {
        EventType::StepCompleted => {
            let output = data
                .and_then(|d| d.get("output"))
                .cloned()
                .unwrap_or(Value::Null);
            Some(Input::StepSucceeded {
                step_id,
                attempt,
                output,
            })
        }
        EventType::StepFailed | EventType::StepTimedOut | EventType::StepCancelled => {
            let error = data
                .and_then(|d| d.get("error"))
                .and_then(|e| serde_json::from_value::<ErrorInfo>(e.clone()).ok())
                .unwrap_or_else(|| {
                    ErrorInfo::new(codes::INTERNAL, format!("{} without an error", event.kind))
                });
            Some(Input::StepFailed {
                step_id,
                attempt,
                error,
            })
        }
        _ => None,
    }
}

async fn ack(message: &Message) {
    if let Err(error) = message.ack().await {
        tracing::warn!(%error, "could not ack event");
    }
}
