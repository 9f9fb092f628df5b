//! Fencing: a worker that stalls past its lease after claiming a step is
//! taken over by another worker (same attempt, a new claim generation);
//! when it wakes and its agent call returns first, its result is refused,
//! and only the new holder's is recorded.

use crate::{LEASE, WAIT, attempt, attempts, signal, stored_events, types};
use junction_core::wire::agent::AgentRequest;
use junction_e2e::TestEnv;
use junction_example_agents::{Registry, Reply};
use serde_json::json;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// An agent whose every call waits until the test releases it: calls are
/// queued in arrival order, each with the sender that releases it.
#[derive(Clone, Default)]
struct Held(Arc<Mutex<Vec<Option<oneshot::Sender<()>>>>>);

impl Held {
    fn registry(&self) -> Registry {
        let held = self.clone();
        Registry::builtin().with("hold", move |_request: AgentRequest| {
            let held = held.clone();
            async move {
                let (release, released) = oneshot::channel();
                let call = {
                    let mut calls = held.0.lock().unwrap_or_else(|e| e.into_inner());
                    calls.push(Some(release));
                    calls.len()
                };
                let _ = released.await;
                Reply::output(json!({ "call": call }))
            }
        })
    }

    /// Lets call `n` (from 1, in arrival order) answer.
    fn release(&self, n: usize) -> anyhow::Result<()> {
        let mut calls = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let release = calls
            .get_mut(n - 1)
            .and_then(Option::take)
            .ok_or_else(|| anyhow::anyhow!("no call {n} waiting"))?;
        release
            .send(())
            .map_err(|()| anyhow::anyhow!("call {n} no longer waits"))
    }
}

