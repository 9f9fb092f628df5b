//! `signal.emit`: publishes a CloudEvent on `signals.<type>`, which starts
//! the workflows it triggers and reaches the runs that wait for it, like
//! any signal. Input `{type, data?, subject?, tenant?}`; the event's `id`
//! is `<run_id>:<step_id>` and is its `Nats-Msg-Id` too, so a retry or a
//! redelivery of the step publishes it once (and starts no second run:
//! intake keeps one run per tenant, workflow and signal id for ever).
//! `source` is `junction/<workflow_id>`, `correlationid` the run's
//! correlation id, the extension `causationid` the run id, and `tenant`
//! the input's or the run's. Output `{id}`.
//!
//! A bad input (no valid `type`, `data` not an object, …) is
//! `INVALID_INPUT`; an event over the signal size limit is
//! `PAYLOAD_TOO_LARGE`; neither is retried. A publish JetStream does not
//! ack is `SIGNAL_EMIT_FAILED`, retryable.

use super::{BoxFuture, Execution, Executor, Outcome};
use junction_bus::Bus;
use junction_core::model::parse::is_valid_signal_type;
use junction_core::wire::error::codes;
use junction_core::wire::signal::is_valid_tenant;
use junction_core::wire::{ErrorInfo, StepTask, time};
use junction_store::Store;
use serde_json::{Map, Value, json};

/// Publishes `signal.emit` events.
pub struct SignalEmitExecutor {
    pub bus: Bus,
    /// For the correlation id of runs started before tasks carried it.
    pub store: Store,
    /// Largest event, in bytes (`limits.signal_bytes`).
    pub signal_limit: usize,
}

impl Executor for SignalEmitExecutor {
    fn execute<'a>(&'a self, execution: Execution<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(self.emit(execution.task))
    }
}

impl SignalEmitExecutor {
    async fn emit(&self, task: &StepTask) -> Outcome {
        let correlation_id = match &task.correlation_id {
            Some(id) => id.clone(),
            None => match self.store.get_run_summary(&task.run_id).await {
                Ok(Some(run)) => run.correlation_id,
                Ok(None) => task.run_id.clone(),
                Err(error) => {
                    return Outcome::Deferred {
                        reason: format!("cannot read the run's correlation id: {error}"),
                    };
                }
            },
        };
        let event = match cloud_event(task, &correlation_id) {
            Ok(event) => event,
            Err(error) => return Outcome::failed(error),
        };
        let body = match serde_json::to_vec(&event) {
            Ok(body) if body.len() <= self.signal_limit => body,
            Ok(body) => {
                let message = format!(
                    "the event is {} bytes; the signal limit is {}",
                    body.len(),
                    self.signal_limit
                );
                return Outcome::failed(
                    ErrorInfo::new(codes::PAYLOAD_TOO_LARGE, message).not_retryable(),
                );
            }
            Err(error) => {
                return Outcome::failed(ErrorInfo::new(codes::INTERNAL, error.to_string()));
            }
        };
        let id = event_id(task);
        let signal_type = event["type"].as_str().unwrap_or_default();
        match self.bus.publish_signal(signal_type, &id, body).await {
            Ok(()) => {
                tracing::info!(signal_type, signal_id = %id, "signal emitted");
                Outcome::succeeded(json!({ "id": id }))
            }
            Err(error) => Outcome::failed(ErrorInfo::new(
                codes::SIGNAL_EMIT_FAILED,
                format!("could not publish the signal: {error}"),
            )),
        }
    }
}

/// `<run_id>:<step_id>`: the same for every attempt of the step.
fn event_id(task: &StepTask) -> String {
    format!("{}:{}", task.run_id, task.step_id)
}

