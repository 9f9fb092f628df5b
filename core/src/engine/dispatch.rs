//! Handing steps to the workers: rendering a task, dispatching it (first
//! attempt, retry, or a retry timer that fired), and failing a step that
//! cannot be sent.

use super::apply::Step;
use super::child;
use super::dag;
use super::effect::{Effect, InlineStep, StepRef};
use super::state::{ActiveStatus, ActiveStep, Wait};
use super::template::{self, Scope};
use crate::ids::StepId;
use crate::model::{Action, AgentCall, Operation};
use crate::status::StepStatus;
use crate::wire::error::codes;
use crate::wire::{ErrorInfo, EventType, StepTask, TaskAction, WorkflowRef};
use serde_json::{Value, json};

impl<'a> Step<'a> {
    /// Resolves the step's templates and hands it to the workers. A template
    /// that does not resolve fails the step, and with it the run.
    pub(super) fn dispatch(&mut self, step: StepRef, operation: &Operation) {
        if child::is_child(operation) {
            return self.start_child_step(step, operation);
        }
        if let Action::HumanApproval(approval) = &operation.action {
            return self.request_approval(step, operation, approval);
        }
        if let Action::SignalWait(wait) = &operation.action {
            return self.wait_for_signal(step, operation, wait);
        }
        match self.resolve(operation, &step.path) {
            Ok(action) => {
                self.state.active.push(ActiveStep::new(
                    &step,
                    ActiveStatus::Running,
                    self.now.timestamp_millis(),
                ));
                let task = self.task(&step, action, operation);
                self.send(&step, task);
            }
            Err(error) => self.fail_before_dispatch(step, error),
        }
    }

    /// Sends a task to the workers, unless it is larger than the payload
    /// limit: then the attempt fails with `PAYLOAD_TOO_LARGE` as if its
    /// worker had refused it, recorded here and applied at the top level
    /// once the input is (see `Step::settle`), never retried.
    fn send(&mut self, step: &StepRef, task: StepTask) {
        let size = crate::wire::json_len(&task);
        if size <= self.payload_limit {
            self.unclaimed_timer(&task);
            return self.effects.push(Effect::Dispatch(task));
        }
        let error = ErrorInfo::new(
            codes::PAYLOAD_TOO_LARGE,
            format!(
                "step input is {size} bytes; the limit is {}",
                self.payload_limit
            ),
        )
        .not_retryable();
        self.emit(
            EventType::StepFailed,
            Some(step.clone()),
            json!({ "error": error }),
        );
        self.effects.push(Effect::RecordInline(InlineStep {
            step: step.clone(),
            status: StepStatus::Failed,
            input: Value::Null,
            output: None,
            error: Some(error.clone()),
        }));
        self.bounced
            .push((step.step_id.clone(), step.attempt, error));
    }

    /// A step that could not even be sent (its templates do not resolve…):
    /// recorded as failed, then caught or failing its scope.
    pub(super) fn fail_before_dispatch(&mut self, step: StepRef, error: ErrorInfo) {
        let error = self.locate(error, &step);
        self.emit(
            EventType::StepFailed,
            Some(step.clone()),
            json!({ "error": error }),
        );
        let state = step.state.clone();
        self.effects.push(Effect::RecordInline(InlineStep {
            step,
            status: StepStatus::Failed,
            input: Value::Null,
            output: None,
            error: Some(error.clone()),
        }));
        self.catch_or_fail(&state, error);
    }

