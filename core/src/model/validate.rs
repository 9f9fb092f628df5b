//! Checks on the compiled IR that every front end shares. Pure.
//!
//! - [`check`] (always): Starlark expressions parse, and template paths can
//!   resolve where that is known statically.
//! - [`against_registry`] (when the agent registry is at hand): every agent
//!   exists, and along every path the output schema of the agent that feeds
//!   another agent's input is compatible with that input schema.
//!
//! **Which template paths are known.** `input`, `signal` and `workflow.*` are
//! never checked (their content is the caller's). `steps.X…` must be written
//! by some `resultPath` (one path a prefix of the other). A name that a
//! `resultPath` or an `inject` writes is known. The run input (`ctx.X`, or a
//! bare `X`, which Station reads from `ctx`) is known when the `inputSchema`
//! lists `X` among its `properties`; with no `properties` listed it cannot be
//! known, and nothing is reported.
//!
//! **Which agent feeds which.** An `agent.run` without an explicit `input`
//! receives the previous output: the output of the last agent before it. The
//! producers of that value are found by propagating along every transition
//! (switch cases included) and into parallel branches (a branch starts with
//! the value from before the parallel state). `inject`, `switch`, approvals,
//! waits and the other executors pass it through; a `transform` or a join
//! makes it unknown, and unknown producers are not checked.
//! An explicit `input` that is exactly one template naming an agent's
//! `resultPath` also counts as fed by that agent.

mod feeds;
mod paths;
mod registry;

pub use registry::against_registry;

use super::diag::{Diagnostic, Diagnostics};
use super::ir::{Action, State, StateKind, Workflow};
use crate::engine::template::paths_in;
use paths::KnownPaths;
use serde_json::Value;

/// What validation needs to know about a registered agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentSpec {
    pub name: String,
    pub input_schema: Option<Value>,
    pub output_schema: Option<Value>,
}

/// The registry-free checks, run by every compilation.
pub fn check(workflow: &Workflow, diagnostics: &mut Diagnostics) {
    if let Some(filter) = workflow.trigger.as_ref().and_then(|t| t.filter.as_deref()) {
        expression(filter, "trigger.filter", "trigger filter", diagnostics);
    }
    let known = KnownPaths::of(workflow);
    for visit in states_of(workflow) {
        let state = visit.state;
        match &state.kind {
            StateKind::Switch(switch) => {
                for (k, case) in switch.conditions.iter().enumerate() {
                    expression(
                        &case.condition,
                        &format!("{}.conditions[{k}].if", visit.path),
                        &format!("condition of switch `{}`", state.name),
                        diagnostics,
                    );
                }
            }
            StateKind::Transform(transform) => {
                if let Err(error) = crate::expr::check_block_syntax(&transform.expression) {
                    diagnostics.push(Diagnostic::new(
                        "STARLARK_SYNTAX",
                        format!("{}.expression", visit.path),
                        format!(
                            "expression of transform `{}` is not a valid Starlark expression (or statements ending in one): {error}",
                            state.name
                        ),
                    ));
                }
            }
            StateKind::Operation(operation) => {
                if let Action::SignalWait(wait) = &operation.action
                    && let Some(filter) = &wait.filter
                {
                    expression(
                        filter,
                        &format!("{}.input.filter", visit.path),
                        &format!("signal filter of `{}`", state.name),
                        diagnostics,
                    );
                }
                for (field, value) in templated(&operation.action) {
                    let mut sites = Vec::new();
                    template_sites(value, &format!("{}.{field}", visit.path), &mut sites);
                    for (at, template) in sites {
                        known.check(&template, &at, &visit, diagnostics);
                    }
                }
            }
            StateKind::Dag(dag) => {
                for (k, step) in dag.steps.iter().enumerate() {
                    if let Some(condition) = &step.condition {
                        expression(
                            condition,
                            &format!("{}[{k}].condition", dag_steps_path(&visit.path)),
                            &format!("condition of step `{}`", step.state.name),
                            diagnostics,
                        );
                    }
                }
            }
            StateKind::Inject { .. } | StateKind::Parallel(_) | StateKind::Foreach(_) => {}
        }
    }
}

/// Reports an expression that does not parse.
fn expression(source: &str, path: &str, what: &str, diagnostics: &mut Diagnostics) {
    if let Err(error) = crate::expr::check_syntax(source) {
        diagnostics.push(Diagnostic::new(
            "STARLARK_SYNTAX",
            path,
            format!("{what} is not a valid Starlark expression: {error}"),
        ));
    }
}

/// The templated values of an action.
/// The templated values of an action, with where they are written in the
/// states form (relative to the state).
fn templated(action: &Action) -> Vec<(&'static str, &Value)> {
    match action {
        Action::AgentRun(call) => [
            ("input.task", &call.task),
            ("input.input", &call.input),
            ("input.variables", &call.variables),
        ]
        .into_iter()
        .filter_map(|(field, value)| value.as_ref().map(|v| (field, v)))
        .collect(),
        Action::HumanApproval(approval) => approval
            .message
            .iter()
            .map(|m| ("input.message", m))
            .collect(),
        Action::SignalWait(_) => Vec::new(),
        Action::Executor(call) => vec![("input", &call.params)],
    }
}

/// Every template in `value` with the path of the string holding it.
fn template_sites(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(_) => out.extend(paths_in(value).into_iter().map(|t| (at.to_owned(), t))),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                template_sites(item, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                template_sites(item, &format!("{at}.{key}"), out);
            }
        }
        _ => {}
    }
}

/// One state with where it sits: its diagnostic path and the foreach item
/// names in scope.
pub struct Visit<'w> {
    pub state: &'w State,
    pub path: String,
    pub items: Vec<&'w str>,
}

/// Where the steps of a DAG state are listed in the source: a DAG-form
/// document lists them at the top level.
fn dag_steps_path(state_path: &str) -> String {
    if state_path.starts_with("states[") && !state_path.contains('.') {
        "steps".to_owned()
    } else {
        format!("{state_path}.steps")
    }
}

/// Every state of the workflow, depth first, nested graphs included.
pub fn states_of(workflow: &Workflow) -> Vec<Visit<'_>> {
    let mut out = Vec::new();
    walk(&workflow.states, "", &[], &mut out);
    out
}

fn walk<'w>(states: &'w [State], prefix: &str, items: &[&'w str], out: &mut Vec<Visit<'w>>) {
    for (i, state) in states.iter().enumerate() {
        let path = format!("{prefix}states[{i}]");
        match &state.kind {
            StateKind::Parallel(parallel) => {
                for (j, branch) in parallel.branches.iter().enumerate() {
                    walk(
                        &branch.graph.states,
                        &format!("{path}.branches[{j}]."),
                        items,
                        out,
                    );
                }
            }
            StateKind::Foreach(foreach) => {
                let mut inner = items.to_vec();
                inner.push(&foreach.item_name);
                walk(
                    &foreach.iterator.states,
                    &format!("{path}.iterator."),
                    &inner,
                    out,
                );
            }
            StateKind::Dag(dag) => {
                let prefix = dag_steps_path(&path);
                for (k, step) in dag.steps.iter().enumerate() {
                    out.push(Visit {
                        state: &step.state,
                        path: format!("{prefix}[{k}]"),
                        items: items.to_vec(),
                    });
                }
            }
            _ => {}
        }
        out.push(Visit {
            state,
            path,
            items: items.to_vec(),
        });
    }
}

#[cfg(test)]
mod tests;
