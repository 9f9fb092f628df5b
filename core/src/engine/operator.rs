//! Run-level actions: the run's own timeout, cancel, pause and resume, and
//! what they share (stopping every running step). The step-level
//! transitions are in [`super::apply`].

use super::apply::Step;
use super::approval;
use super::effect::{Effect, InlineStep, StepRef};
use super::state::{HeldEffect, Wait};
use super::timer::{Timer, TimerKind};
use crate::status::{RunStatus, StepStatus};
use crate::wire::control::ErrorCode;
use crate::wire::error::codes;
use crate::wire::{ErrorInfo, EventType};
use serde_json::{Value, json};

impl Step<'_> {
    /// The run's timeout: every running step is cancelled and the run ends
    /// TIMED_OUT. A run that already ended ignores it, and so does a run
    /// redriven since the timer was set (its timeout starts again).
    pub(super) fn time_out(&mut self, redrive: u32) {
        if self.state.status.is_terminal() || redrive != self.state.redrive.count {
            return;
        }
        let seconds = self.workflow.timeout_seconds.unwrap_or_default();
        let error = ErrorInfo::new(
            codes::RUN_TIMEOUT,
            format!("the run did not finish within its timeoutSeconds ({seconds} s)"),
        )
        .not_retryable();
        self.stop_everything(&error);
        self.state.status = RunStatus::TimedOut;
        self.state.error = Some(error.clone());
        self.emit(EventType::RunTimedOut, None, json!({ "error": error }));
        self.notify_parent(Err(error));
    }

    /// Cancels the run: running steps are cancelled (child runs too), and
    /// the run ends CANCELLED with `{code: CANCELLED, message: <reason>}`
    /// (PROTOCOL §8.3). Repeating a cancel is applied and changes nothing
    /// (PROTOCOL §4); a run that ended otherwise refuses it.
    pub(super) fn cancel(&mut self, actor: Option<String>, reason: Option<String>) {
        if self.state.status.is_terminal() {
            if self.state.status != RunStatus::Cancelled {
                self.refuse_action("cancelled");
            }
            return;
        }
        let error = ErrorInfo::new(
            codes::CANCELLED,
            reason.clone().unwrap_or_else(|| "cancelled".to_owned()),
        );
        self.stop_everything(&error);
        self.state.status = RunStatus::Cancelled;
        self.state.error = Some(error.clone());
        self.emit(
            EventType::RunCancelled,
            None,
            json!({ "error": error, "actor": actor, "reason": reason }),
        );
        self.notify_parent(Err(error));
    }

    /// Refuses an operator action the run's status does not allow.
    pub(super) fn refuse_action(&mut self, done: &str) {
        let message = format!(
            "run `{}` is {} and cannot be {done}",
            self.meta.run_id,
            self.state.status.as_str()
        );
        self.reject(ErrorCode::InvalidState, message);
    }

    /// A step cancelled by the engine: its event, and its attempt row marked
    /// `CANCELLED` (a row still `PENDING` in the queue is then never
    /// claimed; a running one is marked by its worker, which the event
    /// tells; a wait gets its row here).
    pub(super) fn record_cancelled(&mut self, step: StepRef, error: ErrorInfo) {
        self.emit(
            EventType::StepCancelled,
            Some(step.clone()),
            json!({ "error": error }),
        );
        self.effects.push(Effect::RecordInline(InlineStep {
            step,
            status: StepStatus::Cancelled,
            input: Value::Null,
            output: None,
            error: Some(error),
        }));
    }

    /// Pauses a running run: from now on, new worker tasks and child starts
    /// are held in the snapshot instead of being sent; steps in flight
    /// finish and their results are applied.
    pub(super) fn pause(&mut self, actor: Option<String>, reason: Option<String>) {
        if !matches!(
            self.state.status,
            RunStatus::Running | RunStatus::WaitingApproval | RunStatus::WaitingSignal
        ) {
            return self.refuse_action("paused");
        }
        self.state.paused_from = Some(self.state.status);
        self.state.status = RunStatus::Paused;
        self.emit(
            EventType::RunPaused,
            None,
            json!({ "actor": actor, "reason": reason }),
        );
    }

    /// Resumes a paused run: what the pause held back is sent now.
    pub(super) fn resume(&mut self, actor: Option<String>, reason: Option<String>) {
        if self.state.status != RunStatus::Paused {
            return self.refuse_action("resumed");
        }
        // PROTOCOL §4: resume restores the status the run had before the pause.
        self.state.status = self.state.paused_from.take().unwrap_or(RunStatus::Running);
        self.emit(
            EventType::RunResumed,
            None,
            json!({ "actor": actor, "reason": reason }),
        );
        let held = std::mem::take(&mut self.state.held);
        self.effects
            .extend(held.into_iter().map(HeldEffect::into_effect));
    }

    /// While the run is paused, moves new dispatches and child starts from
    /// this application's effects into the snapshot.
    pub(super) fn hold_while_paused(&mut self) {
        if self.state.status != RunStatus::Paused {
            return;
        }
        let effects = std::mem::take(&mut self.effects);
        for effect in effects {
            match HeldEffect::from_effect(effect) {
                Ok(held) => self.state.held.push(held),
                Err(effect) => self.effects.push(effect),
            }
        }
    }

    /// Cancels every running step (and child run), and forgets branches,
    /// items and DAG progress: the run is about to end.
    pub(super) fn stop_everything(&mut self, error: &ErrorInfo) {
        let mut children = false;
        let mut approvals = Vec::new();
        for active in std::mem::take(&mut self.state.active) {
            children |= active.wait() == Some(&Wait::Child);
            if active.waits_for_approval() {
                approvals.push(approval::approval_id(&active.step_id, active.attempt));
            }
            let step = active.step_ref();
            self.record_cancelled(step, error.clone());
        }
        if children {
            self.effects
                .push(Effect::Timer(Timer::now(TimerKind::CancelChildren)));
        }
        if !approvals.is_empty() {
            self.effects
                .push(Effect::Timer(Timer::now(TimerKind::ApprovalsClose {
                    approval_ids: approvals,
                })));
        }
        self.state.held.clear();
        self.state.frames.clear();
        self.state.fanouts.clear();
        self.state.child_results.clear();
        self.state.dag = None;
    }
}
