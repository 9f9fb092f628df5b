//! Worker tasks that no worker takes. A task reaches only the workers that
//! enable its executor (docs/protocol.md, "Executors and routing"); with
//! none live it waits in its queue. Dispatching a task of any executor but
//! `agent.run` stores a `step_unclaimed` timer at the step's timeout (plus
//! [`UNCLAIMED_STEP_GRACE_SECONDS`], so a worker that took the task at the
//! last moment reports its own timeout first). A worker's claim deletes the
//! timer; when it fires, the coordinator checks the attempt is still
//! unclaimed and the step times out here: `workflow.step.timed_out` with
//! `STEP_TIMEOUT`, the attempt row closed as `TIMED_OUT` (a worker that
//! receives the task later finds it finished), and its retry policy applies.
//!
//! `agent.run` tasks, the hot path every default worker serves, store no
//! such timer: their timeout counts from the claim, as before.

use super::apply::Step;
use super::effect::{Effect, InlineStep};
use super::state::ActiveStatus;
use super::timer::{StepAttempt, Timer, TimerKind};
use crate::ids::StepId;
use crate::status::{RunStatus, StepStatus};
use crate::wire::error::codes;
use crate::wire::{ErrorInfo, EventType, StepTask, TaskAction};
use serde_json::{Value, json};

/// Seconds past a step's timeout before its unclaimed task times out.
pub const UNCLAIMED_STEP_GRACE_SECONDS: u64 = 2;

impl Step<'_> {
    /// The timer that times out `task` if no worker claims it.
    pub(super) fn unclaimed_timer(&mut self, task: &StepTask) {
        if matches!(task.action, TaskAction::AgentRun { .. }) {
            return;
        }
        let seconds = task
            .timeout_seconds
            .saturating_add(UNCLAIMED_STEP_GRACE_SECONDS);
        let fire_at_ms = self
            .now
            .timestamp_millis()
            .saturating_add(i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX));
        let kind = TimerKind::StepUnclaimed(StepAttempt {
            step_id: StepId::new(&task.step_id),
            attempt: task.attempt,
        });
        self.effects
            .push(Effect::Timer(Timer::at(fire_at_ms, kind)));
    }

    /// The timeout of a task no worker claimed. A paused run's step waits
    /// on: the timer is stored again, one timeout later.
    pub(super) fn step_unclaimed(&mut self, step_id: &StepId, attempt: u32) {
        let Some(active) = self
            .state
            .active
            .iter()
            .find(|a| a.is(step_id, attempt) && a.status == ActiveStatus::Running)
            .cloned()
        else {
            return;
        };
        let Some(operation) = self.operation_for(&active.path) else {
            return;
        };
        let timeout = operation.effective_timeout_seconds();
        let executor = operation.action.name().to_owned();
        if self.state.status == RunStatus::Paused {
            let seconds = timeout.saturating_add(UNCLAIMED_STEP_GRACE_SECONDS);
            let fire_at_ms = self
                .now
                .timestamp_millis()
                .saturating_add(i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX));
            let kind = TimerKind::StepUnclaimed(StepAttempt {
                step_id: step_id.clone(),
                attempt,
            });
            return self
                .effects
                .push(Effect::Timer(Timer::at(fire_at_ms, kind)));
        }
        let step = active.step_ref();
        let error = self.locate(
            ErrorInfo::new(
                codes::STEP_TIMEOUT,
                format!(
                    "no worker took the step within its timeout of {timeout} s \
                     (no live worker offers `{executor}`, or all were busy)"
                ),
            ),
            &step,
        );
        self.emit(
            EventType::StepTimedOut,
            Some(step.clone()),
            json!({ "error": error }),
        );
        self.effects.push(Effect::RecordInline(InlineStep {
            step,
            status: StepStatus::TimedOut,
            input: Value::Null,
            output: None,
            error: Some(error.clone()),
        }));
        self.step_failed(step_id, attempt, error);
    }
}
