//! Waits: `human.approval` and `signal.wait`.

use super::*;

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

fn approval_requested(effects: &[Effect]) -> (StepId, u32, String) {
    let expires_at_ms = now().timestamp_millis() + 60_000;
    let timers = timers(effects);
    let (step, approval_id) = timers
        .iter()
        .find_map(|t| match &t.kind {
            TimerKind::ApprovalRequest { step, request } => {
                assert_eq!(request.message.as_deref(), Some("Ship 1.0?"));
                assert_eq!(request.expires_at_ms, Some(expires_at_ms));
                Some((step.clone(), request.approval_id.clone()))
            }
            _ => None,
        })
        .expect("an approval request");
    assert!(timers.contains(&&Timer::at(
        expires_at_ms,
        TimerKind::ApprovalTimeout {
            step: step.clone(),
            approval_id: approval_id.clone(),
        }
    )));
    (step.step_id, step.attempt, approval_id)
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
        json!({ "decision": "approved", "approved": true, "actor": "alice", "comment": "go", "decided_at": "2027-01-15T08:00:00.000Z" })
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
        timers(&effects)
            .iter()
            .any(|t| matches!(t.kind, TimerKind::SignalTimeout(_)))
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
    let (step_id, attempt) = timers(&effects)
        .into_iter()
        .find_map(|t| match &t.kind {
            TimerKind::SignalTimeout(step) => Some((step.step_id.clone(), step.attempt)),
            _ => None,
        })
        .expect("a wait timer");
    let effects = env.apply(Input::WaitTimeout { step_id, attempt });
    assert!(events(&effects).contains(&EventType::StepTimedOut));
    assert_eq!(env.state.status, RunStatus::Failed);
    assert_eq!(env.state.error.clone().expect("error").code, "STEP_TIMEOUT");
}
