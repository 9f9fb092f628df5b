//! Composer graph tests: the composer's example and validation rules.

use super::*;
use crate::model::dag::DAG_STATE;
use crate::model::dag::tests::operation_step;
use crate::model::ir::{
    Action, AgentCall, Approval, Dag, ExecutorCall, OnReject, State, StateKind, Transition,
};
use serde_json::json;

fn compile_value(document: &Value) -> (Option<Workflow>, Diagnostics) {
    let mut diagnostics = Diagnostics::default();
    let workflow = compile(document.as_object().expect("a mapping"), &mut diagnostics);
    (workflow, diagnostics)
}

fn has_error(document: &Value, code: &str, path: &str) {
    let (workflow, diagnostics) = compile_value(document);
    assert!(workflow.is_none(), "must not compile: {diagnostics:#?}");
    assert!(
        diagnostics
            .errors
            .iter()
            .any(|d| d.code == code && d.path == path),
        "expected {code} at `{path}`, got {:#?}",
        diagnostics.errors
    );
}

/// Seed 000's example, with the agent its signature node runs on.
fn seed() -> Value {
    json!({
        "id": "wf-go-build",
        "name": "Go Build Curriculum",
        "description": "Compile and verify Go agent builds",
        "tenant": "default",
        "version": "v1",
        "tags": ["go", "build"],
        "nodes": [
            {
                "id": "sig-code",
                "type": "signature",
                "name": "Codegen Signature",
                "signature": {
                    "agent": "codegen",
                    "prompt": "// go build pipeline...",
                    "runtime": "go",
                    "tools": ["build", "fmt"],
                    "temperature": 0.0
                }
            },
            {
                "id": "ver-test",
                "type": "verifier",
                "name": "Unit Tests",
                "verifier": {"command": "go test ./...", "weight": 1.0}
            }
        ],
        "edges": [
            {"id": "edge-1", "source": "sig-code", "target": "ver-test", "kind": "control"}
        ]
    })
}

fn steps(workflow: &Workflow) -> &[DagStep] {
    match &workflow.states[0].kind {
        StateKind::Dag(dag) => &dag.steps,
        other => panic!("a dag expected, got {other:?}"),
    }
}

fn action(step: &DagStep) -> &Action {
    match &step.state.kind {
        StateKind::Operation(op) => &op.action,
        other => panic!("an operation expected, got {other:?}"),
    }
}

#[test]
fn the_seed_example_compiles_to_the_expected_ir() {
    let (workflow, diagnostics) = compile_value(&seed());
    assert_eq!(diagnostics, Diagnostics::default());
    let workflow = workflow.expect("workflow");
    let step = |name: &str, action: Action, depends_on: Vec<String>| DagStep {
        depends_on,
        ..operation_step(name, action)
    };
    let expected = Workflow {
        timeout_seconds: None,
        id: "wf-go-build".into(),
        name: Some("Go Build Curriculum".into()),
        description: Some("Compile and verify Go agent builds".into()),
        definition_version: Some("v1".into()),
        input_schema: None,
        output_schema: None,
        trigger: None,
        schedule: None,
        concurrency: None,
        start: DAG_STATE.into(),
        states: vec![State {
            name: DAG_STATE.into(),
            kind: StateKind::Dag(Dag {
                steps: vec![
                    step(
                        "sig-code",
                        Action::AgentRun(AgentCall {
                            agent: "codegen".into(),
                            task: Some(json!("// go build pipeline...")),
                            input: None,
                            variables: Some(json!({
                                "runtime": "go", "tools": ["build", "fmt"], "temperature": 0.0
                            })),
                            timeout_seconds: None,
                            default_task: None,
                        }),
                        vec![],
                    ),
                    step(
                        "ver-test",
                        Action::Executor(ExecutorCall {
                            executor: "shell.run".into(),
                            params: json!({"command": ["go", "test", "./..."], "weight": 1.0}),
                        }),
                        vec!["sig-code".into()],
                    ),
                ],
                result_path: None,
            }),
            transition: Transition::End,
            catch: vec![],
        }],
    };
    assert_eq!(workflow, expected);
}

#[test]
fn a_signature_without_an_agent_says_where_to_put_one() {
    let mut document = seed();
    document["nodes"][0]["signature"]
        .as_object_mut()
        .expect("object")
        .remove("agent");
    has_error(&document, "MISSING_FIELD", "nodes[0].signature.agent");
    // The node's own `agent` works too.
    document["nodes"][0]["agent"] = json!("codegen");
    let (workflow, diagnostics) = compile_value(&document);
    assert!(workflow.is_some(), "{diagnostics:#?}");
}

