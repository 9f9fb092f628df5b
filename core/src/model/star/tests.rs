//! Tests of the Starlark front end: plans compile to the IR, and every way a
//! file can fail is a diagnostic with a position where there is one.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::model::ir::*;

const EXAMPLE: &str = include_str!("../../../../examples/workflows/fanout-plan.workflow.star");

fn only_error(source: &str) -> Diagnostic {
    let compiled = compile(source);
    assert!(compiled.workflow.is_none(), "expected a failure");
    assert_eq!(
        compiled.diagnostics.errors.len(),
        1,
        "{:?}",
        compiled.diagnostics
    );
    compiled.diagnostics.errors[0].clone()
}

fn compiled_ok(source: &str) -> Workflow {
    let compiled = compile(source);
    assert!(
        compiled.diagnostics.errors.is_empty(),
        "{:?}",
        compiled.diagnostics
    );
    compiled.workflow.expect("workflow")
}

const LOOP_PLAN: &str = r#"
def step(i, last):
    s = {"name": "s%d" % i, "type": "operation", "action": "agent.run",
         "input": {"agent": "echo", "task": "step " + str(i)},
         "resultPath": "steps.s%d" % i}
    if last:
        s["end"] = True
    else:
        s["next"] = "s%d" % (i + 1)
    return s

def workflow():
    n = 4
    return {"id": "looped", "states": [step(i, i == n - 1) for i in range(n)]}
"#;

#[test]
fn a_plan_built_with_a_loop_compiles_to_the_ir() {
    let wf = compiled_ok(LOOP_PLAN);
    assert_eq!(wf.id, "looped");
    assert_eq!(wf.start, "s0");
    let names: Vec<&str> = wf.states.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["s0", "s1", "s2", "s3"]);
    assert_eq!(wf.states[0].transition, Transition::Next("s1".into()));
    assert_eq!(wf.states[3].transition, Transition::End);
    let StateKind::Operation(op) = &wf.states[2].kind else {
        panic!("operation expected: {:?}", wf.states[2].kind);
    };
    let Action::AgentRun(call) = &op.action else {
        panic!("agent.run expected");
    };
    assert_eq!(call.agent, "echo");
    assert_eq!(call.task, Some(serde_json::json!("step 2")));
    assert_eq!(op.result_path.as_deref(), Some("steps.s2"));
    // Deterministic: the same file gives the same IR.
    assert_eq!(compiled_ok(LOOP_PLAN), wf);
}

#[test]
fn the_example_file_compiles() {
    let wf = compiled_ok(EXAMPLE);
    assert_eq!(wf.id, "fanout-plan");
    let agents: Vec<(&str, &str)> = wf
        .states
        .iter()
        .map(|s| match &s.kind {
            StateKind::Operation(Operation {
                action: Action::AgentRun(call),
                ..
            }) => (s.name.as_str(), call.agent.as_str()),
            other => panic!("unexpected state {other:?}"),
        })
        .collect();
    assert_eq!(
        agents,
        [("greet", "echo"), ("relay", "echo"), ("shout", "upper")]
    );
    assert_eq!(wf.states[0].transition, Transition::Next("relay".into()));
    assert_eq!(wf.states[1].transition, Transition::Next("shout".into()));
    assert_eq!(wf.states[2].transition, Transition::End);
    let Action::AgentRun(relay) = (match &wf.states[1].kind {
        StateKind::Operation(op) => &op.action,
        _ => unreachable!(),
    }) else {
        unreachable!()
    };
    assert_eq!(relay.task, None);
    assert_eq!(
        plan(EXAMPLE).unwrap()["states"][2]["input"]["task"],
        "hello {{ ctx.name }}"
    );
}

#[test]
fn a_dag_form_plan_and_attribute_access_work() {
    let source = r#"
CONFIG = {"agents": ["echo", "upper"], "id": "dag-plan"}

def workflow():
    steps = []
    for a in CONFIG.agents:
        steps.append({"name": a, "type": "agent", "agent": a, "task": "t",
                      "depends_on": [s.name for s in steps]})
    return {"id": CONFIG.id, "steps": steps}
"#;
    let wf = compiled_ok(source);
    assert_eq!(wf.id, "dag-plan");
    let StateKind::Dag(dag) = &wf.states.last().expect("a state").kind else {
        panic!("dag expected: {:?}", wf.states);
    };
    assert_eq!(dag.steps.len(), 2);
    assert_eq!(dag.steps[1].depends_on, ["echo"]);
}

#[test]
fn a_syntax_error_has_its_position() {
    let d = only_error("def workflow():\n    return {\"id\": \"x\",, }\n");
    assert_eq!(d.code, "STARLARK_SYNTAX");
    assert_eq!((d.line, d.column), (Some(2), Some(23)), "{d:?}");
}

