//! Scenario tests for the state machine: apply inputs, assert effects and state.

use super::*;
use crate::ids::RunId;
use crate::model::{SourceFormat, compile};
use crate::status::RunStatus;
use crate::wire::{ErrorInfo, EventType, TaskAction};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

const PIPELINE: &str = r#"
id: pipeline
version: "2"
states:
  - name: defaults
    type: inject
    data: { currency: EUR }
    next: check
  - name: check
    type: operation
    action: agent.run
    input: { agent: echo, task: "check {{ ctx.order }}" }
    retry: { maxAttempts: 3 }
    resultPath: steps.check
    next: notify
  - name: notify
    type: operation
    action: agent.run
    input: { agent: notifier, input: { amount: "{{ ctx.amount }}", seen: "{{ steps.check.ok }}" } }
    resultPath: steps.notify
    end: true
"#;

struct Env {
    workflow: crate::model::Workflow,
    meta: RunMeta,
    state: RunState,
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("valid time")
}

impl Env {
    fn new(source: &str) -> Self {
        let compiled = compile(source, SourceFormat::Yaml);
        let workflow = compiled
            .workflow
            .unwrap_or_else(|| panic!("compiles: {:?}", compiled.diagnostics));
        Self {
            workflow,
            meta: RunMeta {
                run_id: RunId::new("run-1"),
                tenant: "default".into(),
                version: 1,
            },
            state: RunState::new(),
        }
    }

    fn apply(&mut self, input: Input) -> Vec<Effect> {
        apply(&self.workflow, &self.meta, &mut self.state, input, now())
    }

    fn start(&mut self, input: Value) -> Vec<Effect> {
        self.apply(Input::Start {
            input,
            signal: None,
            causation_id: Some("sig-1".into()),
            correlation_id: "sig-1".into(),
            parent: None,
        })
    }
}

fn events(effects: &[Effect]) -> Vec<EventType> {
    effects
        .iter()
        .filter_map(|e| {
            if let Effect::Emit(d) = e {
                Some(d.kind)
            } else {
                None
            }
        })
        .collect()
}