/// The CloudEvent the task's input describes.
#[allow(
    clippy::result_large_err,
    reason = "ErrorInfo is the step's error as recorded; built once per failed step"
)]
fn cloud_event(task: &StepTask, correlation_id: &str) -> Result<Value, ErrorInfo> {
    let input = task.action.input();
    let bad = |message: String| ErrorInfo::new(codes::INVALID_INPUT, message).not_retryable();
    let signal_type = match input.get("type") {
        Some(Value::String(t)) if is_valid_signal_type(t) => t.clone(),
        Some(other) => {
            return Err(bad(format!(
                "signal.emit: `type` {other} is not a signal type (dot-separated words, like order.created)"
            )));
        }
        None => return Err(bad("signal.emit needs `type`, the signal type".to_owned())),
    };
    let optional_text = |key: &str| match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if !text.is_empty() => Ok(Some(text.clone())),
        Some(other) => Err(bad(format!(
            "signal.emit: `{key}` must be a non-empty string, got {other}"
        ))),
    };
    let subject = optional_text("subject")?;
    let tenant = optional_text("tenant")?.unwrap_or_else(|| task.workflow.tenant.clone());
    if !is_valid_tenant(&tenant) {
        return Err(bad(format!(
            "signal.emit: tenant {tenant:?} is not a tenant id"
        )));
    }
    let mut event = Map::new();
    event.insert("specversion".into(), json!("1.0"));
    event.insert("id".into(), json!(event_id(task)));
    event.insert(
        "source".into(),
        json!(format!("junction/{}", task.workflow.id)),
    );
    event.insert("type".into(), json!(signal_type));
    event.insert("time".into(), json!(time::format(chrono::Utc::now())));
    event.insert("tenant".into(), json!(tenant));
    event.insert("correlationid".into(), json!(correlation_id));
    event.insert("causationid".into(), json!(task.run_id));
    if let Some(subject) = subject {
        event.insert("subject".into(), json!(subject));
    }
    match input.get("data") {
        None | Some(Value::Null) => {}
        Some(data @ Value::Object(_)) => {
            event.insert("datacontenttype".into(), json!("application/json"));
            event.insert("data".into(), data.clone());
        }
        Some(other) => {
            return Err(bad(format!(
                "signal.emit: `data` must be an object, got {other}"
            )));
        }
    }
    Ok(Value::Object(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use junction_core::wire::{TaskAction, WorkflowRef};

    fn task(input: Value) -> StepTask {
        StepTask {
            run_id: "run-a".into(),
            step_id: "emit-1".into(),
            state: "emit".into(),
            path: "emit".into(),
            attempt: 2,
            action: TaskAction::SignalEmit { input },
            timeout_seconds: 30,
            workflow: WorkflowRef {
                id: "orders".into(),
                name: None,
                tenant: "acme".into(),
                version: 1,
                definition_version: None,
                node_index: Default::default(),
            },
            correlation_id: Some("corr-1".into()),
            bindings: None,
            traceparent: None,
        }
    }

    #[test]
    fn the_event_carries_its_lineage_and_an_id_stable_across_attempts() {
        let input = json!({"type": "order.shipped", "data": {"n": 1}, "subject": "run:x"});
        let event = cloud_event(&task(input), "corr-1").unwrap_or_default();
        assert_eq!(event["id"], "run-a:emit-1");
        assert_eq!(event["source"], "junction/orders");
        assert_eq!(event["type"], "order.shipped");
        assert_eq!(event["correlationid"], "corr-1");
        assert_eq!(event["causationid"], "run-a");
        assert_eq!(event["tenant"], "acme");
        assert_eq!(event["subject"], "run:x");
        assert_eq!(event["data"], json!({"n": 1}));
        // What intake accepts: the envelope passes its checks.
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let checked = junction_core::wire::signal::parse(&body, "order.shipped", 256 * 1024);
        let checked = checked
            .map_err(|r| r.as_str())
            .map(|s| (s.correlation_id, s.tenant));
        assert_eq!(checked, Ok(("corr-1".to_owned(), "acme".to_owned())));
        let without_data =
            cloud_event(&task(json!({"type": "a.b", "tenant": "t2"})), "c").unwrap_or_default();
        assert!(without_data.get("data").is_none());
        assert_eq!(without_data["tenant"], "t2");
    }

    #[test]
    fn a_bad_input_is_an_executor_input_error() {
        for input in [
            json!({}),
            json!({"type": "has space"}),
            json!({"type": 3}),
            json!({"type": "a.b", "data": [1]}),
            json!({"type": "a.b", "subject": 1}),
            json!({"type": "a.b", "tenant": ""}),
            json!({"type": "a.b", "tenant": "a b"}),
        ] {
            let error = cloud_event(&task(input.clone()), "c").err();
            assert_eq!(
                error.as_ref().map(|e| e.code.as_str()),
                Some(codes::INVALID_INPUT),
                "{input}"
            );
            assert_eq!(error.and_then(|e| e.retryable), Some(false));
        }
    }
}
