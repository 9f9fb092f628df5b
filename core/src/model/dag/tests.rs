//! DAG front end tests: the IR each step type compiles to, and the code of
//! each mistake.

use super::common::parse_duration;
use super::*;
use crate::model::diag::Severity;
use crate::model::ir::{Approval, Dag, OnReject, Operation, RetryPolicy, StateKind, Transition};
use serde_json::json;

fn compile_yaml(source: &str) -> (Option<Workflow>, Diagnostics) {
    let document: Value = yaml_serde::from_str(source).expect("test YAML parses");
    let mut diagnostics = Diagnostics::default();
    let workflow = compile(document.as_object().expect("a mapping"), &mut diagnostics);
    (workflow, diagnostics)
}

/// Compiles and expects no errors.
fn ok(source: &str) -> Workflow {
    let (workflow, diagnostics) = compile_yaml(source);
    assert!(diagnostics.errors.is_empty(), "{:#?}", diagnostics.errors);
    workflow.expect("workflow")
}

/// The error codes with their paths.
fn errors(source: &str) -> Vec<(String, String)> {
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

fn has_error(source: &str, code: &str, path: &str) {
    let found = errors(source);
    assert!(
        found.iter().any(|(c, p)| c == code && p == path),
        "expected {code} at `{path}`, got {found:?}"
    );
}

fn dag(workflow: &Workflow) -> &Dag {
    let state = workflow.state(DAG_STATE).expect("dag state");
    match &state.kind {
        StateKind::Dag(dag) => dag,
        other => panic!("a dag state expected, got {other:?}"),
    }
}

fn step<'w>(workflow: &'w Workflow, name: &str) -> &'w DagStep {
    dag(workflow)
        .steps
        .iter()
        .find(|s| s.state.name == name)
        .unwrap_or_else(|| panic!("step {name}"))
}

fn operation<'w>(workflow: &'w Workflow, name: &str) -> &'w Operation {
    match &step(workflow, name).state.kind {
        StateKind::Operation(op) => op,
        other => panic!("an operation expected, got {other:?}"),
    }
}

fn params<'w>(workflow: &'w Workflow, name: &str) -> (&'w str, &'w Value) {
    match &operation(workflow, name).action {
        Action::Executor(call) => (call.executor.as_str(), &call.params),
        other => panic!("an executor expected, got {other:?}"),
    }
}

