//! Inline states (switch, transform) and `catch` rules.

use super::*;

const ROUTER: &str = r#"
id: router
outputSchema:
  type: object
  required: [verdict]
states:
  - name: shape
    type: transform
    expression: "{'total': max([i['n'] for i in ctx['items']] + [0]), 'count': len(ctx['items'])}"
    resultPath: steps.shape
    next: route
  - name: route
    type: switch
    dataPath: steps.shape
    conditions:
      - { if: "total > ctx.limit", next: big }
      - { if: "_value['count'] == 0", next: empty }
    defaultNext: small
  - { name: big, type: inject, data: { verdict: big }, end: true }
  - { name: empty, type: inject, data: { verdict: empty }, end: true }
  - { name: small, type: inject, data: { size: small }, end: true }
"#;

fn items(ns: &[i64], limit: i64) -> Value {
    json!({"items": ns.iter().map(|n| json!({"n": n})).collect::<Vec<_>>(), "limit": limit})
}

#[test]
fn transform_and_switch_run_inline_and_route() {
    for (ns, limit, expected) in [(vec![5, 12], 10, "big"), (vec![], 10, "empty")] {
        let mut env = Env::new(ROUTER);
        let effects = env.start(items(&ns, limit));
        assert_eq!(env.state.status, RunStatus::Completed, "{effects:?}");
        assert_eq!(env.state.context["ctx"]["verdict"], json!(expected));
        assert_eq!(
            env.state.context["steps"]["shape"]["count"],
            json!(ns.len())
        );
        // transform, switch and inject each record started + completed.
        assert_eq!(
            events(&effects),
            vec![
                EventType::RunStarted,
                EventType::StepStarted,
                EventType::StepCompleted,
                EventType::StepStarted,
                EventType::StepCompleted,
                EventType::StepStarted,
                EventType::StepCompleted,
                EventType::RunCompleted,
            ]
        );
    }
}

#[test]
fn the_default_branch_and_an_output_schema_warning() {
    let mut env = Env::new(ROUTER);
    let effects = env.start(items(&[1], 10));
    assert_eq!(env.state.status, RunStatus::Completed);
    assert_eq!(env.state.context["ctx"]["size"], json!("small"));
    // The final ctx lacks `verdict`: a warning, then completed.
    let kinds = events(&effects);
    assert_eq!(
        &kinds[kinds.len() - 2..],
        &[EventType::StepWarning, EventType::RunCompleted]
    );
    let warning = effects
        .iter()
        .find_map(|e| match e {
            Effect::Emit(d) if d.kind == EventType::StepWarning => Some(d),
            _ => None,
        })
        .expect("warning");
    assert_eq!(warning.data["code"], json!("OUTPUT_SCHEMA"));
    assert!(warning.step.is_none());
}

#[test]
fn a_raising_condition_fails_the_run_naming_state_and_expression() {
    let mut env = Env::new(ROUTER);
    // `limit` missing: `total > ctx.limit` raises.
    env.start(json!({"items": [{"n": 1}]}));
    assert_eq!(env.state.status, RunStatus::Failed);
    let error = env.state.error.clone().expect("error");
    assert_eq!(error.code, "CONDITION_ERROR");
    assert!(error.message.contains("route"), "{}", error.message);
    assert!(
        error.message.contains("total > ctx.limit"),
        "{}",
        error.message
    );
    assert_eq!(error.state.as_deref(), Some("route"));
}

#[test]
fn no_matching_condition_without_default_fails_the_run() {
    let mut env = Env::new(
        r#"
id: strict
states:
  - name: route
    type: switch
    dataPath: ctx
    conditions:
      - { if: "x == 1", next: one }
  - { name: one, type: inject, data: {}, end: true }
"#,
    );
    env.start(json!({"x": 2}));
    assert_eq!(env.state.status, RunStatus::Failed);
    let error = env.state.error.clone().expect("error");
    assert_eq!(error.code, "NO_MATCHING_CONDITION");
    assert!(error.message.contains("route"), "{}", error.message);
    assert!(
        error.message.contains(r#"ctx = {"x":2}"#),
        "{}",
        error.message
    );
}

#[test]
fn a_raising_transform_fails_the_run() {
    let mut env = Env::new(
        "id: t\nstates:\n  - { name: t, type: transform, expression: \"ctx.a + 1\", end: true }\n",
    );
    env.start(json!({"a": "text"}));
    assert_eq!(env.state.status, RunStatus::Failed);
    let error = env.state.error.clone().expect("error");
    assert_eq!(error.code, "TRANSFORM_ERROR");
    assert!(error.message.contains("ctx.a + 1"), "{}", error.message);
}

const GUARDED: &str = r#"
id: guarded
states:
  - name: call
    type: operation
    action: agent.run
    input: { agent: echo }
    catch:
      - { errors: [STEP_TIMEOUT], next: slow, resultPath: steps.error }
      - { errors: [CARD_DECLINED], next: declined }
    next: done
  - name: shape
    type: transform
    expression: "ctx.missing + 1"
    onError: fallback
    end: true
  - { name: slow, type: inject, data: { handled: slow }, end: true }
  - { name: declined, type: transform, expression: "ctx.missing", onError: fallback, end: true }
  - { name: fallback, type: inject, data: { handled: fallback }, end: true }
  - { name: done, type: inject, data: { handled: none }, end: true }
"#;

#[test]
fn catch_rules_take_matching_failures_to_their_handler() {
    let mut env = Env::new(GUARDED);
    let task = dispatched(&env.start(json!({})))[0].clone();
    env.apply(Input::StepFailed {
        step_id: StepId::new(&task.step_id),
        attempt: 1,
        error: ErrorInfo::new("STEP_TIMEOUT", "too slow"),
    });
    assert_eq!(env.state.status, RunStatus::Completed);
    assert_eq!(env.state.context["ctx"]["handled"], json!("slow"));
    assert_eq!(
        env.state.context["steps"]["error"]["code"],
        json!("STEP_TIMEOUT")
    );
}

#[test]
fn a_caught_failure_can_be_caught_again_and_unmatched_codes_fail_the_run() {
    // CARD_DECLINED → `declined`, whose transform raises → its onError → fallback.
    let mut env = Env::new(GUARDED);
    let task = dispatched(&env.start(json!({})))[0].clone();
    env.apply(Input::StepFailed {
        step_id: StepId::new(&task.step_id),
        attempt: 1,
        error: ErrorInfo::new("CARD_DECLINED", "no"),
    });
    assert_eq!(env.state.status, RunStatus::Completed);
    assert_eq!(env.state.context["ctx"]["handled"], json!("fallback"));

    let mut env = Env::new(GUARDED);
    let task = dispatched(&env.start(json!({})))[0].clone();
    env.apply(Input::StepFailed {
        step_id: StepId::new(&task.step_id),
        attempt: 1,
        error: ErrorInfo::new("OTHER", "unhandled"),
    });
    assert_eq!(env.state.status, RunStatus::Failed);
    assert_eq!(env.state.error.clone().expect("error").code, "OTHER");
}
