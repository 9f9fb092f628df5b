//! Child workflows: a `workflow.run` step starts a run of another workflow
//! and waits for it; the child's end becomes the step's result.
//!
//! The step's `input` (templated) is `{workflow | workflow_id, version?,
//! input?}`. Starting is a timer ([`TimerKind::StartChild`]) that the driver
//! makes durable with the parent's transition and carries out at least once,
//! deduplicated by the step attempt, so exactly one child exists per attempt.
//! The child remembers its parent step ([`ParentLink`]); when it ends it
//! stores a [`TimerKind::ChildDone`] on the parent run, and the parent receives its `ctx` as the
//! step output, or a `CHILD_FAILED` error wrapping the child's error.

use super::apply::Step;
use super::effect::{Effect, InlineStep, StepRef};
use super::state::{ActiveStatus, ActiveStep, Wait};
use super::template::{self, Scope};
use super::timer::{ChildStart, StepAttempt, Timer, TimerKind};
use crate::model::{Action, Operation};
use crate::status::StepStatus;
use crate::wire::error::codes;
use crate::wire::{ErrorInfo, EventType};
use serde_json::{Value, json};

/// The executor name of child workflows.
pub const WORKFLOW_RUN: &str = "workflow.run";

/// Is this operation a child workflow?
pub fn is_child(operation: &Operation) -> bool {
    matches!(&operation.action, Action::Executor(call) if call.executor == WORKFLOW_RUN)
}

impl Step<'_> {
    /// Renders a `workflow.run` step's parameters into its start effect.
    #[allow(
        clippy::result_large_err,
        reason = "ErrorInfo is the step's error as stored; built once per failure"
    )]
    fn child_start(
        &self,
        step: &StepRef,
        operation: &Operation,
    ) -> Result<(Value, Effect), ErrorInfo> {
        let Action::Executor(call) = &operation.action else {
            return Err(ErrorInfo::new(codes::INTERNAL, "not a workflow.run step"));
        };
        let scope = Scope {
            context: &self.state.context,
            input: &self.state.input,
        };
        let params = template::render(&call.params, &scope)
            .map_err(|e| ErrorInfo::new(codes::TEMPLATE_PATH, e.to_string()).not_retryable())?;
        let invalid = |message: &str| {
            ErrorInfo::new(
                codes::CHILD_FAILED,
                format!("workflow.run step `{}`: {message}", step.state),
            )
            .not_retryable()
        };
        let workflow_id = params
            .get("workflow")
            .or_else(|| params.get("workflow_id"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("`input.workflow` must name the workflow to run"))?
            .to_owned();
        let version = match params.get("version") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| invalid("`input.version` must be a revision number"))?,
            ),
        };
        let input = match params.get("input") {
            None | Some(Value::Null) => json!({}),
            Some(Value::Object(map)) => Value::Object(map.clone()),
            Some(_) => return Err(invalid("`input.input` must be an object")),
        };
        let effect = Effect::Timer(Timer::now(TimerKind::StartChild {
            step: StepAttempt {
                step_id: step.step_id.clone(),
                attempt: step.attempt,
            },
            child: ChildStart {
                workflow_id,
                version,
                input,
            },
        }));
        Ok((params, effect))
    }

    /// Starts a `workflow.run` step: the step waits for its child run.
    pub(super) fn start_child_step(&mut self, step: StepRef, operation: &Operation) {
        match self.child_start(&step, operation) {
            Ok((params, effect)) => {
                self.state.active.push(ActiveStep::new(
                    &step,
                    ActiveStatus::Waiting(Wait::Child),
                    self.now.timestamp_millis(),
                ));
                self.emit(
                    EventType::StepStarted,
                    Some(step.clone()),
                    json!({ "input": params }),
                );
                self.record_waiting(step, StepStatus::Running, params);
                self.effects.push(effect);
            }
            Err(error) => self.fail_before_dispatch(step, error),
        }
    }

    /// A retry of a `workflow.run` step: a new child for the new attempt.
    pub(super) fn restart_child(&mut self, step: StepRef, operation: &Operation) {
        match self.child_start(&step, operation) {
            Ok((params, effect)) => {
                self.emit(
                    EventType::StepStarted,
                    Some(step.clone()),
                    json!({ "input": params }),
                );
                self.record_waiting(step, StepStatus::Running, params);
                self.effects.push(effect);
            }
            Err(error) => {
                self.state.active.retain(|a| a.step_id != step.step_id);
                self.fail_before_dispatch(step, error);
            }
        }
    }

    /// Records the end of a `workflow.run` attempt (no worker records it).
    pub(super) fn record_child_end(
        &mut self,
        step: StepRef,
        output: Option<Value>,
        error: Option<ErrorInfo>,
    ) {
        let (kind, data, status) = match (&output, &error) {
            (_, Some(error)) => (
                EventType::StepFailed,
                json!({ "error": error }),
                StepStatus::Failed,
            ),
            (output, None) => (
                EventType::StepCompleted,
                json!({ "output": output }),
                StepStatus::Succeeded,
            ),
        };
        self.emit(kind, Some(step.clone()), data);
        self.effects.push(Effect::RecordInline(InlineStep {
            step,
            status,
            input: Value::Null,
            output,
            error,
        }));
    }

    /// A child run that ended tells its parent step.
    pub(super) fn notify_parent(&mut self, outcome: Result<Value, ErrorInfo>) {
        if let Some(parent) = self.state.parent.clone() {
            let outcome = outcome.map_err(|cause| {
                let mut wrapped = ErrorInfo::new(
                    codes::CHILD_FAILED,
                    format!(
                        "child run {} ended {}: {}",
                        self.meta.run_id, cause.code, cause.message
                    ),
                );
                wrapped.cause = serde_json::to_value(&cause).ok();
                wrapped
            });
            self.effects.push(Effect::Timer(Timer {
                kind: TimerKind::ChildDone {
                    step: StepAttempt {
                        step_id: parent.step_id,
                        attempt: parent.attempt,
                    },
                    outcome,
                },
                fire_at_ms: None,
                run_id: Some(parent.run_id),
            }));
        }
    }
}