#[test]
fn a_small_dag_compiles_to_the_expected_ir() {
    let workflow = ok(r#"
id: ci
name: CI
version: 2
steps:
  - name: test
    type: bash
    run: npm test
  - name: review
    type: llm
    agent: reviewer
    prompt: Review the code changes
    depends_on: [test]
    condition: 'steps.test.exit_code == 0'
    retries: 2
    timeout: 5m
"#);
    let expected = Workflow {
        timeout_seconds: None,
        id: "ci".into(),
        name: Some("CI".into()),
        description: None,
        definition_version: Some("2".into()),
        input_schema: None,
        output_schema: None,
        trigger: None,
        start: "dag".into(),
        states: vec![State {
            name: "dag".into(),
            kind: StateKind::Dag(Dag {
                steps: vec![
                    DagStep {
                        state: State {
                            name: "test".into(),
                            kind: StateKind::Operation(Operation {
                                action: Action::Executor(ExecutorCall {
                                    executor: "shell.run".into(),
                                    params: json!({"command": "npm test"}),
                                }),
                                timeout_seconds: None,
                                retry: RetryPolicy::default(),
                                result_path: Some("steps.test".into()),
                            }),
                            transition: Transition::End,
                            catch: vec![],
                        },
                        depends_on: vec![],
                        condition: None,
                    },
                    DagStep {
                        state: State {
                            name: "review".into(),
                            kind: StateKind::Operation(Operation {
                                action: Action::AgentRun(AgentCall {
                                    agent: "reviewer".into(),
                                    task: Some(json!("Review the code changes")),
                                    input: None,
                                    variables: None,
                                    timeout_seconds: None,
                                }),
                                timeout_seconds: Some(300),
                                retry: RetryPolicy {
                                    max_attempts: 3,
                                    ..RetryPolicy::default()
                                },
                                result_path: Some("steps.review".into()),
                            }),
                            transition: Transition::End,
                            catch: vec![],
                        },
                        depends_on: vec!["test".into()],
                        condition: Some("steps.test.exit_code == 0".into()),
                    },
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
fn variables_are_injected_before_the_dag() {
    let workflow = ok(r#"
id: with-vars
variables:
  project_name: "{{ ctx.project }}"
  timeout_base: 1800
steps:
  - id: setup
    type: agent
    agent: planner
    task: "Set up {{ variables.project_name }}"
    timeout: "{{ variables.timeout_base }}"
"#);
    assert_eq!(workflow.start, VARIABLES_STATE);
    assert_eq!(workflow.states.len(), 2);
    let inject = &workflow.states[0];
    assert_eq!(inject.transition, Transition::Next(DAG_STATE.into()));
    assert_eq!(
        inject.kind,
        StateKind::Inject {
            data: json!({"project_name": "{{ ctx.project }}", "timeout_base": 1800}),
            result_path: Some("variables".into()),
        }
    );
    assert_eq!(operation(&workflow, "setup").timeout_seconds, Some(1800));
}

#[test]
fn seed_004_project_loop_compiles() {
    // Seed 004's example, with an `id`: `id` names the step, `name` is a label,
    // `persona-request` runs the persona as an agent. Its conditions are stored
    // as written (their syntax is checked elsewhere).
    let workflow = ok(r#"
id: project-loop
name: "project-loop"
version: "1.0.0"
description: "Standard project workflow with planning, implementation, and QA"
variables:
  max_retries: 3
  timeout_minutes: 30
steps:
  - id: "planning"
    name: "Implementation Planning"
    type: "persona-request"
    persona: "implementation-planner"
    timeout: 1800
    retries: 2
    params:
      stage: "initial"
  - id: "plan-evaluation"
    name: "Plan Evaluation"
    type: "persona-request"
    persona: "plan-evaluator"
    dependencies: ["planning"]
    condition: "steps.planning != None"
  - id: "implementation"
    name: "Lead Engineer Implementation"
    type: "persona-request"
    persona: "lead-engineer"
    dependencies: ["plan-evaluation"]
    timeout: 3600
  - id: "qa"
    name: "Quality Assurance"
    type: "persona-request"
    persona: "qa-engineer"
    dependencies: ["implementation"]
  - id: "code-review"
    name: "Code Review"
    type: "persona-request"
    persona: "code-reviewer"
    dependencies: ["qa"]
    condition: "steps.qa.status == 'pass'"
  - id: "security-review"
    name: "Security Review"
    type: "persona-request"
    persona: "security-review"
    dependencies: ["qa"]
    condition: "steps.qa.status == 'pass'"
"#);
    assert_eq!(dag(&workflow).steps.len(), 6);
    let planning = operation(&workflow, "planning");
    assert_eq!(planning.timeout_seconds, Some(1800));
    assert_eq!(planning.retry.max_attempts, 3);
    let Action::AgentRun(call) = &planning.action else {
        panic!("agent.run expected")
    };
    assert_eq!(call.agent, "implementation-planner");
    assert_eq!(call.input, Some(json!({"stage": "initial"})));
    assert_eq!(step(&workflow, "security-review").depends_on, vec!["qa"]);
    assert_eq!(
        step(&workflow, "code-review").condition.as_deref(),
        Some("steps.qa.status == 'pass'")
    );
}

#[test]
fn seed_003_plan_compiles() {
    let workflow = ok(r#"
id: ci-pipeline
name: CI Pipeline
trigger: { signal: repo.push, filter: 'signal.data.branch == "main"' }
steps:
  - { name: test, type: bash, run: npm test }
  - { name: build, type: bash, run: npm run build, depends_on: [test] }
  - { name: review, type: llm, agent: claude, prompt: Review the code changes, depends_on: [test] }
"#);
    let trigger = workflow.trigger.as_ref().expect("trigger");
    assert_eq!(trigger.signal, "repo.push");
    assert_eq!(step(&workflow, "build").depends_on, vec!["test"]);
    assert_eq!(step(&workflow, "review").depends_on, vec!["test"]);
}

#[test]
fn every_step_type_compiles_to_its_executor() {
    let workflow = ok(r#"
id: types
steps:
  - name: sh
    type: shell
    command: ["ls", "-l"]
    params: { cwd: /tmp }
  - name: web
    type: http
    url: https://example.com/hook
    method: POST
    headers: { X-Token: abc }
    body: { ok: true }
  - name: py
    type: python
    code: "[x * 2 for x in ctx.items]"
  - name: star
    type: starlark
    expression: "1 + 1"
  - name: gate
    type: human_approval
    message: "Ship it?"
    approvers: team:release
    summaryPath: steps.web
    onReject: cancel
    timeout: 1h
  - name: wait
    type: signal.wait
    signal: build.finished
    filter: 'signal.data.ok'
  - name: emit
    type: signal.emit
    params: { type: build.started, data: { n: 1 } }
  - name: child
    type: workflow.run
    params: { workflow_id: other }
  - name: inferred
    agent: echo
    input: { text: hi }
"#);
    assert_eq!(
        params(&workflow, "sh"),
        (
            "shell.run",
            &json!({"cwd": "/tmp", "command": ["ls", "-l"]})
        )
    );
    assert_eq!(
        params(&workflow, "web"),
        (
            "http.request",
            &json!({"url": "https://example.com/hook", "method": "POST",
                    "headers": {"X-Token": "abc"}, "body": {"ok": true}})
        )
    );
    assert_eq!(
        params(&workflow, "py"),
        (
            "starlark.eval",
            &json!({"expression": "[x * 2 for x in ctx.items]"})
        )
    );
    assert_eq!(
        params(&workflow, "star"),
        ("starlark.eval", &json!({"expression": "1 + 1"}))
    );
    let gate = operation(&workflow, "gate");
    assert_eq!(gate.timeout_seconds, Some(3600));
    assert_eq!(
        gate.action,
        Action::HumanApproval(Approval {
            message: Some(json!("Ship it?")),
            summary_path: Some("steps.web".into()),
            approvers: vec!["team:release".into()],
            timeout_seconds: None,
            on_reject: OnReject::Cancel,
        })
    );
    assert_eq!(
        operation(&workflow, "wait").action,
        Action::SignalWait(SignalWait {
            signal: "build.finished".into(),
            filter: Some("signal.data.ok".into()),
            timeout_seconds: None,
        })
    );
    assert_eq!(
        params(&workflow, "emit"),
        (
            "signal.emit",
            &json!({"type": "build.started", "data": {"n": 1}})
        )
    );
    assert_eq!(
        params(&workflow, "child"),
        ("workflow.run", &json!({"workflow_id": "other"}))
    );
    let Action::AgentRun(call) = &operation(&workflow, "inferred").action else {
        panic!("agent.run expected")
    };
    assert_eq!(call.input, Some(json!({"text": "hi"})));
}

#[test]
fn result_paths_default_to_steps_name() {
    let workflow = ok(r#"
id: paths
steps:
  - { name: a, type: bash, run: "true" }
  - { name: b, type: bash, run: "true", resultPath: ctx.custom }
"#);
    assert_eq!(
        operation(&workflow, "a").result_path.as_deref(),
        Some("steps.a")
    );
    assert_eq!(
        operation(&workflow, "b").result_path.as_deref(),
        Some("ctx.custom")
    );
    has_error(
        r#"
id: paths
steps: [{ name: a, type: bash, run: "true", resultPath: "a..b" }]
"#,
        "INVALID_PATH",
        "steps[0].resultPath",
    );
}

#[test]
fn timeouts_accept_numbers_and_durations() {
    for (written, seconds) in [
        ("90", 90),
        ("'90'", 90),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("2d", 172_800),
        ("1h30m", 5400),
        ("60.0", 60),
    ] {
        let workflow = ok(&format!(
            "id: t\nsteps: [{{ name: a, type: bash, run: x, timeout: {written} }}]"
        ));
        assert_eq!(
            operation(&workflow, "a").timeout_seconds,
            Some(seconds),
            "{written}"
        );
    }
    for written in [
        "0",
        "-5",
        "soon",
        "5x",
        "'m'",
        "1.5",
        "''",
        "true",
        "'{{ variables.nope }}'",
    ] {
        has_error(
            &format!("id: t\nsteps: [{{ name: a, type: bash, run: x, timeout: {written} }}]"),
            "INVALID_VALUE",
            "steps[0].timeout",
        );
    }
}

#[test]
fn retries_become_attempts() {
    let workflow = ok(r#"
id: r
variables: { n: 4 }
steps:
  - { name: a, type: bash, run: x, retries: 0 }
  - { name: b, type: bash, run: x, retries: "{{ variables.n }}" }
  - { name: c, type: bash, run: x, retries: "${variables.n}" }
"#);
    assert_eq!(operation(&workflow, "a").retry.max_attempts, 1);
    assert_eq!(operation(&workflow, "b").retry.max_attempts, 5);
    assert_eq!(operation(&workflow, "c").retry.max_attempts, 5);
    for written in ["-1", "100", "'lots'", "1.5"] {
        has_error(
            &format!("id: r\nsteps: [{{ name: a, type: bash, run: x, retries: {written} }}]"),
            "INVALID_VALUE",
            "steps[0].retries",
        );
    }
    // A variable that is itself a template is not known when the workflow loads.
    has_error(
        r#"
id: r
variables: { n: "{{ ctx.n }}" }
steps: [{ name: a, type: bash, run: x, retries: "{{ variables.n }}" }]
"#,
        "INVALID_VALUE",
        "steps[0].retries",
    );
}

#[test]
fn missing_and_empty_steps_are_missing_field() {
    has_error("id: x", "MISSING_FIELD", "steps");
    has_error("id: x\nsteps: []", "MISSING_FIELD", "steps");
    has_error("id: x\nsteps: {}", "INVALID_TYPE", "steps");
    has_error(
        "steps: [{ name: a, type: bash, run: x }]",
        "MISSING_FIELD",
        "id",
    );
    has_error(
        "id: 'bad id'\nsteps: [{ name: a, type: bash, run: x }]",
        "INVALID_ID",
        "id",
    );
    has_error(
        "id: x\nsteps: [{ type: bash, run: x }]",
        "MISSING_FIELD",
        "steps[0].name",
    );
    has_error(
        "id: x\nsteps: [{ name: a }]",
        "MISSING_FIELD",
        "steps[0].type",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: bash }]",
        "MISSING_FIELD",
        "steps[0].run",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: http }]",
        "MISSING_FIELD",
        "steps[0].url",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: python }]",
        "MISSING_FIELD",
        "steps[0].code",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: llm }]",
        "MISSING_FIELD",
        "steps[0].agent",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: signal.wait }]",
        "MISSING_FIELD",
        "steps[0].signal",
    );
    has_error("id: x\nsteps: [a]", "INVALID_TYPE", "steps[0]");
}

#[test]
fn step_names_must_be_path_segments() {
    has_error(
        "id: x\nsteps: [{ name: a.b, type: bash, run: x }]",
        "INVALID_ID",
        "steps[0].name",
    );
    has_error(
        "id: x\nsteps: [{ id: 'has space', type: bash, run: x }]",
        "INVALID_ID",
        "steps[0].id",
    );
}

#[test]
fn duplicate_names_are_duplicate_state() {
    has_error(
        r#"
id: x
steps:
  - { name: a, type: bash, run: x }
  - { id: a, type: bash, run: y }
"#,
        "DUPLICATE_STATE",
        "steps[1].id",
    );
}

#[test]
fn unknown_dependencies_are_dangling_targets() {
    has_error(
        r#"
id: x
steps:
  - { name: a, type: bash, run: x }
  - { name: b, type: bash, run: x, depends_on: [a, nope] }
  - { name: c, type: bash, run: x, dependencies: ghost }
"#,
        "DANGLING_TARGET",
        "steps[1].depends_on[1]",
    );
    has_error(
        "id: x\nsteps: [{ name: c, type: bash, run: x, dependencies: ghost }]",
        "DANGLING_TARGET",
        "steps[0].dependencies",
    );
    has_error(
        "id: x\nsteps: [{ name: c, type: bash, run: x, depends_on: 3 }]",
        "INVALID_TYPE",
        "steps[0].depends_on",
    );
}

#[test]
fn a_step_that_fails_to_compile_is_still_a_dependency_target() {
    let found = errors(
        r#"
id: x
steps:
  - { name: a, type: rocket }
  - { name: b, type: bash, run: x, depends_on: [a] }
"#,
    );
    assert_eq!(
        found,
        vec![("UNKNOWN_STEP_TYPE".to_owned(), "steps[0].type".to_owned())]
    );
}

#[test]
fn depends_on_and_dependencies_merge_without_duplicates() {
    let workflow = ok(r#"
id: x
steps:
  - { name: a, type: bash, run: x }
  - { name: b, type: bash, run: x }
  - { name: c, type: bash, run: x, depends_on: [a, a], dependencies: [b, a] }
"#);
    assert_eq!(step(&workflow, "c").depends_on, vec!["a", "b"]);
}

#[test]
fn self_dependency_is_a_cycle() {
    has_error(
        "id: x\nsteps: [{ name: a, type: bash, run: x, depends_on: [a] }]",
        "DAG_CYCLE",
        "steps[0].depends_on[0]",
    );
}

#[test]
fn cycles_name_their_members() {
    let (workflow, diagnostics) = compile_yaml(
        r#"
id: x
steps:
  - { name: init, type: bash, run: x }
  - { name: a, type: bash, run: x, depends_on: [init, c] }
  - { name: b, type: bash, run: x, depends_on: [a] }
  - { name: c, type: bash, run: x, depends_on: [b] }
  - { name: d, type: bash, run: x, dependencies: [e] }
  - { name: e, type: bash, run: x, dependencies: [d] }
"#,
    );
    assert!(workflow.is_none());
    let cycles: Vec<_> = diagnostics
        .errors
        .iter()
        .filter(|d| d.code == "DAG_CYCLE")
        .collect();
    assert_eq!(cycles.len(), 2, "{cycles:#?}");
    assert_eq!(cycles[0].path, "steps[1].depends_on");
    assert!(
        cycles[0].message.contains("a → c → b → a"),
        "{}",
        cycles[0].message
    );
    assert!(!cycles[0].message.contains("init"));
    assert_eq!(cycles[1].path, "steps[4].dependencies");
    assert!(
        cycles[1].message.contains("d → e → d"),
        "{}",
        cycles[1].message
    );
}

#[test]
fn unknown_step_types_are_errors() {
    has_error(
        "id: x\nsteps: [{ name: a, type: conditional }]",
        "UNKNOWN_STEP_TYPE",
        "steps[0].type",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: 7 }]",
        "INVALID_TYPE",
        "steps[0].type",
    );
}

#[test]
fn unknown_fields_are_warnings() {
    let (workflow, diagnostics) = compile_yaml(
        r#"
id: x
owner: me
steps:
  - { name: a, type: bash, run: x, colour: blue, agent: echo }
  - { name: b, type: approval, params: { x: 1 } }
"#,
    );
    assert!(workflow.is_some());
    let warnings: Vec<(&str, &str)> = diagnostics
        .warnings
        .iter()
        .map(|d| (d.code.as_str(), d.path.as_str()))
        .collect();
    assert_eq!(
        warnings,
        vec![
            ("UNKNOWN_FIELD", "owner"),
            ("UNKNOWN_FIELD", "steps[0].agent"),
            ("UNKNOWN_FIELD", "steps[0].colour"),
            ("UNKNOWN_FIELD", "steps[1].params"),
        ]
    );
    assert!(
        diagnostics
            .warnings
            .iter()
            .all(|d| d.severity == Severity::Warning)
    );
}

#[test]
fn bad_values_are_reported_where_they_are() {
    has_error(
        "id: x\nsteps: [{ name: a, agent: Bad_Agent }]",
        "INVALID_AGENT_NAME",
        "steps[0].agent",
    );
    has_error(
        "id: x\nsteps: [{ name: a, agent: echo, params: {}, input: {} }]",
        "INVALID_VALUE",
        "steps[0].input",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: bash, run: x, params: [1] }]",
        "INVALID_TYPE",
        "steps[0].params",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: bash, run: '  ' }]",
        "INVALID_VALUE",
        "steps[0].run",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: bash, run: x, condition: 3 }]",
        "INVALID_VALUE",
        "steps[0].condition",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: approval, approvers: [alice] }]",
        "INVALID_VALUE",
        "steps[0].approvers[0]",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: approval, onReject: shrug }]",
        "INVALID_VALUE",
        "steps[0].onReject",
    );
    has_error(
        "id: x\nvariables: [1]\nsteps: [{ name: a, type: bash, run: x }]",
        "INVALID_TYPE",
        "variables",
    );
    has_error(
        "id: x\ntrigger: { signal: 'no spaces' }\nsteps: [{ name: a, type: bash, run: x }]",
        "INVALID_TRIGGER",
        "trigger.signal",
    );
    has_error(
        "id: x\ninputSchema: 3\nsteps: [{ name: a, type: bash, run: x }]",
        "INVALID_SCHEMA",
        "inputSchema",
    );
}

