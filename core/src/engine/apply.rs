//! The entry point: [`apply`] takes one input to a run and returns the
//! effects it implies; [`Step`] is one application in progress, which the
//! other engine modules extend with the transitions of their construct.

use super::effect::{Effect, EventDraft, StepRef};
use super::frames::Pending;
use super::input::{Answer, Input, Outcome};
use super::redrive::ReplayWork;
use super::state::{RunMeta, RunState};
use super::timer::{Timer, TimerKind};
use crate::ids::StepId;
use crate::model::Workflow;
use crate::status::RunStatus;
use crate::wire::control::ErrorCode;
use crate::wire::error::codes;
use crate::wire::storable;
use crate::wire::{ErrorInfo, EventType};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// What a transition is decided with besides the run and the input: the
/// time, and the coordinator's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyContext {
    pub now: DateTime<Utc>,
    /// The largest task a step may be sent (serialized, in bytes); a larger
    /// one fails its step with `PAYLOAD_TOO_LARGE` instead.
    pub payload_limit: usize,
}

/// Applies `input` to `state`, returning the effects in the order they must
/// be stored and the answer to the input. Inputs that no longer apply (late
/// or duplicate results) change nothing and return no effects, so
/// redeliveries are harmless; an operator action the run's status does not
/// allow changes nothing and is answered `Rejected`.
pub fn apply(
    workflow: &Workflow,
    meta: &RunMeta,
    state: &mut RunState,
    input: Input,
    cx: &ApplyContext,
) -> Outcome {
    let mut run = Step::new(workflow, meta, state, cx);
    let before = run.state.status;
    let starts = matches!(input, Input::Start { .. } | Input::Admit);
    match input {
        Input::Start {
            input,
            signal,
            causation_id,
            correlation_id,
            parent,
        } => {
            run.state.parent = parent;
            run.start(input, signal, causation_id, correlation_id)
        }
        Input::Queue {
            input,
            signal,
            causation_id,
            correlation_id,
            parent,
        } => run.queue(input, signal, causation_id, correlation_id, parent),
        Input::Admit => run.admit(),
        // A result that cannot be stored (U+0000 in a string) fails its
        // step with `INVALID_OUTPUT`, never retried (workers refuse it first).
        Input::StepSucceeded {
            step_id,
            attempt,
            output,
        } => match storable::invalid_output("output", &output) {
            None => run.step_succeeded(&step_id, attempt, output),
            Some(error) => run.step_failed(&step_id, attempt, error),
        },
        Input::StepFailed {
            step_id,
            attempt,
            error,
        } => {
            let encoded = serde_json::to_value(&error).unwrap_or_default();
            let error = storable::invalid_output("error", &encoded).unwrap_or(error);
            run.step_failed(&step_id, attempt, error)
        }
        Input::RetryTimerFired { step_id, attempt } => run.timer_fired(&step_id, attempt),
        Input::StepDeadline { step_id, attempt } => run.step_deadline(&step_id, attempt),
        Input::StepUnclaimed { step_id, attempt } => run.step_unclaimed(&step_id, attempt),
        Input::RunTimeout { redrive } => run.time_out(redrive),
        Input::Cancel { actor, reason } => run.cancel(actor, reason),
        Input::Pause { actor, reason } => run.pause(actor, reason),
        Input::ApprovalDecided {
            step_id,
            attempt,
            approved,
            actor,
            comment,
            decided_at,
        } => run.approval_decided(&step_id, attempt, approved, actor, comment, decided_at),
        Input::ApprovalTimeout { step_id, attempt } => run.approval_timed_out(&step_id, attempt),
        Input::SignalReceived { name, data, id } => run.signal_received(name, data, id),
        Input::WaitTimeout { step_id, attempt } => run.wait_timed_out(&step_id, attempt),
        Input::Resume { actor, reason } => run.resume(actor, reason),
        Input::Redrive {
            actor,
            reason,
            recorded,
        } => run.redrive(actor, reason, recorded),
    }
    run.settle();
    run.finish_replay();
    run.hold_while_paused();
    run.release_slot(before, starts);
    Outcome {
        effects: run.effects,
        answer: run.answer,
    }
}

