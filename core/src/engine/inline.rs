//! The states that run inline in the coordinator, in the order a flow
//! meets them: [`Step::enter`] walks inject, switch and transform states
//! until a step is dispatched, a fan-out or DAG starts, or the scope ends.

use super::apply::Step;
use super::effect::{Effect, InlineStep, StepRef};
use crate::expr::{Bindings, CompiledExpr};
use crate::ids::{StepLocation, step_id};
use crate::model::{StateKind, Switch, Transform, Transition, path};
use crate::status::StepStatus;
use crate::wire::error::codes;
use crate::wire::storable;
use crate::wire::{ErrorInfo, EventType};
use serde_json::{Value, json};

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

impl<'a> Step<'a> {
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
            let mut step = StepRef {
                step_id: step_id(
                    &self.meta.run_id,
                    &StepLocation {
                        state: &current,
                        branch_path: &self.current,
                        visit: visit_now,
                    },
                ),
                state: current.clone(),
                path: self.scoped_path(&current),
                attempt: 1,
            };
            // A redrive's replay: a recorded outcome applied as it was.
            let recalled = self.recall(&mut step, state, false);
            let transition = state.transition.clone();
            match &state.kind {
                StateKind::Inject { data, result_path } => {
                    if !self.inject(step, data, result_path.as_deref()) {
                        return;
                    }
                }
                StateKind::Operation(operation) => {
                    match recalled {
                        Some(outcome) => self.replay_later(step, false, outcome),
                        None => self.dispatch(step, operation),
                    }
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
                StateKind::Parallel(_) | StateKind::Foreach(_) => {
                    return match recalled {
                        Some(outcome) => self.replay_later(step, true, outcome),
                        None => self.fork(step, state),
                    };
                }
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

    /// The expression bindings of docs/language.md §2 for the current context.
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
    pub(super) fn switch(&mut self, step: StepRef, switch: &Switch, state: &str) -> Option<String> {
        let data = switch
            .data_path
            .as_deref()
            .and_then(path::segments)
            .and_then(|parts| path::read(&self.state.context, &parts).cloned());
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

    /// Evaluates a transform; `false` when the run failed. Its `input` is
    /// the previous output (`ctx` before any); its value is the step's
    /// output, goes to `resultPath` (without one, an object is merged into
    /// `ctx`) and becomes the previous output.
    pub(super) fn transform(&mut self, step: StepRef, transform: &Transform, state: &str) -> bool {
        let previous = self
            .state
            .previous_output
            .clone()
            .unwrap_or_else(|| self.state.output());
        let bindings = Bindings::for_context(&self.state.context, &previous, None, false, &[]);
        let input = json!({ "expression": transform.expression });
        let value = CompiledExpr::compile_block(&transform.expression)
            .and_then(|expr| expr.evaluate(&bindings));
        if let Some(error) = value
            .as_ref()
            .ok()
            .and_then(|value| storable::invalid_output("output", value))
        {
            let message = format!("transform `{state}`: {}", error.message);
            self.fail_inline(step, input, ErrorInfo { message, ..error });
            return false;
        }
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

    /// Records a step that starts to wait (for an approval, a signal or a
    /// child run): its attempt row with the waiting `status`, written in
    /// the transition that stores its `step.started`, so `run.steps` shows
    /// it while it waits. The record of how the wait ends is written over
    /// it (same step and attempt).
    pub(super) fn record_waiting(&mut self, step: StepRef, status: StepStatus, input: Value) {
        self.effects.push(Effect::RecordInline(InlineStep {
            step,
            status,
            input,
            output: None,
            error: None,
        }));
    }

    /// An inject's `data` comes from the stored definition, so it can be
    /// stored; it is checked all the same, like every inline output.
    pub(super) fn inject(
        &mut self,
        step: StepRef,
        data: &Value,
        result_path: Option<&str>,
    ) -> bool {
        if let Some(error) = storable::invalid_output("output", data) {
            self.fail_inline(step, Value::Null, error);
            return false;
        }
        match result_path.and_then(path::segments) {
            Some(parts) => self.write_result(&parts, data.clone()),
            None => self.merge_into_ctx(data),
        }
        self.record_inline(step, data.clone(), data.clone());
        true
    }
}
