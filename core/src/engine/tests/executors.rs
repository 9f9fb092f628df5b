//! Steps of executors other than `agent.run`: their parameters rendered
//! into a task, what `signal.emit` and `starlark.eval` tasks carry, and the
//! timeout of a task no worker takes.

use super::*;
use crate::status::StepStatus;

const EXECUTORS: &str = r#"
id: executors
states:
  - name: emit
    type: operation
    action: signal.emit
    input: { type: order.shipped, data: { order: "{{ ctx.order }}", total: "{{ ctx.total }}" } }
    resultPath: steps.emit
    next: compute
  - name: compute
    type: operation
    action: starlark.eval
    timeoutSeconds: 5
    retry: { maxAttempts: 2 }
    input: { expression: "ctx.total * 2" }
    resultPath: steps.compute
    next: ask
  - name: ask
    type: operation
    action: llm
    input: { model: small, prompt: "Say {{ ctx.order }}" }
    end: true
"#;

#[test]
fn executor_parameters_are_rendered_into_a_task_of_their_executor() {
    let mut env = Env::new(EXECUTORS);
    let effects = env.start(json!({"order": "A-1", "total": 21}));
    let task = dispatched(&effects)[0].clone();
    // A whole-string template keeps its JSON type.
    assert_eq!(
        task.action,
        TaskAction::SignalEmit {
            input: json!({"type": "order.shipped", "data": {"order": "A-1", "total": 21}})
        }
    );
    assert_eq!(task.correlation_id.as_deref(), Some("sig-1"));
    assert_eq!(task.bindings, None);
    let wire = serde_json::to_value(&task).unwrap_or_default();
    assert_eq!(wire["action"], "signal.emit");
    assert_eq!(wire["input"]["data"]["total"], 21);

    let effects = succeed(&mut env, &task, json!({"id": "run-1:x"}));
    let task = dispatched(&effects)[0].clone();
    assert_eq!(task.action.name(), "starlark.eval");
    assert_eq!(task.correlation_id, None);
    let bindings = task
        .bindings
        .clone()
        .expect("a starlark.eval task carries its bindings");
    assert_eq!(bindings["ctx"]["total"], 21);
    assert_eq!(bindings["steps"]["emit"], json!({"id": "run-1:x"}));
    assert_eq!(bindings["input"], json!({"order": "A-1", "total": 21}));
    assert_eq!(bindings["signal"], Value::Null);

    let effects = succeed(&mut env, &task, json!(42));
    let task = dispatched(&effects)[0].clone();
    assert_eq!(
        task.action,
        TaskAction::Llm {
            input: json!({"model": "small", "prompt": "Say A-1"})
        }
    );
}

#[test]
fn a_template_that_does_not_resolve_fails_an_executor_step() {
    let source = "id: t\nstates:\n  - { name: e, type: operation, action: signal.emit, input: { type: a.b, data: { x: '{{ ctx.missing.deep }}' } }, end: true }\n";
    let mut env = Env::new(source);
    let effects = env.start(json!({}));
    assert!(dispatched(&effects).is_empty());
    assert_eq!(env.state.status, RunStatus::Failed);
    assert_eq!(
        env.state.error.clone().expect("error").code,
        "TEMPLATE_PATH"
    );
}

fn unclaimed_timers(effects: &[Effect]) -> Vec<(i64, u32)> {
    timers(effects)
        .into_iter()
        .filter_map(|t| match &t.kind {
            TimerKind::StepUnclaimed(step) => Some((t.fire_at_ms.unwrap_or(0), step.attempt)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_unclaimed_task_times_out_at_its_timeout_and_retries() {
    let mut env = Env::new(EXECUTORS);
    let effects = env.start(json!({"order": "A-1", "total": 1}));
    let emit = dispatched(&effects)[0].clone();
    let default_timeout_ms = (300 + UNCLAIMED_STEP_GRACE_SECONDS as i64) * 1000;
    assert_eq!(
        unclaimed_timers(&effects),
        vec![(now().timestamp_millis() + default_timeout_ms, 1)]
    );
    let effects = succeed(&mut env, &emit, json!({}));
    let compute = dispatched(&effects)[0].clone();
    assert_eq!(
        unclaimed_timers(&effects),
        vec![(now().timestamp_millis() + 7_000, 1)],
        "the state's timeoutSeconds (5) plus the grace"
    );
    // Nobody took it: the step times out, recorded as the attempt's end,
    // and its retry policy sends attempt 2 (with its own timer).
    let effects = env.apply(Input::StepUnclaimed {
        step_id: StepId::new(&compute.step_id),
        attempt: 1,
    });
    assert_eq!(
        events(&effects)[..2],
        [EventType::StepTimedOut, EventType::StepRetrying]
    );
    let recorded = effects.iter().find_map(|e| match e {
        Effect::RecordInline(step) => Some(step.clone()),
        _ => None,
    });
    let recorded = recorded.expect("the attempt is closed");
    assert_eq!(recorded.status, StepStatus::TimedOut);
    assert_eq!(recorded.error.map(|e| e.code), Some("STEP_TIMEOUT".into()));
    let retry = dispatched(&effects)[0].clone();
    assert_eq!(retry.attempt, 2);
    assert_eq!(unclaimed_timers(&effects).len(), 1);
    // A late timer for attempt 1 changes nothing.
    assert!(
        env.apply(Input::StepUnclaimed {
            step_id: StepId::new(&compute.step_id),
            attempt: 1
        })
        .is_empty()
    );
    let effects = env.apply(Input::StepUnclaimed {
        step_id: StepId::new(&compute.step_id),
        attempt: 2,
    });
    assert!(events(&effects).contains(&EventType::RunFailed));
    let error = env.state.error.clone().expect("error");
    assert_eq!(error.code, "STEP_TIMEOUT");
    assert!(
        error.message.contains("`starlark.eval`"),
        "{}",
        error.message
    );
}

#[test]
fn agent_tasks_store_no_unclaimed_timer_and_a_paused_run_waits_on() {
    let mut env = Env::new(PIPELINE);
    let effects = env.start(json!({"order": "A-1", "amount": 1}));
    assert!(!dispatched(&effects).is_empty());
    assert!(unclaimed_timers(&effects).is_empty());

    let mut env = Env::new(EXECUTORS);
    let emit = dispatched(&env.start(json!({"order": "A-1", "total": 1})))[0].clone();
    env.apply(Input::Pause {
        actor: None,
        reason: None,
    });
    let effects = env.apply(Input::StepUnclaimed {
        step_id: StepId::new(&emit.step_id),
        attempt: 1,
    });
    assert!(events(&effects).is_empty(), "a paused run's step waits on");
    assert_eq!(
        unclaimed_timers(&effects).len(),
        1,
        "its timer is stored again"
    );
    assert_eq!(env.state.status, RunStatus::Paused);
}
