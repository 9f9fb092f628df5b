//! The states a transition ends, as the run's trace sees them: a retry keeps
//! the state open, a branch's states hang under their parallel, inline
//! states start and end at once, and a run's end closes what is open.

use super::*;

/// Applies `input`, returning the states it ended.
fn ended_by(env: &mut Env, input: Input) -> Vec<EndedState> {
    let before = OpenStates::of(&env.state);
    let effects = env.apply(input);
    ended_states(
        &env.workflow,
        &before,
        &env.state,
        &effects,
        now().timestamp_millis(),
    )
}

fn names(ended: &[EndedState]) -> Vec<(&str, &str)> {
    let mut names: Vec<(&str, &str)> = ended
        .iter()
        .map(|e| (e.path.as_str(), e.state_type))
        .collect();
    names.sort();
    names
}

#[test]
fn inline_states_end_at_once_and_a_retry_keeps_its_state_open() {
    let mut env = Env::new(PIPELINE);
    let before = OpenStates::of(&env.state);
    let effects = env.start(json!({ "order": 1, "amount": 2 }));
    let ended = ended_states(&env.workflow, &before, &env.state, &effects, 5);
    assert_eq!(names(&ended), [("defaults", "inject")]);
    assert_eq!(
        (
            ended[0].started_ms,
            ended[0].ended_ms,
            ended[0].parent.clone()
        ),
        (5, 5, None)
    );
    let check = dispatched(&effects)[0].clone();

    let retried = ended_by(
        &mut env,
        Input::StepFailed {
            step_id: StepId::new(&check.step_id),
            attempt: 1,
            error: ErrorInfo::new("AGENT_ERROR", "flaky"),
        },
    );
    assert!(
        retried.is_empty(),
        "a retried state is still open: {retried:?}"
    );

    let done = ended_by(
        &mut env,
        Input::StepSucceeded {
            step_id: StepId::new(&check.step_id),
            attempt: 2,
            output: json!({ "ok": true }),
        },
    );
    assert_eq!(names(&done), [("check", "operation")]);
    assert_eq!(done[0].step_id.as_str(), check.step_id);
    assert_eq!(
        done[0].started_ms,
        now().timestamp_millis(),
        "entered when first dispatched"
    );
}

#[test]
fn branch_and_item_states_hang_under_their_fan_out() {
    let mut env = Env::new(super::fanout::FANOUT);
    let before = OpenStates::of(&env.state);
    let effects = env.start(services(2));
    assert!(ended_states(&env.workflow, &before, &env.state, &effects, 1).is_empty());
    let both = env
        .state
        .fanouts
        .get("both")
        .expect("parallel open")
        .step
        .step_id
        .clone();
    let tasks: Vec<_> = dispatched(&effects).into_iter().cloned().collect();
    let a1 = tasks.iter().find(|t| t.path == "both/a/a1").expect("a1");
    let ended = ended_by(
        &mut env,
        Input::StepSucceeded {
            step_id: StepId::new(&a1.step_id),
            attempt: 1,
            output: json!(1),
        },
    );
    assert_eq!(names(&ended), [("both/a/a1", "operation")]);
    assert_eq!(ended[0].parent.as_ref(), Some(&both));

    let b1 = tasks.iter().find(|t| t.path == "both/b/b1").expect("b1");
    let ended = ended_by(
        &mut env,
        Input::StepSucceeded {
            step_id: StepId::new(&b1.step_id),
            attempt: 1,
            output: json!(2),
        },
    );
    // b1 ends, b2 (inject) runs inline, the branch joins: the parallel ends.
    assert_eq!(
        names(&ended),
        [
            ("both", "parallel"),
            ("both/b/b1", "operation"),
            ("both/b/b2", "inject")
        ]
    );
    for state in ended.iter().filter(|e| e.path != "both") {
        assert_eq!(state.parent.as_ref(), Some(&both), "{}", state.path);
    }
    let each = env
        .state
        .fanouts
        .get("each")
        .expect("foreach open")
        .step
        .step_id
        .clone();
    let item = env
        .state
        .active
        .iter()
        .find(|a| a.path == "each[0]/check")
        .expect("item 0")
        .clone();
    let ended = ended_by(
        &mut env,
        Input::StepSucceeded {
            step_id: item.step_id.clone(),
            attempt: 1,
            output: json!("up"),
        },
    );
    assert_eq!(names(&ended), [("each[0]/check", "operation")]);
    assert_eq!(ended[0].parent.as_ref(), Some(&each));
}

#[test]
fn a_cancelled_run_ends_every_open_state() {
    let mut env = Env::new(super::fanout::FANOUT);
    let effects = env.start(services(1));
    assert_eq!(dispatched(&effects).len(), 2);
    let ended = ended_by(
        &mut env,
        Input::Cancel {
            actor: None,
            reason: None,
        },
    );
    assert_eq!(
        names(&ended),
        [
            ("both", "parallel"),
            ("both/a/a1", "operation"),
            ("both/b/b1", "operation")
        ]
    );
}
