//! Cooperative cancellation on real services: when the coordinator cancels a
//! step the worker is executing (run cancel, a lost `join: any`), the worker
//! stops waiting for the agent, publishes `agents.<name>.cancel`, and is free
//! for other work at once. A step the worker had lazily claimed (a third of
//! the lease into it) gets its attempt row closed as `CANCELLED` by the
//! worker, without an event of its own; one cancelled before that was still
//! `PENDING`, and the coordinator's cancel closed it. A step task whose run
//! was cancelled while it waited in the queue never calls its agent.
//!
//! The `hang` agent sleeps for a minute; every test finishes long before it
//! would answer, so a worker that still waited for it would be visibly busy.

use junction_bus::{ControlSubject, RunVerb};
use junction_e2e::TestEnv;
use junction_example_agents::{Registry, Reply};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
/// How long a cancelled attempt may take to show up as `CANCELLED`.
const PROMPT: Duration = Duration::from_secs(5);
/// How long the `hang` agent sleeps before answering.
const HANG: Duration = Duration::from_secs(60);

/// The built-in agents plus `hang`, which answers only after [`HANG`].
fn registry() -> Registry {
    Registry::builtin().with(
        "hang",
        |request: junction_core::wire::agent::AgentRequest| async move {
            tokio::time::sleep(HANG).await;
            Reply::output(json!({ "woke": request.idempotency_key }))
        },
    )
}

const HANGER: &str =
    "id: hanger\nstates:\n  - { name: wait, type: agent, agent: hang, end: true }\n";
const ECHOER: &str = "id: echoer\nstates:\n  - { name: say, type: agent, agent: echo, task: hi, resultPath: said, end: true }\n";

/// A coordinator and one worker that executes one step at a time, with a
/// lease of `lease_seconds` (its lazy claims come a third of that into a step).
async fn single_slot_cluster(lease_seconds: &str) -> anyhow::Result<TestEnv> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(registry()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    env.start_worker(
        "worker-1",
        &[
            ("JUNCTION_WORKER__CONCURRENCY", "1"),
            ("JUNCTION_WORKER__LEASE_SECONDS", lease_seconds),
        ],
    )
    .await?;
    env.wait_for_members(1, 1).await?;
    Ok(env)
}

/// The idempotency key of the (first) call `agent` received for `run_id`.
async fn wait_for_call(env: &TestEnv, agent: &str, run_id: &str) -> anyhow::Result<String> {
    env.eventually(&format!("{agent} called for {run_id}"), WAIT, || async {
        Ok(env
            .calls
            .records()
            .into_iter()
            .find(|r| r.agent == agent && r.run_id == run_id)
            .map(|r| r.idempotency_key))
    })
    .await
}

/// The attempt row of `state` in `run.<id>.get`, once its status is `status`.
async fn wait_for_step_status(
    env: &TestEnv,
    run_id: &str,
    state: &str,
    status: &str,
    timeout: Duration,
) -> anyhow::Result<Value> {
    env.eventually(
        &format!("step {state} of {run_id} {status}"),
        timeout,
        || async {
            let run = env.get_run(run_id).await?;
            Ok(run["steps"]
                .as_array()
                .and_then(|steps| steps.iter().find(|s| s["state"] == state))
                .filter(|step| step["status"] == status)
                .cloned())
        },
    )
    .await
}

/// The `agents.<agent>.cancel` message for `idempotency_key`, once received.
async fn wait_for_agent_cancel(
    env: &TestEnv,
    agent: &str,
    idempotency_key: &str,
) -> anyhow::Result<junction_core::wire::agent::AgentCancel> {
    env.eventually(&format!("{agent} told to cancel"), PROMPT, || async {
        Ok(env
            .calls
            .cancels()
            .into_iter()
            .find(|c| c.agent == agent && c.cancel.idempotency_key == idempotency_key)
            .map(|c| c.cancel))
    })
    .await
}