#[test]
fn type_specific_requirements() {
    let mut document = seed();
    document["nodes"][0]["signature"]["prompt"] = json!("");
    has_error(&document, "MISSING_FIELD", "nodes[0].signature.prompt");

    let mut document = seed();
    document["nodes"][0]
        .as_object_mut()
        .expect("object")
        .remove("signature");
    has_error(&document, "MISSING_FIELD", "nodes[0].signature");

    let mut document = seed();
    document["nodes"][1]["verifier"] = json!({"weight": 1.0});
    has_error(&document, "MISSING_FIELD", "nodes[1].verifier.command");

    let mut document = seed();
    document["nodes"][1]["verifier"] = json!("go test");
    has_error(&document, "INVALID_TYPE", "nodes[1].verifier");
}

#[test]
fn deployments_emit_a_signal_and_default_their_tenant() {
    let mut document = seed();
    document["nodes"][1] = json!({
        "id": "ver-test", "type": "deployment",
        "deployment": {"domain": "builds.example", "channel": "stable"}
    });
    let (workflow, diagnostics) = compile_value(&document);
    assert!(diagnostics.errors.is_empty(), "{diagnostics:#?}");
    let workflow = workflow.expect("workflow");
    assert_eq!(
        action(&steps(&workflow)[1]),
        &Action::Executor(ExecutorCall {
            executor: "signal.emit".into(),
            params: json!({
                "type": DEPLOYMENT_SIGNAL,
                "data": {"tenant": "default", "domain": "builds.example", "channel": "stable"}
            }),
        })
    );
    document.as_object_mut().expect("object").remove("tenant");
    has_error(&document, "MISSING_FIELD", "nodes[1].deployment.tenant");
    document["nodes"][1]["deployment"] = json!({"tenant": "t", "domain": "d"});
    has_error(&document, "MISSING_FIELD", "nodes[1].deployment.channel");
}

#[test]
fn agent_and_approval_nodes() {
    let mut document = seed();
    document["nodes"] = json!([
        {"id": "plan", "type": "agent", "agent": "planner", "task": "plan it", "timeout": "2m"},
        {"id": "check", "type": "agent", "agent": {"name": "checker", "task": "check", "input": {"x": 1}}},
        {"id": "gate", "type": "approval", "approval": {"message": "ok?", "approvers": ["team:ops"]}},
        {"id": "gate2", "type": "approval", "message": "really?", "onReject": "cancel"}
    ]);
    document["edges"] = json!([
        {"id": "e1", "source": "plan", "target": "check"},
        {"id": "e2", "source": "check", "target": "gate", "kind": "data"},
        {"id": "e3", "source": "gate", "target": "gate2"}
    ]);
    let (workflow, diagnostics) = compile_value(&document);
    assert!(diagnostics.errors.is_empty(), "{diagnostics:#?}");
    let workflow = workflow.expect("workflow");
    let steps = steps(&workflow);
    let StateKind::Operation(plan) = &steps[0].state.kind else {
        panic!("operation")
    };
    assert_eq!(plan.timeout_seconds, Some(120));
    assert_eq!(
        action(&steps[1]),
        &Action::AgentRun(AgentCall {
            agent: "checker".into(),
            task: Some(json!("check")),
            input: Some(json!({"x": 1})),
            variables: None,
            timeout_seconds: None,
            default_task: None,
        })
    );
    assert_eq!(steps[2].depends_on, vec!["check"], "a data edge orders too");
    assert_eq!(
        action(&steps[2]),
        &Action::HumanApproval(Approval {
            message: Some(json!("ok?")),
            summary_path: None,
            approvers: vec!["team:ops".into()],
            timeout_seconds: None,
            on_reject: OnReject::Fail,
        })
    );
    let Action::HumanApproval(gate2) = action(&steps[3]) else {
        panic!("approval")
    };
    assert_eq!(gate2.on_reject, OnReject::Cancel);
}

