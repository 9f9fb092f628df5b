//! The DAG runtime (the `Dag` state of the DAG form and composer graphs).
//!
//! Entering a `Dag` state records a [`DagProgress`] in the snapshot and
//! dispatches every step whose dependencies are done. A step starts when each
//! dependency succeeded or was skipped, and its condition (if any) holds; a
//! false condition skips it (its dependents still run). A step that fails
//! after its retries blocks its dependents, which never run; independent
//! steps go on. When nothing is running and nothing can start, the DAG is
//! over: with any failure the first failure's error (naming the blocked
//! steps) goes to the DAG state's `catch`, or fails the run; otherwise the
//! state's transition is taken.
//!
//! A DAG step's path is `<dag state>/<step>` and its step id hashes the step
//! name with the DAG state as branch path.

use super::apply::Step;
use super::effect::StepRef;
use crate::ids::{StepLocation, step_id};
use crate::model::{Dag, DagStep, Operation, StateKind, Transition};
use crate::wire::ErrorInfo;
use crate::wire::error::codes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// How the steps of the running DAG stand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DagProgress {
    /// The `Dag` state's name.
    pub state: String,
    /// Steps dispatched (running or done), with their outcome once done.
    pub steps: BTreeMap<String, DagOutcome>,
}

/// Where one DAG step stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum DagOutcome {
    Running,
    Succeeded,
    Skipped,
    Failed {
        error: ErrorInfo,
    },
    /// A dependency failed or was blocked: the step never runs.
    Blocked,
}

impl DagOutcome {
    fn lets_dependents_run(&self) -> bool {
        matches!(self, Self::Succeeded | Self::Skipped)
    }

    fn stops_dependents(&self) -> bool {
        matches!(self, Self::Failed { .. } | Self::Blocked)
    }
}

/// `(dag state, step)` of a DAG step's path, `None` for other paths.
pub fn split_path(path: &str) -> Option<(&str, &str)> {
    path.split_once('/')
}

impl<'a> Step<'a> {
    /// Enters a `Dag` state: records it and starts what can start.
    pub(super) fn enter_dag(&mut self, name: &str) {
        self.state.dag = Some(DagProgress {
            state: name.to_owned(),
            steps: BTreeMap::new(),
        });
        self.advance_dag();
    }

    /// The DAG and one of its steps, by the step's path.
    pub(super) fn dag_step(&self, path: &str) -> Option<(&'a Dag, &'a DagStep)> {
        let (dag_state, step) = split_path(path)?;
        let workflow = self.workflow;
        let StateKind::Dag(dag) = &workflow.state(dag_state)?.kind else {
            return None;
        };
        let found = dag.steps.iter().find(|s| s.state.name == step)?;
        Some((dag, found))
    }

