//! A step attempt's end: success (its `resultPath` and transition),
//! failure (retry, `catch`, or failing its scope), and the deadline
//! backstop for a worker that vanished.

use super::apply::Step;
use super::dag::DagOutcome;
use super::effect::{Effect, InlineStep};
use super::site::Site;
use super::state::{ActiveStatus, ActiveStep, Wait};
use super::timer::{StepAttempt, Timer, TimerKind};
use crate::ids::StepId;
use crate::model::{Action, Transition, path};
use crate::status::StepStatus;
use crate::wire::error::codes;
use crate::wire::{ErrorInfo, EventType};
use serde_json::{Value, json};

impl<'a> Step<'a> {
    pub(super) fn step_succeeded(&mut self, step_id: &StepId, attempt: u32, output: Value) {
        let Some(active) = self.take_active(step_id, attempt) else {
            return;
        };
        if matches!(active.wait(), Some(Wait::Approval | Wait::Signal { .. })) {
            // Waits end by a decision or a signal, never by a worker's result.
            self.state.active.push(active);
            return;
        }
        let record = active.wait() == Some(&Wait::Child);
        self.step_succeeded_with(active, output, record);
    }

    /// Applies a step's output: its end (recorded here when no worker
    /// records it), its `resultPath`, and the transition.
    pub(super) fn step_succeeded_with(&mut self, active: ActiveStep, output: Value, record: bool) {
        let Some((operation, transition)) = self.operation_of(&active.path) else {
            return self.fail_run(ErrorInfo::new(
                codes::INTERNAL,
                format!("state `{}` is not an operation", active.state),
            ));
        };
        let site = self.site_of(&active.path);
        if record {
            let step = active.step_ref();
            self.record_child_end(step, Some(output.clone()), None);
        }
        self.in_scope_of(&active.path, |s| {
            if let Some(parts) = operation.result_path.as_deref().and_then(path::segments) {
                s.write_result(&parts, output.clone());
            }
            // Only an agent's output is the previous output: approvals and
            // the other waits leave it as it was.
            if matches!(operation.action, Action::AgentRun(_)) {
                s.state.previous_output = Some(output);
            }
            if site == Site::Dag {
                return s.dag_step_done(&active.path, DagOutcome::Succeeded);
            }
            match transition {
                Transition::Next(next) => s.enter(&next),
                Transition::End => s.end_scope(),
                Transition::Decided => s.fail_run(ErrorInfo::new(
                    codes::INTERNAL,
                    format!("operation `{}` has no fixed transition", active.state),
                )),
            }
        });
    }

    pub(super) fn step_failed(&mut self, step_id: &StepId, attempt: u32, error: ErrorInfo) {
        let Some(active) = self.take_active(step_id, attempt) else {
            return;
        };
        let Some((operation, _)) = self.operation_of(&active.path) else {
            return self.fail_run(ErrorInfo::new(
                codes::INTERNAL,
                format!("state `{}` is not an operation", active.state),
            ));
        };
        let retry = operation.retry.clone();
        let active_child = active.wait() == Some(&Wait::Child);
        let step = active.step_ref();
        // A step a redrive ran again counts its attempts from there.
        let tries = attempt.saturating_sub(self.state.redrive.base(step_id));
        if tries < retry.max_attempts && retry.retries(&error.code, error.retryable) {
            let next_attempt = attempt + 1;
            let delay = retry.delay_before(tries + 1);
            self.emit(
                EventType::StepRetrying,
                Some(step.clone()),
                json!({ "next_attempt": next_attempt, "delay_seconds": delay, "error": error }),
            );
            let status = if delay > 0.0 {
                ActiveStatus::Waiting(Wait::RetryTimer)
            } else {
                active.status.clone()
            };
            self.state.active.push(ActiveStep {
                attempt: next_attempt,
                status,
                ..active
            });
            if delay > 0.0 {
                let fire_at_ms = self.now.timestamp_millis() + (delay * 1000.0).round() as i64;
                let retry = TimerKind::Retry(StepAttempt {
                    step_id: step.step_id,
                    attempt: next_attempt,
                });
                self.effects
                    .push(Effect::Timer(Timer::at(fire_at_ms, retry)));
            } else {
                self.redispatch(&step.step_id, next_attempt);
            }
            return;
        }
        let error = self.locate(error, &step);
        if active_child {
            self.record_child_end(step.clone(), None, Some(error.clone()));
        }
        if self.site_of(&step.path) == Site::Dag {
            return self.dag_step_done(&step.path, DagOutcome::Failed { error });
        }
        self.in_scope_of(&step.path, |s| s.catch_or_fail(&step.state, error));
    }

    /// A step of the scope now in effect failed for good: its state's first
    /// matching `catch` rule takes the run on (the error written at the
    /// rule's `resultPath`), or the scope fails with the error.
    pub(super) fn catch_or_fail(&mut self, state: &str, error: ErrorInfo) {
        let rule = self.scope_state(state).and_then(|state| {
            state
                .catch
                .iter()
                .find(|rule| rule.errors.is_empty() || rule.errors.contains(&error.code))
        });
        let Some(rule) = rule else {
            return self.fail_scope(error);
        };
        if let Some(parts) = rule.result_path.as_deref().and_then(path::segments) {
            let value = serde_json::to_value(&error).unwrap_or(Value::Null);
            self.write_result(&parts, value);
        }
        self.enter(&rule.next);
    }

    /// The backstop for a worker step whose worker vanished: only an
    /// attempt still waiting for its worker's result is timed out. The
    /// attempt ends here, `workflow.step.timed_out` and its row closed
    /// `TIMED_OUT` (the transition's attempt upsert ends a `RUNNING` row
    /// for it), so a worker that was only stalled and wakes later finds
    /// the attempt ended and records nothing, even a success: the retry,
    /// if any, is then the only attempt that counts.
    pub(super) fn step_deadline(&mut self, step_id: &StepId, attempt: u32) {
        let Some(step) = self
            .state
            .active
            .iter()
            .find(|a| a.is(step_id, attempt) && a.status == ActiveStatus::Running)
            .map(|a| a.step_ref())
        else {
            return;
        };
        let error = ErrorInfo::new(
            codes::STEP_TIMEOUT,
            "no result within the step's timeout: the worker holding it is presumed lost",
        );
        let located = self.locate(error.clone(), &step);
        self.emit(
            EventType::StepTimedOut,
            Some(step.clone()),
            json!({ "error": located }),
        );
        self.effects.push(Effect::RecordInline(InlineStep {
            step,
            status: StepStatus::TimedOut,
            input: Value::Null,
            output: None,
            error: Some(located),
        }));
        self.step_failed(step_id, attempt, error);
    }
}
