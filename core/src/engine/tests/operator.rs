//! Run-level actions: the run timeout, cancel, pause and resume.

use super::*;

#[test]
fn a_run_timeout_cancels_running_steps_and_ends_the_run_timed_out() {
    let source = "id: slow\ntimeoutSeconds: 30\nstates:\n  - { name: s, type: agent, agent: sleep, end: true }\n";
    let mut env = Env::new(source);
    let effects = env.start(json!({}));
    let timer = timers(&effects)
        .into_iter()
        .find_map(|t| match t.kind {
            TimerKind::RunTimeout { .. } => t.fire_at_ms,
            _ => None,
        })
        .expect("a run timer");
    assert_eq!(timer, now().timestamp_millis() + 30_000);
    let task = dispatched(&effects)[0].clone();
    let effects = env.apply(Input::RunTimeout { redrive: 0 });
    assert_eq!(
        events(&effects),
        vec![EventType::StepCancelled, EventType::RunTimedOut]
    );
    assert_eq!(env.state.status, RunStatus::TimedOut);
    assert_eq!(env.state.error.clone().expect("error").code, "RUN_TIMEOUT");
    // The step's late result and a second firing change nothing.
    assert!(succeed(&mut env, &task, json!({})).is_empty());
    assert!(env.apply(Input::RunTimeout { redrive: 0 }).is_empty());
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
    assert!(
        timers(&effects)
            .iter()
            .any(|t| t.kind == TimerKind::CancelChildren)
    );
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

fn refused(outcome: &Outcome) -> Option<(ErrorCode, &str)> {
    match &outcome.answer {
        Answer::Applied => None,
        Answer::Rejected { code, message } => Some((*code, message.as_str())),
    }
}

/// The engine answers an operator action: applied, or refused with the
/// control error the run's status calls for (and then nothing changes).
#[test]
fn operator_actions_are_applied_or_refused_by_the_runs_status() {
    let mut env = Env::new(PIPELINE);
    env.start(json!({"order": "A-1", "amount": 5}));
    let resume = || Input::Resume {
        actor: None,
        reason: None,
    };
    let pause = || Input::Pause {
        actor: None,
        reason: None,
    };
    let cancel = || Input::Cancel {
        actor: None,
        reason: None,
    };
    let outcome = env.outcome(resume());
    assert_eq!(
        refused(&outcome),
        Some((
            ErrorCode::InvalidState,
            "run `run-1` is RUNNING and cannot be resumed"
        ))
    );
    assert!(outcome.effects.is_empty());
    assert_eq!(env.outcome(pause()).answer, Answer::Applied);
    assert_eq!(
        refused(&env.outcome(pause())),
        Some((
            ErrorCode::InvalidState,
            "run `run-1` is PAUSED and cannot be paused"
        ))
    );
    assert_eq!(env.outcome(resume()).answer, Answer::Applied);
    // Results are always applied, even late ones that change nothing.
    let late = Input::StepSucceeded {
        step_id: StepId::new("unknown"),
        attempt: 1,
        output: json!(1),
    };
    assert_eq!(env.outcome(late).answer, Answer::Applied);
    assert_eq!(env.outcome(cancel()).answer, Answer::Applied);
    // Repeating a cancel is applied (PROTOCOL §4) and changes nothing.
    let again = env.outcome(cancel());
    assert_eq!(again.answer, Answer::Applied);
    assert!(again.effects.is_empty());
    assert_eq!(
        refused(&env.outcome(pause())),
        Some((
            ErrorCode::InvalidState,
            "run `run-1` is CANCELLED and cannot be paused"
        ))
    );
}

/// A run that ended refuses a signal, and a cancel unless it was cancelled.
#[test]
fn an_ended_run_refuses_signals_and_cancels() {
    let cancel = || Input::Cancel {
        actor: None,
        reason: None,
    };
    let signal = || Input::SignalReceived {
        name: "go".into(),
        data: json!({}),
        id: None,
    };
    let mut env = Env::new(PIPELINE);
    env.start(json!({"order": "A-1", "amount": 5}));
    assert_eq!(env.outcome(cancel()).answer, Answer::Applied);
    assert_eq!(
        refused(&env.outcome(signal())),
        Some((
            ErrorCode::InvalidState,
            "run `run-1` already ended CANCELLED"
        ))
    );
    let mut done =
        Env::new("id: quick\nstates:\n  - { name: x, type: inject, data: {}, end: true }\n");
    done.start(json!({}));
    assert_eq!(done.state.status, RunStatus::Completed);
    let outcome = done.outcome(cancel());
    assert_eq!(
        refused(&outcome),
        Some((
            ErrorCode::InvalidState,
            "run `run-1` is COMPLETED and cannot be cancelled"
        ))
    );
    assert!(outcome.effects.is_empty());
    assert_eq!(done.state.status, RunStatus::Completed);
}
