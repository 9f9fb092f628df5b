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

const FAN_PARALLEL: &str = r#"
id: scale-parallel
states:
  - name: fan
    type: parallel
    branches:
      - { name: a, agent: echo, task: a }
      - { name: b, agent: echo, task: b }
      - { name: c, agent: echo, task: c }
    resultPath: steps.fan
    end: true
"#;

const FAN_FOREACH: &str = r#"
id: scale-foreach
states:
  - name: each
    type: foreach
    itemsPath: ctx.items
    itemName: it
    maxConcurrency: 2
    iterator:
      states:
        - { name: work, type: agent, agent: echo, task: "{{ it }}", resultPath: out, end: true }
    resultPath: steps.each
    end: true
"#;

/// `name value` of an unlabelled Prometheus sample, 0 if absent.
fn sample(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The scale-out check: 2 coordinators and 3 workers run 500 mixed runs.
/// Every run completes with gapless events and one terminal event, every
/// step executes once, and the coordinators do not fight over runs: each
/// run's inputs reach its owner, so decisions redone after a write conflict
/// stay under 1% of transitions.
#[tokio::test]
async fn five_hundred_mixed_runs_on_two_coordinators_and_three_workers() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator-a", &[]).await?;
    env.start_coordinator("coordinator-b", &[]).await?;
    for worker in ["worker-1", "worker-2", "worker-3"] {
        env.start_worker(worker, &[]).await?;
    }
    env.wait_for_members(2, 3).await?;
    // Both coordinators read the member list every 2 s (routing.rs): let
    // them see each other before the load starts.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    env.put_workflow(&chain_yaml("scale-chain", "echo", 3, None))
        .await?;
    env.put_workflow(FAN_PARALLEL).await?;
    env.put_workflow(FAN_FOREACH).await?;

    let mut runs = Vec::new();
    for i in 0..500 {
        let (workflow, input) = match i % 3 {
            0 => ("scale-chain", json!({ "i": i })),
            1 => ("scale-parallel", json!({ "i": i })),
            _ => (
                "scale-foreach",
                json!({ "items": [i, i + 1, i + 2, i + 3] }),
            ),
        };
        runs.push((workflow, env.start_run(workflow, input).await?));
    }
    let mut expected_calls = 0;
    for (workflow, run_id) in &runs {
        let run = env.wait_for_end(run_id, Duration::from_secs(300)).await?;
        assert_eq!(run["status"], "COMPLETED", "{workflow}: {run}");
        let events = env.events(run_id).await?;
        let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as i64).collect::<Vec<_>>(),
            "{run_id}: no gaps or duplicates"
        );
        let terminal = events
            .iter()
            .filter(|e| {
                e["type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("workflow.run.") && t != "workflow.run.started")
            })
            .count();
        assert_eq!(terminal, 1, "{run_id}: exactly one terminal event");
        expected_calls += match *workflow {
            "scale-chain" => 3,
            "scale-parallel" => 3,
            _ => 4,
        };
    }

    let mut per_key: HashMap<String, usize> = HashMap::new();
    for record in env.calls.records() {
        *per_key.entry(record.idempotency_key).or_default() += 1;
    }
    assert_eq!(per_key.len(), expected_calls, "every step ran");
    assert!(
        per_key.values().all(|n| *n == 1),
        "a step ran twice: {:?}",
        per_key.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );

    let (mut transitions, mut conflicts, mut decided) = (0, 0, Vec::new());
    for addr in env.coordinator_http_addrs().await? {
        let metrics = junction_e2e::http_get_at(&addr, "/metrics").await?;
        let committed = sample(&metrics, "junction_transitions_total");
        transitions += committed;
        conflicts += sample(&metrics, "junction_transition_conflicts_total");
        decided.push(committed);
    }
    eprintln!("transitions per coordinator {decided:?}, conflicts {conflicts}");
    assert_eq!(decided.len(), 2);
    assert!(
        decided.iter().all(|n| *n > 0),
        "both coordinators decide runs: {decided:?}"
    );
    assert!(
        conflicts * 100 <= transitions,
        "{conflicts} decisions redone of {transitions} transitions"
    );
    Ok(())
}
