//! Turns the state machine's effects into one [`TransitionWrite`]: events get
//! their seq and time, dispatches become attempt rows plus task messages, and
//! every message becomes an outbox row with its `Nats-Msg-Id`.

use chrono::{DateTime, Utc};
use junction_bus::Subjects;
use junction_bus::messages::task_message;
use junction_core::engine::{Effect, EventDraft, RunMeta, RunState, Timer};
use junction_core::status::StepStatus;
use junction_core::trace::RunTrace;
use junction_core::wire::{Event, time};
use junction_store::{NewAttempt, NewTimer, RawJson, TransitionWrite};

/// What the run looks like to the events it emits.
pub struct WriteContext<'a> {
    pub subjects: &'a Subjects,
    pub meta: &'a RunMeta,
    pub workflow_id: &'a str,
    pub now: DateTime<Utc>,
    /// The run's trace: messages name the span that produced them.
    pub trace: Option<&'a RunTrace>,
}

/// Builds the write for `state` after `effects`. Events are numbered from 1;
/// the store adds the run's last seq when it commits them. Fan-out children
/// that ended become rows of their own. An error: something of the run
/// could not be serialized, so nothing of it may be written.
pub fn build(
    cx: &WriteContext<'_>,
    state: &mut RunState,
    effects: Vec<Effect>,
) -> Result<TransitionWrite, serde_json::Error> {
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
        state: RawJson::of(state)?,
        error: state.error.as_ref().map(serde_json::to_value).transpose()?,
        events: Vec::new(),
        event_subjects: Vec::new(),
        event_traceparents: Vec::new(),
        attempts: Vec::new(),
        outbox: Vec::new(),
        timers: Vec::new(),
    };
    let time = time::format(cx.now);
    for effect in effects {
        match effect {
            Effect::Emit(draft) => {
                seq += 1;
                let event = event(cx, draft, seq, &time);
                write
                    .event_subjects
                    .push(cx.subjects.event(&event.run_id, event.step_id.as_deref()));
                write.event_traceparents.push(
                    cx.trace
                        .map(|t| t.traceparent_for(event.step_id.as_deref())),
                );
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
                let traceparent = cx.trace.map(|t| t.traceparent_for(Some(&task.step_id)));
                write
                    .outbox
                    .push(task_message(cx.subjects, &task, traceparent)?);
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
                error: inline.error.map(serde_json::to_value).transpose()?,
                // A wait's row has no end yet (the record of its end does).
                completion_seq: inline.status.is_terminal().then_some(seq),
            }),
            Effect::Timer(timer) => write.timers.push(timer_row(cx, timer)),
        }
    }
    Ok(write)
}

/// The event of an emitted draft, numbered `seq` within the transition.
fn event(cx: &WriteContext<'_>, draft: EventDraft, seq: i64, time: &str) -> Event {
    let step = draft.step.as_ref();
    Event {
        run_id: cx.meta.run_id.to_string(),
        seq,
        kind: draft.kind,
        time: time.to_owned(),
        workflow_id: cx.workflow_id.to_owned(),
        version: cx.meta.version,
        tenant: cx.meta.tenant.clone(),
        step_id: step.map(|s| s.step_id.to_string()),
        state: step.map(|s| s.state.clone()),
        path: step.map(|s| s.path.clone()),
        attempt: step.map(|s| s.attempt),
        worker_id: None,
        data: Some(draft.data),
    }
}

/// A durable timer as its `timers` row; one without a time fires now.
fn timer_row(cx: &WriteContext<'_>, timer: Timer) -> NewTimer {
    let stored = timer.kind.encode();
    NewTimer {
        kind: stored.kind,
        run_id: timer.run_id.map(|run| run.to_string()),
        step_id: stored.step_id.map(|step| step.to_string()),
        attempt: stored.attempt,
        fire_at: timer
            .fire_at_ms
            .and_then(DateTime::from_timestamp_millis)
            .unwrap_or(cx.now),
        payload: stored.payload,
    }
}