fn dispatched(effects: &[Effect]) -> Vec<&crate::wire::StepTask> {
    effects
        .iter()
        .filter_map(|e| {
            if let Effect::Dispatch(t) = e {
                Some(t)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn start_runs_inline_states_and_dispatches_the_first_operation() {
    let mut env = Env::new(PIPELINE);
    let effects = env.start(json!({"order": "A-1", "amount": 5}));
    assert_eq!(
        events(&effects),
        vec![
            EventType::RunStarted,
            EventType::StepStarted,
            EventType::StepCompleted
        ]
    );
    let tasks = dispatched(&effects);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].state, "check");
    assert_eq!(tasks[0].attempt, 1);
    let TaskAction::AgentRun {
        agent, task, input, ..
    } = &tasks[0].action;
    assert_eq!(agent, "echo");
    assert_eq!(task, &Some(json!("check A-1")));
    assert_eq!(input["currency"], json!("EUR"), "first agent gets ctx");
    assert_eq!(env.state.status, RunStatus::Running);
    assert_eq!(env.state.context["ctx"]["currency"], json!("EUR"));
    assert_eq!(tasks[0].workflow.definition_version.as_deref(), Some("2"));
}

#[test]
fn results_land_at_result_path_and_the_run_completes() {
    let mut env = Env::new(PIPELINE);
    let first = dispatched(&env.start(json!({"order": "A-1", "amount": 5})))[0].clone();
    let effects = env.apply(Input::StepSucceeded {
        step_id: first.step_id.clone(),
        attempt: 1,
        output: json!({"ok": true}),
    });
    assert_eq!(env.state.context["steps"]["check"], json!({"ok": true}));
    let second = dispatched(&effects)[0].clone();
    assert_eq!(
        second.action.input(),
        &json!({"amount": 5, "seen": true}),
        "templates keep types"
    );
    let effects = env.apply(Input::StepSucceeded {
        step_id: second.step_id,
        attempt: 1,
        output: json!("sent"),
    });
    assert_eq!(events(&effects), vec![EventType::RunCompleted]);
    assert_eq!(env.state.status, RunStatus::Completed);
    assert_eq!(env.state.context["steps"]["notify"], json!("sent"));
}

#[test]
fn duplicate_and_late_results_change_nothing() {
    let mut env = Env::new(PIPELINE);
    let first = dispatched(&env.start(json!({"order": "A", "amount": 1})))[0].clone();
    let ok = Input::StepSucceeded {
        step_id: first.step_id.clone(),
        attempt: 1,
        output: json!({"ok": 1}),
    };
    assert!(!env.apply(ok.clone()).is_empty());
    let snapshot = env.state.clone();
    assert!(env.apply(ok).is_empty(), "a redelivered result is a no-op");
    assert!(
        env.apply(Input::StepFailed {
            step_id: first.step_id,
            attempt: 1,
            error: ErrorInfo::new("X", "late")
        })
        .is_empty()
    );
    assert_eq!(env.state, snapshot);
    assert!(
        env.apply(Input::StepSucceeded {
            step_id: "unknown".into(),
            attempt: 1,
            output: json!(1)
        })
        .is_empty()
    );
}

#[test]
fn failures_retry_then_fail_the_run_with_location() {
    let mut env = Env::new(PIPELINE);
    let first = dispatched(&env.start(json!({"order": "A", "amount": 1})))[0].clone();
    let mut attempt = 1;
    loop {
        let effects = env.apply(Input::StepFailed {
            step_id: first.step_id.clone(),
            attempt,
            error: ErrorInfo::new("BOOM", "agent broke"),
        });
        if attempt < 3 {
            assert_eq!(events(&effects), vec![EventType::StepRetrying]);
            let retry = dispatched(&effects);
            assert_eq!(retry[0].attempt, attempt + 1);
            assert_eq!(retry[0].step_id, first.step_id, "retries keep the step id");
            attempt += 1;
        } else {
            assert_eq!(events(&effects), vec![EventType::RunFailed]);
            break;
        }
    }
    let error = env.state.error.clone().expect("run error");
    assert_eq!(
        (error.code.as_str(), error.state.as_deref(), error.attempt),
        ("BOOM", Some("check"), Some(3))
    );
    assert_eq!(env.state.status, RunStatus::Failed);
}

#[test]
fn non_retryable_errors_fail_at_once() {
    let mut env = Env::new(PIPELINE);
    let first = dispatched(&env.start(json!({"order": "A", "amount": 1})))[0].clone();
    let effects = env.apply(Input::StepFailed {
        step_id: first.step_id,
        attempt: 1,
        error: ErrorInfo::new("NOPE", "no").not_retryable(),
    });
    assert_eq!(events(&effects), vec![EventType::RunFailed]);
}

#[test]
fn backoff_becomes_a_durable_timer() {
    let source = PIPELINE.replace(
        "retry: { maxAttempts: 3 }",
        "retry: { maxAttempts: 2, backoffSeconds: 1.5 }",
    );
    let mut env = Env::new(&source);
    let first = dispatched(&env.start(json!({"order": "A", "amount": 1})))[0].clone();
    let effects = env.apply(Input::StepFailed {
        step_id: first.step_id.clone(),
        attempt: 1,
        error: ErrorInfo::new("X", "x"),
    });
    assert!(dispatched(&effects).is_empty());
    assert!(effects.contains(&Effect::StartRetryTimer {
        step_id: first.step_id.clone(),
        attempt: 2,
        fire_at_ms: now().timestamp_millis() + 1500
    }));
    let fired = env.apply(Input::TimerFired {
        step_id: first.step_id.clone(),
        attempt: 2,
    });
    assert_eq!(dispatched(&fired)[0].attempt, 2);
    let again = env.apply(Input::TimerFired {
        step_id: first.step_id.clone(),
        attempt: 2,
    });
    assert!(again.is_empty(), "a timer fired twice dispatches once");
    assert!(
        env.apply(Input::TimerFired {
            step_id: first.step_id,
            attempt: 7
        })
        .is_empty()
    );
}

#[test]
fn a_missing_template_path_fails_the_step_and_run() {
    let source = PIPELINE.replace("{{ ctx.order }}", "{{ ctx.nope }}");
    let mut env = Env::new(&source);
    let effects = env.start(json!({"order": "A", "amount": 1}));
    assert!(dispatched(&effects).is_empty());
    assert_eq!(events(&effects).last(), Some(&EventType::RunFailed));
    assert_eq!(
        env.state.error.as_ref().map(|e| e.code.as_str()),
        Some("TEMPLATE_PATH")
    );
}

#[test]
fn step_ids_are_stable_across_replays() {
    let mut a = Env::new(PIPELINE);
    let mut b = Env::new(PIPELINE);
    let ta = dispatched(&a.start(json!({"order": "A", "amount": 1})))[0]
        .step_id
        .clone();
    let tb = dispatched(&b.start(json!({"order": "B", "amount": 2})))[0]
        .step_id
        .clone();
    assert_eq!(ta, tb, "same run id and state give the same step id");
}

#[test]
fn start_twice_is_a_no_op() {
    let mut env = Env::new(PIPELINE);
    env.start(json!({"order": "A", "amount": 1}));
    assert!(env.start(json!({"order": "B", "amount": 1})).is_empty());
}

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

const DAG: &str = r#"
id: build
steps:
  - { name: fetch, agent: echo }
  - { name: lint, agent: echo, depends_on: [fetch] }
  - { name: test, agent: echo, depends_on: [fetch], retries: 1 }
  - { name: docs, agent: echo, depends_on: [fetch], condition: "ctx.with_docs" }
  - { name: package, agent: echo, depends_on: [lint, test, docs] }
"#;

fn succeed(env: &mut Env, task: &crate::wire::StepTask, output: Value) -> Vec<Effect> {
    env.apply(Input::StepSucceeded {
        step_id: task.step_id.clone(),
        attempt: task.attempt,
        output,
    })
}

fn fail(env: &mut Env, task: &crate::wire::StepTask) -> Vec<Effect> {
    env.apply(Input::StepFailed {
        step_id: task.step_id.clone(),
        attempt: task.attempt,
        error: ErrorInfo::new("BOOM", "it broke").not_retryable(),
    })
}

fn states_of(tasks: &[&crate::wire::StepTask]) -> Vec<String> {
    let mut names: Vec<String> = tasks.iter().map(|t| t.state.clone()).collect();
    names.sort();
    names
}

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
        step_id: test.step_id.clone(),
        attempt: 1,
        error: ErrorInfo::new("FLAKE", "try again"),
    });
    let retry = dispatched(&effects);
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].step_id, test.step_id);
    assert_eq!(retry[0].attempt, 2);
    assert_eq!(env.state.status, RunStatus::Running);
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
        step_id: task.step_id.clone(),
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
        step_id: task.step_id.clone(),
        attempt: 1,
        error: ErrorInfo::new("CARD_DECLINED", "no"),
    });
    assert_eq!(env.state.status, RunStatus::Completed);
    assert_eq!(env.state.context["ctx"]["handled"], json!("fallback"));

    let mut env = Env::new(GUARDED);
    let task = dispatched(&env.start(json!({})))[0].clone();
    env.apply(Input::StepFailed {
        step_id: task.step_id.clone(),
        attempt: 1,
        error: ErrorInfo::new("OTHER", "unhandled"),
    });
    assert_eq!(env.state.status, RunStatus::Failed);
    assert_eq!(env.state.error.clone().expect("error").code, "OTHER");
}

