//! Steps still running at a third of the lease: claimed lazily then (a lease
//! and a backstop), and a worker killed before its lazy claim leaves the
//! attempt `PENDING` for the next worker.

use crate::{LEASE, WAIT, any_timer_ever_inserted, attempt, backstops, keys, stored_events, types};
use junction_e2e::{THREE_STEPS, TestEnv, registry_with_block};
use junction_example_agents::Registry;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[tokio::test]
async fn a_step_running_past_a_third_of_the_lease_is_claimed_lazily() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    env.start_worker("worker-1", &[LEASE]).await?;
    env.wait_for_members(1, 1).await?;
    // Longer than the whole lease: the claim must also be kept alive.
    env.put_workflow(
        "id: long\nstates:\n  - { name: nap, type: agent, agent: sleep, input: { input: { ms: 4000 } }, resultPath: steps.nap, end: true }\n",
    )
    .await?;
    let run_id = env.start_run("long", json!({})).await?;

    // Executing, before the claim deadline: nothing written yet.
    env.wait_for_calls("sleep", 1).await?;
    let early = attempt(&env, &run_id, "nap").await?;
    assert_eq!(
        (
            early.status.as_str(),
            early.claims,
            early.worker_id.as_deref()
        ),
        ("PENDING", 0, None),
        "unclaimed while it runs its first third of the lease: {early:?}"
    );
    assert_eq!(backstops(&env, &run_id).await?, 0);
    assert!(stored_events(&env, &run_id, "nap").await?.is_empty());

    // At a third of the lease: claimed, with a lease and a backstop.
    let claimed = env
        .eventually("lazy claim", Duration::from_secs(10), || async {
            let row = attempt(&env, &run_id, "nap").await?;
            Ok((row.status != "PENDING").then_some(row))
        })
        .await?;
    assert_eq!(claimed.status, "RUNNING", "{claimed:?}");
    assert_eq!(claimed.worker_id.as_deref(), Some("worker-1"));
    assert_eq!(claimed.claims, 1);
    assert!(claimed.leased, "a live lease: {claimed:?}");
    assert_eq!(backstops(&env, &run_id).await?, 1, "the backstop is stored");
    assert_eq!(
        types(&stored_events(&env, &run_id, "nap").await?),
        ["workflow.step.started"]
    );
    assert!(any_timer_ever_inserted(&env).await?);

    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["context"]["steps"]["nap"], json!({ "slept_ms": 4000 }));
    let done = attempt(&env, &run_id, "nap").await?;
    assert_eq!(
        (done.status.as_str(), done.claims, done.leased),
        ("SUCCEEDED", 1, false),
        "kept alive past its lease, never taken over: {done:?}"
    );
    assert_eq!(done.ordered, Some(true), "{done:?}");
    assert!(
        done.duration.is_some_and(|d| d >= 3.9),
        "started_at is the execution's start, not the claim: {done:?}"
    );
    assert_eq!(backstops(&env, &run_id).await?, 0, "the result deleted it");
    let events = stored_events(&env, &run_id, "nap").await?;
    assert_eq!(
        types(&events),
        ["workflow.step.started", "workflow.step.completed"]
    );
    assert_eq!(env.calls.count_for("sleep"), 1, "executed once");
    Ok(())
}

#[tokio::test]
async fn a_worker_killed_before_its_lazy_claim_leaves_the_attempt_pending_for_the_next_worker()
-> anyhow::Result<()> {
    let block_calls = Arc::new(AtomicUsize::new(0));
    let registry = registry_with_block(block_calls.clone());
    let (mut env, doomed) = TestEnv::with_doomed_worker(registry, LEASE.1).await?;
    env.put_workflow(THREE_STEPS).await?;
    let run_id = env.start_run("three", json!({})).await?;

    // The middle step's agent call is in flight, a second before its claim
    // deadline: SIGKILL the worker.
    env.eventually("block called", WAIT, || async {
        Ok((block_calls.load(Ordering::SeqCst) > 0).then_some(()))
    })
    .await?;
    env.processes[doomed].kill_now();
    let orphan = attempt(&env, &run_id, "middle").await?;
    assert_eq!(
        (
            orphan.status.as_str(),
            orphan.claims,
            orphan.worker_id.as_deref()
        ),
        ("PENDING", 0, None),
        "killed before its lazy claim: nothing of it was written: {orphan:?}"
    );
    assert!(stored_events(&env, &run_id, "middle").await?.is_empty());
    assert_eq!(backstops(&env, &run_id).await?, 0);

    // JetStream redelivers after ack_wait (the lease); the next worker
    // executes the same attempt.
    env.start_worker("worker-b", &[LEASE]).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        run["context"]["steps"]["middle"],
        json!({ "unblocked": "two" })
    );

    let middle = attempt(&env, &run_id, "middle").await?;
    assert_eq!(
        (
            middle.status.as_str(),
            middle.claims,
            middle.worker_id.as_deref()
        ),
        ("SUCCEEDED", 1, Some("worker-b")),
        "{middle:?}"
    );
    let events = stored_events(&env, &run_id, "middle").await?;
    assert_eq!(
        types(&events),
        ["workflow.step.started", "workflow.step.completed"],
        "only the execution that finished left events: {events:?}"
    );
    assert!(
        events.iter().all(|e| e["worker_id"] == "worker-b"),
        "{events:?}"
    );
    let block = keys(&env, "block");
    assert_eq!(block.len(), 2, "called by each worker: {block:?}");
    assert_eq!(block[0], block[1], "with the same idempotency key");
    for echo in keys(&env, "echo").chunk_by(|a, b| a == b) {
        assert_eq!(echo.len(), 1, "every echo step executed once: {echo:?}");
    }
    assert_eq!(keys(&env, "echo").len(), 2);
    let first = stored_events(&env, &run_id, "first").await?;
    assert_eq!(
        types(&first),
        ["workflow.step.started", "workflow.step.completed"],
        "the first step was not executed again: {first:?}"
    );
    Ok(())
}
