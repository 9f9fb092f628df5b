//! The IR whole documents compile to: the shape of a small DAG, injected
//! `variables`, the seeds and the example file.

use super::*;
use crate::model::ir::{
    Action, AgentCall, Dag, ExecutorCall, RetryPolicy, State, StateKind, Transition,
};
use serde_json::json;

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
    let test = operation_step(
        "test",
        Action::Executor(ExecutorCall {
            executor: "shell.run".into(),
            params: json!({"command": ["npm", "test"]}),
        }),
    );
    let mut review = operation_step(
        "review",
        Action::AgentRun(AgentCall {
            agent: "reviewer".into(),
            task: Some(json!("Review the code changes")),
            input: None,
            variables: None,
            timeout_seconds: None,
            default_task: None,
        }),
    );
    if let StateKind::Operation(op) = &mut review.state.kind {
        op.timeout_seconds = Some(300);
        op.retry = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
    }
    review.depends_on = vec!["test".into()];
    review.condition = Some("steps.test.exit_code == 0".into());
    let expected = Workflow {
        timeout_seconds: None,
        id: "ci".into(),
        name: Some("CI".into()),
        description: None,
        definition_version: Some("2".into()),
        input_schema: None,
        output_schema: None,
        trigger: None,
        schedule: None,
        concurrency: None,
        start: "dag".into(),
        states: vec![State {
            name: "dag".into(),
            kind: StateKind::Dag(Dag {
                steps: vec![test, review],
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
fn the_example_file_compiles_cleanly() {
    let (workflow, diagnostics) = compile_yaml(include_str!(
        "../../../../../examples/workflows/build-dag.workflow.yaml"
    ));
    assert_eq!(diagnostics, Diagnostics::default());
    let workflow = workflow.expect("workflow");
    assert_eq!(workflow.start, VARIABLES_STATE);
    assert_eq!(step(&workflow, "build").depends_on, vec!["test", "lint"]);
    assert_eq!(operation(&workflow, "build").timeout_seconds, Some(600));
    assert_eq!(operation(&workflow, "test").retry.max_attempts, 3);
}
