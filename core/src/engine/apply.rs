//! The transitions: how each input moves a run and which effects it implies.

use super::child;
use super::dag::{self, DagOutcome};
use super::effect::{Effect, EventDraft, InlineStep, StepRef};
use super::frames::Pending;
use super::state::{ActiveStep, ParentLink, RunMeta, RunState};
use super::template::{self, Scope};
use crate::expr::{Bindings, CompiledExpr};
use crate::ids::{StepLocation, step_id};
use crate::model::{
    Action, AgentCall, Operation, StateKind, Switch, Transform, Transition, Workflow, path,
};
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
        /// The parent step, when this run is a `workflow.run` child.
        parent: Option<ParentLink>,
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
    /// The coordinator's backstop deadline of a claimed attempt passed with
    /// no result: the step times out (its retry policy applies).
    StepDeadline { step_id: String, attempt: u32 },
    /// The run's own timeout (`timeoutSeconds` at the top level) is due.
    RunTimeout,
    /// An operator (or a cancelled parent) cancels the run.
    Cancel {
        actor: Option<String>,
        reason: Option<String>,
    },
    /// A person approved or rejected a `human.approval` step.
    ApprovalDecided {
        step_id: String,
        attempt: u32,
        approved: bool,
        actor: Option<String>,
        comment: Option<String>,
        /// RFC 3339, as recorded with the decision.
        decided_at: String,
    },
    /// A `human.approval` step's timeout passed.
    ApprovalTimeout { step_id: String, attempt: u32 },
    /// A named signal was delivered into the run; `id` (a CloudEvent's)
    /// makes a redelivery harmless.
    SignalReceived {
        name: String,
        data: Value,
        id: Option<String>,
    },
    /// A `signal.wait` step's timeout passed.
    WaitTimeout { step_id: String, attempt: u32 },
    /// Stop scheduling new steps; steps in flight finish.
    Pause {
        actor: Option<String>,
        reason: Option<String>,
    },
    /// Schedule again what a pause held back.
    Resume {
        actor: Option<String>,
        reason: Option<String>,
    },
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
        current: String::new(),
        pending: Vec::new(),
        parked: None,
    };
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
        Input::StepDeadline { step_id, attempt } => run.step_deadline(&step_id, attempt),
        Input::RunTimeout => run.time_out(),
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
    }
    run.drain_pending();
    run.hold_while_paused();
    run.effects
}

/// A value as compact JSON, cut to a length fit for an error message.
fn preview(value: &Value) -> String {
    const MAX: usize = 200;
    let text = value.to_string();
    if text.len() <= MAX {
        return text;
    }
    let cut = (0..=MAX)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}

/// Where an active step's state is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Site {
    Top,
    Dag,
    Frame(String),
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
    /// The top-level context while a frame's view is in effect.
    pub(super) parked: Option<Value>,
}

impl<'a> Step<'a> {
    pub(super) fn emit(&mut self, kind: EventType, step: Option<StepRef>, data: Value) {
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
        if let Some(seconds) = self.workflow.timeout_seconds {
            let fire_at_ms = self.now.timestamp_millis() + (seconds as i64).saturating_mul(1000);
            self.effects.push(Effect::StartRunTimer { fire_at_ms });
        }
        let start = self.workflow.start.clone();
        self.enter(&start);
    }

