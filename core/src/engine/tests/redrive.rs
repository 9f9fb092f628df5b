//! Redrive: an ended run replayed against its recorded attempts; only what
//! failed, was cancelled or never finished runs again.

use super::fanout::FANOUT;
use super::*;
use crate::status::StepStatus;
use std::collections::BTreeMap;

/// The attempt rows the store would hold for the run (`step_attempts`):
/// fed with every transition's effects and every worker result.
#[derive(Default)]
pub(super) struct Ledger(BTreeMap<(StepId, u32), Recorded>);

impl Ledger {
    /// What a transition wrote: a dispatched attempt is a PENDING row, an
    /// inline one its final row; a cancellation only cancels a PENDING row.
    fn see(&mut self, effects: &[Effect]) {
        for effect in effects {
            match effect {
                Effect::Dispatch(task) => {
                    self.0
                        .entry((StepId::new(&task.step_id), task.attempt))
                        .or_insert(Recorded::Unfinished);
                }
                Effect::RecordInline(inline) => {
                    let outcome = match (&inline.output, &inline.error) {
                        (Some(output), None) => Recorded::Succeeded {
                            output: output.clone(),
                        },
                        (_, Some(error)) if inline.status != StepStatus::Cancelled => {
                            Recorded::Failed {
                                error: error.clone(),
                            }
                        }
                        _ => Recorded::Unfinished,
                    };
                    let key = (inline.step.step_id.clone(), inline.step.attempt);
                    self.0.entry(key).or_insert(outcome);
                }
                Effect::Emit(_) | Effect::Timer(_) => {}
            }
        }
    }

    /// Each step's latest attempt, as the coordinator hands it to a redrive.
    fn latest(&self) -> BTreeMap<StepId, RecordedAttempt> {
        let mut latest = BTreeMap::new();
        for ((step_id, attempt), outcome) in &self.0 {
            latest.insert(
                step_id.clone(),
                RecordedAttempt {
                    attempt: *attempt,
                    outcome: outcome.clone(),
                    base: 0,
                },
            );
        }
        latest
    }
}

/// An [`Env`] whose attempts are recorded as the store would.
pub(super) struct Run {
    pub(super) env: Env,
    ledger: Ledger,
}

impl Run {
    pub(super) fn new(source: &str, input: Value) -> (Self, Vec<Effect>) {
        let mut run = Self {
            env: Env::new(source),
            ledger: Ledger::default(),
        };
        let effects = run.env.start(input);
        run.ledger.see(&effects);
        (run, effects)
    }

    pub(super) fn apply(&mut self, input: Input) -> Vec<Effect> {
        let effects = self.env.apply(input);
        self.ledger.see(&effects);
        effects
    }

    pub(super) fn succeed(&mut self, task: &crate::wire::StepTask, output: Value) -> Vec<Effect> {
        let key = (StepId::new(&task.step_id), task.attempt);
        self.ledger.0.insert(
            key,
            Recorded::Succeeded {
                output: output.clone(),
            },
        );
        self.apply(Input::StepSucceeded {
            step_id: StepId::new(&task.step_id),
            attempt: task.attempt,
            output,
        })
    }

    pub(super) fn fail(&mut self, task: &crate::wire::StepTask, retryable: bool) -> Vec<Effect> {
        let mut error = ErrorInfo::new("BOOM", "it broke");
        if !retryable {
            error = error.not_retryable();
        }
        let key = (StepId::new(&task.step_id), task.attempt);
        self.ledger.0.insert(
            key,
            Recorded::Failed {
                error: error.clone(),
            },
        );
        self.apply(Input::StepFailed {
            step_id: StepId::new(&task.step_id),
            attempt: task.attempt,
            error,
        })
    }

    pub(super) fn redrive(&mut self) -> Outcome {
        let outcome = self.env.outcome(Input::Redrive {
            actor: Some("ops".into()),
            reason: Some("fixed".into()),
            recorded: self.ledger.latest(),
        });
        self.ledger.see(&outcome.effects);
        outcome
    }
}

