//! Crash recovery: processes are SIGKILLed (or exit at a fault point) at
//! chosen moments, restarted, and the run still completes with every step
//! that had succeeded executed exactly once.

use junction_core::wire::agent::AgentRequest;
use junction_e2e::{THREE_STEPS, TestEnv, registry_with_block};
use junction_example_agents::{Registry, Reply};
use junction_runtime::fault::FAULT_EXIT_CODE;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// A two-second lease: the lazy claim comes two thirds of a second into a step.
const LEASE: [(&str, &str); 1] = [("JUNCTION_WORKER__LEASE_SECONDS", "2")];

/// Waits until the attempt of `state` in `run_id` is `RUNNING`: its worker
/// made its lazy claim (a third of the lease into the step).
async fn wait_for_lazy_claim(env: &TestEnv, run_id: &str, state: &str) -> anyhow::Result<()> {
    let db = env.db().await?;
    let what = format!("{state} of {run_id} claimed");
    env.eventually(&what, WAIT, || async {
        let status: Option<String> = db
            .query_opt(
                "SELECT status FROM step_attempts WHERE run_id = $1 AND state = $2",
                &[&run_id, &state],
            )
            .await?
            .map(|row| row.get(0));
        Ok((status.as_deref() == Some("RUNNING")).then_some(()))
    })
    .await
}

#[tokio::test]
async fn a_worker_killed_mid_step_is_replaced_and_the_run_completes() -> anyhow::Result<()> {
    let registry = registry_with_block(Arc::default());
    let (mut env, doomed) = TestEnv::with_doomed_worker(registry, "2").await?;
    env.put_workflow(THREE_STEPS).await?;
    let run_id = env.start_run("three", json!({})).await?;

    // Wait until the middle step's agent call is in flight and lazily
    // claimed (a third of the lease in), then SIGKILL the worker. A kill
    // before the lazy claim is a case of `tests/claims/lazy.rs`.
    env.wait_for_calls("block", 1).await?;
    wait_for_lazy_claim(&env, &run_id, "middle").await?;
    env.processes[doomed].kill_now();
    env.start_worker("worker-b", &LEASE).await?;

    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        run["context"]["steps"]["middle"],
        json!({ "unblocked": "two" })
    );
    echo_ran_once_and_block_was_taken_over(&env);
    the_middle_attempt_was_claimed_again_by_worker_b(&env, &run).await
}

/// The echo steps executed once each, and the killed `block` call was taken
/// over with the same idempotency key.
fn echo_ran_once_and_block_was_taken_over(env: &TestEnv) {
    let counts = env.executions();
    let echo_runs: Vec<_> = counts
        .iter()
        .filter(|(k, _)| k.starts_with("echo:"))
        .collect();
    assert_eq!(echo_runs.len(), 2, "first and last ran: {counts:?}");
    assert!(
        echo_runs.iter().all(|(_, n)| **n == 1),
        "every echo step executed exactly once: {counts:?}"
    );
    let block_keys: Vec<_> = counts
        .iter()
        .filter(|(k, _)| k.starts_with("block:"))
        .collect();
    assert_eq!(
        block_keys.len(),
        1,
        "the same attempt was taken over, with the same idempotency key"
    );
}

/// The middle step's one attempt ended on `worker-b`, each claim emitted
/// `step.started`, and the first step was not claimed again.
async fn the_middle_attempt_was_claimed_again_by_worker_b(
    env: &TestEnv,
    run: &Value,
) -> anyhow::Result<()> {
    let steps = run["steps"].as_array().cloned().unwrap_or_default();
    let middle = steps
        .iter()
        .find(|s| s["state"] == "middle")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (middle["attempt"].as_i64(), middle["worker_id"].as_str()),
        (Some(1), Some("worker-b"))
    );
    let events = env.events(run["id"].as_str().unwrap_or_default()).await?;
    let started = |state: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["type"] == "workflow.step.started" && e["state"] == state)
            .map(|e| e["worker_id"].clone())
            .collect()
    };
    assert_eq!(
        started("middle"),
        vec![json!("worker-a"), json!("worker-b")],
        "each claim emits step.started"
    );
    assert_eq!(
        started("first").len(),
        1,
        "the first step was not claimed again"
    );
    Ok(())
}

/// `block` answers at once: these runs are not held up.
fn registry_with_quick_block() -> Registry {
    Registry::builtin().with("block", |r: AgentRequest| async move {
        Reply::output(json!({ "unblocked": r.task }))
    })
}