const FANOUT: &str = r#"
id: fanout
states:
  - name: both
    type: parallel
    branches:
      - name: a
        states:
          - { name: a1, type: agent, agent: echo, task: "a for {{ ctx.who }}", resultPath: result, end: true }
      - name: b
        states:
          - { name: b1, type: agent, agent: echo, resultPath: out, next: b2 }
          - { name: b2, type: inject, data: { seen: true }, resultPath: flag, end: true }
    resultPath: steps.both
    catch: [{ next: rescued, resultPath: steps.error }]
    next: each
  - name: each
    type: foreach
    itemsPath: ctx.services
    itemName: service
    maxConcurrency: 2
    iterator:
      states:
        - { name: check, type: agent, agent: echo, task: "check {{ service.name }}", resultPath: health, end: true }
    resultPath: steps.health
    end: true
  - { name: rescued, type: inject, data: { rescued: true }, end: true }
"#;

fn by_path<'t>(tasks: &'t [&crate::wire::StepTask], path: &str) -> &'t crate::wire::StepTask {
    tasks.iter().find(|t| t.path == path).unwrap_or_else(|| {
        panic!(
            "no task at {path}: {:?}",
            tasks.iter().map(|t| &t.path).collect::<Vec<_>>()
        )
    })
}

fn services(n: usize) -> Value {
    json!({ "who": "ada", "services": (0..n).map(|i| json!({ "name": format!("s{i}") })).collect::<Vec<_>>() })
}

#[test]
fn parallel_branches_run_together_and_join_keyed_by_branch() {
    let mut env = Env::new(FANOUT);
    let effects = env.start(services(0));
    let tasks = dispatched(&effects);
    assert_eq!(tasks.len(), 2);
    let a1 = by_path(&tasks, "both/a/a1").clone();
    let b1 = by_path(&tasks, "both/b/b1").clone();
    assert_ne!(a1.step_id, b1.step_id);
    let TaskAction::AgentRun { task, input, .. } = &a1.action;
    assert_eq!(task, &Some(json!("a for ada")));
    assert_eq!(
        input["who"],
        json!("ada"),
        "a branch's first agent gets the output from before it"
    );
    // b finishes first: nothing joins yet.
    assert!(dispatched(&succeed(&mut env, &b1, json!({ "b": 1 }))).is_empty());
    assert_eq!(env.state.status, RunStatus::Running);
    assert!(env.state.context["steps"].get("both").is_none());
    let effects = succeed(&mut env, &a1, json!({ "a": 1 }));
    assert_eq!(
        env.state.context["steps"]["both"],
        json!({ "a": { "result": { "a": 1 } }, "b": { "out": { "b": 1 }, "flag": { "seen": true } } })
    );
    // The foreach over no items joins at once with [] and the run completes.
    assert_eq!(env.state.context["steps"]["health"], json!([]));
    assert_eq!(env.state.status, RunStatus::Completed, "{effects:?}");
    assert!(env.state.frames.is_empty() && env.state.fanouts.is_empty());
    // Branch writes stay in the branch: the run context has no `result` root.
    assert!(env.state.context.get("result").is_none());
}

