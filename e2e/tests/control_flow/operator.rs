//! The operator's hand on a running run: cancel (a parallel state and its
//! child runs), pause and resume (steps in flight finish, new ones are held,
//! unclaimed tasks wait).

use crate::WAIT;
use junction_bus::{ControlSubject, RunVerb};
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};

#[tokio::test]
async fn cancel_stops_a_running_parallel_state_and_its_child_runs() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(
        "id: napper\nstates:\n  - { name: nap, type: agent, agent: sleep, input: { input: { ms: 30000 } }, end: true }\n",
    )
    .await?;
    env.put_workflow(
        r#"
id: wide
states:
  - name: fan
    type: parallel
    branches:
      - name: slow
        states:
          - { name: nap, type: agent, agent: sleep, input: { input: { ms: 30000 } }, end: true }
      - name: nested
        states:
          - { name: spawn, type: operation, action: workflow.run, input: { workflow: napper }, end: true }
    end: true
"#,
    )
    .await?;
    let run_id = env.start_run("wide", json!({})).await?;
    // Wait until the child run exists and is running.
    let child_id = env
        .eventually("a child run", WAIT, || async {
            let children = env
                .control(ControlSubject::RunsList, json!({ "causation_id": run_id }))
                .await?;
            Ok(children["runs"][0]["id"].as_str().map(str::to_owned))
        })
        .await?;

    let reply = env
        .control(
            ControlSubject::run(&run_id, RunVerb::Cancel),
            json!({ "actor": "ops", "reason": "not needed" }),
        )
        .await?;
    assert_eq!(reply["status"], "CANCELLED", "{reply}");
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "CANCELLED");
    assert_eq!(
        run["error"],
        json!({ "code": "CANCELLED", "message": "not needed" })
    );
    let child = env.wait_for_end(&child_id, WAIT).await?;
    assert_eq!(
        child["status"], "CANCELLED",
        "the child run is cancelled too: {child}"
    );

    let events = env.events(&run_id).await?;
    let cancelled = events
        .iter()
        .find(|e| e["type"] == "workflow.run.cancelled")
        .cloned()
        .unwrap_or_default();
    assert_eq!(cancelled["data"]["actor"], "ops");
    let step_cancels = events
        .iter()
        .filter(|e| e["type"] == "workflow.step.cancelled")
        .count();
    assert_eq!(step_cancels, 2, "both branches' steps: {events:?}");

    // Cancelling again is ok (PROTOCOL §4); an unknown run gets a clear error.
    let again = env
        .control(ControlSubject::run(&run_id, RunVerb::Cancel), json!({}))
        .await?;
    assert_eq!(again["status"], "CANCELLED", "{again}");
    let unknown = env
        .try_control(ControlSubject::run("nope", RunVerb::Cancel), json!({}))
        .await?;
    assert_eq!(unknown["error"]["code"], "NOT_FOUND", "{unknown}");
    Ok(())
}

/// The states of the dispatches a paused run holds back, from its snapshot.
async fn held_states(env: &TestEnv, run_id: &str) -> anyhow::Result<Vec<String>> {
    let row = env
        .db()
        .await?
        .query_one(
            "SELECT coalesce(state->'held', '[]'::jsonb) FROM runs WHERE id = $1",
            &[&run_id],
        )
        .await?;
    let held: Value = row.get(0);
    let mut states: Vec<String> = held
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["task"]["state"].as_str().map(str::to_owned))
        .collect();
    states.sort();
    Ok(states)
}

