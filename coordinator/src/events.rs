//! Event intake: a worker's step event that ends an attempt advances its run
//! (on the coordinator that owns the run, see `routing.rs`). Everything else
//! on `wf.event.step.>` is acknowledged and ignored.

use crate::driver::Driver;
use crate::failure;
use crate::routing;
use async_nats::jetstream::{AckKind, Message};
use junction_core::engine::Input;
use junction_core::ids::StepId;
use junction_core::wire::error::codes;
use junction_core::wire::{ErrorInfo, Event, EventType};
use junction_runtime::redelivery;
use serde_json::Value;
use std::time::Duration;

/// Handles one message from `EVENT_INTAKE`: an event of a run another live
/// coordinator owns is forwarded to it (`routing.rs`); the others, and any
/// the owner could not take, are applied here.
pub async fn handle(driver: Driver, message: Message) {
    let event: Event = match serde_json::from_slice(&message.payload) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(subject = %message.subject, %error, "unreadable event ignored");
            return ack(&message).await;
        }
    };
    if input_of(&event).is_none() {
        return ack(&message).await;
    }
    if let Some(owner) = driver.routing.other_owner(&event.run_id)
        && routing::forward(&driver, &owner, message.payload.clone()).await
    {
        return ack(&message).await;
    }
    let failed = match apply(&driver, event.clone()).await {
        Ok(()) => return ack(&message).await,
        Err(error) if failure::is_transient(&error) => error,
        // Permanent: the result can never be applied as it is. The step
        // fails with the cause instead (INTERNAL, never retried), which
        // its `catch` may take; the run does not wait for ever.
        Err(error) => match fail_step(&driver, &event, &error).await {
            Ok(()) => return ack(&message).await,
            Err(again) if failure::is_transient(&again) => again,
            Err(again) => {
                // Nothing this coordinator can write for it: the result
                // stays stored with its attempt, and the step's deadline
                // backstop ends the wait.
                tracing::error!(run_id = %event.run_id, step_id = ?event.step_id, attempt = ?event.attempt, error = %format!("{again:#}"), "cannot apply the step's result nor fail the step; dropped");
                return ack(&message).await;
            }
        },
    };
    let delay = redelivery::delay(&message, FIRST_REDELIVERY);
    tracing::warn!(error = %format!("{failed:#}"), ?delay, "could not advance run; will retry");
    let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
}

/// Pause before the first redelivery of an event that failed on a transient error.
const FIRST_REDELIVERY: Duration = Duration::from_millis(500);

/// Fails the step of an event whose result could not be applied for good:
/// `INTERNAL` with the cause, not retryable.
async fn fail_step(driver: &Driver, event: &Event, cause: &anyhow::Error) -> anyhow::Result<()> {
    let (Some(step_id), Some(attempt)) = (event.step_id.clone(), event.attempt) else {
        return Err(anyhow::anyhow!("{cause:#}"));
    };
    tracing::error!(run_id = %event.run_id, step_id, attempt, error = %format!("{cause:#}"), "cannot apply the step's result; failing the step");
    let message =
        format!("the step's result could not be applied: {cause:#}").replace('\0', "\u{fffd}");
    let input = Input::StepFailed {
        step_id: StepId::new(step_id),
        attempt,
        error: ErrorInfo::new(codes::INTERNAL, message).not_retryable(),
    };
    advance(driver, event, input).await
}

/// Applies `input` to the run `event` belongs to.
async fn advance(driver: &Driver, event: &Event, input: Input) -> anyhow::Result<()> {
    driver
        .advance(
            &event.tenant,
            &event.workflow_id,
            event.version,
            &event.run_id,
            input,
        )
        .await
        .map(drop)
}

/// Applies a step event (as published) to its run.
pub async fn apply_event(driver: &Driver, payload: &[u8]) -> anyhow::Result<()> {
    let event: Event = serde_json::from_slice(payload)?;
    apply(driver, event).await
}

async fn apply(driver: &Driver, event: Event) -> anyhow::Result<()> {
    let Some(input) = input_of(&event) else {
        return Ok(());
    };
    advance(driver, &event, input)
        .await
        // Context, not a new error: the cause stays classifiable.
        .map_err(|error| {
            error.context(format!(
                "run {} step {:?} attempt {:?}",
                event.run_id, event.step_id, event.attempt
            ))
        })
}

/// The state-machine input of a worker event that ended an attempt.
fn input_of(event: &Event) -> Option<Input> {
    event.worker_id.as_ref()?;
    let step_id = StepId::new(event.step_id.clone()?);
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