/// One application of an input: the borrowed run and the effects so far.
pub(super) struct Step<'a> {
    pub(super) workflow: &'a Workflow,
    pub(super) meta: &'a RunMeta,
    pub(super) state: &'a mut RunState,
    pub(super) effects: Vec<Effect>,
    pub(super) now: DateTime<Utc>,
    /// The frame whose graph is being run (`""`: the top level).
    pub(super) current: String,
    /// Frames that ended, joined after the input is applied.
    pub(super) pending: Vec<Pending>,
    /// Tasks refused for their size: failed attempts, applied at the top level.
    pub(super) bounced: Vec<(StepId, u32, ErrorInfo)>,
    pub(super) payload_limit: usize,
    /// The top-level context while a frame's view is in effect.
    pub(super) parked: Option<Value>,
    /// The answer to the input (an operator action may be refused).
    pub(super) answer: Answer,
    /// A redrive's replay in this application (see [`super::redrive`]).
    pub(super) replay: ReplayWork,
}

impl<'a> Step<'a> {
    /// An application to `state` that has done nothing yet.
    pub(super) fn new(
        workflow: &'a Workflow,
        meta: &'a RunMeta,
        state: &'a mut RunState,
        cx: &ApplyContext,
    ) -> Self {
        Self {
            workflow,
            meta,
            state,
            effects: Vec::new(),
            now: cx.now,
            payload_limit: cx.payload_limit,
            current: String::new(),
            pending: Vec::new(),
            bounced: Vec::new(),
            parked: None,
            answer: Answer::Applied,
            replay: ReplayWork::default(),
        }
    }

    /// Refuses the input: it changes nothing, and is answered with `code`.
    pub(super) fn reject(&mut self, code: ErrorCode, message: String) {
        self.answer = Answer::Rejected { code, message };
    }

    pub(super) fn emit(&mut self, kind: EventType, step: Option<StepRef>, data: Value) {
        self.effects
            .push(Effect::Emit(EventDraft { kind, step, data }));
    }

    pub(super) fn start(
        &mut self,
        input: Value,
        signal: Option<Value>,
        causation_id: Option<String>,
        correlation_id: String,
    ) {
        if self.state.status != RunStatus::Pending {
            return;
        }
        self.state.status = RunStatus::Running;
        self.state.context =
            json!({ "ctx": input.clone(), "steps": {}, "signal": signal.unwrap_or(Value::Null) });
        let schedule = self.workflow.schedule.as_ref();
        crate::model::schedule::stamp_manual_start(
            schedule,
            &mut self.state.context["ctx"],
            self.now,
        );
        self.state.input = input.clone();
        self.state.correlation_id = Some(correlation_id.clone());
        let data = json!({
            "causation_id": causation_id,
            "correlation_id": correlation_id,
            "input": input,
            "definition_version": self.workflow.definition_version,
        });
        self.emit(EventType::RunStarted, None, data);
        if let Some(seconds) = self.workflow.timeout_seconds {
            let fire_at_ms = self.now.timestamp_millis() + (seconds as i64).saturating_mul(1000);
            self.effects.push(Effect::Timer(Timer::at(
                fire_at_ms,
                TimerKind::RunTimeout { redrive: 0 },
            )));
        }
        let start = self.workflow.start.clone();
        self.enter(&start);
    }

    /// Adds where an error happened, keeping the original as `cause` context.
    pub(super) fn locate(&self, mut error: ErrorInfo, step: &StepRef) -> ErrorInfo {
        error.state.get_or_insert_with(|| step.state.clone());
        error
            .step_id
            .get_or_insert_with(|| step.step_id.to_string());
        error.attempt.get_or_insert(step.attempt);
        error
    }

    /// Joins the frames that ended, applies a redrive's recorded outcomes
    /// and the attempts that bounced for their size, until none is left. A
    /// `catch` loop whose every pass bounces stops the run instead of
    /// spinning for ever.
    fn settle(&mut self) {
        const MAX_BOUNCES: usize = 1_000;
        let mut bounces = 0;
        loop {
            self.drain_pending();
            if self.replay_next() {
                continue;
            }
            let bounced = std::mem::take(&mut self.bounced);
            if bounced.is_empty() {
                return;
            }
            bounces += bounced.len();
            if bounces > MAX_BOUNCES {
                return self.fail_run(ErrorInfo::new(
                    codes::PAYLOAD_TOO_LARGE,
                    format!(
                        "more than {MAX_BOUNCES} steps failed for their size in one transition"
                    ),
                ));
            }
            for (step_id, attempt, error) in bounced {
                self.step_failed(&step_id, attempt, error);
            }
        }
    }
}