#[tokio::test]
async fn a_coordinator_crashing_after_commit_before_publish_recovers_on_restart()
-> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(registry_with_quick_block()).await?;
    std::fs::write(env.workflows_dir().join("three.workflow.yaml"), THREE_STEPS)?;
    // Survive the run's creation and the first advance; die after committing the second.
    let faulty = env
        .start_coordinator(
            "coordinator-1",
            &[
                (
                    "JUNCTION_FAULT__POINT",
                    "coordinator.after_commit_before_publish",
                ),
                ("JUNCTION_FAULT__SKIP", "1"),
            ],
        )
        .await?;
    env.start_worker("worker-1", &[]).await?;
    env.wait_for_members(1, 1).await?;
    env.publish_signal("go", "crash-1", json!({})).await?;

    env.wait_for_exit(
        faulty,
        FAULT_EXIT_CODE,
        "the coordinator died at the fault point",
    )
    .await?;
    // No coordinator answers now: look in the database.
    let before = env.db().await?.query_one("SELECT id, status, (SELECT count(*) FROM outbox) FROM runs WHERE causation_id = 'crash-1'", &[]).await?;
    let run_id: String = before.get(0);
    assert_eq!(before.get::<_, String>(1), "RUNNING");
    assert!(
        before.get::<_, i64>(2) > 0,
        "the committed transition left unpublished outbox rows"
    );

    env.start_coordinator("coordinator-2", &[]).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        env.runs_caused_by("crash-1").await?.len(),
        1,
        "the redelivered signal started nothing new"
    );
    env.assert_each_step_ran_once(3)?;
    // The task the relay re-sent kept its `traceparent` (stored with its
    // outbox row): every agent call of the run is in the run's trace.
    let trace = format!("00-{}-", run["trace_id"].as_str().unwrap_or("none"));
    for call in env.calls.records() {
        let traceparent = call.traceparent.unwrap_or_default();
        assert!(
            traceparent.starts_with(&trace),
            "{traceparent} not in {trace}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_worker_crashing_after_its_result_commit_does_not_run_the_step_again()
-> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(registry_with_quick_block()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    let faulty = env
        .start_worker(
            "worker-a",
            &[
                (
                    "JUNCTION_FAULT__POINT",
                    "worker.after_result_commit_before_ack",
                ),
                LEASE[0],
            ],
        )
        .await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(THREE_STEPS).await?;
    let run_id = env.start_run("three", json!({})).await?;

    env.wait_for_exit(
        faulty,
        FAULT_EXIT_CODE,
        "the worker died at the fault point",
    )
    .await?;
    env.start_worker("worker-b", &LEASE).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    env.assert_each_step_ran_once(3)?;
    let first = run["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["state"] == "first").cloned())
        .unwrap_or_default();
    assert_eq!(
        first["worker_id"], "worker-a",
        "the result committed before the crash stands"
    );
    Ok(())
}

const FOREACH: &str = r#"
id: items
states:
  - name: each
    type: foreach
    itemsPath: ctx.items
    itemName: item
    maxConcurrency: 2
    iterator:
      states:
        - { name: work, type: agent, agent: gate, task: "{{ item }}", resultPath: done, end: true }
    resultPath: steps.each
    end: true
"#;

/// `gate` answers at once, except that its third call hangs until the test
/// ends (so a worker can be killed with items in flight).
fn registry_with_gate() -> Registry {
    let calls = Arc::new(AtomicUsize::new(0));
    Registry::builtin().with("gate", move |request: AgentRequest| {
        let calls = calls.clone();
        async move {
            if calls.fetch_add(1, Ordering::SeqCst) == 2 {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Reply::output(json!({ "item": request.task }))
        }
    })
}

#[tokio::test]
async fn a_worker_killed_during_a_bounded_foreach_leaves_every_item_done_once_in_order()
-> anyhow::Result<()> {
    let (mut env, doomed) = TestEnv::with_doomed_worker(registry_with_gate(), "2").await?;
    env.put_workflow(FOREACH).await?;
    let items: Vec<String> = (0..6).map(|i| format!("i{i}")).collect();
    let run_id = env.start_run("items", json!({ "items": items })).await?;

    // The third item's call hangs: kill the worker while it is in flight.
    env.wait_for_calls("gate", 3).await?;
    env.processes[doomed].kill_now();
    env.start_worker("worker-b", &LEASE).await?;

    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let done: Vec<serde_json::Value> = run["context"]["steps"]["each"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|local| local["done"]["item"].clone())
        .collect();
    let expected: Vec<serde_json::Value> = items.iter().map(|i| json!(i)).collect();
    assert_eq!(done, expected, "every item's result, in item order");

    // Each item succeeded exactly once; the killed one was taken over with
    // the same attempt (same idempotency key), never re-run as a new attempt.
    let steps = run["steps"].as_array().cloned().unwrap_or_default();
    let mut succeeded: Vec<(String, i64)> = steps
        .iter()
        .filter(|s| s["state"] == "work" && s["status"] == "SUCCEEDED")
        .map(|s| {
            (
                s["path"].as_str().unwrap_or_default().to_owned(),
                s["attempt"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    succeeded.sort();
    let wanted: Vec<(String, i64)> = (0..6).map(|i| (format!("each[{i}]/work"), 1)).collect();
    assert_eq!(succeeded, wanted);
    let keys: std::collections::HashSet<String> = env
        .executions()
        .into_keys()
        .filter(|k| k.starts_with("gate:"))
        .collect();
    assert_eq!(keys.len(), 6, "one idempotency key per item: {keys:?}");
    Ok(())
}

#[tokio::test]
async fn a_step_whose_worker_dies_with_no_replacement_times_out_by_the_coordinator_backstop()
-> anyhow::Result<()> {
    // A 3 s lease: the lazy claim (which stores the backstop) comes 1 s in,
    // before the step's own 2 s timeout.
    let registry = registry_with_block(Arc::default());
    let (mut env, doomed) = TestEnv::with_doomed_worker(registry, "3").await?;
    env.put_workflow(
        "id: orphan\nstates:\n  - { name: stuck, type: agent, agent: block, timeoutSeconds: 2, end: true }\n",
    )
    .await?;
    let started = std::time::Instant::now();
    let run_id = env.start_run("orphan", json!({})).await?;
    env.wait_for_calls("block", 1).await?;
    // No worker is left to enforce the step's 2 s timeout or take it over.
    wait_for_lazy_claim(&env, &run_id, "stuck").await?;
    env.processes[doomed].kill_now();
    let run = env.wait_for_end(&run_id, Duration::from_secs(90)).await?;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(run["error"]["code"], "STEP_TIMEOUT");
    assert!(
        run["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("presumed lost")),
        "{run}"
    );
    // The backstop fires at the execution's start + timeout + 30 s of grace.
    assert!(
        started.elapsed() >= Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}