pub(super) fn owned(effects: &[Effect]) -> Vec<crate::wire::StepTask> {
    dispatched(effects).into_iter().cloned().collect()
}

/// The `steps` of the `workflow.run.redriven` event, which comes first.
pub(super) fn redriven_steps(effects: &[Effect]) -> Vec<String> {
    let Some(Effect::Emit(draft)) = effects.first() else {
        panic!("no event first: {effects:?}");
    };
    assert_eq!(draft.kind, EventType::RunRedriven);
    assert_eq!(draft.data["actor"], "ops");
    assert_eq!(draft.data["reason"], "fixed");
    serde_json::from_value(draft.data["steps"].clone()).expect("a list of step ids")
}

#[test]
fn a_failed_step_runs_again_with_the_next_attempt_and_the_rest_is_replayed() {
    let (mut run, effects) = Run::new(PIPELINE, json!({ "order": 7, "amount": 10 }));
    let check = owned(&effects)[0].clone();
    let notify = owned(&run.succeed(&check, json!({ "ok": true })))[0].clone();
    run.fail(&notify, false);
    assert_eq!(run.env.state.status, RunStatus::Failed);

    let outcome = run.redrive();
    assert_eq!(outcome.answer, Answer::Applied);
    assert_eq!(run.env.state.status, RunStatus::Running);
    assert_eq!(run.env.state.error, None);
    // One event, no step event of the replayed inject or agent.
    assert_eq!(events(&outcome.effects), vec![EventType::RunRedriven]);
    assert_eq!(
        redriven_steps(&outcome.effects),
        vec![notify.step_id.clone()]
    );
    let again = owned(&outcome.effects);
    assert_eq!(again.len(), 1, "only the failed step is sent: {again:?}");
    assert_eq!(
        (again[0].step_id.as_str(), again[0].attempt),
        (notify.step_id.as_str(), 2)
    );
    // Its templates see the replayed output of `check`.
    let TaskAction::AgentRun { input, .. } = &again[0].action else {
        panic!("not an agent task: {:?}", again[0].action);
    };
    assert_eq!(input["seen"], json!(true));

    run.succeed(&again[0], json!({ "sent": true }));
    assert_eq!(run.env.state.status, RunStatus::Completed);
    assert_eq!(
        run.env.state.context["ctx"]["currency"],
        json!("EUR"),
        "the inject was replayed"
    );
    assert_eq!(
        run.env.state.context["steps"]["check"],
        json!({ "ok": true })
    );
    assert!(run.env.state.redrive.recorded.is_empty());
}

#[test]
fn a_step_whose_retries_ran_out_gets_a_fresh_retry_budget() {
    let (mut run, effects) = Run::new(PIPELINE, json!({ "order": 7 }));
    let mut task = owned(&effects)[0].clone();
    for _ in 0..2 {
        task = owned(&run.fail(&task, true))[0].clone();
    }
    run.fail(&task, true);
    assert_eq!((run.env.state.status, task.attempt), (RunStatus::Failed, 3));

    let task = owned(&run.redrive().effects)[0].clone();
    assert_eq!(task.attempt, 4);
    // maxAttempts 3 counts from the redrive: attempts 5 and 6 follow.
    let effects = run.fail(&task, true);
    assert!(events(&effects).contains(&EventType::StepRetrying));
    let task = owned(&effects)[0].clone();
    assert_eq!(task.attempt, 5);
    let task = owned(&run.fail(&task, true))[0].clone();
    assert_eq!(task.attempt, 6);
    let effects = run.fail(&task, true);
    assert!(dispatched(&effects).is_empty());
    assert_eq!(run.env.state.status, RunStatus::Failed);
    assert_eq!(
        run.env.state.error.as_ref().and_then(|e| e.attempt),
        Some(6)
    );
}

