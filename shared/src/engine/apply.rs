//! The transitions: how each input moves a run and which effects it implies.

use super::effect::{Effect, EventDraft, InlineStep, StepRef};
use super::state::{ActiveStep, RunMeta, RunState};
use super::template::{self, Scope};
use crate::ids::{StepLocation, step_id};
use crate::model::{Action, AgentCall, Operation, StateKind, Transition, Workflow, path};
use crate::status::{RunStatus, StepStatus};
use crate::wire::error::codes;
use crate::wire::{ErrorInfo, EventType, StepTask, TaskAction, WorkflowRef};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// What happened to a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Start the run (signal or `run.start`).
    Start {
        input: Value,
        signal: Option<Value>,
        causation_id: Option<String>,
        correlation_id: String,
    },
    /// A worker finished an attempt successfully.
    StepSucceeded {
        step_id: String,
        attempt: u32,
        output: Value,
    },
    /// A worker finished an attempt with an error (timeouts included).
    StepFailed {
        step_id: String,
        attempt: u32,
        error: ErrorInfo,
    },
    /// A durable retry timer is due.
    TimerFired { step_id: String, attempt: u32 },
}

/// Applies `input` to `state`, returning the effects in the order they must
/// be stored. Inputs that no longer apply (late or duplicate results) change
/// nothing and return no effects, so redeliveries are harmless.
pub fn apply(
    workflow: &Workflow,
    meta: &RunMeta,
    state: &mut RunState,
    input: Input,
    now: DateTime<Utc>,
) -> Vec<Effect> {
    let mut run = Step {
        workflow,
        meta,
        state,
        effects: Vec::new(),
        now,
    };
    match input {
        Input::Start {
            input,
            signal,
            causation_id,
            correlation_id,
        } => run.start(input, signal, causation_id, correlation_id),
        Input::StepSucceeded {
            step_id,
            attempt,
            output,
        } => run.step_succeeded(&step_id, attempt, output),
        Input::StepFailed {
            step_id,
            attempt,
            error,
        } => run.step_failed(&step_id, attempt, error),
        Input::TimerFired { step_id, attempt } => run.timer_fired(&step_id, attempt),
    }
    run.effects
}

/// One application of an input: the borrowed run and the effects so far.
struct Step<'a> {
    workflow: &'a Workflow,
    meta: &'a RunMeta,
    state: &'a mut RunState,
    effects: Vec<Effect>,
    now: DateTime<Utc>,
}

impl<'a> Step<'a> {
    fn emit(&mut self, kind: EventType, step: Option<StepRef>, data: Value) {
        self.effects
            .push(Effect::Emit(EventDraft { kind, step, data }));
    }

    fn start(
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
        self.state.input = input.clone();
        let data = json!({
            "causation_id": causation_id,
            "correlation_id": correlation_id,
            "input": input,
            "definition_version": self.workflow.definition_version,
        });
        self.emit(EventType::RunStarted, None, data);
        let start = self.workflow.start.clone();
        self.enter(&start);
    }

    /// Runs inline states from `name` on, until a step is dispatched or the run ends.
    fn enter(&mut self, name: &str) {
        let mut current = name.to_owned();
        loop {
            let Some(state) = self.workflow.state(&current) else {
                self.fail_run(ErrorInfo::new(
                    codes::INTERNAL,
                    format!("state `{current}` is missing from the definition"),
                ));
                return;
            };
            let visit = self.state.visits.entry(current.clone()).or_insert(0);
            let step = StepRef {
                step_id: step_id(
                    &self.meta.run_id,
                    &StepLocation {
                        state: &current,
                        branch_path: "",
                        visit: *visit,
                    },
                )
                .to_string(),
                state: current.clone(),
                path: current.clone(),
                attempt: 1,
            };
            *visit += 1;
            let transition = state.transition.clone();
            match &state.kind {
                StateKind::Inject { data, result_path } => {
                    self.inject(step, data, result_path.as_deref())
                }
                StateKind::Operation(operation) => {
                    self.dispatch(step, operation);
                    return;
                }
                StateKind::Switch(_)
                | StateKind::Parallel(_)
                | StateKind::Foreach(_)
                | StateKind::Transform(_)
                | StateKind::Dag(_) => {
                    return self.fail_run(ErrorInfo::new(
                        codes::UNSUPPORTED,
                        format!(
                            "state `{current}`: this state type does not run in this release yet"
                        ),
                    ));
                }
            }
            match transition {
                Transition::Next(next) => current = next,
                Transition::End => return self.complete(),
                Transition::Decided => {
                    return self.fail_run(ErrorInfo::new(
                        codes::INTERNAL,
                        format!("state `{current}` has no fixed transition"),
                    ));
                }
            }
        }
    }