#[test]
fn foreach_bounds_items_in_flight_and_collects_in_index_order() {
    let mut env = Env::new(FANOUT);
    let tasks: Vec<_> = dispatched(&env.start(services(5)))
        .into_iter()
        .cloned()
        .collect();
    for task in &tasks {
        succeed(&mut env, task, json!({}));
    }
    // Past the parallel: the foreach started items 0 and 1 only.
    let mut running: Vec<crate::wire::StepTask> = env
        .state
        .active
        .iter()
        .map(|a| a.path.clone())
        .map(|path| crate::wire::StepTask {
            path,
            ..tasks[0].clone()
        })
        .collect();
    running.sort_by(|x, y| x.path.cmp(&y.path));
    let paths: Vec<&str> = running.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(paths, ["each[0]/check", "each[1]/check"]);
    let mut seen_ids = std::collections::HashSet::new();
    // Finish items newest first, as workers please; each end starts the next.
    let mut finished = 0;
    while env.state.status == RunStatus::Running {
        let active = env.state.active.last().cloned().expect("an item in flight");
        assert!(
            env.state.active.len() <= 2,
            "maxConcurrency bounds items in flight"
        );
        assert!(
            seen_ids.insert(active.step_id.clone()),
            "every item has its own step id"
        );
        let index: usize = active.path["each[".len()..active.path.find(']').expect("index")]
            .parse()
            .expect("number");
        env.apply(Input::StepSucceeded {
            step_id: active.step_id.clone(),
            attempt: active.attempt,
            output: json!({ "item": index }),
        });
        finished += 1;
    }
    assert_eq!(finished, 5);
    assert_eq!(env.state.status, RunStatus::Completed);
    let health = env.state.context["steps"]["health"]
        .as_array()
        .cloned()
        .expect("a list");
    let order: Vec<Value> = health.iter().map(|h| h["health"]["item"].clone()).collect();
    assert_eq!(order, [json!(0), json!(1), json!(2), json!(3), json!(4)]);
}

#[test]
fn foreach_items_are_bound_and_are_the_first_agents_input() {
    let mut env = Env::new(FANOUT);
    let tasks: Vec<_> = dispatched(&env.start(services(1)))
        .into_iter()
        .cloned()
        .collect();
    succeed(&mut env, &tasks[0], json!({}));
    let effects = succeed(&mut env, &tasks[1], json!({}));
    let item = dispatched(&effects)[0].clone();
    assert_eq!(item.path, "each[0]/check");
    let TaskAction::AgentRun { task, .. } = &item.action;
    assert_eq!(task, &Some(json!("check s0")));
}

#[test]
fn a_failed_branch_cancels_its_siblings_and_the_catch_takes_over() {
    let mut env = Env::new(FANOUT);
    let tasks: Vec<_> = dispatched(&env.start(services(0)))
        .into_iter()
        .cloned()
        .collect();
    let a1 = by_path(&tasks.iter().collect::<Vec<_>>(), "both/a/a1").clone();
    let b1 = by_path(&tasks.iter().collect::<Vec<_>>(), "both/b/b1").clone();
    let effects = fail(&mut env, &a1);
    assert!(
        events(&effects).contains(&EventType::StepCancelled),
        "b1 is cancelled"
    );
    assert_eq!(env.state.status, RunStatus::Completed);
    assert_eq!(env.state.context["ctx"]["rescued"], json!(true));
    assert_eq!(env.state.context["steps"]["error"]["code"], json!("BOOM"));
    // b1's late result changes nothing.
    assert!(succeed(&mut env, &b1, json!({})).is_empty());
}

#[test]
fn join_any_continues_with_the_first_branch_and_cancels_the_rest() {
    let source = FANOUT.replace(
        "    resultPath: steps.both\n",
        "    join: { mode: any }\n    resultPath: steps.both\n",
    );
    let mut env = Env::new(&source);
    let tasks: Vec<_> = dispatched(&env.start(services(0)))
        .into_iter()
        .cloned()
        .collect();
    let a1 = tasks
        .iter()
        .find(|t| t.path == "both/a/a1")
        .expect("a1")
        .clone();
    let effects = succeed(&mut env, &a1, json!({ "first": true }));
    assert!(events(&effects).contains(&EventType::StepCancelled));
    assert_eq!(
        env.state.context["steps"]["both"],
        json!({ "a": { "result": { "first": true } } })
    );
    assert_eq!(env.state.status, RunStatus::Completed);
}