#[test]
fn only_running_or_completed_runs_refuse_a_redrive() {
    let (mut run, effects) = Run::new(PIPELINE, json!({ "order": 1, "amount": 2 }));
    for status in [RunStatus::Running, RunStatus::Completed] {
        if status == RunStatus::Completed {
            let check = owned(&effects)[0].clone();
            let notify = owned(&run.succeed(&check, json!({ "ok": true })))[0].clone();
            run.succeed(&notify, json!({}));
        }
        assert_eq!(run.env.state.status, status);
        let before = run.env.state.clone();
        let outcome = run.redrive();
        assert!(outcome.effects.is_empty(), "{status}: {outcome:?}");
        let Answer::Rejected { code, message } = outcome.answer else {
            panic!("{status}: a redrive was applied");
        };
        assert_eq!(code, ErrorCode::InvalidState);
        assert!(message.contains(status.as_str()), "{message}");
        assert_eq!(run.env.state, before);
    }
}

#[test]
fn only_the_failed_branch_runs_again_and_the_join_completes() {
    let source = FANOUT.replace(
        "    catch: [{ next: rescued, resultPath: steps.error }]\n",
        "",
    );
    let (mut run, effects) = Run::new(&source, services(0));
    let a1 = by_path(&dispatched(&effects), "both/a/a1").clone();
    let b1 = by_path(&dispatched(&effects), "both/b/b1").clone();
    run.succeed(&a1, json!({ "a": 1 }));
    run.fail(&b1, false);
    assert_eq!(run.env.state.status, RunStatus::Failed);

    let outcome = run.redrive();
    let again = owned(&outcome.effects);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!((again[0].path.as_str(), again[0].attempt), ("both/b/b1", 2));
    let both = run
        .env
        .state
        .fanouts
        .values()
        .next()
        .expect("the parallel runs");
    assert_eq!(both.step.attempt, 2, "the parallel state runs again");
    assert!(redriven_steps(&outcome.effects).contains(&b1.step_id));
    run.succeed(&again[0], json!({ "b": 2 }));
    assert_eq!(run.env.state.status, RunStatus::Completed);
    assert_eq!(
        run.env.state.context["steps"]["both"],
        json!({ "a": { "result": { "a": 1 } }, "b": { "out": { "b": 2 }, "flag": { "seen": true } } })
    );
}

const RESCUE: &str = r#"
id: rescue
states:
  - name: risky
    type: agent
    agent: echo
    resultPath: steps.risky
    catch: [{ next: handler, resultPath: steps.error }]
    next: done
  - { name: handler, type: agent, agent: echo, resultPath: steps.handled, next: done }
  - { name: done, type: inject, data: { done: true }, end: true }
"#;

#[test]
fn a_failure_its_catch_took_is_replayed_and_the_failed_handler_runs_again() {
    let (mut run, effects) = Run::new(RESCUE, json!({}));
    let risky = owned(&effects)[0].clone();
    let handler = owned(&run.fail(&risky, false))[0].clone();
    assert_eq!(handler.state, "handler");
    run.fail(&handler, false);
    assert_eq!(run.env.state.status, RunStatus::Failed);

    let outcome = run.redrive();
    let again = owned(&outcome.effects);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!((again[0].state.as_str(), again[0].attempt), ("handler", 2));
    assert_eq!(
        redriven_steps(&outcome.effects),
        vec![handler.step_id.clone()]
    );
    assert_eq!(
        run.env.state.context["steps"]["error"]["code"],
        json!("BOOM"),
        "the catch wrote the replayed error"
    );
    run.succeed(&again[0], json!({ "handled": true }));
    assert_eq!(run.env.state.status, RunStatus::Completed);
    assert_eq!(run.env.state.context["ctx"]["done"], json!(true));
}