    fn inject(&mut self, step: StepRef, data: &Value, result_path: Option<&str>) {
        match result_path.and_then(path::segments) {
            Some(parts) => path::set(&mut self.state.context, &parts, data.clone()),
            None => path::merge_into(&mut self.state.context["ctx"], data),
        }
        self.emit(
            EventType::StepStarted,
            Some(step.clone()),
            json!({ "input": data }),
        );
        self.emit(
            EventType::StepCompleted,
            Some(step.clone()),
            json!({ "output": data }),
        );
        self.effects.push(Effect::RecordInline(InlineStep {
            step,
            status: StepStatus::Succeeded,
            input: data.clone(),
            output: Some(data.clone()),
            error: None,
        }));
    }

    /// Resolves the step's templates and hands it to the workers. A template
    /// that does not resolve fails the step, and with it the run.
    fn dispatch(&mut self, step: StepRef, operation: &Operation) {
        match self.resolve(operation) {
            Ok(action) => {
                self.state.active.push(ActiveStep {
                    step_id: step.step_id.clone(),
                    state: step.state.clone(),
                    path: step.path.clone(),
                    attempt: step.attempt,
                    dispatched: true,
                });
                self.effects
                    .push(Effect::Dispatch(self.task(&step, action, operation)));
            }
            Err(error) => {
                let error = self.locate(error, &step);
                self.emit(
                    EventType::StepFailed,
                    Some(step.clone()),
                    json!({ "error": error }),
                );
                self.effects.push(Effect::RecordInline(InlineStep {
                    step,
                    status: StepStatus::Failed,
                    input: Value::Null,
                    output: None,
                    error: Some(error.clone()),
                }));
                self.fail_run(error);
            }
        }
    }

    fn resolve(&self, operation: &Operation) -> Result<TaskAction, ErrorInfo> {
        let Action::AgentRun(AgentCall {
            agent,
            task,
            input,
            variables,
            ..
        }) = &operation.action
        else {
            return Err(ErrorInfo::new(
                codes::UNSUPPORTED,
                format!(
                    "action `{}` does not run in this release yet",
                    operation.action.name()
                ),
            )
            .not_retryable());
        };
        let scope = Scope {
            context: &self.state.context,
            input: &self.state.input,
        };
        let render = |value: &Value| {
            template::render(value, &scope)
                .map_err(|e| ErrorInfo::new(codes::TEMPLATE_PATH, e.to_string()).not_retryable())
        };
        let input = match input {
            Some(input) => render(input)?,
            None => self
                .state
                .previous_output
                .clone()
                .unwrap_or_else(|| self.state.output()),
        };
        Ok(TaskAction::AgentRun {
            agent: agent.clone(),
            task: task.as_ref().map(render).transpose()?,
            input,
            variables: variables
                .as_ref()
                .map(render)
                .transpose()?
                .unwrap_or(Value::Object(Default::default())),
        })
    }

    fn task(&self, step: &StepRef, action: TaskAction, operation: &Operation) -> StepTask {
        StepTask {
            run_id: self.meta.run_id.to_string(),
            step_id: step.step_id.clone(),
            state: step.state.clone(),
            path: step.path.clone(),
            attempt: step.attempt,
            action,
            timeout_seconds: operation.effective_timeout_seconds(),
            workflow: WorkflowRef {
                id: self.workflow.id.clone(),
                name: self.workflow.name.clone(),
                tenant: self.meta.tenant.clone(),
                version: self.meta.version,
                definition_version: self.workflow.definition_version.clone(),
            },
        }
    }

    fn take_active(&mut self, step_id: &str, attempt: u32) -> Option<ActiveStep> {
        if self.state.status.is_terminal() {
            return None;
        }
        let index = self
            .state
            .active
            .iter()
            .position(|a| a.step_id == step_id && a.attempt == attempt)?;
        Some(self.state.active.remove(index))
    }

    fn operation_of(&self, state: &str) -> Option<(&'a Operation, Transition)> {
        let workflow: &'a Workflow = self.workflow;
        let found = workflow.state(state)?;
        match &found.kind {
            StateKind::Operation(op) => Some((op, found.transition.clone())),
            _ => None,
        }
    }

    fn step_succeeded(&mut self, step_id: &str, attempt: u32, output: Value) {
        let Some(active) = self.take_active(step_id, attempt) else {
            return;
        };
        let Some((operation, transition)) = self.operation_of(&active.state) else {
            return self.fail_run(ErrorInfo::new(
                codes::INTERNAL,
                format!("state `{}` is not an operation", active.state),
            ));
        };
        if let Some(parts) = operation.result_path.as_deref().and_then(path::segments) {
            path::set(&mut self.state.context, &parts, output.clone());
        }
        self.state.previous_output = Some(output);
        match transition {
            Transition::Next(next) => self.enter(&next),
            Transition::End => self.complete(),
            Transition::Decided => self.fail_run(ErrorInfo::new(
                codes::INTERNAL,
                format!("operation `{}` has no fixed transition", active.state),
            )),
        }
    }