    /// The task action with its templates rendered. Without an explicit
    /// input an agent gets the previous output, except inside a DAG, where
    /// "previous" depends on timing: there it gets `ctx`. Any other
    /// executor gets its parameters rendered the same way (a whole-string
    /// template keeps its JSON type).
    #[allow(
        clippy::result_large_err,
        reason = "ErrorInfo is the run's error as stored; it is built once per failed step"
    )]
    pub(super) fn resolve(
        &self,
        operation: &Operation,
        path: &str,
    ) -> Result<TaskAction, ErrorInfo> {
        let call = match &operation.action {
            Action::AgentRun(call) => call,
            Action::Executor(call) => {
                let input = self.render(&call.params)?;
                return TaskAction::for_executor(&call.executor, input).ok_or_else(|| {
                    ErrorInfo::new(
                        codes::UNSUPPORTED,
                        format!("action `{}` does not run on workers", call.executor),
                    )
                    .not_retryable()
                });
            }
            other => {
                return Err(ErrorInfo::new(
                    codes::UNSUPPORTED,
                    format!("action `{}` does not run on workers", other.name()),
                )
                .not_retryable());
            }
        };
        let AgentCall {
            agent,
            task,
            input,
            variables,
            ..
        } = call;
        let input = match input {
            Some(input) => self.render(input)?,
            // A DAG step (`<dag>/<step>` at the top level; a DAG never runs
            // in a frame). Steps of branches and items have paths with `/`
            // too, and get their frame's previous output: the item, or the
            // output before the fan-out (PROTOCOL §8.8).
            None if self.current.is_empty() && dag::split_path(path).is_some() => {
                self.state.output()
            }
            None => self
                .state
                .previous_output
                .clone()
                .unwrap_or_else(|| self.state.output()),
        };
        Ok(TaskAction::AgentRun {
            agent: agent.clone(),
            task: call.task_or_default(task.as_ref().map(|t| self.render(t)).transpose()?, &input),
            input,
            variables: variables
                .as_ref()
                .map(|v| self.render(v))
                .transpose()?
                .unwrap_or(Value::Object(Default::default())),
        })
    }

    /// Renders the templates of `value` against the run; a path that does
    /// not resolve is `TEMPLATE_PATH`.
    #[allow(
        clippy::result_large_err,
        reason = "ErrorInfo is the run's error as stored; it is built once per failed step"
    )]
    fn render(&self, value: &Value) -> Result<Value, ErrorInfo> {
        let scope = Scope {
            context: &self.state.context,
            input: &self.state.input,
        };
        let rendered = template::render(value, &scope)
            .map_err(|e| ErrorInfo::new(codes::TEMPLATE_PATH, e.to_string()).not_retryable())?;
        // What a template produced is stored with the attempt.
        match crate::wire::storable::invalid_output("rendered input", &rendered) {
            Some(error) => Err(error),
            None => Ok(rendered),
        }
    }

    pub(super) fn task(
        &self,
        step: &StepRef,
        action: TaskAction,
        operation: &Operation,
    ) -> StepTask {
        StepTask {
            run_id: self.meta.run_id.to_string(),
            step_id: step.step_id.to_string(),
            state: step.state.clone(),
            path: step.path.clone(),
            attempt: step.attempt,
            timeout_seconds: operation.effective_timeout_seconds(),
            workflow: WorkflowRef {
                id: self.workflow.id.clone(),
                name: self.workflow.name.clone(),
                tenant: self.meta.tenant.clone(),
                version: self.meta.version,
                definition_version: self.workflow.definition_version.clone(),
                node_index: self.workflow.node_index(),
            },
            correlation_id: match &action {
                TaskAction::SignalEmit { .. } => self.state.correlation_id.clone(),
                _ => None,
            },
            bindings: match &action {
                TaskAction::StarlarkEval { input } => Some(self.starlark_bindings(input)),
                _ => None,
            },
            action,
            traceparent: None,
        }
    }

    /// What a `starlark.eval` expression reads (docs/language.md §9): the
    /// context's `ctx`, `steps` and `signal`, and `input`, the step's own
    /// `input` parameter when it has one, else the run input.
    fn starlark_bindings(&self, params: &Value) -> Value {
        let context = &self.state.context;
        let field = |name: &str| context.get(name).cloned().unwrap_or(Value::Null);
        json!({
            "ctx": field("ctx"),
            "steps": field("steps"),
            "signal": field("signal"),
            "input": params.get("input").cloned().unwrap_or_else(|| self.state.input.clone()),
        })
    }

    pub(super) fn timer_fired(&mut self, step_id: &StepId, attempt: u32) {
        if self.state.status.is_terminal() {
            return;
        }
        let Some((index, path)) = self
            .state
            .active
            .iter()
            .enumerate()
            .find(|(_, a)| a.is(step_id, attempt) && a.wait() == Some(&Wait::RetryTimer))
            .map(|(index, a)| (index, a.path.clone()))
        else {
            return;
        };
        let child = self.operation_for(&path).is_some_and(child::is_child);
        if let Some(active) = self.state.active.get_mut(index) {
            active.status = if child {
                ActiveStatus::Waiting(Wait::Child)
            } else {
                ActiveStatus::Running
            };
        }
        self.redispatch(step_id, attempt);
    }

    /// Dispatches a new attempt of an active step, re-resolving its templates.
    pub(super) fn redispatch(&mut self, step_id: &StepId, attempt: u32) {
        let Some(active) = self
            .state
            .active
            .iter()
            .find(|a| a.is(step_id, attempt))
            .cloned()
        else {
            return;
        };
        let Some((operation, _)) = self.operation_of(&active.path) else {
            return;
        };
        let step = active.step_ref();
        if active.wait() == Some(&Wait::Child) {
            return self.in_scope_of(&step.path.clone(), |s| s.restart_child(step, operation));
        }
        self.in_scope_of(&step.path.clone(), |s| {
            match s.resolve(operation, &step.path) {
                Ok(action) => {
                    let task = s.task(&step, action, operation);
                    s.send(&step, task);
                }
                Err(error) => {
                    s.state.active.retain(|a| a.step_id != step.step_id);
                    let error = s.locate(error, &step);
                    s.catch_or_fail(&step.state, error);
                }
            }
        });
    }
}
