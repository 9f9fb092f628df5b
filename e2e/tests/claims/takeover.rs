//! One attempt, two executions: two workers racing on an unclaimed attempt
//! (the first statement to commit wins), and the `worker.after_claim` fault
//! point firing before executing and again after a lazy claim.

use crate::{LEASE, WAIT, attempt, backstops, keys, signal, stored_events, types};
use junction_e2e::{TestEnv, chain_yaml};
use junction_example_agents::Registry;
use junction_runtime::fault::FAULT_EXIT_CODE;
use serde_json::json;

#[tokio::test]
async fn two_workers_executing_one_unclaimed_attempt_record_it_once() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    let frozen = env.start_worker("worker-a", &[LEASE]).await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(
        "id: race\nstates:\n  - { name: nap, type: agent, agent: sleep, input: { input: { ms: 400 } }, resultPath: steps.nap, end: true }\n",
    )
    .await?;
    let run_id = env.start_run("race", json!({})).await?;

    // Freeze worker-a while its execution is unclaimed: it neither claims
    // nor acks, so JetStream redelivers the task to worker-b after ack_wait.
    env.wait_for_calls("sleep", 1).await?;
    signal(&env, frozen, "STOP")?;
    let thawed = async {
        env.start_worker("worker-b", &[LEASE]).await?;
        let run = env.wait_for_end(&run_id, WAIT).await?;
        anyhow::Ok(run)
    }
    .await;
    // Thaw worker-a whatever happened: its late result must change nothing.
    signal(&env, frozen, "CONT")?;
    let run = thawed?;
    assert_eq!(run["status"], "COMPLETED", "{run}");

    let jetstream = async_nats::jetstream::new(env.nats.clone());
    env.eventually("the task acked", WAIT, || async {
        let mut tasks = jetstream.get_stream(env.subjects.tasks_stream()).await?;
        Ok((tasks.info().await?.state.messages == 0).then_some(()))
    })
    .await?;
    // Let worker-a finish whatever it does with its execution.
    env.eventually("worker-a gave up its result", WAIT, || async {
        let log = env.processes[frozen].output();
        Ok((log.contains("result discarded") || log.contains("lazy claim refused")).then_some(()))
    })
    .await?;

    let row = attempt(&env, &run_id, "nap").await?;
    assert_eq!(
        (row.status.as_str(), row.claims, row.worker_id.as_deref()),
        ("SUCCEEDED", 1, Some("worker-b")),
        "the first statement to commit won: {row:?}"
    );
    let events = stored_events(&env, &run_id, "nap").await?;
    assert_eq!(
        types(&events),
        ["workflow.step.started", "workflow.step.completed"],
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| e["worker_id"] == "worker-b"),
        "{events:?}"
    );
    let sleeps = keys(&env, "sleep");
    assert_eq!(sleeps.len(), 2, "both deliveries executed: {sleeps:?}");
    assert_eq!(sleeps[0], sleeps[1], "with the same idempotency key");
    Ok(())
}

#[tokio::test]
async fn the_after_claim_fault_point_fires_right_before_executing() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    let faulty = env
        .start_worker(
            "worker-a",
            &[LEASE, ("JUNCTION_FAULT__POINT", "worker.after_claim")],
        )
        .await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(&chain_yaml("one", "echo", 1, None))
        .await?;
    let run_id = env.start_run("one", json!({})).await?;
    env.wait_for_exit(faulty, FAULT_EXIT_CODE, "the fault point")
        .await?;
    // Checked claimable, not executed, nothing written.
    let row = attempt(&env, &run_id, "s1").await?;
    assert_eq!(
        (row.status.as_str(), row.claims, row.worker_id.as_deref()),
        ("PENDING", 0, None),
        "{row:?}"
    );
    assert_eq!(env.calls.count_for("echo"), 0);

    env.start_worker("worker-b", &[LEASE]).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let row = attempt(&env, &run_id, "s1").await?;
    assert_eq!(
        (row.status.as_str(), row.claims, row.worker_id.as_deref()),
        ("SUCCEEDED", 1, Some("worker-b")),
        "{row:?}"
    );
    assert_eq!(env.calls.count_for("echo"), 1);
    Ok(())
}

#[tokio::test]
async fn the_after_claim_fault_point_fires_again_after_a_lazy_claim() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    // The first pass (right before executing) is survived; the second,
    // right after the lazy claim commits, is not.
    let faulty = env
        .start_worker(
            "worker-a",
            &[
                LEASE,
                ("JUNCTION_FAULT__POINT", "worker.after_claim"),
                ("JUNCTION_FAULT__SKIP", "1"),
            ],
        )
        .await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(
        "id: nap\nstates:\n  - { name: nap, type: agent, agent: sleep, input: { input: { ms: 1500 } }, resultPath: steps.nap, end: true }\n",
    )
    .await?;
    let run_id = env.start_run("nap", json!({})).await?;
    env.wait_for_exit(faulty, FAULT_EXIT_CODE, "the fault point")
        .await?;
    let row = attempt(&env, &run_id, "nap").await?;
    assert_eq!(
        (row.status.as_str(), row.claims, row.worker_id.as_deref()),
        ("RUNNING", 1, Some("worker-a")),
        "died right after its lazy claim: {row:?}"
    );
    assert_eq!(backstops(&env, &run_id).await?, 1);

    // Taken over once the lease expired: same attempt, claimed again.
    env.start_worker("worker-b", &[LEASE]).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let row = attempt(&env, &run_id, "nap").await?;
    assert_eq!(
        (row.status.as_str(), row.claims, row.worker_id.as_deref()),
        ("SUCCEEDED", 2, Some("worker-b")),
        "{row:?}"
    );
    assert_eq!(backstops(&env, &run_id).await?, 0, "the result deleted it");
    let events = stored_events(&env, &run_id, "nap").await?;
    let workers: Vec<(&str, &str)> = events
        .iter()
        .filter_map(|e| Some((e["type"].as_str()?, e["worker_id"].as_str()?)))
        .collect();
    assert_eq!(
        workers,
        [
            ("workflow.step.started", "worker-a"),
            ("workflow.step.started", "worker-b"),
            ("workflow.step.completed", "worker-b")
        ]
    );
    let sleeps = keys(&env, "sleep");
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert_eq!(sleeps[0], sleeps[1], "the same attempt, the same key");
    Ok(())
}
