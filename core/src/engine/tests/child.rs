//! Child workflows (`workflow.run`).

use super::*;

#[test]
fn a_workflow_run_step_starts_a_child_and_takes_its_output() {
    let mut env = Env::new(PARENT);
    let effects = env.start(json!({ "n": 3 }));
    let (step_id, attempt) = timers(&effects)
        .into_iter()
        .find_map(|t| match &t.kind {
            TimerKind::StartChild {
                step: StepAttempt { step_id, attempt },
                child,
            } => {
                assert_eq!(child.workflow_id, "child");
                assert_eq!(child.input, json!({ "n": 3 }));
                assert_eq!(
                    (t.fire_at_ms, &t.run_id),
                    (None, &None),
                    "due at once, here"
                );
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
            run_id: RunId::new("run-1"),
            step_id: step_id.clone(),
            attempt,
        }),
    });
    let output = timers(&effects)
        .into_iter()
        .find_map(|t| match &t.kind {
            TimerKind::ChildDone {
                step,
                outcome: Ok(output),
            } => {
                assert_eq!(step.step_id, step_id);
                assert_eq!(t.run_id, Some(RunId::new("run-1")), "on the parent run");
                Some(output.clone())
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