    /// Runs inline states from `name` on, until a step is dispatched or the run ends.
    pub(super) fn enter(&mut self, name: &str) {
        let mut current = name.to_owned();
        loop {
            let Some(state) = self.scope_state(&current) else {
                self.fail_run(ErrorInfo::new(
                    codes::INTERNAL,
                    format!("state `{current}` is missing from the definition"),
                ));
                return;
            };
            let visit = self.state.visits.entry(current.clone()).or_insert(0);
            let visit_now = *visit;
            *visit += 1;
            let step = StepRef {
                step_id: step_id(
                    &self.meta.run_id,
                    &StepLocation {
                        state: &current,
                        branch_path: &self.current,
                        visit: visit_now,
                    },
                )
                .to_string(),
                state: current.clone(),
                path: self.scoped_path(&current),
                attempt: 1,
            };
            let transition = state.transition.clone();
            match &state.kind {
                StateKind::Inject { data, result_path } => {
                    self.inject(step, data, result_path.as_deref())
                }
                StateKind::Operation(operation) => {
                    self.dispatch(step, operation);
                    return;
                }
                StateKind::Switch(switch) => match self.switch(step, switch, &current) {
                    Some(next) => {
                        current = next;
                        continue;
                    }
                    None => return,
                },
                StateKind::Transform(transform) => {
                    if !self.transform(step, transform, &current) {
                        return;
                    }
                }
                StateKind::Dag(_) if self.current.is_empty() => return self.enter_dag(&current),
                StateKind::Dag(_) => {
                    return self.fail_run(ErrorInfo::new(
                        codes::UNSUPPORTED,
                        format!("state `{current}`: a DAG runs only at the top level"),
                    ));
                }
                StateKind::Parallel(_) | StateKind::Foreach(_) => return self.fork(step, state),
            }
            match transition {
                Transition::Next(next) => current = next,
                Transition::End => return self.end_scope(),
                Transition::Decided => {
                    return self.fail_run(ErrorInfo::new(
                        codes::INTERNAL,
                        format!("state `{current}` has no fixed transition"),
                    ));
                }
            }
        }
    }

    /// The expression bindings of DESIGN §5 for the current context.
    pub(super) fn bindings(&self, result: Option<&Value>, in_switch: bool) -> Bindings {
        Bindings::for_context(
            &self.state.context,
            &self.state.input,
            result,
            in_switch,
            &[],
        )
    }

    /// Evaluates a switch: the next state, or `None` when the run failed.
    fn switch(&mut self, step: StepRef, switch: &Switch, state: &str) -> Option<String> {
        let data = switch
            .data_path
            .as_deref()
            .and_then(path::segments)
            .and_then(|parts| path::get(&self.state.context, &parts).cloned());
        let bindings = self.bindings(data.as_ref(), true);
        let input = json!({ "dataPath": switch.data_path, "value": data });
        for (index, case) in switch.conditions.iter().enumerate() {
            let held = CompiledExpr::cached(&case.condition)
                .and_then(|expr| expr.evaluate_bool(&bindings));
            match held {
                Ok(false) => {}
                Ok(true) => {
                    let output =
                        json!({ "matched": index, "condition": case.condition, "next": case.next });
                    self.record_inline(step, input, output);
                    return Some(case.next.clone());
                }
                Err(error) => {
                    let error = ErrorInfo::new(
                        codes::CONDITION_ERROR,
                        format!("switch `{state}`: {}", error.in_role("condition")),
                    )
                    .not_retryable();
                    self.fail_inline(step, input, error);
                    return None;
                }
            }
        }
        match &switch.default_next {
            Some(next) => {
                let output = json!({ "matched": "default", "next": next });
                self.record_inline(step, input, output);
                Some(next.clone())
            }
            None => {
                let error = ErrorInfo::new(
                    codes::NO_MATCHING_CONDITION,
                    format!(
                        "switch `{state}`: no condition held for {} = {} and there is no defaultNext",
                        switch.data_path.as_deref().unwrap_or("dataPath"),
                        preview(data.as_ref().unwrap_or(&Value::Null))
                    ),
                )
                .not_retryable();
                self.fail_inline(step, input, error);
                None
            }
        }
    }

    /// Evaluates a transform; `false` when the run failed.
    fn transform(&mut self, step: StepRef, transform: &Transform, state: &str) -> bool {
        let bindings = self.bindings(None, false);
        let input = json!({ "expression": transform.expression });
        let value =
            CompiledExpr::cached(&transform.expression).and_then(|expr| expr.evaluate(&bindings));
        match value {
            Ok(value) => {
                match transform.result_path.as_deref().and_then(path::segments) {
                    Some(parts) => self.write_result(&parts, value.clone()),
                    None => self.merge_into_ctx(&value),
                }
                self.state.previous_output = Some(value.clone());
                self.record_inline(step, input, value);
                true
            }
            Err(error) => {
                let error = ErrorInfo::new(
                    codes::TRANSFORM_ERROR,
                    format!("transform `{state}`: {}", error.in_role("expression")),
                )
                .not_retryable();
                self.fail_inline(step, input, error);
                false
            }
        }
    }