#[test]
fn a_timed_out_run_restarts_its_timeout_and_ignores_the_old_timer() {
    let source = "id: slow\ntimeoutSeconds: 30\nstates:\n  - { name: s, type: agent, agent: sleep, end: true }\n";
    let (mut run, effects) = Run::new(source, json!({}));
    let task = owned(&effects)[0].clone();
    run.apply(Input::RunTimeout { redrive: 0 });
    assert_eq!(run.env.state.status, RunStatus::TimedOut);

    let outcome = run.redrive();
    let again = owned(&outcome.effects);
    assert_eq!(
        (again[0].step_id.as_str(), again[0].attempt),
        (task.step_id.as_str(), 2)
    );
    assert_eq!(redriven_steps(&outcome.effects), vec![task.step_id.clone()]);
    let timer = timers(&outcome.effects)[0].clone();
    assert_eq!(
        timer,
        Timer::at(
            now().timestamp_millis() + 30_000,
            TimerKind::RunTimeout { redrive: 1 }
        )
    );
    // The first drive's timer fires late: nothing happens.
    assert!(run.apply(Input::RunTimeout { redrive: 0 }).is_empty());
    assert_eq!(run.env.state.status, RunStatus::Running);
    run.apply(Input::RunTimeout { redrive: 1 });
    assert_eq!(run.env.state.status, RunStatus::TimedOut);
}

const GATE: &str = r#"
id: gate
states:
  - { name: prep, type: agent, agent: echo, resultPath: steps.prep, next: ask }
  - { name: ask, type: human_approval, message: "ok?", resultPath: steps.decision, next: ship }
  - { name: ship, type: inject, data: { shipped: true }, end: true }
"#;

/// The approval a transition asks for: its step and attempt.
fn asked(effects: &[Effect]) -> (StepId, u32, String) {
    timers(effects)
        .iter()
        .find_map(|t| match &t.kind {
            TimerKind::ApprovalRequest { step, request } => Some((
                step.step_id.clone(),
                step.attempt,
                request.approval_id.clone(),
            )),
            _ => None,
        })
        .expect("an approval request")
}

#[test]
fn a_rejected_approval_asks_again_and_a_cancelled_run_runs_its_wait_again() {
    let (mut run, effects) = Run::new(GATE, json!({}));
    let prep = owned(&effects)[0].clone();
    let (step_id, attempt, _) = asked(&run.succeed(&prep, json!({ "ready": true })));
    run.apply(Input::ApprovalDecided {
        step_id: step_id.clone(),
        attempt,
        approved: false,
        actor: Some("bob".into()),
        comment: None,
        decided_at: "2027-01-15T08:00:00.000Z".into(),
    });
    assert_eq!(run.env.state.status, RunStatus::Failed);

    let outcome = run.redrive();
    assert!(
        dispatched(&outcome.effects).is_empty(),
        "prep is not asked again"
    );
    let (again, attempt, approval_id) = asked(&outcome.effects);
    assert_eq!((&again, attempt), (&step_id, 2));
    assert_eq!(approval_id, format!("{step_id}-2"));
    assert_eq!(run.env.state.status, RunStatus::WaitingApproval);
    assert_eq!(redriven_steps(&outcome.effects), vec![step_id.to_string()]);

    run.apply(Input::Cancel {
        actor: None,
        reason: Some("later".into()),
    });
    assert_eq!(run.env.state.status, RunStatus::Cancelled);
    let (_, attempt, _) = asked(&run.redrive().effects);
    assert_eq!(attempt, 3);
    run.apply(Input::ApprovalDecided {
        step_id,
        attempt,
        approved: true,
        actor: Some("bob".into()),
        comment: None,
        decided_at: "2027-01-15T08:00:00.000Z".into(),
    });
    assert_eq!(run.env.state.status, RunStatus::Completed);
    assert_eq!(
        run.env.state.context["steps"]["prep"],
        json!({ "ready": true })
    );
}