#[test]
fn a_foreach_over_something_else_than_a_list_fails_clearly() {
    let mut env = Env::new(FANOUT);
    let tasks: Vec<_> = dispatched(&env.start(json!({ "who": "x", "services": "nope" })))
        .into_iter()
        .cloned()
        .collect();
    for task in &tasks {
        succeed(&mut env, task, json!({}));
    }
    assert_eq!(env.state.status, RunStatus::Failed);
    let error = env.state.error.clone().expect("error");
    assert_eq!(error.code, "FOREACH_ITEMS");
    assert!(error.message.contains("a string"), "{}", error.message);
}

#[test]
fn the_prd_appendix_runs_its_parallel_and_switch() {
    let source = include_str!("../../../examples/station/incident-triage.workflow.yaml");
    let mut env = Env::new(source);
    let tasks: Vec<_> = dispatched(&env.start(json!({ "namespace": "prod", "service": "api" })))
        .into_iter()
        .cloned()
        .collect();
    let paths: Vec<&str> = tasks.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "diagnostics/pods/check_pods",
            "diagnostics/errors/check_errors"
        ]
    );
    succeed(&mut env, &tasks[0], json!({ "pods": [] }));
    let effects = succeed(&mut env, &tasks[1], json!({ "error_rate": 0.01 }));
    // error_rate ≤ threshold: the switch reads steps.diagnostics.errors.result and goes to report_ok.
    let next = dispatched(&effects);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].path, "report_ok");
}

#[test]
fn retry_on_limits_retries_to_the_listed_codes() {
    let source = "id: r\nstates:\n  - { name: s, type: agent, agent: flaky, retry: { maxAttempts: 3, retryOn: [STEP_TIMEOUT] }, end: true }\n";
    let mut env = Env::new(source);
    let task = dispatched(&env.start(json!({})))[0].clone();
    let effects = env.apply(Input::StepFailed {
        step_id: task.step_id.clone(),
        attempt: 1,
        error: ErrorInfo::new("STEP_TIMEOUT", "slow"),
    });
    let retry = dispatched(&effects)[0].clone();
    assert_eq!(retry.attempt, 2);
    env.apply(Input::StepFailed {
        step_id: retry.step_id.clone(),
        attempt: 2,
        error: ErrorInfo::new("CARD_DECLINED", "not worth retrying"),
    });
    assert_eq!(env.state.status, RunStatus::Failed);
    assert_eq!(
        env.state.error.clone().expect("error").code,
        "CARD_DECLINED"
    );
}

#[test]
fn a_run_timeout_cancels_running_steps_and_ends_the_run_timed_out() {
    let source = "id: slow\ntimeoutSeconds: 30\nstates:\n  - { name: s, type: agent, agent: sleep, end: true }\n";
    let mut env = Env::new(source);
    let effects = env.start(json!({}));
    let timer = effects
        .iter()
        .find_map(|e| match e {
            Effect::StartRunTimer { fire_at_ms } => Some(*fire_at_ms),
            _ => None,
        })
        .expect("a run timer");
    assert_eq!(timer, now().timestamp_millis() + 30_000);
    let task = dispatched(&effects)[0].clone();
    let effects = env.apply(Input::RunTimeout);
    assert_eq!(
        events(&effects),
        vec![EventType::StepCancelled, EventType::RunTimedOut]
    );
    assert_eq!(env.state.status, RunStatus::TimedOut);
    assert_eq!(env.state.error.clone().expect("error").code, "RUN_TIMEOUT");
    // The step's late result and a second firing change nothing.
    assert!(succeed(&mut env, &task, json!({})).is_empty());
    assert!(env.apply(Input::RunTimeout).is_empty());
}

#[test]
fn tasks_carry_the_workflow_context_with_a_node_index_by_type() {
    let mut env = Env::new(FANOUT);
    let task = dispatched(&env.start(services(0)))[0].clone();
    let index = &task.workflow.node_index;
    assert_eq!(index["parallel"], ["both"]);
    assert_eq!(index["foreach"], ["each"]);
    assert_eq!(index["agent.run"], ["a1", "b1", "check"]);
    assert_eq!(index["inject"], ["b2", "rescued"]);
    assert_eq!(task.workflow.id, "fanout");
    assert_eq!(task.workflow.tenant, "default");
}

const PARENT: &str = r#"
id: parent
states:
  - name: spawn
    type: operation
    action: workflow.run
    input: { workflow: child, input: { n: "{{ ctx.n }}" } }
    resultPath: steps.child
    end: true
"#;

