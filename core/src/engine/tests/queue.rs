//! Concurrency queues: a queued run waits silently, starts when admitted,
//! and a run that held a slot frees it when it ends.

use super::*;

const LIMITED: &str = r#"
id: limited
timeoutSeconds: 60
concurrency: { key: "{{ input.customer }}", limit: 1 }
states:
  - { name: work, type: agent, agent: echo, end: true }
"#;

fn queue(env: &mut Env) -> Vec<Effect> {
    env.apply(Input::Queue {
        input: json!({ "customer": "acme" }),
        signal: None,
        causation_id: Some("sig-1".into()),
        correlation_id: "corr-1".into(),
        parent: None,
    })
}

fn releases(effects: &[Effect]) -> usize {
    timers(effects)
        .iter()
        .filter(|t| t.kind == TimerKind::ReleaseSlot)
        .count()
}

#[test]
fn a_queued_run_emits_nothing_and_dispatches_nothing_until_admitted() {
    let mut env = Env::new(LIMITED);
    assert!(queue(&mut env).is_empty());
    assert_eq!(env.state.status, RunStatus::Pending);
    // Read meanwhile, the run shows the context it will start with.
    assert_eq!(
        env.state.context,
        json!({ "ctx": { "customer": "acme" }, "steps": {}, "signal": null })
    );
    // The queued start survives the snapshot.
    let stored = serde_json::to_value(&env.state).expect("serializes");
    let mut back: RunState = serde_json::from_value(stored).expect("reads back");
    back.input = env.state.input.clone();
    assert_eq!(back, env.state);

    let effects = env.apply(Input::Admit);
    assert_eq!(events(&effects)[0], EventType::RunStarted);
    let started = effects
        .iter()
        .find_map(|e| match e {
            Effect::Emit(d) if d.kind == EventType::RunStarted => Some(d.data.clone()),
            _ => None,
        })
        .expect("run.started");
    assert_eq!(started["input"], json!({ "customer": "acme" }));
    assert_eq!(started["causation_id"], "sig-1");
    assert_eq!(started["correlation_id"], "corr-1");
    assert_eq!(dispatched(&effects).len(), 1);
    // The run timeout counts from the admission, not from the queueing.
    assert!(
        timers(&effects)
            .iter()
            .any(|t| matches!(t.kind, TimerKind::RunTimeout { .. }))
    );
    assert_eq!(env.state.status, RunStatus::Running);
    assert!(env.state.queued.is_none());
    // A second admission changes nothing.
    assert!(env.apply(Input::Admit).is_empty());
}

#[test]
fn a_run_that_held_a_slot_frees_it_when_it_ends() {
    let mut env = Env::new(LIMITED);
    let effects = env.start(json!({ "customer": "acme" }));
    assert_eq!(releases(&effects), 0);
    let task = dispatched(&effects)[0].clone();
    // Pausing keeps the slot.
    let pause = Input::Pause {
        actor: None,
        reason: None,
    };
    assert_eq!(releases(&env.apply(pause)), 0);
    let resume = Input::Resume {
        actor: None,
        reason: None,
    };
    assert_eq!(releases(&env.apply(resume)), 0);
    let effects = succeed(&mut env, &task, json!({}));
    assert_eq!(env.state.status, RunStatus::Completed);
    assert_eq!(releases(&effects), 1);
}

#[test]
fn every_way_of_ending_an_admitted_run_frees_its_slot() {
    for end in [
        Input::Cancel {
            actor: None,
            reason: None,
        },
        Input::RunTimeout { redrive: 0 },
    ] {
        let mut env = Env::new(LIMITED);
        queue(&mut env);
        let task = dispatched(&env.apply(Input::Admit))[0].clone();
        assert_eq!(releases(&env.apply(end.clone())), 1, "{end:?}");
        // Late results of an ended run free nothing twice.
        assert_eq!(releases(&succeed(&mut env, &task, json!({}))), 0);
    }
    let mut env = Env::new(LIMITED);
    let task = dispatched(&env.start(json!({ "customer": "acme" })))[0].clone();
    assert_eq!(releases(&fail(&mut env, &task)), 1);
    assert_eq!(env.state.status, RunStatus::Failed);
}

#[test]
fn cancelling_a_queued_run_ends_it_and_frees_nothing() {
    let mut env = Env::new(LIMITED);
    queue(&mut env);
    let effects = env.apply(Input::Cancel {
        actor: Some("ops".into()),
        reason: Some("not needed".into()),
    });
    assert_eq!(events(&effects), vec![EventType::RunCancelled]);
    assert_eq!(releases(&effects), 0);
    assert!(dispatched(&effects).is_empty());
    assert_eq!(env.state.status, RunStatus::Cancelled);
    // An admission that raced the cancel starts nothing.
    assert!(env.apply(Input::Admit).is_empty());
    assert_eq!(env.state.status, RunStatus::Cancelled);
}

#[test]
fn a_queued_run_cannot_be_paused() {
    let mut env = Env::new(LIMITED);
    queue(&mut env);
    let outcome = env.outcome(Input::Pause {
        actor: None,
        reason: None,
    });
    assert!(matches!(
        outcome.answer,
        Answer::Rejected {
            code: ErrorCode::InvalidState,
            ..
        }
    ));
    assert!(outcome.effects.is_empty());
}

#[test]
fn workflows_without_concurrency_store_no_release() {
    let mut env = Env::new(PIPELINE);
    let effects = env.start(json!({ "order": 1 }));
    let task = dispatched(&effects)[0].clone();
    assert_eq!(releases(&fail(&mut env, &task)), 0);
}
