//! Concurrency keys on a real cluster: ten runs of one key with a limit of
//! two. Each run's step blocks in the `gate` agent until the test opens it,
//! so the queue is observed while it is full; once open, everything
//! completes. What is asserted comes from the stored statuses and events,
//! never from timing: at most two runs of the key are active at any moment
//! (each run's `run.started` .. its end), the queued runs start in start
//! order, a queued run has no event before it starts, another key is not
//! held up, and a queued run can be cancelled without freeing a slot.

use junction_bus::{ControlSubject, RunVerb};
use junction_core::wire::agent::AgentRequest;
use junction_e2e::TestEnv;
use junction_example_agents::{Registry, Reply};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

const WAIT: Duration = Duration::from_secs(60);

const LIMITED: &str = r#"
id: limited
concurrency: { key: "{{ input.customer }}", limit: 2 }
states:
  - { name: hold, type: agent, agent: gate, end: true }
"#;

/// `gate`: answers at once when `input.hold` is false, otherwise once the
/// test adds a permit to `open`.
fn registry(open: Arc<Semaphore>) -> Registry {
    Registry::empty().with("gate", move |request: AgentRequest| {
        let open = open.clone();
        async move {
            if request.input["hold"] != json!(false)
                && let Ok(permit) = open.acquire().await
            {
                permit.forget();
            }
            Reply::output(json!({ "passed": request.run_id }))
        }
    })
}

async fn status(env: &TestEnv, run_id: &str) -> anyhow::Result<String> {
    let run = env.get_run(run_id).await?;
    Ok(run["status"].as_str().unwrap_or_default().to_owned())
}

/// `(time, type)` of a run's lifecycle events, in seq order.
async fn lifecycle(env: &TestEnv, run_id: &str) -> anyhow::Result<Vec<(String, String)>> {
    Ok(env
        .events(run_id)
        .await?
        .iter()
        .filter(|e| {
            e["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("workflow.run."))
        })
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (field("time"), field("type"))
        })
        .collect())
}

/// The most runs active at once, from each run's `[started, ended)`
/// interval: an end at the same millisecond as a start counts first (the
/// admission is caused by the end, and comes after it).
fn most_active(intervals: &[(String, String)]) -> usize {
    let mut edges: Vec<(&str, i32)> = Vec::new();
    for (started, ended) in intervals {
        edges.push((started, 1));
        edges.push((ended, -1));
    }
    edges.sort();
    let (mut active, mut most) = (0, 0);
    for (_, step) in edges {
        active += step;
        most = most.max(active);
    }
    most as usize
}

#[tokio::test]
async fn a_key_admits_its_limit_and_queues_the_rest_in_start_order() -> anyhow::Result<()> {
    let open = Arc::new(Semaphore::new(0));
    let env = TestEnv::cluster(registry(open.clone()), 1).await?;
    env.put_workflow(LIMITED).await?;
    let mut runs = Vec::new();
    for _ in 0..10 {
        runs.push(
            env.start_run("limited", json!({ "customer": "acme" }))
                .await?,
        );
    }
    env.wait_for_calls("gate", 2).await?;
    let mut statuses = Vec::new();
    for run in &runs {
        statuses.push(status(&env, run).await?);
    }
    assert_eq!(statuses[..2], ["RUNNING", "RUNNING"], "{statuses:?}");
    assert!(statuses[2..].iter().all(|s| s == "PENDING"), "{statuses:?}");
    // A queued run has no event yet; it shows the context it will start with.
    assert!(env.events(&runs[5]).await?.is_empty());
    let queued_run = env.get_run(&runs[5]).await?;
    assert_eq!(queued_run["context"]["ctx"], json!({ "customer": "acme" }));

    // Another key is not held up by the full one.
    let other = env
        .start_run("limited", json!({ "customer": "globex", "hold": false }))
        .await?;
    let ended = env.wait_for_end(&other, WAIT).await?;
    assert_eq!(ended["status"], "COMPLETED", "{ended}");

    // Cancelling a queued run ends it at once and frees nothing.
    let queued = runs.remove(4);
    let reply = env
        .control(
            ControlSubject::run(&queued, RunVerb::Cancel),
            json!({ "reason": "not needed" }),
        )
        .await?;
    assert_eq!(reply["status"], "CANCELLED");
    let events = lifecycle(&env, &queued).await?;
    let types: Vec<&str> = events.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(types, ["workflow.run.cancelled"]);
    assert_eq!(status(&env, &runs[4]).await?, "PENDING");
    assert_eq!(env.calls.count_for("gate"), 3);

    open.add_permits(100);
    let intervals = intervals_of(&env, &runs).await?;
    assert!(most_active(&intervals) <= 2, "{intervals:?}");
    // Started in start order (times are RFC 3339 in UTC, so they sort as text).
    let starts: Vec<&String> = intervals.iter().map(|(started, _)| started).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    // The cancelled run never started, and nothing called the gate for it.
    assert_eq!(env.calls.count_for("gate"), 10);
    Ok(())
}