#[test]
fn too_many_steps_is_definition_too_large() {
    let steps: Vec<Value> = (0..=MAX_STATES)
        .map(|i| json!({"name": format!("s{i}"), "type": "bash", "run": "x"}))
        .collect();
    let document = json!({"id": "big", "steps": steps});
    let mut diagnostics = Diagnostics::default();
    let workflow = compile(document.as_object().expect("object"), &mut diagnostics);
    assert!(workflow.is_none());
    assert_eq!(diagnostics.errors[0].code, "DEFINITION_TOO_LARGE");
}

#[test]
fn a_long_chain_and_a_long_cycle_do_not_overflow() {
    let n = MAX_STATES;
    let chain: Vec<Value> = (0..n)
        .map(|i| {
            let deps: Vec<String> = if i == 0 {
                vec![]
            } else {
                vec![format!("s{}", i - 1)]
            };
            json!({"name": format!("s{i}"), "type": "bash", "run": "x", "depends_on": deps})
        })
        .collect();
    let mut document = json!({"id": "chain", "steps": chain});
    let mut diagnostics = Diagnostics::default();
    let workflow = compile(document.as_object().expect("object"), &mut diagnostics);
    assert!(workflow.is_some(), "{:?}", diagnostics.errors.first());
    // Close the chain into one big cycle.
    document["steps"][0]["depends_on"] = json!([format!("s{}", n - 1)]);
    let mut diagnostics = Diagnostics::default();
    let workflow = compile(document.as_object().expect("object"), &mut diagnostics);
    assert!(workflow.is_none());
    assert_eq!(diagnostics.errors.len(), 1);
    assert_eq!(diagnostics.errors[0].code, "DAG_CYCLE");
}

#[test]
fn the_example_file_compiles_cleanly() {
    let (workflow, diagnostics) = compile_yaml(include_str!(
        "../../../../examples/workflows/build-dag.workflow.yaml"
    ));
    assert_eq!(diagnostics, Diagnostics::default());
    let workflow = workflow.expect("workflow");
    assert_eq!(workflow.start, VARIABLES_STATE);
    assert_eq!(step(&workflow, "build").depends_on, vec!["test", "lint"]);
    assert_eq!(operation(&workflow, "build").timeout_seconds, Some(600));
    assert_eq!(operation(&workflow, "test").retry.max_attempts, 3);
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("1h1m1s"), Some(3661));
    assert_eq!(parse_duration("  45 "), Some(45));
    assert_eq!(parse_duration("h"), None);
    assert_eq!(parse_duration("1h 30m"), None);
    assert_eq!(parse_duration("99999999999999999999d"), None);
    assert_eq!(parse_duration("9999999999999999d"), None);
}