#[test]
fn a_workflow_run_step_starts_a_child_and_takes_its_output() {
    let mut env = Env::new(PARENT);
    let effects = env.start(json!({ "n": 3 }));
    let (step_id, attempt) = effects
        .iter()
        .find_map(|e| match e {
            Effect::StartChild {
                step_id,
                attempt,
                workflow_id,
                input,
                ..
            } => {
                assert_eq!(workflow_id, "child");
                assert_eq!(input, &json!({ "n": 3 }));
                Some((step_id.clone(), *attempt))
            }
            _ => None,
        })
        .expect("a child start");
    assert!(
        dispatched(&effects).is_empty(),
        "no worker task for a child"
    );

    // The child reports to its parent when it ends.
    let mut child = Env::new(
        "id: child\nstates:\n  - { name: done, type: inject, data: { doubled: 6 }, end: true }\n",
    );
    let effects = child.apply(Input::Start {
        input: json!({ "n": 3 }),
        signal: None,
        causation_id: None,
        correlation_id: "c".into(),
        parent: Some(ParentLink {
            run_id: "run-1".into(),
            step_id: step_id.clone(),
            attempt,
        }),
    });
    let output = effects
        .iter()
        .find_map(|e| match e {
            Effect::NotifyParent {
                output,
                error: None,
                parent,
            } => {
                assert_eq!(parent.step_id, step_id);
                output.clone()
            }
            _ => None,
        })
        .expect("the parent is told");

    let effects = env.apply(Input::StepSucceeded {
        step_id,
        attempt,
        output,
    });
    assert_eq!(
        events(&effects),
        vec![EventType::StepCompleted, EventType::RunCompleted],
        "the coordinator records the child step's end itself"
    );
    assert_eq!(env.state.context["steps"]["child"]["doubled"], json!(6));
    assert_eq!(env.state.status, RunStatus::Completed);
}

#[test]
fn cancel_stops_steps_and_child_runs_and_ends_the_run_cancelled() {
    let mut env = Env::new(PARENT);
    env.start(json!({ "n": 1 }));
    let effects = env.apply(Input::Cancel {
        actor: Some("ops@example.com".into()),
        reason: Some("wrong input".into()),
    });
    assert_eq!(
        events(&effects),
        vec![EventType::StepCancelled, EventType::RunCancelled]
    );
    assert!(effects.iter().any(|e| matches!(e, Effect::CancelChildren)));
    assert_eq!(env.state.status, RunStatus::Cancelled);
    let error = env.state.error.clone().expect("error");
    assert_eq!(
        (error.code.as_str(), error.message.as_str()),
        ("CANCELLED", "wrong input")
    );
    let cancelled = effects
        .iter()
        .find_map(|e| match e {
            Effect::Emit(d) if d.kind == EventType::RunCancelled => Some(d.data.clone()),
            _ => None,
        })
        .expect("run.cancelled");
    assert_eq!(cancelled["actor"], json!("ops@example.com"));
    // A second cancel, and late results, change nothing.
    assert!(
        env.apply(Input::Cancel {
            actor: None,
            reason: None
        })
        .is_empty()
    );
}

#[test]
fn pause_holds_new_steps_back_until_resume() {
    let mut env = Env::new(PIPELINE);
    let first = dispatched(&env.start(json!({"order": "A-1", "amount": 5})))[0].clone();
    let effects = env.apply(Input::Pause {
        actor: Some("ops".into()),
        reason: None,
    });
    assert_eq!(events(&effects), vec![EventType::RunPaused]);
    assert_eq!(env.state.status, RunStatus::Paused);
    // The step in flight finishes; the next one is held, not sent.
    let effects = succeed(&mut env, &first, json!({"ok": true}));
    assert!(dispatched(&effects).is_empty());
    assert_eq!(env.state.held.len(), 1);
    assert_eq!(env.state.context["steps"]["check"], json!({"ok": true}));
    // A second pause changes nothing; resume sends what was held.
    assert!(
        env.apply(Input::Pause {
            actor: None,
            reason: None
        })
        .is_empty()
    );
    let effects = env.apply(Input::Resume {
        actor: Some("ops".into()),
        reason: Some("fixed".into()),
    });
    assert_eq!(events(&effects), vec![EventType::RunResumed]);
    let sent = dispatched(&effects);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].state, "notify");
    assert_eq!(env.state.status, RunStatus::Running);
    assert!(env.state.held.is_empty());
    let effects = succeed(&mut env, &sent[0].clone(), json!({}));
    assert_eq!(events(&effects).last(), Some(&EventType::RunCompleted));
}

const GATED: &str = r#"
id: gated
states:
  - name: ask
    type: human_approval
    message: "Ship {{ ctx.version }}?"
    approvers: ["team:release"]
    timeoutSeconds: 60
    resultPath: steps.decision
    next: ship
  - { name: ship, type: inject, data: { shipped: true }, end: true }
"#;

fn approval_requested(effects: &[Effect]) -> (String, u32, String) {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::RequestApproval {
                approval_id,
                step_id,
                attempt,
                message,
                expires_at_ms,
                ..
            } => {
                assert_eq!(message.as_deref(), Some("Ship 1.0?"));
                assert_eq!(*expires_at_ms, Some(now().timestamp_millis() + 60_000));
                Some((step_id.clone(), *attempt, approval_id.clone()))
            }
            _ => None,
        })
        .expect("an approval request")
}