/// Each run's `[started, ended)` once all of `runs` completed.
async fn intervals_of(env: &TestEnv, runs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut intervals = Vec::new();
    for run in runs {
        let ended = env.wait_for_end(run, WAIT).await?;
        assert_eq!(ended["status"], "COMPLETED", "{ended}");
        let events = lifecycle(env, run).await?;
        let types: Vec<&str> = events.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            types,
            ["workflow.run.started", "workflow.run.completed"],
            "{run}"
        );
        intervals.push((events[0].0.clone(), events[1].0.clone()));
    }
    Ok(intervals)
}

#[tokio::test]
async fn two_coordinators_starting_runs_at_once_never_exceed_the_limit() -> anyhow::Result<()> {
    let open = Arc::new(Semaphore::new(0));
    let mut env = TestEnv::new().await?;
    env.serve_agents(registry(open.clone())).await?;
    env.start_coordinator("coordinator-1", &[]).await?;
    env.start_coordinator("coordinator-2", &[]).await?;
    env.start_worker("worker-1", &[]).await?;
    env.start_worker("worker-2", &[]).await?;
    env.wait_for_members(2, 2).await?;
    env.put_workflow(&LIMITED.replace("limit: 2", "limit: 3"))
        .await?;
    // Starts race each other, answered by either coordinator.
    let starts = (0..12).map(|_| env.start_run("limited", json!({ "customer": "acme" })));
    let runs = futures::future::try_join_all(starts).await?;
    env.wait_for_calls("gate", 3).await?;
    let mut running = 0;
    for run in &runs {
        match status(&env, run).await?.as_str() {
            "RUNNING" => running += 1,
            "PENDING" => {}
            other => anyhow::bail!("run {run} is {other}"),
        }
    }
    assert_eq!(running, 3);
    assert_eq!(env.calls.count_for("gate"), 3);
    // Opened: runs end and are admitted while both coordinators' timer
    // loops race for the freed slots.
    open.add_permits(12);
    let intervals = intervals_of(&env, &runs).await?;
    assert!(most_active(&intervals) <= 3, "{intervals:?}");
    assert_eq!(env.calls.count_for("gate"), 12);
    Ok(())
}

#[tokio::test]
async fn a_key_that_does_not_render_refuses_the_start() -> anyhow::Result<()> {
    let env = TestEnv::cluster(registry(Arc::new(Semaphore::new(0))), 1).await?;
    env.put_workflow(LIMITED).await?;
    let code = env
        .control_error(
            ControlSubject::RunStart,
            json!({ "workflow_id": "limited", "input": { "region": "eu" } }),
        )
        .await?;
    assert_eq!(code, "INPUT_SCHEMA");
    let runs = env.control(ControlSubject::RunsList, json!({})).await?;
    assert_eq!(runs["runs"], Value::Array(Vec::new()));
    Ok(())
}

#[tokio::test]
async fn a_bad_concurrency_field_is_refused_with_its_path() -> anyhow::Result<()> {
    let env = TestEnv::cluster(registry(Arc::new(Semaphore::new(0))), 0).await?;
    let source = LIMITED.replace("limit: 2", "limit: 0");
    let reply = env
        .try_control(ControlSubject::WorkflowsPut, json!({ "source": source }))
        .await?;
    assert_eq!(reply["error"]["code"], "VALIDATION_FAILED", "{reply}");
    let diagnostics = &reply["error"]["details"]["diagnostics"];
    assert_eq!(diagnostics[0]["path"], "concurrency.limit", "{reply}");
    Ok(())
}
