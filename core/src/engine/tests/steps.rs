//! Worker steps of a plain pipeline: dispatch, results, retries, backoff
//! timers, template failures, step ids, and the deadline backstop.

use super::*;

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
    } = &tasks[0].action
    else {
        panic!("an agent.run task")
    };
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
        step_id: StepId::new(&first.step_id),
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
        step_id: StepId::new(second.step_id),
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
        step_id: StepId::new(&first.step_id),
        attempt: 1,
        output: json!({"ok": 1}),
    };
    assert!(!env.apply(ok.clone()).is_empty());
    let snapshot = env.state.clone();
    assert!(env.apply(ok).is_empty(), "a redelivered result is a no-op");
    assert!(
        env.apply(Input::StepFailed {
            step_id: StepId::new(first.step_id),
            attempt: 1,
            error: ErrorInfo::new("X", "late")
        })
        .is_empty()
    );
    assert_eq!(env.state, snapshot);
    assert!(
        env.apply(Input::StepSucceeded {
            step_id: StepId::new("unknown"),
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
            step_id: StepId::new(&first.step_id),
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
        step_id: StepId::new(first.step_id),
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
        step_id: StepId::new(&first.step_id),
        attempt: 1,
        error: ErrorInfo::new("X", "x"),
    });
    assert!(dispatched(&effects).is_empty());
    assert!(effects.contains(&Effect::Timer(Timer::at(
        now().timestamp_millis() + 1500,
        TimerKind::Retry(StepAttempt {
            step_id: StepId::new(&first.step_id),
            attempt: 2,
        })
    ))));
    let fired = env.apply(Input::RetryTimerFired {
        step_id: StepId::new(&first.step_id),
        attempt: 2,
    });
    assert_eq!(dispatched(&fired)[0].attempt, 2);
    let again = env.apply(Input::RetryTimerFired {
        step_id: StepId::new(&first.step_id),
        attempt: 2,
    });
    assert!(again.is_empty(), "a timer fired twice dispatches once");
    assert!(
        env.apply(Input::RetryTimerFired {
            step_id: StepId::new(first.step_id),
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

#[test]
fn retry_on_limits_retries_to_the_listed_codes() {
    let source = "id: r\nstates:\n  - { name: s, type: agent, agent: flaky, retry: { maxAttempts: 3, retryOn: [STEP_TIMEOUT] }, end: true }\n";
    let mut env = Env::new(source);
    let task = dispatched(&env.start(json!({})))[0].clone();
    let effects = env.apply(Input::StepFailed {
        step_id: StepId::new(&task.step_id),
        attempt: 1,
        error: ErrorInfo::new("STEP_TIMEOUT", "slow"),
    });
    let retry = dispatched(&effects)[0].clone();
    assert_eq!(retry.attempt, 2);
    env.apply(Input::StepFailed {
        step_id: StepId::new(&retry.step_id),
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
fn the_deadline_backstop_times_out_a_step_whose_worker_vanished() {
    let source = "id: d\nstates:\n  - { name: s, type: agent, agent: sleep, retry: { maxAttempts: 2 }, end: true }\n";
    let mut env = Env::new(source);
    let task = dispatched(&env.start(json!({})))[0].clone();
    // The backstop retries like any STEP_TIMEOUT: a second attempt goes out.
    let effects = env.apply(Input::StepDeadline {
        step_id: StepId::new(&task.step_id),
        attempt: 1,
    });
    let retry = dispatched(&effects);
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempt, 2);
    // Attempt 1 ends here (event and row), so its worker, if it was only
    // stalled, finds it ended and cannot record a late success.
    let closed: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::RecordInline(row) => Some((row.step.attempt, row.status)),
            _ => None,
        })
        .collect();
    assert_eq!(closed, [(1, crate::status::StepStatus::TimedOut)]);
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Emit(draft) if draft.kind == EventType::StepTimedOut
    )));
    // A late deadline for attempt 1, or one for a finished attempt, is ignored.
    assert!(
        env.apply(Input::StepDeadline {
            step_id: StepId::new(&task.step_id),
            attempt: 1
        })
        .is_empty()
    );
    let second = retry[0].clone();
    succeed(&mut env, &second, json!({}));
    assert_eq!(env.state.status, RunStatus::Completed);
    assert!(
        env.apply(Input::StepDeadline {
            step_id: StepId::new(task.step_id),
            attempt: 2
        })
        .is_empty()
    );
}

#[test]
fn a_task_over_the_payload_limit_fails_its_step_without_retries() {
    let mut env = Env::new(PIPELINE);
    env.payload_limit = 300;
    let effects = env.start(json!({"order": "x".repeat(400), "amount": 1}));
    assert!(dispatched(&effects).is_empty(), "nothing too large is sent");
    assert_eq!(
        events(&effects),
        vec![
            EventType::RunStarted,
            EventType::StepStarted,
            EventType::StepCompleted,
            EventType::StepFailed,
            EventType::RunFailed
        ]
    );
    assert_eq!(env.state.status, RunStatus::Failed);
    let error = env.state.error.clone().expect("error");
    assert_eq!(
        (error.code.as_str(), error.state.as_deref()),
        ("PAYLOAD_TOO_LARGE", Some("check"))
    );
    assert!(
        error.message.contains("the limit is 300"),
        "{}",
        error.message
    );
    assert!(env.state.active.is_empty());
}