#[tokio::test]
async fn a_stalled_worker_taken_over_cannot_record_its_result_even_first() -> anyhow::Result<()> {
    let held = Held::default();
    let mut env = TestEnv::new().await?;
    env.serve_agents(held.registry()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    let stalled = env.start_worker("worker-a", &[LEASE]).await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(
        "id: fenced\nstates:\n  - { name: hold, type: agent, agent: hold, resultPath: steps.hold, end: true }\n",
    )
    .await?;
    let run_id = env.start_run("fenced", json!({})).await?;

    // worker-a's call is in flight and lazily claimed (generation 1).
    env.wait_for_calls("hold", 1).await?;
    env.eventually("worker-a's lazy claim", WAIT, || async {
        let row = attempt(&env, &run_id, "hold").await?;
        Ok((row.status == "RUNNING" && row.claims == 1).then_some(()))
    })
    .await?;
    // It stalls past its lease; worker-b takes the attempt over (the task is
    // redelivered after ack_wait = lease), calls the agent and claims lazily.
    signal(&env, stalled, "STOP")?;
    let taken_over = async {
        env.start_worker("worker-b", &[LEASE]).await?;
        env.wait_for_calls("hold", 2).await?;
        env.eventually("worker-b's takeover claim", WAIT, || async {
            let row = attempt(&env, &run_id, "hold").await?;
            Ok((row.status == "RUNNING"
                && row.claims == 2
                && row.worker_id.as_deref() == Some("worker-b"))
            .then_some(()))
        })
        .await
    }
    .await;
    signal(&env, stalled, "CONT")?;
    taken_over?;

    // worker-a wakes and its agent call returns first: refused.
    held.release(1)?;
    env.eventually("worker-a's result fenced off", WAIT, || async {
        let log = env.processes[stalled].output();
        Ok(log.contains("result fenced off").then_some(()))
    })
    .await?;
    let row = attempt(&env, &run_id, "hold").await?;
    assert_eq!(
        (row.status.as_str(), row.claims, row.worker_id.as_deref()),
        ("RUNNING", 2, Some("worker-b")),
        "worker-a's result changed nothing: {row:?}"
    );
    let log = env.processes[stalled].output();
    let line = log
        .lines()
        .find(|l| l.contains("result fenced off"))
        .unwrap_or_default();
    for field in [run_id.as_str(), "hold", "worker-a", "worker-b"] {
        assert!(line.contains(field), "{field} in the fencing log: {line}");
    }
    let members = env
        .control(junction_bus::ControlSubject::ClusterMembers, json!({}))
        .await?;
    let worker_a = members["members"]
        .as_array()
        .and_then(|m| {
            m.iter()
                .find(|m| m["id"].as_str().is_some_and(|id| id.ends_with("worker-a")))
        })
        .and_then(|m| m["http_addr"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("worker-a's address in {members}"))?;
    let metrics = junction_e2e::http_get_at(&worker_a, "/metrics").await?;
    assert!(
        metrics.contains("\njunction_step_results_fenced_total 1\n"),
        "the fenced result is counted:\n{metrics}"
    );

    // Then worker-b's returns and is recorded; the run completes with it.
    held.release(2)?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        run["context"]["steps"]["hold"],
        json!({ "call": 2 }),
        "{run}"
    );
    let row = attempt(&env, &run_id, "hold").await?;
    assert_eq!(
        (row.status.as_str(), row.claims, row.worker_id.as_deref()),
        ("SUCCEEDED", 2, Some("worker-b")),
        "{row:?}"
    );
    let events = stored_events(&env, &run_id, "hold").await?;
    assert_eq!(
        types(&events),
        [
            "workflow.step.started",
            "workflow.step.started",
            "workflow.step.completed"
        ],
        "{events:?}"
    );
    assert_eq!(
        events[2]["worker_id"], "worker-b",
        "exactly one step.completed, worker-b's: {events:?}"
    );
    Ok(())
}

/// The step deadline of a claimed attempt whose worker stalled (and no
/// other worker took it over) times the attempt out and starts the retry;
/// the stalled worker wakes, its call returns, and its late success is
/// refused: attempt 1 stays `TIMED_OUT`, only attempt 2 succeeds.
#[tokio::test]
async fn a_stalled_worker_whose_step_timed_out_cannot_record_a_late_success() -> anyhow::Result<()>
{
    let held = Held::default();
    let mut env = TestEnv::new().await?;
    env.serve_agents(held.registry()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    let stalled = env.start_worker("worker-a", &[LEASE]).await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(
        "id: late\nstates:\n  - { name: hold, type: agent, agent: hold, timeoutSeconds: 2, retry: { maxAttempts: 2 }, resultPath: steps.hold, end: true }\n",
    )
    .await?;
    let run_id = env.start_run("late", json!({})).await?;
    env.wait_for_calls("hold", 1).await?;
    env.eventually("worker-a's lazy claim", WAIT, || async {
        let row = attempt(&env, &run_id, "hold").await?;
        Ok((row.status == "RUNNING").then_some(()))
    })
    .await?;
    // worker-a stalls; with no other worker, the step deadline fires.
    signal(&env, stalled, "STOP")?;
    let timed_out = env
        .eventually("attempt 1 timed out by the deadline", WAIT, || async {
            let rows = attempts(&env, &run_id).await?;
            Ok((rows.len() == 2 && rows[0].status == "TIMED_OUT").then_some(()))
        })
        .await;
    if timed_out.is_err() {
        signal(&env, stalled, "CONT")?;
    }
    timed_out?;
    // worker-b runs attempt 2 (its call waits); worker-a wakes and its call
    // returns first.
    env.start_worker("worker-b", &[LEASE]).await?;
    env.wait_for_calls("hold", 2).await?;
    signal(&env, stalled, "CONT")?;
    held.release(1)?;
    env.eventually("worker-a's late result discarded", WAIT, || async {
        let log = env.processes[stalled].output();
        Ok(log.contains("result discarded").then_some(()))
    })
    .await?;
    assert_eq!(attempts(&env, &run_id).await?[0].status, "TIMED_OUT");

    held.release(2)?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        run["context"]["steps"]["hold"],
        json!({ "call": 2 }),
        "{run}"
    );
    let statuses: Vec<String> = attempts(&env, &run_id)
        .await?
        .into_iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(statuses, ["TIMED_OUT", "SUCCEEDED"]);
    let completed = stored_events(&env, &run_id, "hold")
        .await?
        .into_iter()
        .filter(|e| e["type"] == "workflow.step.completed")
        .map(|e| e["worker_id"].clone())
        .collect::<Vec<_>>();
    assert_eq!(
        completed,
        [json!("worker-b")],
        "one completion, attempt 2's"
    );
    Ok(())
}