#[test]
fn an_approval_waits_then_an_approve_goes_on() {
    let mut env = Env::new(GATED);
    let effects = env.start(json!({ "version": "1.0" }));
    let (step_id, attempt, approval_id) = approval_requested(&effects);
    assert_eq!(approval_id, format!("{step_id}-1"));
    assert_eq!(env.state.status, RunStatus::WaitingApproval);
    assert!(events(&effects).contains(&EventType::ApprovalRequested));
    assert!(events(&effects).contains(&EventType::RunWaiting));
    let effects = env.apply(Input::ApprovalDecided {
        step_id: step_id.clone(),
        attempt,
        approved: true,
        actor: Some("alice".into()),
        comment: Some("go".into()),
        decided_at: "2027-01-15T08:00:00.000Z".into(),
    });
    assert_eq!(events(&effects)[0], EventType::ApprovalApproved);
    assert_eq!(env.state.status, RunStatus::Completed);
    assert_eq!(
        env.state.context["steps"]["decision"],
        json!({ "decision": "approved", "actor": "alice", "comment": "go", "decided_at": "2027-01-15T08:00:00.000Z" })
    );
    // A second decision changes nothing.
    assert!(
        env.apply(Input::ApprovalTimeout { step_id, attempt })
            .is_empty()
    );
}

#[test]
fn a_rejection_fails_or_cancels_and_a_timeout_times_out() {
    let mut env = Env::new(GATED);
    let (step_id, attempt, _) = approval_requested(&env.start(json!({ "version": "1.0" })));
    env.apply(Input::ApprovalDecided {
        step_id,
        attempt,
        approved: false,
        actor: Some("bob".into()),
        comment: Some("not today".into()),
        decided_at: "2027-01-15T08:00:00.000Z".into(),
    });
    assert_eq!(env.state.status, RunStatus::Failed);
    let error = env.state.error.clone().expect("error");
    assert_eq!(error.code, "APPROVAL_REJECTED");
    assert!(error.message.contains("bob") && error.message.contains("not today"));

    let mut env = Env::new(&GATED.replace(
        "    timeoutSeconds: 60\n",
        "    timeoutSeconds: 60\n    onReject: cancel\n",
    ));
    let (step_id, attempt, _) = approval_requested(&env.start(json!({ "version": "1.0" })));
    env.apply(Input::ApprovalDecided {
        step_id,
        attempt,
        approved: false,
        actor: None,
        comment: None,
        decided_at: "2027-01-15T08:00:00.000Z".into(),
    });
    assert_eq!(env.state.status, RunStatus::Cancelled);

    let mut env = Env::new(GATED);
    let (step_id, attempt, _) = approval_requested(&env.start(json!({ "version": "1.0" })));
    let effects = env.apply(Input::ApprovalTimeout { step_id, attempt });
    assert!(events(&effects).contains(&EventType::ApprovalTimedOut));
    assert!(events(&effects).contains(&EventType::StepTimedOut));
    assert_eq!(env.state.status, RunStatus::Failed);
    assert_eq!(
        env.state.error.clone().expect("error").code,
        "APPROVAL_TIMED_OUT"
    );
}

const WAITER: &str = r#"
id: waiter
states:
  - name: wait
    type: operation
    action: signal.wait
    input: { signal: payment.settled, filter: "data.amount > 0", timeoutSeconds: 30 }
    resultPath: steps.payment
    next: done
  - { name: done, type: inject, data: { paid: true }, end: true }
"#;

#[test]
fn a_signal_wait_takes_a_matching_signal_and_keeps_others() {
    let mut env = Env::new(WAITER);
    let effects = env.start(json!({}));
    assert_eq!(env.state.status, RunStatus::WaitingSignal);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::StartWaitTimer { .. }))
    );
    // Another name, and a payment the filter refuses, are kept, not taken.
    env.apply(Input::SignalReceived {
        name: "other".into(),
        data: json!({}),
        id: None,
    });
    env.apply(Input::SignalReceived {
        name: "payment.settled".into(),
        data: json!({ "amount": 0 }),
        id: Some("e1".into()),
    });
    assert_eq!(env.state.status, RunStatus::WaitingSignal);
    assert_eq!(env.state.mailbox.len(), 2);
    let effects = env.apply(Input::SignalReceived {
        name: "payment.settled".into(),
        data: json!({ "amount": 12 }),
        id: Some("e2".into()),
    });
    assert_eq!(events(&effects)[0], EventType::SignalReceived);
    assert_eq!(env.state.status, RunStatus::Completed);
    assert_eq!(
        env.state.context["steps"]["payment"],
        json!({ "name": "payment.settled", "data": { "amount": 12 } })
    );
}

