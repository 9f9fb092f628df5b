//! Turns the state machine's effects into one [`TransitionWrite`]: events get
//! their seq and time, dispatches become attempt rows plus task messages, and
//! every message becomes an outbox row with its `Nats-Msg-Id`.

use chrono::{DateTime, Utc};
use junction_bus::Subjects;
use junction_bus::messages::task_message;
use junction_core::engine::{Effect, RunMeta, RunState};
use junction_core::status::StepStatus;
use junction_core::wire::{Event, time};
use junction_store::{NewAttempt, NewTimer, RawJson, TransitionWrite};

/// `timers.kind` of a run's own timeout (retry backoffs are `retry`).
pub const RUN_TIMEOUT_TIMER: &str = "run_timeout";
/// `timers.kind` of a `workflow.run` step's child, to be started (on the parent run).
pub const START_CHILD_TIMER: &str = "start_child";
/// `timers.kind` of a child's end, delivered to its parent step (on the parent run).
pub const CHILD_DONE_TIMER: &str = "child_done";
/// `timers.kind` of a cancelled run's children, to be cancelled (on the parent run).
pub const CANCEL_CHILDREN_TIMER: &str = "cancel_children";
/// `timers.kind` of the backstop deadline a worker's claim stores.
pub const STEP_DEADLINE_TIMER: &str = "step_deadline";
/// `timers.kind` of a `signal.wait` step's timeout.
pub const WAIT_TIMEOUT_TIMER: &str = "signal_timeout";
/// `timers.kind` of a pending approval to record in `approvals`.
pub const APPROVAL_REQUEST_TIMER: &str = "approval_request";
/// `timers.kind` of an approval's expiry.
pub const APPROVAL_TIMEOUT_TIMER: &str = "approval_timeout";
/// `timers.kind` of a decision to apply (written by `Store::decide_approval`).
pub const APPROVAL_DECIDED_TIMER: &str = "approval_decided";
/// `timers.kind` of approvals to close because their run ended.
pub const APPROVALS_CLOSE_TIMER: &str = "approvals_close";

/// What the run looks like to the events it emits.
pub struct WriteContext<'a> {
    pub subjects: &'a Subjects,
    pub meta: &'a RunMeta,
    pub workflow_id: &'a str,
    pub now: DateTime<Utc>,
}

