//! Claims folded into results, on real services. A step that finishes within
//! a third of the lease costs its worker one commit: claim and result in one
//! statement, `step.started` and the completion with consecutive seqs, and no
//! `step_deadline` backstop timer ever written. A longer step is claimed
//! lazily at a third of the lease (`RUNNING`, a lease, a backstop) and then
//! finished as a claimed step. A worker killed before its lazy claim leaves
//! the attempt `PENDING`; the redelivered task completes it, once. When two
//! workers execute the same unclaimed attempt (a redelivery after
//! `ack_wait`), the first statement to commit wins and the other result is
//! discarded. The fault point `worker.after_claim` fires right before a step
//! executes, and again right after a lazy claim commits.

use junction_e2e::{THREE_STEPS, TestEnv, chain_yaml, registry_with_block};
use junction_example_agents::Registry;
use junction_shared::fault::FAULT_EXIT_CODE;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
/// A three-second lease: the claim deadline is one second into a step.
const LEASE: (&str, &str) = ("JUNCTION_WORKER__LEASE_SECONDS", "3");

/// One attempt row, as the assertions need it.
#[derive(Debug)]
struct AttemptRow {
    state: String,
    status: String,
    worker_id: Option<String>,
    claims: i32,
    /// `started_at <= ended_at` (`None` while either is unset).
    ordered: Option<bool>,
    /// `ended_at - started_at` in seconds.
    duration: Option<f64>,
    /// The lease is set and still in the future.
    leased: bool,
    completion_seq: Option<i64>,
}

async fn attempts(env: &TestEnv, run_id: &str) -> anyhow::Result<Vec<AttemptRow>> {
    let rows = env
        .db()
        .await?
        .query(
            "SELECT state, status, worker_id, claims, started_at <= ended_at,
                    extract(epoch FROM ended_at - started_at)::float8,
                    coalesce(lease_until > now(), false), completion_seq
             FROM step_attempts WHERE run_id = $1 ORDER BY ordinal",
            &[&run_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| AttemptRow {
            state: r.get(0),
            status: r.get(1),
            worker_id: r.get(2),
            claims: r.get(3),
            ordered: r.get(4),
            duration: r.get(5),
            leased: r.get(6),
            completion_seq: r.get(7),
        })
        .collect())
}

async fn attempt(env: &TestEnv, run_id: &str, state: &str) -> anyhow::Result<AttemptRow> {
    attempts(env, run_id)
        .await?
        .into_iter()
        .find(|a| a.state == state)
        .ok_or_else(|| anyhow::anyhow!("no attempt of {state} in {run_id}"))
}

/// `step_deadline` timers stored now for the run.
async fn backstops(env: &TestEnv, run_id: &str) -> anyhow::Result<i64> {
    Ok(env
        .db()
        .await?
        .query_one(
            "SELECT count(*) FROM timers WHERE run_id = $1 AND kind = 'step_deadline'",
            &[&run_id],
        )
        .await?
        .get(0))
}

/// Whether any timer row was ever inserted in this database (deleted or
/// not): a claim statement always inserts one, so `false` means no claim
/// statement ever ran.
async fn any_timer_ever_inserted(env: &TestEnv) -> anyhow::Result<bool> {
    Ok(env
        .db()
        .await?
        .query_one("SELECT is_called FROM timers_id_seq", &[])
        .await?
        .get(0))
}

/// The stored events of `state`'s step, straight from the database.
async fn stored_events(env: &TestEnv, run_id: &str, state: &str) -> anyhow::Result<Vec<Value>> {
    let rows = env
        .db()
        .await?
        .query(
            "SELECT seq, type, worker_id FROM events WHERE run_id = $1 AND state = $2 ORDER BY seq",
            &[&run_id, &state],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            json!({
                "seq": r.get::<_, i64>(0),
                "type": r.get::<_, String>(1),
                "worker_id": r.get::<_, Option<String>>(2),
            })
        })
        .collect())
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

/// Waits until `agent` has been called `n` times.
async fn wait_for_calls(env: &TestEnv, agent: &str, n: usize) -> anyhow::Result<()> {
    env.eventually(&format!("{agent} called {n} times"), WAIT, || async {
        Ok((env.calls.count_for(agent) >= n).then_some(()))
    })
    .await
}

