//! Child workflows and the timers that carry them (see
//! `junction_core::engine` `child` for the engine's side): a
//! `start_child` timer on the parent run becomes a child run, and a
//! `child_done` timer delivers the child's end to the parent step.

use crate::driver::{Driver, StartRequest};
use junction_core::engine::{ChildStart, Input, ParentLink, StepAttempt};
use junction_core::ids::RunId;
use junction_core::trace::RunTrace;
use junction_core::wire::ErrorInfo;
use junction_core::wire::error::codes;
use junction_store::{DueTimer, RunFilter};
use serde_json::Value;

/// Starts the child a `start_child` timer asks for. `Ok(Err(_))`: the
/// child cannot start (unknown workflow, refused input), which fails the
/// parent step; `Err(_)`: a transient problem, retried with the timer.
pub async fn start_child(
    driver: &Driver,
    timer: &DueTimer,
    step: StepAttempt,
    child: ChildStart,
) -> anyhow::Result<Result<(), ErrorInfo>> {
    let ChildStart {
        workflow_id,
        version,
        input,
    } = child;
    let workflow_id = workflow_id.as_str();
    let refused = |message: String| {
        Ok(Err(
            ErrorInfo::new(codes::CHILD_FAILED, message).not_retryable()
        ))
    };
    let Some(record) = driver
        .store
        .get_definition(&timer.tenant, workflow_id, version)
        .await?
    else {
        return refused(format!(
            "child workflow `{workflow_id}`{} not found in tenant `{}`",
            version.map(|v| format!(" v{v}")).unwrap_or_default(),
            timer.tenant
        ));
    };
    let workflow =
        driver
            .catalog
            .get_or_compile(&timer.tenant, workflow_id, record.version, record.ir)?;
    let checked = workflow
        .check_input(&input)
        .and_then(|()| workflow.concurrency_key(&input, None).map(drop));
    if let Err(message) = checked {
        return refused(format!("child workflow `{workflow_id}`: {message}"));
    }
    let StepAttempt { step_id, attempt } = step;
    // The child's trace hangs under the parent's `workflow.run` state, so
    // one trace shows the parent and its children.
    let traceparent = driver
        .store
        .get_run_summary(&timer.run_id)
        .await?
        .and_then(|parent| RunTrace::stored(&timer.run_id, parent.trace_id.as_deref(), None))
        .map(|trace| trace.context(trace.state_span(step_id.as_str())));
    let started = driver
        .start_run(StartRequest {
            tenant: timer.tenant.clone(),
            workflow,
            input,
            signal: None,
            causation_id: Some(timer.run_id.clone()),
            correlation_id: None,
            dedupe_key: Some(format!("child:{}:{step_id}:{attempt}", timer.run_id)),
            parent: Some(ParentLink {
                run_id: RunId::new(timer.run_id.clone()),
                step_id,
                attempt,
            }),
            traceparent,
        })
        .await?;
    tracing::info!(run_id = %timer.run_id, child_run_id = %started.run_id, created = started.created, workflow_id, "child run started");
    Ok(Ok(()))
}

/// Cancels every running child of a cancelled (or timed-out) run: each in
/// its own transition, which cancels its own children in turn. Runs that
/// already ended are left alone, so firing this twice is harmless.
pub async fn cancel_children(driver: &Driver, timer: &DueTimer) -> anyhow::Result<()> {
    let mut cursor = None;
    loop {
        let (page, more) = driver
            .store
            .list_runs(&RunFilter {
                tenant: timer.tenant.clone(),
                workflow_id: None,
                status: None,
                causation_id: Some(timer.run_id.clone()),
                correlation_id: None,
                limit: 100,
                cursor: cursor.take(),
            })
            .await?;
        for child in &page {
            if child.status.is_terminal() {
                continue;
            }
            driver
                .advance(
                    &child.tenant,
                    &child.workflow_id,
                    child.version,
                    &child.id,
                    Input::Cancel {
                        actor: None,
                        reason: Some(format!("parent run {} ended", timer.run_id)),
                    },
                )
                .await?;
            tracing::info!(run_id = %timer.run_id, child_run_id = %child.id, "child run cancelled");
        }
        match (more, page.last()) {
            (true, Some(last)) => cursor = Some(last.id.clone()),
            _ => return Ok(()),
        }
    }
}

/// The parent step's result, as the input a worker's result would be.
pub fn step_input(step: StepAttempt, outcome: Result<Value, ErrorInfo>) -> Input {
    let StepAttempt { step_id, attempt } = step;
    match outcome {
        Ok(output) => Input::StepSucceeded {
            step_id,
            attempt,
            output,
        },
        Err(error) => Input::StepFailed {
            step_id,
            attempt,
            error,
        },
    }
}