#[tokio::test]
async fn pause_and_resume_a_running_parallel_state() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(
        r#"
id: pausable
states:
  - name: fan
    type: parallel
    branches:
      - name: a
        states:
          - { name: a1, type: agent, agent: sleep, input: { input: { ms: 1000 } }, next: a2 }
          - { name: a2, type: agent, agent: echo, task: a2, end: true }
      - name: b
        states:
          - { name: b1, type: agent, agent: sleep, input: { input: { ms: 1000 } }, next: b2 }
          - { name: b2, type: agent, agent: echo, task: b2, end: true }
    resultPath: steps.fan
    end: true
"#,
    )
    .await?;
    let run_id = env.start_run("pausable", json!({})).await?;
    // Pause while both sleeps execute: a task a worker had not begun yet
    // would wait for the resume instead, and nothing would be held.
    both_sleeps_executing(&env, &run_id).await?;
    let paused = env
        .control(
            ControlSubject::run(&run_id, RunVerb::Pause),
            json!({ "actor": "ops" }),
        )
        .await?;
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    // The sleeps in flight finish; the second step of each branch waits:
    // wait until the coordinator has applied both results and held back
    // what they would have dispatched, in the same transition.
    let held = env
        .eventually("a2 and b2 held by the pause", WAIT, || async {
            let held = held_states(&env, &run_id).await?;
            Ok((held.len() >= 2).then_some(held))
        })
        .await?;
    assert_eq!(held, ["a2", "b2"], "held, not dispatched");
    nothing_new_started_while_paused(&env, &run_id).await?;
    let again = env
        .try_control(ControlSubject::run(&run_id, RunVerb::Pause), json!({}))
        .await?;
    assert_eq!(again["error"]["code"], "INVALID_STATE");

    let resumed = env
        .control(
            ControlSubject::run(&run_id, RunVerb::Resume),
            json!({ "actor": "ops" }),
        )
        .await?;
    assert_eq!(resumed["status"], "RUNNING", "{resumed}");
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let kinds: Vec<String> = env
        .events(&run_id)
        .await?
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .filter(|t| t.starts_with("workflow.run."))
        .collect();
    assert_eq!(
        kinds,
        [
            "workflow.run.started",
            "workflow.run.paused",
            "workflow.run.resumed",
            "workflow.run.completed"
        ]
    );
    let not_paused = env
        .try_control(ControlSubject::run(&run_id, RunVerb::Resume), json!({}))
        .await?;
    assert_eq!(not_paused["error"]["code"], "INVALID_STATE");
    Ok(())
}

/// Waits until the agent calls of a1 and b1 (the `sleep` agent) are in
/// flight.
async fn both_sleeps_executing(env: &TestEnv, run_id: &str) -> anyhow::Result<()> {
    env.eventually("a1 and b1 executing", WAIT, || async {
        let calls = env.calls.records();
        let sleeping = calls
            .iter()
            .filter(|r| r.agent == "sleep" && r.run_id == run_id)
            .count();
        Ok((sleeping == 2).then_some(()))
    })
    .await
}

/// The run is paused, no step after the pause started, and no attempt of
/// one was even dispatched.
async fn nothing_new_started_while_paused(env: &TestEnv, run_id: &str) -> anyhow::Result<()> {
    let run = env.get_run(run_id).await?;
    assert_eq!(run["status"], "PAUSED", "{run}");
    let started: Vec<String> = env
        .events(run_id)
        .await?
        .iter()
        .filter(|e| e["type"] == "workflow.step.started")
        .filter_map(|e| e["path"].as_str().map(str::to_owned))
        .collect();
    assert!(
        !started
            .iter()
            .any(|p| p.ends_with("/a2") || p.ends_with("/b2")),
        "nothing new started while paused: {started:?}"
    );
    let attempts: Vec<&str> = run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["state"].as_str())
        .collect();
    assert!(
        !attempts.contains(&"a2") && !attempts.contains(&"b2"),
        "no attempt dispatched while paused: {attempts:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_paused_runs_unclaimed_tasks_wait_for_resume() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    env.wait_for_members(1, 0).await?;
    env.put_workflow("id: one\nstates:\n  - { name: only, type: agent, agent: upper, task: hi, resultPath: steps.only, end: true }\n")
        .await?;
    // No worker yet: the task waits in the queue, unclaimed.
    let run_id = env.start_run("one", json!({})).await?;
    env.control(ControlSubject::run(&run_id, RunVerb::Pause), json!({}))
        .await?;
    env.start_worker("worker-1", &[]).await?;
    // A second delivery of the only task proves the worker received the
    // first and refused it (an executed task is acknowledged and deleted).
    let (tasks, _) = env.wait_for_task_deliveries(2).await?;
    assert_eq!(tasks.messages, 1, "the task is still queued");
    let run = env.get_run(&run_id).await?;
    assert_eq!(run["status"], "PAUSED", "{run}");
    assert_eq!(
        run["steps"][0]["status"], "PENDING",
        "held, not claimed: {run}"
    );
    assert!(env.calls.records().is_empty(), "the agent was not called");

    env.control(ControlSubject::run(&run_id, RunVerb::Resume), json!({}))
        .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["context"]["steps"]["only"]["text"], "HI");
    Ok(())
}