    /// Records an inline state that succeeded: started, completed, and its row.
    pub(super) fn record_inline(&mut self, step: StepRef, input: Value, output: Value) {
        self.emit(
            EventType::StepStarted,
            Some(step.clone()),
            json!({ "input": input }),
        );
        self.emit(
            EventType::StepCompleted,
            Some(step.clone()),
            json!({ "output": output }),
        );
        self.effects.push(Effect::RecordInline(InlineStep {
            step,
            status: StepStatus::Succeeded,
            input,
            output: Some(output),
            error: None,
        }));
    }

    /// Records an inline state that failed, and fails the run with its error.
    pub(super) fn fail_inline(&mut self, step: StepRef, input: Value, error: ErrorInfo) {
        let error = self.locate(error, &step);
        self.emit(
            EventType::StepStarted,
            Some(step.clone()),
            json!({ "input": input }),
        );
        self.emit(
            EventType::StepFailed,
            Some(step.clone()),
            json!({ "error": error }),
        );
        let state = step.state.clone();
        self.effects.push(Effect::RecordInline(InlineStep {
            step,
            status: StepStatus::Failed,
            input,
            output: None,
            error: Some(error.clone()),
        }));
        self.catch_or_fail(&state, error);
    }

    fn inject(&mut self, step: StepRef, data: &Value, result_path: Option<&str>) {
        match result_path.and_then(path::segments) {
            Some(parts) => self.write_result(&parts, data.clone()),
            None => self.merge_into_ctx(data),
        }
        self.record_inline(step, data.clone(), data.clone());
    }

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
                self.state.active.push(ActiveStep {
                    step_id: step.step_id.clone(),
                    state: step.state.clone(),
                    path: step.path.clone(),
                    attempt: step.attempt,
                    dispatched: true,
                    child: false,
                    approval: false,
                    signal: None,
                });
                self.effects
                    .push(Effect::Dispatch(self.task(&step, action, operation)));
            }
            Err(error) => self.fail_before_dispatch(step, error),
        }
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
    /// "previous" depends on timing: there it gets `ctx`.
    #[allow(
        clippy::result_large_err,
        reason = "ErrorInfo is the run's error as stored; it is built once per failed step"
    )]
    fn resolve(&self, operation: &Operation, path: &str) -> Result<TaskAction, ErrorInfo> {
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
                node_index: self.workflow.node_index(),
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

    /// Where an active step's state lives, by its path.
    fn site_of(&self, path: &str) -> Site {
        match path.rsplit_once('/') {
            None => Site::Top,
            Some((frame, _)) if self.state.frames.contains_key(frame) => {
                Site::Frame(frame.to_owned())
            }
            Some(_) => Site::Dag,
        }
    }

    /// The operation an active step runs, by its path: a top-level state, a
    /// state of a frame (`<frame>/<state>`), or a DAG step (`<dag>/<step>`,
    /// whose transition is the DAG's business).
    fn operation_of(&self, path: &str) -> Option<(&'a Operation, Transition)> {
        let found = match self.site_of(path) {
            Site::Dag => return self.dag_operation(path).map(|op| (op, Transition::End)),
            Site::Top => {
                let workflow: &'a Workflow = self.workflow;
                workflow.state(path)?
            }
            Site::Frame(frame) => {
                let route = self.state.frames.get(&frame)?.route.clone();
                let name = path.rsplit('/').next()?;
                self.graph_of_route(&route)?
                    .iter()
                    .find(|s| s.name == name)?
            }
        };
        match &found.kind {
            StateKind::Operation(op) => Some((op, found.transition.clone())),
            _ => None,
        }
    }

    /// The operation of the state at `path` (any site).
    pub(super) fn operation_for(&self, path: &str) -> Option<&'a Operation> {
        self.operation_of(path).map(|(op, _)| op)
    }

    /// The approval settings of the `human.approval` step at `path`.
    pub(super) fn approval_of(&self, path: &str) -> Option<&'a crate::model::Approval> {
        match &self.operation_of(path)?.0.action {
            Action::HumanApproval(approval) => Some(approval),
            _ => None,
        }
    }

    /// Runs `f` in the scope of the active step at `path`.
    pub(super) fn in_scope_of_path(&mut self, path: &str, f: impl FnOnce(&mut Self)) {
        self.in_scope_of(path, f);
    }

    fn in_scope_of(&mut self, path: &str, f: impl FnOnce(&mut Self)) {
        match self.site_of(path) {
            Site::Frame(frame) => self.with_frame(&frame, f),
            Site::Top | Site::Dag => f(self),
        }
    }

    fn step_succeeded(&mut self, step_id: &str, attempt: u32, output: Value) {
        let Some(active) = self.take_active(step_id, attempt) else {
            return;
        };
        if active.approval || active.signal.is_some() {
            // Waits end by a decision or a signal, never by a worker's result.
            self.state.active.push(active);
            return;
        }
        let record = active.child;
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
            s.state.previous_output = Some(output);
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

    fn step_failed(&mut self, step_id: &str, attempt: u32, error: ErrorInfo) {
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
        let active_child = active.child;
        let step = active.step_ref();
        if attempt < retry.max_attempts && retry.retries(&error.code, error.retryable) {
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
    /// attempt still waiting for its worker's result is timed out.
    fn step_deadline(&mut self, step_id: &str, attempt: u32) {
        let waiting = self.state.active.iter().any(|a| {
            a.step_id == step_id
                && a.attempt == attempt
                && a.dispatched
                && !a.child
                && !a.approval
                && a.signal.is_none()
        });
        if !waiting {
            return;
        }
        let error = ErrorInfo::new(
            codes::STEP_TIMEOUT,
            "no result within the step's timeout: the worker holding it is presumed lost",
        );
        self.step_failed(step_id, attempt, error);
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
        let Some((operation, _)) = self.operation_of(&active.path) else {
            return;
        };
        let step = active.step_ref();
        if active.child {
            return self.in_scope_of(&step.path.clone(), |s| s.restart_child(step, operation));
        }
        self.in_scope_of(&step.path.clone(), |s| {
            match s.resolve(operation, &step.path) {
                Ok(action) => {
                    let task = s.task(&step, action, operation);
                    s.effects.push(Effect::Dispatch(task));
                }
                Err(error) => {
                    s.state.active.retain(|a| a.step_id != step.step_id);
                    let error = s.locate(error, &step);
                    s.catch_or_fail(&step.state, error);
                }
            }
        });
    }

    /// Adds where an error happened, keeping the original as `cause` context.
    pub(super) fn locate(&self, mut error: ErrorInfo, step: &StepRef) -> ErrorInfo {
        error.state.get_or_insert_with(|| step.state.clone());
        error.step_id.get_or_insert_with(|| step.step_id.clone());
        error.attempt.get_or_insert(step.attempt);
        error
    }

    pub(super) fn complete(&mut self) {
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
        self.emit(
            EventType::RunCompleted,
            None,
            json!({ "output": output.clone() }),
        );
        self.notify_parent(Some(output), None);
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
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        (!problems.is_empty()).then(|| {
            format!(
                "the final ctx does not match the outputSchema: {}",
                problems.join("; ")
            )
        })
    }

    pub(super) fn fail_run(&mut self, error: ErrorInfo) {
        self.state.status = RunStatus::Failed;
        self.state.active.clear();
        self.state.error = Some(error.clone());
        self.emit(EventType::RunFailed, None, json!({ "error": error }));
        self.notify_parent(None, Some(error));
    }
}