/// The stored events of `run_id` about the step whose state is `state`.
async fn step_events(env: &TestEnv, run_id: &str, state: &str) -> anyhow::Result<Vec<Value>> {
    Ok(env
        .events(run_id)
        .await?
        .into_iter()
        .filter(|e| e["state"] == state)
        .collect())
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[tokio::test]
async fn cancelling_a_run_stops_its_running_step_tells_the_agent_and_frees_the_worker()
-> anyhow::Result<()> {
    let env = single_slot_cluster("3").await?;
    env.put_workflow(HANGER).await?;
    env.put_workflow(ECHOER).await?;
    let run_id = env.start_run("hanger", json!({})).await?;
    let key = wait_for_call(&env, "hang", &run_id).await?;
    // The worker claims the step a third of the lease (1 s) into it.
    wait_for_step_status(&env, &run_id, "wait", "RUNNING", WAIT).await?;

    let cancelled_at = Instant::now();
    let reply = env
        .control(
            ControlSubject::run(&run_id, RunVerb::Cancel),
            json!({ "actor": "ops", "reason": "operator said stop" }),
        )
        .await?;
    assert_eq!(reply["status"], "CANCELLED", "{reply}");
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "CANCELLED", "{run}");

    // The worker closes its attempt row, without waiting for the agent.
    let step = wait_for_step_status(&env, &run_id, "wait", "CANCELLED", PROMPT).await?;
    assert_eq!(step["attempt"], 1, "{step}");
    assert_eq!(step["worker_id"], "worker-1", "{step}");
    assert!(step["ended_at"].is_string(), "{step}");
    assert_eq!(
        step["error"],
        json!({ "code": "CANCELLED", "message": "operator said stop" }),
        "{step}"
    );

    // The agent was told, with the attempt's idempotency key.
    let cancel = wait_for_agent_cancel(&env, "hang", &key).await?;
    assert_eq!(cancel.run_id, run_id);
    assert_eq!(cancel.attempt, 1);
    assert_eq!(cancel.step_id, step["step_id"].as_str().unwrap_or_default());
    assert_eq!(cancel.reason, "operator said stop");

    // The only slot is free: another run's step executes while `hang` would
    // still be sleeping.
    let other = env.start_run("echoer", json!({})).await?;
    let done = env.wait_for_end(&other, WAIT).await?;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(
        done["context"]["said"],
        json!({ "task": "hi", "input": {} })
    );
    assert!(
        cancelled_at.elapsed() < HANG / 2,
        "the worker was free long before the hung agent would answer ({:?})",
        cancelled_at.elapsed()
    );

    // Exactly one step.cancelled (the coordinator's), and no event from the
    // worker ending the attempt.
    let events = step_events(&env, &run_id, "wait").await?;
    let cancels = of_type(&events, "workflow.step.cancelled");
    assert_eq!(cancels.len(), 1, "{events:?}");
    assert!(cancels[0].get("worker_id").is_none(), "{events:?}");
    for kind in [
        "workflow.step.completed",
        "workflow.step.failed",
        "workflow.step.timed_out",
    ] {
        assert!(of_type(&events, kind).is_empty(), "{kind}: {events:?}");
    }
    assert_eq!(env.calls.count_for("hang"), 1, "called once, never again");
    Ok(())
}

#[tokio::test]
async fn cancelling_a_step_before_its_lazy_claim_tells_the_agent_and_leaves_the_coordinators_row()
-> anyhow::Result<()> {
    // A 10 s lease: the step stays unclaimed for its first 3.3 s.
    let env = single_slot_cluster("10").await?;
    env.put_workflow(HANGER).await?;
    env.put_workflow(ECHOER).await?;
    let run_id = env.start_run("hanger", json!({})).await?;
    let key = wait_for_call(&env, "hang", &run_id).await?;

    let cancelled_at = Instant::now();
    env.control(
        ControlSubject::run(&run_id, RunVerb::Cancel),
        json!({ "reason": "before the claim" }),
    )
    .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "CANCELLED", "{run}");

    // The agent is told, with the attempt's idempotency key.
    let cancel = wait_for_agent_cancel(&env, "hang", &key).await?;
    assert_eq!(cancel.reason, "before the claim");
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(3),
        "told before the claim deadline ({:?})",
        cancelled_at.elapsed()
    );
    // The row was never claimed: the coordinator's cancel closed it.
    let step = wait_for_step_status(&env, &run_id, "wait", "CANCELLED", PROMPT).await?;
    assert!(step["worker_id"].is_null(), "never claimed: {step}");
    assert_eq!(
        step["error"],
        json!({ "code": "CANCELLED", "message": "before the claim" }),
        "{step}"
    );
    let claims: i32 = env
        .db()
        .await?
        .query_one(
            "SELECT claims FROM step_attempts WHERE run_id = $1",
            &[&run_id],
        )
        .await?
        .get(0);
    assert_eq!(claims, 0);

    // The only slot is free at once.
    let other = env.start_run("echoer", json!({})).await?;
    let done = env.wait_for_end(&other, WAIT).await?;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert!(cancelled_at.elapsed() < HANG / 2);

    // Nothing from the worker: no step.started (never claimed), no result,
    // and the coordinator's step.cancelled.
    let events = step_events(&env, &run_id, "wait").await?;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, ["workflow.step.cancelled"], "{events:?}");
    assert_eq!(env.calls.count_for("hang"), 1, "called once, never again");
    Ok(())
}