    fn step_failed(&mut self, step_id: &str, attempt: u32, error: ErrorInfo) {
        let Some(active) = self.take_active(step_id, attempt) else {
            return;
        };
        let Some((operation, _)) = self.operation_of(&active.state) else {
            return self.fail_run(ErrorInfo::new(
                codes::INTERNAL,
                format!("state `{}` is not an operation", active.state),
            ));
        };
        let retry = operation.retry.clone();
        let step = StepRef {
            step_id: active.step_id.clone(),
            state: active.state.clone(),
            path: active.path.clone(),
            attempt,
        };
        if attempt < retry.max_attempts && error.retryable != Some(false) {
            let next_attempt = attempt + 1;
            let delay = retry.delay_before(next_attempt);
            self.emit(
                EventType::StepRetrying,
                Some(step.clone()),
                json!({ "next_attempt": next_attempt, "delay_seconds": delay, "error": error }),
            );
            self.state.active.push(ActiveStep {
                attempt: next_attempt,
                dispatched: delay <= 0.0,
                ..active
            });
            if delay > 0.0 {
                let fire_at_ms = self.now.timestamp_millis() + (delay * 1000.0).round() as i64;
                self.effects.push(Effect::StartRetryTimer {
                    step_id: step.step_id,
                    attempt: next_attempt,
                    fire_at_ms,
                });
            } else {
                self.redispatch(&step.step_id, next_attempt);
            }
            return;
        }
        let error = self.locate(error, &step);
        self.fail_run(error);
    }

    fn timer_fired(&mut self, step_id: &str, attempt: u32) {
        if self.state.status.is_terminal() {
            return;
        }
        let waiting = self
            .state
            .active
            .iter_mut()
            .find(|a| a.step_id == step_id && a.attempt == attempt && !a.dispatched);
        if let Some(active) = waiting {
            active.dispatched = true;
            self.redispatch(step_id, attempt);
        }
    }

    /// Dispatches a new attempt of an active step, re-resolving its templates.
    fn redispatch(&mut self, step_id: &str, attempt: u32) {
        let Some(active) = self
            .state
            .active
            .iter()
            .find(|a| a.step_id == step_id && a.attempt == attempt)
            .cloned()
        else {
            return;
        };
        let Some((operation, _)) = self.operation_of(&active.state) else {
            return;
        };
        let step = StepRef {
            step_id: active.step_id,
            state: active.state,
            path: active.path,
            attempt,
        };
        match self.resolve(operation) {
            Ok(action) => {
                let task = self.task(&step, action, operation);
                self.effects.push(Effect::Dispatch(task));
            }
            Err(error) => {
                self.state.active.retain(|a| a.step_id != step.step_id);
                let error = self.locate(error, &step);
                self.fail_run(error);
            }
        }
    }

    /// Adds where an error happened, keeping the original as `cause` context.
    fn locate(&self, mut error: ErrorInfo, step: &StepRef) -> ErrorInfo {
        error.state.get_or_insert_with(|| step.state.clone());
        error.step_id.get_or_insert_with(|| step.step_id.clone());
        error.attempt.get_or_insert(step.attempt);
        error
    }

    fn complete(&mut self) {
        self.state.status = RunStatus::Completed;
        self.state.active.clear();
        let output = self.state.output();
        if let Some(message) = self.output_schema_mismatch(&output) {
            self.emit(
                EventType::StepWarning,
                None,
                json!({ "code": codes::OUTPUT_SCHEMA, "message": message }),
            );
        }
        self.emit(EventType::RunCompleted, None, json!({ "output": output }));
    }

    /// The workflow's `outputSchema`, checked against the final `ctx`: a
    /// mismatch is a warning, never a failure (DESIGN §5).
    fn output_schema_mismatch(&self, output: &Value) -> Option<String> {
        let schema = self.workflow.output_schema.as_ref()?;
        let validator = match jsonschema::validator_for(schema) {
            Ok(validator) => validator,
            Err(e) => return Some(format!("outputSchema cannot be compiled: {e}")),
        };
        let problems: Vec<String> = validator
            .iter_errors(output)
            .take(5)
            .map(|e| format!("{} at `{}`", e, e.instance_path()))
            .collect();
        (!problems.is_empty()).then(|| {
            format!(
                "the final ctx does not match the outputSchema: {}",
                problems.join("; ")
            )
        })
    }

    fn fail_run(&mut self, error: ErrorInfo) {
        self.state.status = RunStatus::Failed;
        self.state.active.clear();
        self.state.error = Some(error.clone());
        self.emit(EventType::RunFailed, None, json!({ "error": error }));
    }
}
