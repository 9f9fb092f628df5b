//! The stored events alone rebuild a complex run's whole timeline: every
//! step attempt's end, every status the run went through, in order, with no
//! gap in `seq`, and they agree with the run's own record.

use junction_bus::{ControlSubject, Decision, RunVerb};
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

const COMPLEX: &str = r#"
id: complex
states:
  - name: fan
    type: parallel
    branches:
      - name: a
        states:
          - { name: flaky, type: agent, agent: flaky, input: { input: { succeed_at: 2 } }, retry: { maxAttempts: 3 }, resultPath: r, end: true }
      - name: b
        states:
          - name: each
            type: foreach
            itemsPath: ctx.items
            itemName: it
            maxConcurrency: 2
            iterator:
              states:
                - { name: up, type: agent, agent: upper, task: "{{ it }}", resultPath: r, end: true }
            resultPath: all
            end: true
    resultPath: steps.fan
    next: gate
  - name: gate
    type: human_approval
    message: "continue?"
    resultPath: steps.gate
    next: route
  - name: route
    type: switch
    dataPath: steps.gate
    conditions:
      - { if: "decision == 'approved'", next: done }
    defaultNext: done
  - { name: done, type: inject, data: { finished: true }, end: true }
"#;

/// A step's status as the event stream tells it, by (path, attempt).
fn rebuild(events: &[Value]) -> (BTreeMap<(String, i64), String>, Vec<String>) {
    let mut steps = BTreeMap::new();
    let mut run = Vec::new();
    for event in events {
        let kind = event["type"].as_str().unwrap_or_default();
        let key = || {
            (
                event["path"].as_str().unwrap_or_default().to_owned(),
                event["attempt"].as_i64().unwrap_or(0),
            )
        };
        let status = match kind {
            "workflow.step.started" => "RUNNING",
            "workflow.step.completed" => "SUCCEEDED",
            "workflow.step.failed" => "FAILED",
            "workflow.step.timed_out" => "TIMED_OUT",
            "workflow.step.cancelled" => "CANCELLED",
            "workflow.run.started" | "workflow.run.resumed" => {
                run.push("RUNNING".to_owned());
                continue;
            }
            "workflow.run.waiting" => {
                run.push(format!(
                    "WAITING_{}",
                    event["data"]["on"].as_str().unwrap_or("").to_uppercase()
                ));
                continue;
            }
            "workflow.approval.approved" | "workflow.signal.received" => {
                run.push("RUNNING".to_owned());
                continue;
            }
            "workflow.run.completed" => {
                run.push("COMPLETED".to_owned());
                continue;
            }
            "workflow.run.failed" => {
                run.push("FAILED".to_owned());
                continue;
            }
            _ => continue,
        };
        steps.insert(key(), status.to_owned());
    }
    (steps, run)
}

#[tokio::test]
async fn the_stored_events_rebuild_a_complex_runs_whole_timeline() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 2).await?;
    env.put_workflow(COMPLEX).await?;
    let run_id = env
        .start_run("complex", json!({ "items": ["x", "y", "z"] }))
        .await?;
    // Approve the gate once it is pending.
    let approval = env.pending_approval(&run_id).await?;
    let approval = approval["id"].as_str().unwrap_or_default();
    env.control(
        ControlSubject::approval(approval, Decision::Approve),
        json!({ "actor": "ops" }),
    )
    .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");

    let events = env.events(&run_id).await?;
    // `seq` starts at 1 and has no gap.
    junction_e2e::assert_gapless(&events)?;

    let (steps, statuses) = rebuild(&events);
    // Every attempt of the run record has the status the events end it with.
    let recorded: BTreeMap<(String, i64), String> = run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                (
                    s["path"].as_str().unwrap_or_default().to_owned(),
                    s["attempt"].as_i64().unwrap_or(0),
                ),
                s["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(steps, recorded, "events vs. the run's step records");
    // The flaky step failed once then succeeded; three items, each once.
    assert_eq!(steps[&("fan/a/flaky".to_owned(), 1)], "FAILED");
    assert_eq!(steps[&("fan/a/flaky".to_owned(), 2)], "SUCCEEDED");
    for i in 0..3 {
        assert_eq!(steps[&(format!("fan/b/each[{i}]/up"), 1)], "SUCCEEDED");
    }
    // The run's statuses, in order, as its events tell them.
    assert_eq!(
        statuses,
        ["RUNNING", "WAITING_APPROVAL", "RUNNING", "COMPLETED"],
        "{events:?}"
    );
    let approved = events
        .iter()
        .find(|e| e["type"] == "workflow.approval.approved")
        .cloned()
        .unwrap_or_default();
    assert_eq!(approved["data"]["actor"], "ops", "who decided is on record");
    Ok(())
}

/// A parent that waits three ways: for a person, for a signal, for a child
/// run (which itself waits for a person).
const WAITS: &str = r#"
id: waits
states:
  - { name: work, type: agent, agent: echo, task: "one", resultPath: steps.work, next: gate }
  - { name: gate, type: human_approval, message: "go on?", next: hold }
  - name: hold
    type: operation
    action: signal.wait
    input: { signal: go.on }
    resultPath: steps.hold
    next: spawn
  - name: spawn
    type: operation
    action: workflow.run
    input: { workflow: waits-child }
    resultPath: steps.child
    end: true
