//! Values that cannot be stored (U+0000 in a string) fail their step with
//! `INVALID_OUTPUT`, never retried: a transform's value, a worker's output
//! or error. The run never holds one, so its transition can always be written.

use super::*;

const AGENT_THEN_TRANSFORM: &str = r#"
id: nul
states:
  - name: ask
    type: operation
    action: agent.run
    input: { agent: echo }
    retry: { maxAttempts: 3 }
    resultPath: steps.ask
    next: shape
  - name: shape
    type: transform
    expression: "{'text': 'a' + chr(0) + 'b'}"
    end: true
"#;

fn assert_no_nul(env: &Env) {
    let state = serde_json::to_value(&env.state).expect("serializes");
    assert!(
        !crate::wire::storable::has_nul(&state),
        "the run's state holds NUL: {state}"
    );
}

#[test]
fn a_transform_yielding_nul_fails_the_run_with_invalid_output() {
    let mut env = Env::new(AGENT_THEN_TRANSFORM);
    let task = dispatched(&env.start(json!({})))[0].clone();
    let effects = succeed(&mut env, &task, json!({"ok": true}));
    assert_eq!(env.state.status, RunStatus::Failed, "{effects:?}");
    let error = env.state.error.clone().expect("error");
    assert_eq!(error.code, "INVALID_OUTPUT");
    assert_eq!(error.retryable, Some(false));
    assert!(error.message.contains("shape"), "{}", error.message);
    assert!(dispatched(&effects).is_empty());
    assert_no_nul(&env);
}

#[test]
fn a_transform_yielding_nul_can_be_caught() {
    let mut env = Env::new(
        r#"
id: caught
states:
  - name: shape
    type: transform
    expression: "chr(0)"
    catch:
      - { errors: [INVALID_OUTPUT], next: fallback, resultPath: steps.error }
    end: true
  - { name: fallback, type: inject, data: { handled: true }, end: true }
"#,
    );
    env.start(json!({}));
    assert_eq!(env.state.status, RunStatus::Completed);
    assert_eq!(env.state.context["ctx"]["handled"], json!(true));
    assert_eq!(
        env.state.context["steps"]["error"]["code"],
        json!("INVALID_OUTPUT")
    );
    assert_no_nul(&env);
}

#[test]
fn a_worker_output_or_error_holding_nul_fails_the_step_without_retry() {
    let mut env = Env::new(AGENT_THEN_TRANSFORM);
    let task = dispatched(&env.start(json!({})))[0].clone();
    // A key holding NUL counts as much as a value.
    let effects = succeed(&mut env, &task, json!({"fine": ["x", {"k\u{0}": 1}]}));
    assert!(dispatched(&effects).is_empty(), "retried: {effects:?}");
    assert_eq!(env.state.status, RunStatus::Failed);
    let error = env.state.error.clone().expect("error");
    assert_eq!(error.code, "INVALID_OUTPUT");
    assert_no_nul(&env);

    let mut env = Env::new(AGENT_THEN_TRANSFORM);
    let task = dispatched(&env.start(json!({})))[0].clone();
    let effects = env.apply(Input::StepFailed {
        step_id: StepId::new(&task.step_id),
        attempt: 1,
        error: ErrorInfo::new("AGENT_SAID", "bad \u{0} news").retryable(),
    });
    assert!(dispatched(&effects).is_empty(), "retried: {effects:?}");
    assert_eq!(env.state.status, RunStatus::Failed);
    assert_eq!(
        env.state.error.clone().expect("error").code,
        "INVALID_OUTPUT"
    );
    assert_no_nul(&env);
}