#[test]
fn a_runtime_error_has_its_position() {
    let d = only_error("def workflow():\n    cfg = {\"a\": 1}\n    return {\"id\": cfg.b}\n");
    assert_eq!(d.code, "STARLARK_ERROR");
    assert!(d.message.contains("\"b\""), "{d:?}");
    assert_eq!((d.line, d.column), (Some(3), Some(19)), "{d:?}");
    let d = only_error("def workflow():\n    x = 1\n    return {\"id\": x / 0}\n");
    assert_eq!(d.line, Some(3), "{d:?}");
    let d = only_error(
        "def helper():\n    fail(\"no plan today\")\n\ndef workflow():\n    return helper()\n",
    );
    assert!(d.message.contains("no plan today"), "{d:?}");
    assert_eq!(d.line, Some(2), "{d:?}");
}

#[test]
fn nondeterministic_and_io_functions_are_unavailable() {
    for call in [
        "time()",
        "random()",
        "now()",
        "print('x')",
        "open('f')",
        "read_file('f')",
    ] {
        let source = format!(
            "def workflow():\n    x = {call}\n    return {{\"id\": \"x\", \"states\": []}}\n"
        );
        let d = only_error(&source);
        assert_eq!(d.code, "STARLARK_ERROR", "{call}: {d:?}");
        assert_eq!(d.line, Some(2), "{call}: {d:?}");
    }
    let d = only_error("load('lib.star', 'x')\ndef workflow():\n    return {}\n");
    assert_eq!(d.code, "STARLARK_SYNTAX");
    assert_eq!(d.line, Some(1), "{d:?}");
}

#[test]
fn an_endless_loop_is_bounded() {
    let source = "def workflow():\n    n = 0\n    for i in range(100000):\n        for j in range(100000):\n            n += 1\n    return {\"id\": \"x\"}\n";
    let d = only_error(source);
    assert_eq!(d.code, "STARLARK_ERROR");
    assert!(d.message.contains("limit exceeded"), "{d:?}");
}

#[test]
fn doubling_is_bounded() {
    let d = only_error(
        "def workflow():\n    s = 'x'\n    for i in range(64):\n        s += s\n    return {\"id\": s}\n",
    );
    assert!(d.message.contains("limit exceeded"), "{d:?}");
    let d = only_error(
        "def workflow():\n    s = ['x']\n    for i in range(64):\n        s = s + s\n    return {\"id\": \"x\"}\n",
    );
    assert!(d.message.contains("limit exceeded"), "{d:?}");
    let d = only_error("def workflow():\n    s = 'x'\n    s *= 3\n    return {\"id\": s}\n");
    assert!(d.message.contains("`*=`"), "{d:?}");
    assert_eq!((d.line, d.column), (Some(3), Some(5)), "{d:?}");
}

#[test]
fn a_file_without_a_workflow_function_is_an_error() {
    let d = only_error("def plan():\n    return {}\n");
    assert_eq!(d.code, "STARLARK_ERROR");
    assert!(d.message.contains("def workflow()"), "{d:?}");
    let d = only_error("workflow = {\"id\": \"x\"}\n");
    assert!(d.message.contains("not a function"), "{d:?}");
    let d = only_error("");
    assert!(d.message.contains("def workflow()"), "{d:?}");
}

#[test]
fn a_plan_that_is_not_a_dict_is_invalid_type() {
    let d = only_error("def workflow():\n    return [1]\n");
    assert_eq!(d.code, "INVALID_TYPE");
    assert!(d.message.contains("list"), "{d:?}");
    let d = only_error("def workflow():\n    return {\"id\": \"x\", \"f\": len}\n");
    assert_eq!(d.code, "STARLARK_ERROR");
    assert!(d.message.contains("no JSON form"), "{d:?}");
}

#[test]
fn an_oversized_source_is_refused() {
    let source = format!("# {}\n", "x".repeat(MAX_SOURCE_BYTES));
    assert_eq!(only_error(&source).code, "DEFINITION_TOO_LARGE");
}

#[test]
fn plan_errors_reach_the_document_compiler() {
    let compiled = compile("def workflow():\n    return {\"id\": \"bad id!\", \"states\": []}\n");
    assert!(compiled.workflow.is_none());
    assert!(compiled.diagnostics.has_errors());
}

#[test]
fn star_files_are_recognised_by_name() {
    assert!(is_star_file("fanout-plan.workflow.star"));
    assert!(is_star_file("dir/X.WORKFLOW.STAR"));
    assert!(!is_star_file("plan.star"));
    assert!(!is_star_file("x.workflow.yaml"));
}

#[test]
fn deep_sources_are_refused_without_overflowing() {
    let chain = format!(
        "def workflow():\n    return {{\"id\": 1{}}}\n",
        "+1".repeat(100_000)
    );
    let d = only_error(&chain);
    assert!(d.message.contains("nests deeper"), "{d:?}");
    let brackets = format!("X = {}1{}\n", "[".repeat(100), "]".repeat(100));
    let d = only_error(&brackets);
    assert!(d.message.contains("brackets"), "{d:?}");
    let conditional = format!("X = {}1\n", "1 if True else ".repeat(20_000));
    let d = only_error(&conditional);
    assert!(d.message.contains("nests deeper"), "{d:?}");
}