"#;

const WAITS_CHILD: &str = r#"
id: waits-child
states:
  - { name: ask, type: human_approval, message: "child go on?", end: true }
"#;

/// Each step attempt's status as the events tell it, by (path, attempt): a
/// started step is `RUNNING` until it ends, or `WAITING_<ON>` once a
/// `workflow.run.waiting` names it.
fn steps_told_by(events: &[Value]) -> BTreeMap<(String, i64), String> {
    let mut steps = BTreeMap::new();
    let mut latest: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for event in events {
        let kind = event["type"].as_str().unwrap_or_default();
        if kind == "workflow.run.waiting" {
            let on = event["data"]["on"].as_str().unwrap_or_default();
            let step = event["data"]["step_id"].as_str().unwrap_or_default();
            if let Some(key) = latest.get(step) {
                steps.insert(key.clone(), format!("WAITING_{}", on.to_uppercase()));
            }
            continue;
        }
        let status = match kind {
            "workflow.step.started" => "RUNNING",
            "workflow.step.completed" => "SUCCEEDED",
            "workflow.step.failed" => "FAILED",
            "workflow.step.timed_out" => "TIMED_OUT",
            "workflow.step.cancelled" => "CANCELLED",
            _ => continue,
        };
        let key = (
            event["path"].as_str().unwrap_or_default().to_owned(),
            event["attempt"].as_i64().unwrap_or(0),
        );
        let step_id = event["step_id"].as_str().unwrap_or_default().to_owned();
        latest.insert(step_id, key.clone());
        steps.insert(key, status.to_owned());
    }
    steps
}

/// `run.steps` of `run_id` against its stored events, at this moment; returns
/// the recorded statuses by state name.
async fn steps_agree_with_events(
    env: &TestEnv,
    run_id: &str,
    stage: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let run = env.get_run(run_id).await?;
    let events = env.events(run_id).await?;
    junction_e2e::assert_gapless(&events)?;
    let recorded: BTreeMap<(String, i64), String> = run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let key = (
                s["path"].as_str().unwrap_or_default().to_owned(),
                s["attempt"].as_i64().unwrap_or(0),
            );
            (key, s["status"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    assert_eq!(
        steps_told_by(&events),
        recorded,
        "{stage}: the events vs. run.steps\n{run:#}"
    );
    Ok(recorded.into_iter().map(|((p, _), s)| (p, s)).collect())
}

#[tokio::test]
async fn waiting_steps_are_in_run_steps_at_every_stage_of_a_run() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(WAITS_CHILD).await?;
    env.put_workflow(WAITS).await?;
    let run_id = env.start_run("waits", json!({})).await?;

    // 1. Waiting for the person: the gate is a step, WAITING_APPROVAL.
    env.wait_for_status(&run_id, "WAITING_APPROVAL").await?;
    let steps = steps_agree_with_events(&env, &run_id, "approval").await?;
    assert_eq!(steps["work"], "SUCCEEDED");
    assert_eq!(steps["gate"], "WAITING_APPROVAL");
    let gate = env.pending_approval(&run_id).await?;
    env.control(
        ControlSubject::approval(gate["id"].as_str().unwrap_or_default(), Decision::Approve),
        json!({ "actor": "ops" }),
    )
    .await?;

    // 2. Waiting for a signal: the gate succeeded, the hold waits.
    env.wait_for_status(&run_id, "WAITING_SIGNAL").await?;
    let steps = steps_agree_with_events(&env, &run_id, "signal").await?;
    assert_eq!(steps["gate"], "SUCCEEDED");
    assert_eq!(steps["hold"], "WAITING_SIGNAL");
    env.control(
        ControlSubject::run(&run_id, RunVerb::Signal),
        json!({ "name": "go.on", "data": { "ok": true } }),
    )
    .await?;

    // 3. Waiting for a child run (itself waiting for a person): RUNNING.
    let child = env
        .eventually("the child run", WAIT, || async {
            let listed = env
                .control(
                    ControlSubject::RunsList,
                    json!({ "workflow_id": "waits-child", "causation_id": run_id }),
                )
                .await?;
            Ok(listed["runs"]
                .as_array()
                .and_then(|r| r.first())
                .and_then(|r| r["id"].as_str())
                .map(str::to_owned))
        })
        .await?;
    let ask = env.pending_approval(&child).await?;
    let steps = steps_agree_with_events(&env, &run_id, "child").await?;
    assert_eq!(steps["hold"], "SUCCEEDED");
    assert_eq!(steps["spawn"], "RUNNING");
    env.control(
        ControlSubject::approval(ask["id"].as_str().unwrap_or_default(), Decision::Approve),
        json!({ "actor": "ops" }),
    )
    .await?;

    // 4. Ended: every step ended, each row with its end.
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let steps = steps_agree_with_events(&env, &run_id, "end").await?;
    assert!(steps.values().all(|s| s == "SUCCEEDED"), "{steps:?}");
    let waited = run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["state"] == "gate")
        .cloned()
        .unwrap_or_default();
    assert!(
        waited["started_at"].is_string() && waited["ended_at"].is_string(),
        "a wait's row has its start and its end: {waited}"
    );
    Ok(())
}
