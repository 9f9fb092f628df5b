//! Many runs on two workers: every step executes exactly once and both
//! workers take work.

use anyhow::Context;
use junction_e2e::{TestEnv, assert_gapless, chain_yaml};
use junction_example_agents::Registry;
use serde_json::json;
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

    // 50 runs × 3 steps.
    env.assert_each_step_ran_once(150)?;

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
        assert_gapless(&events).with_context(|| format!("run {run_id}"))?;
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
    env.assert_each_step_ran_once(120)?;
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

/// How often each coordinator re-reads the member list it routes runs over:
/// `REFRESH` in `coordinator/src/routing.rs`, a constant private to the
/// coordinator binary (kept equal by
/// [`the_routing_refresh_is_the_coordinators`]).
const ROUTING_REFRESH: Duration = Duration::from_secs(2);

#[test]
fn the_routing_refresh_is_the_coordinators() {
    let routing = include_str!("../../coordinator/src/routing.rs");
    assert!(
        routing.contains("pub const REFRESH: Duration = Duration::from_secs(2);"),
        "ROUTING_REFRESH here must equal REFRESH in coordinator/src/routing.rs"
    );
}

/// Two coordinators that route runs over each other, and three workers.
/// Each coordinator computes a run's owner over the coordinator rows of the
/// member list, which it re-reads every [`ROUTING_REFRESH`]: once both rows
/// are listed, both route over both within one refresh.
async fn two_routing_coordinators_and_three_workers() -> anyhow::Result<TestEnv> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator-a", &[]).await?;
    env.start_coordinator("coordinator-b", &[]).await?;
    env.wait_for_members(2, 0).await?;
    let both_listed = tokio::time::Instant::now();
    for worker in ["worker-1", "worker-2", "worker-3"] {
        env.start_worker(worker, &[]).await?;
    }
    env.wait_for_members(2, 3).await?;
    tokio::time::sleep_until(both_listed + ROUTING_REFRESH).await;
    Ok(env)
}

/// Starts 500 runs, a third each of a chain, a parallel state and a
/// foreach; returns each run's workflow and id.
async fn start_mixed_runs(env: &TestEnv) -> anyhow::Result<Vec<(&'static str, String)>> {
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
    Ok(runs)
}

/// Waits for every run: each completes with gapless events and exactly one
/// terminal event. Returns how many agent calls the runs make.
async fn every_run_completes_once(env: &TestEnv, runs: &[(&str, String)]) -> anyhow::Result<usize> {
    let mut expected_calls = 0;
    for (workflow, run_id) in runs {
        let run = env.wait_for_end(run_id, Duration::from_secs(300)).await?;
        assert_eq!(run["status"], "COMPLETED", "{workflow}: {run}");
        let events = env.events(run_id).await?;
        assert_gapless(&events).with_context(|| format!("run {run_id}"))?;
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
    Ok(expected_calls)
}

/// Both coordinators decided runs, and decisions redone after a write
/// conflict stay under 1% of transitions.
async fn both_coordinators_decide_without_fighting(env: &TestEnv) -> anyhow::Result<()> {
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

/// The scale-out check: 2 coordinators and 3 workers run 500 mixed runs.
/// Every run completes with gapless events and one terminal event, every
/// step executes once, and the coordinators do not fight over runs: each
/// run's inputs reach its owner, so decisions redone after a write conflict
/// stay under 1% of transitions.
#[tokio::test]
async fn five_hundred_mixed_runs_on_two_coordinators_and_three_workers() -> anyhow::Result<()> {
    let env = two_routing_coordinators_and_three_workers().await?;
    let runs = start_mixed_runs(&env).await?;
    let expected_calls = every_run_completes_once(&env, &runs).await?;
    // Every step ran, once.
    env.assert_each_step_ran_once(expected_calls)?;
    both_coordinators_decide_without_fighting(&env).await
}