#[test]
fn a_stored_signal_is_consumed_by_the_next_wait_and_redeliveries_are_dropped() {
    let source = WAITER.replace(
        "states:\n",
        "states:\n  - { name: first, type: agent, agent: echo, next: wait }\n",
    );
    let mut env = Env::new(&source);
    let task = dispatched(&env.start(json!({})))[0].clone();
    let early = Input::SignalReceived {
        name: "payment.settled".into(),
        data: json!({ "amount": 5 }),
        id: Some("e9".into()),
    };
    env.apply(early.clone());
    assert!(
        env.apply(early).is_empty(),
        "a redelivered CloudEvent is dropped"
    );
    assert_eq!(env.state.mailbox.len(), 1);
    succeed(&mut env, &task, json!({}));
    assert_eq!(
        env.state.status,
        RunStatus::Completed,
        "the wait took the stored signal at once"
    );
    assert!(env.state.mailbox.is_empty());
}

#[test]
fn a_signal_wait_times_out_with_step_timeout() {
    let mut env = Env::new(WAITER);
    let effects = env.start(json!({}));
    let (step_id, attempt) = effects
        .iter()
        .find_map(|e| match e {
            Effect::StartWaitTimer {
                step_id, attempt, ..
            } => Some((step_id.clone(), *attempt)),
            _ => None,
        })
        .expect("a wait timer");
    let effects = env.apply(Input::WaitTimeout { step_id, attempt });
    assert!(events(&effects).contains(&EventType::StepTimedOut));
    assert_eq!(env.state.status, RunStatus::Failed);
    assert_eq!(env.state.error.clone().expect("error").code, "STEP_TIMEOUT");
}

#[test]
fn the_deadline_backstop_times_out_a_step_whose_worker_vanished() {
    let source = "id: d\nstates:\n  - { name: s, type: agent, agent: sleep, retry: { maxAttempts: 2 }, end: true }\n";
    let mut env = Env::new(source);
    let task = dispatched(&env.start(json!({})))[0].clone();
    // The backstop retries like any STEP_TIMEOUT: a second attempt goes out.
    let effects = env.apply(Input::StepDeadline {
        step_id: task.step_id.clone(),
        attempt: 1,
    });
    let retry = dispatched(&effects);
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempt, 2);
    // A late deadline for attempt 1, or one for a finished attempt, is ignored.
    assert!(
        env.apply(Input::StepDeadline {
            step_id: task.step_id.clone(),
            attempt: 1
        })
        .is_empty()
    );
    let second = retry[0].clone();
    succeed(&mut env, &second, json!({}));
    assert_eq!(env.state.status, RunStatus::Completed);
    assert!(
        env.apply(Input::StepDeadline {
            step_id: task.step_id,
            attempt: 2
        })
        .is_empty()
    );
}

/// PROTOCOL §8.8: without an explicit `input`, the first agent of a foreach
/// item gets the item, and the first agent of a parallel branch the output
/// from before the parallel state, not the run's `ctx`.
#[test]
fn first_agents_of_items_and_branches_get_the_item_and_the_previous_output() {
    let mut env = Env::new(
        r#"
id: inputs
states:
  - { name: before, type: agent, agent: echo, resultPath: steps.before, next: each }
  - name: each
    type: foreach
    itemsPath: ctx.items
    itemName: it
    maxConcurrency: 2
    iterator:
      states:
        - { name: work, type: agent, agent: echo, end: true }
    next: both
  - name: both
    type: parallel
    branches:
      - { name: a, states: [ { name: a1, type: agent, agent: echo, end: true } ] }
    end: true
"#,
    );
    let tasks: Vec<_> = dispatched(&env.start(json!({ "items": [{ "n": 1 }, { "n": 2 }] })))
        .into_iter()
        .cloned()
        .collect();
    let before = by_path(&tasks.iter().collect::<Vec<_>>(), "before").clone();
    let tasks: Vec<_> = dispatched(&succeed(&mut env, &before, json!({ "prev": true })))
        .into_iter()
        .cloned()
        .collect();
    for (i, n) in [(0, 1), (1, 2)] {
        let refs: Vec<_> = tasks.iter().collect();
        let task = by_path(&refs, &format!("each[{i}]/work"));
        let TaskAction::AgentRun { input, .. } = &task.action;
        assert_eq!(input, &json!({ "n": n }), "item {i} gets its item");
    }
    let mut next = Vec::new();
    for task in &tasks {
        next.extend(
            dispatched(&succeed(&mut env, task, json!({})))
                .into_iter()
                .cloned(),
        );
    }
    let refs: Vec<_> = next.iter().collect();
    let a1 = by_path(&refs, "both/a/a1");
    let TaskAction::AgentRun { input, .. } = &a1.action;
    assert_eq!(
        input,
        &json!([{}, {}]),
        "a branch gets the output before the parallel: the foreach's join value"
    );
}