#[test]
fn the_graph_needs_a_name_nodes_and_edges() {
    let mut document = seed();
    document["name"] = json!("  ");
    has_error(&document, "MISSING_FIELD", "name");

    let mut document = seed();
    document["nodes"] = json!([]);
    has_error(&document, "MISSING_FIELD", "nodes");

    // Seed 000: at least one edge, even for a lone node.
    let mut document = seed();
    document["nodes"].as_array_mut().expect("array").truncate(1);
    document["edges"] = json!([]);
    has_error(&document, "MISSING_FIELD", "edges");

    let mut document = seed();
    document.as_object_mut().expect("object").remove("edges");
    has_error(&document, "MISSING_FIELD", "edges");

    let mut document = seed();
    document.as_object_mut().expect("object").remove("id");
    has_error(&document, "MISSING_FIELD", "id");
}

#[test]
fn ids_are_unique() {
    let mut document = seed();
    document["nodes"][1]["id"] = json!("sig-code");
    has_error(&document, "DUPLICATE_STATE", "nodes[1].id");

    let mut document = seed();
    document["nodes"][0]["id"] = json!("sig.code");
    has_error(&document, "INVALID_ID", "nodes[0].id");

    let mut document = seed();
    document["edges"] = json!([
        {"id": "edge-1", "source": "sig-code", "target": "ver-test"},
        {"id": "edge-1", "source": "sig-code", "target": "ver-test"}
    ]);
    has_error(&document, "DUPLICATE_EDGE", "edges[1].id");
}

#[test]
fn edges_must_name_existing_nodes() {
    let mut document = seed();
    document["edges"][0]["target"] = json!("nowhere");
    has_error(&document, "DANGLING_TARGET", "edges[0].target");

    let mut document = seed();
    document["edges"][0]["source"] = json!("nowhere");
    has_error(&document, "DANGLING_TARGET", "edges[0].source");

    let mut document = seed();
    document["edges"][0]
        .as_object_mut()
        .expect("object")
        .remove("source");
    has_error(&document, "MISSING_FIELD", "edges[0].source");

    let mut document = seed();
    document["edges"][0]["kind"] = json!("feedback");
    has_error(&document, "INVALID_VALUE", "edges[0].kind");
}

#[test]
fn cycles_are_dag_cycle() {
    let mut document = seed();
    document["edges"] = json!([
        {"id": "e1", "source": "sig-code", "target": "ver-test"},
        {"id": "e2", "source": "ver-test", "target": "sig-code", "kind": "data"}
    ]);
    let (workflow, diagnostics) = compile_value(&document);
    assert!(workflow.is_none());
    let cycle = diagnostics
        .errors
        .iter()
        .find(|d| d.code == "DAG_CYCLE")
        .expect("DAG_CYCLE");
    assert_eq!(cycle.path, "edges[1]");
    assert!(
        cycle.message.contains("sig-code → ver-test → sig-code"),
        "{}",
        cycle.message
    );

    let mut document = seed();
    document["edges"][0]["target"] = json!("sig-code");
    has_error(&document, "DAG_CYCLE", "edges[0]");
}

#[test]
fn unknown_types_and_fields() {
    let mut document = seed();
    document["nodes"][1]["type"] = json!("reward");
    has_error(&document, "UNKNOWN_STEP_TYPE", "nodes[1].type");

    let mut document = seed();
    document["owner"] = json!("me");
    document["nodes"][0]["position"] = json!({"x": 1, "y": 2});
    document["nodes"][0]["colour"] = json!("red");
    document["nodes"][1]["signature"] = json!({"prompt": "x"});
    document["edges"][0]["weight"] = json!(2);
    let (workflow, diagnostics) = compile_value(&document);
    assert!(workflow.is_some(), "{diagnostics:#?}");
    let paths: Vec<&str> = diagnostics
        .warnings
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(
        paths,
        vec![
            "owner",
            "edges[0].weight",
            "nodes[0].colour",
            "nodes[1].signature"
        ]
    );
    assert!(
        diagnostics
            .warnings
            .iter()
            .all(|d| d.code == "UNKNOWN_FIELD")
    );
}

#[test]
fn the_example_file_compiles_cleanly() {
    let document: Value = serde_json::from_str(include_str!(
        "../../../../examples/workflows/composer-graph.workflow.json"
    ))
    .expect("example JSON");
    let (workflow, diagnostics) = compile_value(&document);
    assert_eq!(diagnostics, Diagnostics::default());
    let workflow = workflow.expect("workflow");
    let steps = steps(&workflow);
    assert_eq!(steps.len(), 4);
    assert_eq!(steps[3].depends_on, vec!["gate"]);
    assert_eq!(action(&steps[3]).name(), "signal.emit");
}