#[tokio::test]
async fn a_short_step_is_claimed_and_finished_by_one_statement() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(&chain_yaml("short", "echo", 3, None))
        .await?;
    let run_id = env.start_run("short", json!({ "n": 1 })).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");

    let events = env.events(&run_id).await?;
    for state in ["s1", "s2", "s3"] {
        let mine: Vec<&Value> = events.iter().filter(|e| e["state"] == state).collect();
        let kinds: Vec<&str> = mine.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(
            kinds,
            ["workflow.step.started", "workflow.step.completed"],
            "{mine:?}"
        );
        let (started, completed) = (mine[0], mine[1]);
        assert_eq!(
            started["seq"].as_i64().map(|s| s + 1),
            completed["seq"].as_i64(),
            "consecutive seqs, from one statement: {mine:?}"
        );
        for event in [started, completed] {
            assert_eq!(event["worker_id"], "worker-1", "{event}");
            assert_eq!(event["attempt"], 1, "{event}");
        }
        assert!(started["data"].get("input").is_some(), "{started}");
        assert!(
            started["time"].as_str() <= completed["time"].as_str(),
            "started at the execution's start: {mine:?}"
        );

        let row = attempt(&env, &run_id, state).await?;
        assert_eq!(row.status, "SUCCEEDED", "{row:?}");
        assert_eq!(row.claims, 1, "{row:?}");
        assert_eq!(row.worker_id.as_deref(), Some("worker-1"), "{row:?}");
        assert_eq!(row.ordered, Some(true), "started_at <= ended_at: {row:?}");
        assert!(!row.leased, "no lease left: {row:?}");
        assert_eq!(row.completion_seq, completed["seq"].as_i64(), "{row:?}");
    }
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "no gaps");
    // One commit per step in the worker: no claim statement ever ran, so no
    // backstop timer was ever written (a claim writes one, its result
    // deletes it).
    assert_eq!(backstops(&env, &run_id).await?, 0);
    assert!(
        !any_timer_ever_inserted(&env).await?,
        "no step_deadline timer was written for a short step"
    );
    assert_eq!(env.calls.count_for("echo"), 3);
    Ok(())
}

#[tokio::test]
async fn a_short_steps_warning_sits_between_its_folded_start_and_completion() -> anyhow::Result<()>
{
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_agent(
        "echo",
        None,
        Some(json!({ "type": "object", "required": ["status"] })),
    )
    .await?;
    env.put_workflow(
        "id: warned\nstates:\n  - { name: say, type: agent, agent: echo, input: { pods: 3 }, resultPath: said, end: true }\n",
    )
    .await?;
    let run_id = env.start_run("warned", json!({})).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let events = stored_events(&env, &run_id, "say").await?;
    assert_eq!(
        types(&events),
        [
            "workflow.step.started",
            "workflow.step.warning",
            "workflow.step.completed"
        ],
        "{events:?}"
    );
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(seqs, [seqs[0], seqs[0] + 1, seqs[0] + 2], "{events:?}");
    let row = attempt(&env, &run_id, "say").await?;
    assert_eq!(
        (row.status.as_str(), row.claims, row.completion_seq),
        ("SUCCEEDED", 1, Some(seqs[2])),
        "{row:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_step_running_past_a_third_of_the_lease_is_claimed_lazily() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    env.start_worker("worker-1", &[LEASE]).await?;
    env.wait_for_members(1, 1).await?;
    // Longer than the whole lease: the claim must also be kept alive.
    env.put_workflow(
        "id: long\nstates:\n  - { name: nap, type: agent, agent: sleep, input: { ms: 4000 }, resultPath: steps.nap, end: true }\n",
    )
    .await?;
    let run_id = env.start_run("long", json!({})).await?;

    // Executing, before the claim deadline: nothing written yet.
    wait_for_calls(&env, "sleep", 1).await?;
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

/// Calls per `agent:idempotency_key`.
fn keys(env: &TestEnv, agent: &str) -> Vec<String> {
    let mut keys: Vec<String> = env
        .calls
        .records()
        .into_iter()
        .filter(|r| r.agent == agent)
        .map(|r| r.idempotency_key)
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_worker_killed_before_its_lazy_claim_leaves_the_attempt_pending_for_the_next_worker()
-> anyhow::Result<()> {
    let block_calls = Arc::new(AtomicUsize::new(0));
    let mut env = TestEnv::new().await?;
    env.serve_agents(registry_with_block(block_calls.clone()))
        .await?;
    env.start_coordinator("coordinator", &[]).await?;
    let doomed = env.start_worker("worker-a", &[LEASE]).await?;
    env.wait_for_members(1, 1).await?;
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

/// Sends a signal to a process of the test (`STOP` or `CONT`).
fn signal(env: &TestEnv, index: usize, name: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &env.processes[index].pid().to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -{name} failed");
    Ok(())
}

#[tokio::test]
async fn two_workers_executing_one_unclaimed_attempt_record_it_once() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    let frozen = env.start_worker("worker-a", &[LEASE]).await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(
        "id: race\nstates:\n  - { name: nap, type: agent, agent: sleep, input: { ms: 400 }, resultPath: steps.nap, end: true }\n",
    )
    .await?;
    let run_id = env.start_run("race", json!({})).await?;

    // Freeze worker-a while its execution is unclaimed: it neither claims
    // nor acks, so JetStream redelivers the task to worker-b after ack_wait.
    wait_for_calls(&env, "sleep", 1).await?;
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
    assert_eq!(
        env.processes[faulty].wait_exit(WAIT).await,
        Some(FAULT_EXIT_CODE),
        "{}",
        env.logs()
    );
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
        "id: nap\nstates:\n  - { name: nap, type: agent, agent: sleep, input: { ms: 1500 }, resultPath: steps.nap, end: true }\n",
    )
    .await?;
    let run_id = env.start_run("nap", json!({})).await?;
    assert_eq!(
        env.processes[faulty].wait_exit(WAIT).await,
        Some(FAULT_EXIT_CODE),
        "{}",
        env.logs()
    );
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