/// Builds the write for `state` after `effects`. Events are numbered from 1;
/// the store adds the run's last seq when it commits them. Fan-out children
/// that ended become rows of their own.
pub fn build(cx: &WriteContext<'_>, state: &mut RunState, effects: Vec<Effect>) -> TransitionWrite {
    let mut seq = 0;
    let child_results = state
        .take_new_child_results()
        .into_iter()
        .map(|(fanout, index, value)| {
            (
                fanout.to_string(),
                i32::try_from(index).unwrap_or(i32::MAX),
                value,
            )
        })
        .collect();
    let mut write = TransitionWrite {
        child_results,
        status: state.status,
        state: RawJson::of(state).unwrap_or_default(),
        error: state
            .error
            .as_ref()
            .and_then(|e| serde_json::to_value(e).ok()),
        events: Vec::new(),
        event_subjects: Vec::new(),
        attempts: Vec::new(),
        outbox: Vec::new(),
        timers: Vec::new(),
    };
    let time = time::format(cx.now);
    for effect in effects {
        match effect {
            Effect::Emit(draft) => {
                seq += 1;
                let step = draft.step.as_ref();
                let event = Event {
                    run_id: cx.meta.run_id.to_string(),
                    seq,
                    kind: draft.kind,
                    time: time.clone(),
                    workflow_id: cx.workflow_id.to_owned(),
                    version: cx.meta.version,
                    tenant: cx.meta.tenant.clone(),
                    step_id: step.map(|s| s.step_id.to_string()),
                    state: step.map(|s| s.state.clone()),
                    path: step.map(|s| s.path.clone()),
                    attempt: step.map(|s| s.attempt),
                    worker_id: None,
                    data: Some(draft.data),
                };
                write
                    .event_subjects
                    .push(cx.subjects.event(&event.run_id, event.step_id.as_deref()));
                write.events.push(event);
            }
            Effect::Dispatch(task) => {
                write.attempts.push(NewAttempt {
                    step_id: task.step_id.clone(),
                    attempt: task.attempt,
                    state: task.state.clone(),
                    path: task.path.clone(),
                    status: StepStatus::Pending,
                    inline: false,
                    input: task.action.input().clone(),
                    output: None,
                    error: None,
                    completion_seq: None,
                });
                write.outbox.push(task_message(cx.subjects, &task));
            }
            Effect::RecordInline(inline) => write.attempts.push(NewAttempt {
                step_id: inline.step.step_id.to_string(),
                attempt: inline.step.attempt,
                state: inline.step.state,
                path: inline.step.path,
                status: inline.status,
                inline: true,
                input: inline.input,
                output: inline.output,
                error: inline.error.and_then(|e| serde_json::to_value(e).ok()),
                completion_seq: Some(seq),
            }),
            Effect::StartRetryTimer {
                step_id,
                attempt,
                fire_at_ms,
            } => write.timers.push(NewTimer {
                kind: "retry",
                run_id: None,
                step_id: Some(step_id.to_string()),
                attempt: Some(attempt),
                fire_at: DateTime::from_timestamp_millis(fire_at_ms).unwrap_or(cx.now),
                payload: None,
            }),
            Effect::StartRunTimer { fire_at_ms } => write.timers.push(NewTimer {
                kind: RUN_TIMEOUT_TIMER,
                run_id: None,
                step_id: None,
                attempt: None,
                fire_at: DateTime::from_timestamp_millis(fire_at_ms).unwrap_or(cx.now),
                payload: None,
            }),
            Effect::StartChild {
                step_id,
                attempt,
                workflow_id,
                version,
                input,
            } => write.timers.push(NewTimer {
                kind: START_CHILD_TIMER,
                run_id: None,
                step_id: Some(step_id.to_string()),
                attempt: Some(attempt),
                fire_at: cx.now,
                payload: Some(serde_json::json!({
                    "workflow_id": workflow_id,
                    "version": version,
                    "input": input,
                })),
            }),
            Effect::StartWaitTimer {
                step_id,
                attempt,
                fire_at_ms,
            } => write.timers.push(NewTimer {
                kind: WAIT_TIMEOUT_TIMER,
                run_id: None,
                step_id: Some(step_id.to_string()),
                attempt: Some(attempt),
                fire_at: DateTime::from_timestamp_millis(fire_at_ms).unwrap_or(cx.now),
                payload: None,
            }),
            Effect::RequestApproval {
                approval_id,
                step_id,
                attempt,
                state: state_name,
                message,
                summary,
                approvers,
                expires_at_ms,
            } => {
                write.timers.push(NewTimer {
                    kind: APPROVAL_REQUEST_TIMER,
                    run_id: None,
                    step_id: Some(step_id.to_string()),
                    attempt: Some(attempt),
                    fire_at: cx.now,
                    payload: Some(junction_store::approvals::request_payload(
                        &approval_id,
                        &state_name,
                        message.as_deref(),
                        &summary,
                        &approvers,
                        expires_at_ms,
                    )),
                });
                if let Some(at) = expires_at_ms {
                    write.timers.push(NewTimer {
                        kind: APPROVAL_TIMEOUT_TIMER,
                        run_id: None,
                        step_id: Some(step_id.to_string()),
                        attempt: Some(attempt),
                        fire_at: DateTime::from_timestamp_millis(at).unwrap_or(cx.now),
                        payload: Some(serde_json::json!({ "approval_id": approval_id })),
                    });
                }
            }
            Effect::CloseApprovals { approval_ids } => write.timers.push(NewTimer {
                kind: APPROVALS_CLOSE_TIMER,
                run_id: None,
                step_id: None,
                attempt: None,
                fire_at: cx.now,
                payload: Some(serde_json::json!({ "approval_ids": approval_ids })),
            }),
            Effect::CancelChildren => write.timers.push(NewTimer {
                kind: CANCEL_CHILDREN_TIMER,
                run_id: None,
                step_id: None,
                attempt: None,
                fire_at: cx.now,
                payload: None,
            }),
            Effect::NotifyParent {
                parent,
                output,
                error,
            } => write.timers.push(NewTimer {
                kind: CHILD_DONE_TIMER,
                run_id: Some(parent.run_id.to_string()),
                step_id: Some(parent.step_id.to_string()),
                attempt: Some(parent.attempt),
                fire_at: cx.now,
                payload: Some(match error {
                    Some(error) => serde_json::json!({ "error": error }),
                    None => serde_json::json!({ "output": output }),
                }),
            }),
        }
    }
    write
}
