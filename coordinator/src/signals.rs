//! Signal intake (PROTOCOL §2): validate the CloudEvent (structured mode in
//! the body, or binary mode with its attributes in `ce-*` headers, which are
//! passed to the pure validation as they came), find the workflows it
//! triggers, start at most one run per (tenant, workflow, signal id), then
//! ack. Invalid signals are acked, logged and counted; they never stop intake.

use crate::driver::{Driver, StartRequest};
use crate::failure;
use crate::metrics::Metrics;
use async_nats::jetstream::{AckKind, Message};
use junction_core::trace::SpanContext;
use junction_core::wire::signal::{self, Rejection, Signal};
use junction_runtime::{fault, redelivery};
use std::time::Duration;

/// Handles one message from `SIGNAL_INTAKE`.
pub async fn handle(driver: Driver, metrics: Metrics, signal_limit: usize, message: Message) {
    let subject = message.subject.to_string();
    let Some(signal_type) = driver.subjects.signal_type_of(&subject) else {
        reject(
            &metrics,
            Rejection::TypeMismatch,
            &subject,
            "subject is not signals.<type>",
        );
        return ack(&message).await;
    };
    let headers: Vec<(&str, &str)> = message
        .headers
        .iter()
        .flat_map(|headers| headers.iter())
        .filter_map(|(name, values)| Some((AsRef::<str>::as_ref(name), values.first()?.as_str())))
        .collect();
    let parsed = signal::parse_message(&message.payload, &headers, signal_type, signal_limit);
    let signal = match parsed {
        Ok(signal) => signal,
        Err(reason) => {
            reject(&metrics, reason, &subject, "invalid CloudEvent envelope");
            return ack(&message).await;
        }
    };
    // The CloudEvents attribute wins over the NATS header (PROTOCOL §9).
    let header_traceparent = message
        .headers
        .as_ref()
        .and_then(|headers| headers.get("traceparent"))
        .and_then(|value| SpanContext::parse(value.as_str()));
    match start_runs(&driver, &metrics, &signal, header_traceparent).await {
        Ok(()) => {
            driver
                .faults
                .hit(fault::COORDINATOR_AFTER_COMMIT_BEFORE_ACK);
            ack(&message).await;
        }
        Err(error) if failure::is_transient(&error) => {
            // Retried later each time; the dedupe key keeps the retry from
            // starting a run twice.
            let delay = redelivery::delay(&message, Duration::from_secs(1));
            tracing::warn!(signal_id = %signal.id, error = %format!("{error:#}"), ?delay, "could not process signal; will retry");
            let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
        }
        Err(error) => {
            // Permanent: retrying cannot fix it. Logged with its cause,
            // counted (`unprocessable`) and acked; the runs it did start are
            // kept.
            tracing::error!(signal_id = %signal.id, subject, error = %format!("{error:#}"), "cannot process signal; dropped");
            metrics.signal_rejected(Rejection::Unprocessable.as_str());
            ack(&message).await;
        }
    }
}

async fn start_runs(
    driver: &Driver,
    metrics: &Metrics,
    signal: &Signal,
    header_traceparent: Option<SpanContext>,
) -> anyhow::Result<()> {
    if let Some(run_id) = &signal.target_run {
        return deliver_to_run(driver, signal, run_id).await;
    }
    let workflows = driver
        .store
        .definitions_triggered_by(&signal.tenant, &signal.signal_type)
        .await?;
    if workflows.is_empty() {
        tracing::debug!(signal_id = %signal.id, signal_type = %signal.signal_type, "no workflow is triggered by this signal");
    }
    for (workflow_id, version, ir) in workflows {
        let workflow = driver
            .catalog
            .get_or_compile(&signal.tenant, &workflow_id, version, ir)?;
        if !workflow.accepts(&signal.envelope, &signal.data) {
            tracing::debug!(signal_id = %signal.id, workflow_id = %workflow_id, "trigger filter did not match");
            continue;
        }
        let checked = workflow.check_input(&signal.data).and_then(|()| {
            workflow
                .concurrency_key(&signal.data, Some(&signal.envelope))
                .map(drop)
        });
        if let Err(message) = checked {
            reject(metrics, Rejection::InputSchema, &workflow_id, &message);
            continue;
        }
        let started = driver
            .start_run(StartRequest {
                tenant: signal.tenant.clone(),
                workflow,
                input: signal.data.clone(),
                signal: Some(signal.envelope.clone()),
                causation_id: Some(signal.id.clone()),
                correlation_id: Some(signal.correlation_id.clone()),
                dedupe_key: Some(format!("signal:{}", signal.id)),
                parent: None,
                traceparent: signal.traceparent.or(header_traceparent),
            })
            .await?;
        if !started.created {
            tracing::debug!(signal_id = %signal.id, run_id = %started.run_id, "signal seen before; run already exists");
        }
    }
    Ok(())
}

/// A CloudEvent whose `subject` is `run:<id>`: delivered into that run (of
/// the same tenant) as a signal named after its type. An unknown or ended
/// run is logged and the signal dropped.
async fn deliver_to_run(driver: &Driver, signal: &Signal, run_id: &str) -> anyhow::Result<()> {
    let Some(run) = driver.store.get_run_summary(run_id).await? else {
        tracing::warn!(signal_id = %signal.id, run_id, "signal addressed to an unknown run; dropped");
        return Ok(());
    };
    if run.tenant != signal.tenant || run.status.is_terminal() {
        tracing::warn!(signal_id = %signal.id, run_id, status = run.status.as_str(), "signal addressed to a run that ended or belongs to another tenant; dropped");
        return Ok(());
    }
    driver
        .advance(
            &run.tenant,
            &run.workflow_id,
            run.version,
            run_id,
            junction_core::engine::Input::SignalReceived {
                name: signal.signal_type.clone(),
                data: signal.data.clone(),
                id: Some(signal.id.clone()),
            },
        )
        .await?;
    Ok(())
}

fn reject(metrics: &Metrics, reason: Rejection, subject: &str, detail: &str) {
    metrics.signal_rejected(reason.as_str());
    tracing::warn!(reason = reason.as_str(), subject, detail, "signal rejected");
}

async fn ack(message: &Message) {
    if let Err(error) = message.ack().await {
        tracing::warn!(%error, "could not ack signal");
    }
}
