//! Many runs on two workers: every step executes exactly once and both
//! workers take work.

use junction_e2e::{TestEnv, chain_yaml};
use junction_example_agents::Registry;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test]
async fn fifty_runs_on_two_workers_execute_every_step_exactly_once() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 2).await?;
    env.put_workflow(&chain_yaml("fifty", "echo", 3, None))
        .await?;
    let mut runs = Vec::new();
    for i in 0..50 {
        runs.push(env.start_run("fifty", json!({ "i": i })).await?);
    }
    for run_id in &runs {
        let run = env.wait_for_end(run_id, Duration::from_secs(120)).await?;
        assert_eq!(run["status"], "COMPLETED", "{run}");
    }

    let mut per_key: HashMap<String, usize> = HashMap::new();
    for record in env.calls.records() {
        *per_key.entry(record.idempotency_key).or_default() += 1;
    }
    assert_eq!(per_key.len(), 150, "50 runs × 3 steps");
    assert!(
        per_key.values().all(|n| *n == 1),
        "a step ran twice: {:?}",
        per_key.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );

    let db = env.db().await?;
    let rows = db.query("SELECT worker_id, count(*) FROM step_attempts WHERE status = 'SUCCEEDED' GROUP BY worker_id ORDER BY 1", &[]).await?;
    let per_worker: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        per_worker.len(),
        2,
        "both workers took work: {per_worker:?}"
    );
    assert_eq!(per_worker.iter().map(|(_, n)| n).sum::<i64>(), 150);
    let claims: i64 = db
        .query_one("SELECT count(*) FROM step_attempts WHERE claims <> 1", &[])
        .await?
        .get(0);
    assert_eq!(claims, 0, "every attempt was claimed exactly once");
    Ok(())
}

#[tokio::test]
async fn two_coordinators_never_double_advance_a_run() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator-a", &[]).await?;
    env.start_coordinator("coordinator-b", &[]).await?;
    env.start_worker("worker-1", &[]).await?;
    env.start_worker("worker-2", &[]).await?;
    env.wait_for_members(2, 2).await?;
    env.put_workflow(&chain_yaml("pair", "echo", 4, None))
        .await?;
    let mut runs = Vec::new();
    for i in 0..30 {
        runs.push(env.start_run("pair", json!({ "i": i })).await?);
    }
    for run_id in &runs {
        let run = env.wait_for_end(run_id, Duration::from_secs(120)).await?;
        assert_eq!(run["status"], "COMPLETED", "{run}");
        let events = env.events(run_id).await?;
        let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as i64).collect::<Vec<_>>(),
            "no gaps or duplicates"
        );
        let count = |kind: &str| events.iter().filter(|e| e["type"] == kind).count();
        assert_eq!(
            (
                count("workflow.run.started"),
                count("workflow.run.completed")
            ),
            (1, 1)
        );
        assert_eq!(
            count("workflow.step.completed"),
            4,
            "each step completed once"
        );
    }
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for record in env.calls.records() {
        *per_key.entry(record.idempotency_key).or_default() += 1;
    }
    assert_eq!(per_key.len(), 120);
    assert!(per_key.values().all(|n| *n == 1));
    Ok(())
}