    /// The operation of a DAG step, by its path.
    pub(super) fn dag_operation(&self, path: &str) -> Option<&'a Operation> {
        match &self.dag_step(path)?.1.state.kind {
            StateKind::Operation(op) => Some(op),
            _ => None,
        }
    }

    /// A DAG step finished (after its retries): record it and go on.
    pub(super) fn dag_step_done(&mut self, path: &str, outcome: DagOutcome) {
        let Some((_, step)) = split_path(path) else {
            return;
        };
        if let Some(progress) = self.state.dag.as_mut() {
            progress.steps.insert(step.to_owned(), outcome);
        }
        self.advance_dag();
    }

    /// Starts every step that can start, until nothing changes; ends the DAG
    /// when nothing runs.
    fn advance_dag(&mut self) {
        loop {
            if self.state.status.is_terminal() {
                return;
            }
            let Some(progress) = self.state.dag.clone() else {
                return;
            };
            let Some(state) = self.workflow.state(&progress.state) else {
                return;
            };
            let StateKind::Dag(dag) = &state.kind else {
                return;
            };
            let mut changed = false;
            for step in &dag.steps {
                let name = step.state.name.as_str();
                if progress.steps.contains_key(name) {
                    continue;
                }
                let outcomes: Vec<Option<&DagOutcome>> = step
                    .depends_on
                    .iter()
                    .map(|d| progress.steps.get(d))
                    .collect();
                if outcomes
                    .iter()
                    .any(|o| o.is_some_and(DagOutcome::stops_dependents))
                {
                    self.set_outcome(name, DagOutcome::Blocked);
                    changed = true;
                } else if outcomes
                    .iter()
                    .all(|o| o.is_some_and(DagOutcome::lets_dependents_run))
                {
                    self.start_dag_step(&progress.state, step);
                    changed = true;
                }
                if self.state.status.is_terminal() {
                    return;
                }
            }
            if !changed {
                break;
            }
        }
        self.finish_dag_if_idle();
    }

    fn set_outcome(&mut self, step: &str, outcome: DagOutcome) {
        if let Some(progress) = self.state.dag.as_mut() {
            progress.steps.insert(step.to_owned(), outcome);
        }
    }

    fn start_dag_step(&mut self, dag_state: &str, step: &'a DagStep) {
        let name = step.state.name.as_str();
        let mut step_ref = StepRef {
            step_id: step_id(
                &self.meta.run_id,
                &StepLocation {
                    state: name,
                    branch_path: dag_state,
                    visit: 0,
                },
            ),
            state: name.to_owned(),
            path: format!("{dag_state}/{name}"),
            attempt: 1,
        };
        let recalled = self.recall(&mut step_ref, &step.state, true);
        if let Some(condition) = &step.condition {
            let bindings = self.bindings(None, false);
            let held = crate::expr::CompiledExpr::cached(condition)
                .and_then(|expr| expr.evaluate_bool(&bindings));
            match held {
                Ok(true) => {}
                Ok(false) => {
                    self.set_outcome(name, DagOutcome::Skipped);
                    self.record_inline(
                        step_ref,
                        json!({ "condition": condition }),
                        json!({ "skipped": true }),
                    );
                    return;
                }
                Err(error) => {
                    let error = ErrorInfo::new(
                        codes::CONDITION_ERROR,
                        format!("step `{name}`: {}", error.in_role("condition")),
                    )
                    .not_retryable();
                    self.fail_inline(step_ref, json!({ "condition": condition }), error);
                    return;
                }
            }
        }
        let StateKind::Operation(operation) = &step.state.kind else {
            self.fail_run(ErrorInfo::new(
                codes::INTERNAL,
                format!("DAG step `{name}` is not an operation"),
            ));
            return;
        };
        self.set_outcome(name, DagOutcome::Running);
        match recalled {
            Some(outcome) => self.replay_later(step_ref, false, outcome),
            None => self.dispatch(step_ref, operation),
        }
    }

    fn finish_dag_if_idle(&mut self) {
        let Some(progress) = self.state.dag.clone() else {
            return;
        };
        let Some(state) = self.workflow.state(&progress.state) else {
            return;
        };
        let StateKind::Dag(dag) = &state.kind else {
            return;
        };
        let running = progress
            .steps
            .values()
            .any(|o| matches!(o, DagOutcome::Running));
        let all_settled = dag
            .steps
            .iter()
            .all(|s| progress.steps.contains_key(&s.state.name));
        if running || !all_settled {
            return;
        }
        self.state.dag = None;
        let first_failure =
            dag.steps
                .iter()
                .find_map(|s| match progress.steps.get(&s.state.name) {
                    Some(DagOutcome::Failed { error }) => Some(error.clone()),
                    _ => None,
                });
        if let Some(mut error) = first_failure {
            let blocked: Vec<&str> = progress
                .steps
                .iter()
                .filter(|(_, o)| matches!(o, DagOutcome::Blocked))
                .map(|(name, _)| name.as_str())
                .collect();
            if !blocked.is_empty() {
                error.message =
                    format!("{} (blocked steps: {})", error.message, blocked.join(", "));
            }
            return self.catch_or_fail(&progress.state.clone(), error);
        }
        match state.transition.clone() {
            Transition::Next(next) => self.enter(&next),
            Transition::End | Transition::Decided => self.complete(),
        }
    }
}