#[tokio::test]
async fn a_step_queued_when_its_run_is_cancelled_never_calls_its_agent() -> anyhow::Result<()> {
    let env = single_slot_cluster("10").await?;
    env.put_workflow(HANGER).await?;
    env.put_workflow(ECHOER).await?;
    // The only slot is taken by a hung step.
    let busy = env.start_run("hanger", json!({})).await?;
    wait_for_call(&env, "hang", &busy).await?;

    // This run's first step waits in the queue; cancel it there.
    let queued = env.start_run("echoer", json!({})).await?;
    wait_for_step_status(&env, &queued, "say", "PENDING", WAIT).await?;
    env.control(
        ControlSubject::run(&queued, RunVerb::Cancel),
        json!({ "reason": "too late" }),
    )
    .await?;
    let run = env.wait_for_end(&queued, WAIT).await?;
    assert_eq!(run["status"], "CANCELLED", "{run}");

    // Free the slot: the worker now takes the queued task, finds its run
    // cancelled, and acks it without calling the agent.
    env.control(ControlSubject::run(&busy, RunVerb::Cancel), json!({}))
        .await?;
    wait_for_step_status(&env, &busy, "wait", "CANCELLED", PROMPT).await?;
    let jetstream = async_nats::jetstream::new(env.nats.clone());
    env.eventually("every task acked", WAIT, || async {
        let mut tasks = jetstream.get_stream(env.subjects.tasks_stream()).await?;
        Ok((tasks.info().await?.state.messages == 0).then_some(()))
    })
    .await?;
    // Later work still runs, after the queued task in stream order.
    let later = env.start_run("echoer", json!({})).await?;
    let done = env.wait_for_end(&later, WAIT).await?;
    assert_eq!(done["status"], "COMPLETED", "{done}");

    assert!(
        env.calls.records().iter().all(|r| r.run_id != queued),
        "the cancelled run's agent was never called: {:?}",
        env.calls.records()
    );
    let events = step_events(&env, &queued, "say").await?;
    assert!(
        of_type(&events, "workflow.step.started").is_empty(),
        "never claimed: {events:?}"
    );
    assert_eq!(
        of_type(&events, "workflow.step.cancelled").len(),
        1,
        "{events:?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_losing_branch_of_a_join_any_is_cancelled_in_its_worker() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(registry()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    env.start_worker("worker-1", &[]).await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(
        r#"
id: race
states:
  - name: race
    type: parallel
    join: any
    branches:
      - name: slow
        states:
          - { name: hold, type: agent, agent: hang, resultPath: result, end: true }
      - name: quick
        states:
          - { name: nap, type: agent, agent: sleep, input: { input: { ms: 1500 } }, resultPath: result, end: true }
    resultPath: steps.race
    end: true
"#,
    )
    .await?;
    let run_id = env.start_run("race", json!({})).await?;
    let key = wait_for_call(&env, "hang", &run_id).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");

    let step = wait_for_step_status(&env, &run_id, "hold", "CANCELLED", PROMPT).await?;
    assert_eq!(step["error"]["code"], "CANCELLED", "{step}");
    let cancel = wait_for_agent_cancel(&env, "hang", &key).await?;
    assert_eq!(cancel.run_id, run_id);
    let events = step_events(&env, &run_id, "hold").await?;
    assert_eq!(
        of_type(&events, "workflow.step.cancelled").len(),
        1,
        "{events:?}"
    );
    assert!(
        of_type(&events, "workflow.step.completed").is_empty(),
        "{events:?}"
    );
    Ok(())
}
