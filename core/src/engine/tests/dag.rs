//! The DAG runtime: independent steps, conditions, blocking, retries.

use super::*;

const DAG: &str = r#"
id: build
steps:
  - { name: fetch, agent: echo }
  - { name: lint, agent: echo, depends_on: [fetch] }
  - { name: test, agent: echo, depends_on: [fetch], retries: 1 }
  - { name: docs, agent: echo, depends_on: [fetch], condition: "ctx.with_docs" }
  - { name: package, agent: echo, depends_on: [lint, test, docs] }
"#;

#[test]
fn a_dag_runs_independent_steps_together_and_skips_false_conditions() {
    let mut env = Env::new(DAG);
    let effects = env.start(json!({"with_docs": false}));
    let first = dispatched(&effects);
    assert_eq!(states_of(&first), ["fetch"]);
    assert_eq!(first[0].path, "dag/fetch");
    let fetch = first[0].clone();
    let effects = succeed(&mut env, &fetch, json!({"rev": 7}));
    // lint and test start together; docs is skipped (recorded inline).
    let wave = dispatched(&effects);
    assert_eq!(states_of(&wave), ["lint", "test"]);
    assert_eq!(env.state.context["steps"]["fetch"], json!({"rev": 7}));
    let (lint, test) = (wave[0].clone(), wave[1].clone());
    assert!(dispatched(&succeed(&mut env, &lint, json!(1))).is_empty());
    let effects = succeed(&mut env, &test, json!(2));
    let last = dispatched(&effects);
    assert_eq!(states_of(&last), ["package"]);
    let package = last[0].clone();
    let effects = succeed(&mut env, &package, json!("pkg"));
    assert_eq!(env.state.status, RunStatus::Completed, "{effects:?}");
    assert!(env.state.dag.is_none());
}

#[test]
fn a_failed_dag_step_blocks_its_dependents_and_fails_the_run() {
    let mut env = Env::new(DAG);
    let fetch = dispatched(&env.start(json!({"with_docs": true})))[0].clone();
    let wave: Vec<_> = dispatched(&succeed(&mut env, &fetch, json!({})))
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(wave.len(), 3, "lint, test, docs");
    let lint = wave.iter().find(|t| t.state == "lint").expect("lint");
    let test = wave.iter().find(|t| t.state == "test").expect("test");
    let docs = wave.iter().find(|t| t.state == "docs").expect("docs");
    // lint fails for good; the others still finish; package never starts.
    assert!(dispatched(&fail(&mut env, lint)).is_empty());
    assert_eq!(env.state.status, RunStatus::Running);
    assert!(dispatched(&succeed(&mut env, test, json!(1))).is_empty());
    let effects = succeed(&mut env, docs, json!(1));
    assert!(dispatched(&effects).is_empty());
    assert_eq!(env.state.status, RunStatus::Failed);
    let error = env.state.error.clone().expect("error");
    assert_eq!(error.code, "BOOM");
    assert!(
        error.message.contains("blocked steps: package"),
        "{}",
        error.message
    );
}

#[test]
fn dag_step_retries_use_the_same_step_id() {
    let mut env = Env::new(DAG);
    let fetch = dispatched(&env.start(json!({"with_docs": false})))[0].clone();
    let wave: Vec<_> = dispatched(&succeed(&mut env, &fetch, json!({})))
        .into_iter()
        .cloned()
        .collect();
    let test = wave.iter().find(|t| t.state == "test").expect("test");
    let effects = env.apply(Input::StepFailed {
        step_id: StepId::new(&test.step_id),
        attempt: 1,
        error: ErrorInfo::new("FLAKE", "try again"),
    });
    let retry = dispatched(&effects);
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].step_id, test.step_id);
    assert_eq!(retry[0].attempt, 2);
    assert_eq!(env.state.status, RunStatus::Running);
}

/// A task over the payload limit fails its attempt as a worker's failure
/// would: in a DAG it blocks its dependents, and the DAG fails after.
#[test]
fn a_task_over_the_payload_limit_fails_its_dag_step_which_blocks_its_dependents() {
    let mut env = Env::new(DAG);
    let effects = env.start(json!({"with_docs": false, "blob": "x".repeat(500)}));
    let fetch = dispatched(&effects)[0].clone();
    env.payload_limit = 400;
    let effects = succeed(&mut env, &fetch, json!(1));
    assert!(dispatched(&effects).is_empty(), "nothing too large is sent");
    assert_eq!(env.state.status, RunStatus::Failed);
    let error = env.state.error.clone().expect("error");
    assert_eq!(error.code, "PAYLOAD_TOO_LARGE");
    assert!(
        error.message.contains("blocked steps: package"),
        "{}",
        error.message
    );
}
