//! DAG front end tests, by subject: the IR a document compiles to
//! (`shape`), what each step type and step option compiles to (`steps`), and
//! the code of each mistake (`errors`). Shared helpers are here.

mod errors;
mod shape;
mod steps;

use super::*;
use crate::model::ir::{Action, Dag, Operation, RetryPolicy, State, StateKind, Transition};
use serde_json::Value;

pub(super) fn compile_yaml(source: &str) -> (Option<Workflow>, Diagnostics) {
    let document: Value = yaml_serde::from_str(source).expect("test YAML parses");
    let mut diagnostics = Diagnostics::default();
    let workflow = compile(document.as_object().expect("a mapping"), &mut diagnostics);
    (workflow, diagnostics)
}

/// Compiles and expects no errors.
pub(super) fn ok(source: &str) -> Workflow {
    let (workflow, diagnostics) = compile_yaml(source);
    assert!(diagnostics.errors.is_empty(), "{:#?}", diagnostics.errors);
    workflow.expect("workflow")
}

/// The error codes with their paths.
pub(super) fn errors(source: &str) -> Vec<(String, String)> {
    let (workflow, diagnostics) = compile_yaml(source);
    assert!(
        workflow.is_none(),
        "a source with errors must not compile: {diagnostics:#?}"
    );
    diagnostics
        .errors
        .iter()
        .map(|d| (d.code.clone(), d.path.clone()))
        .collect()
}

pub(super) fn has_error(source: &str, code: &str, path: &str) {
    let found = errors(source);
    assert!(
        found.iter().any(|(c, p)| c == code && p == path),
        "expected {code} at `{path}`, got {found:?}"
    );
}

pub(super) fn dag(workflow: &Workflow) -> &Dag {
    let state = workflow.state(DAG_STATE).expect("dag state");
    match &state.kind {
        StateKind::Dag(dag) => dag,
        other => panic!("a dag state expected, got {other:?}"),
    }
}

pub(super) fn step<'w>(workflow: &'w Workflow, name: &str) -> &'w DagStep {
    dag(workflow)
        .steps
        .iter()
        .find(|s| s.state.name == name)
        .unwrap_or_else(|| panic!("step {name}"))
}

pub(super) fn operation<'w>(workflow: &'w Workflow, name: &str) -> &'w Operation {
    match &step(workflow, name).state.kind {
        StateKind::Operation(op) => op,
        other => panic!("an operation expected, got {other:?}"),
    }
}

pub(super) fn params<'w>(workflow: &'w Workflow, name: &str) -> (&'w str, &'w Value) {
    match &operation(workflow, name).action {
        Action::Executor(call) => (call.executor.as_str(), &call.params),
        other => panic!("an executor expected, got {other:?}"),
    }
}

/// A DAG step running `action` with the default options: no timeout, one
/// attempt, its result at `steps.<name>`, no dependencies or condition.
pub(crate) fn operation_step(name: &str, action: Action) -> DagStep {
    DagStep {
        state: State {
            name: name.into(),
            kind: StateKind::Operation(Operation {
                action,
                timeout_seconds: None,
                retry: RetryPolicy::default(),
                result_path: Some(format!("steps.{name}")),
            }),
            transition: Transition::End,
            catch: vec![],
        },
        depends_on: vec![],
        condition: None,
    }
}
