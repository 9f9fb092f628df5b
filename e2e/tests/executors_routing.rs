//! Routing by executor: a task reaches only the workers that enable its
//! executor (`JUNCTION_WORKER__EXECUTORS`). A step whose executor no live
//! worker offers waits, with `run.get` saying why, until its timeout fails
//! it with `STEP_TIMEOUT`; a worker that enables the executor, started
//! later, takes the waiting task. Workers list their executors in
//! `cluster.members`, and an unknown executor name stops a worker at start
//! with exit 2.

use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

const SHELL: &str = r#"
id: shell
states:
  - name: build
    type: operation
    action: shell.run
    timeoutSeconds: 2
    input: { command: ["true"] }
    end: true
"#;

const DOUBLE: &str = r#"
id: double
states:
  - name: compute
    type: operation
    action: starlark.eval
    input: { expression: "input.n * 2", input: { n: "{{ ctx.n }}" } }
    resultPath: steps.compute
    end: true
"#;

/// Waits until the run's only step waits with a reason; returns the run.
async fn waiting_step(env: &TestEnv, run_id: &str) -> anyhow::Result<Value> {
    env.eventually("the step waits with a reason", WAIT, || async {
        let run = env.get_run(run_id).await?;
        let waiting = run["steps"][0]["waiting_reason"].is_string();
        Ok(waiting.then_some(run))
    })
    .await
}

#[tokio::test]
async fn a_step_no_worker_offers_waits_then_times_out() -> anyhow::Result<()> {
    // Default workers: agent.run, http.request, signal.emit, starlark.eval.
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let members = env.wait_for_members(1, 1).await?;
    let worker = members["members"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["role"] == "worker")
        .cloned()
        .unwrap_or_default();
    // The defaults (`worker.executors`): never `shell.run` unless listed.
    let executors = worker["executors"].as_array().cloned().unwrap_or_default();
    for default in ["agent.run", "http.request", "signal.emit", "starlark.eval"] {
        assert!(executors.contains(&json!(default)), "{worker}");
    }
    assert!(!executors.contains(&json!("shell.run")), "{worker}");
    env.put_workflow(SHELL).await?;
    let run_id = env.start_run("shell", json!({})).await?;
    let run = waiting_step(&env, &run_id).await?;
    assert_eq!(run["status"], "RUNNING", "{run}");
    let step = &run["steps"][0];
    assert_eq!(step["status"], "PENDING", "{run}");
    assert_eq!(step["waiting_reason"], "no live worker offers `shell.run`");

    let ended = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(ended["status"], "FAILED", "{ended}");
    assert_eq!(ended["error"]["code"], "STEP_TIMEOUT", "{ended}");
    let step = &ended["steps"][0];
    assert_eq!(step["status"], "TIMED_OUT", "{ended}");
    assert!(step.get("waiting_reason").is_none(), "{ended}");
    let events = env.events(&run_id).await?;
    let timed_out = events
        .iter()
        .filter(|e| e["type"] == "workflow.step.timed_out")
        .count();
    assert_eq!(timed_out, 1, "one end for the attempt: {events:?}");
    Ok(())
}

#[tokio::test]
async fn a_task_waits_for_a_worker_that_enables_its_executor() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    env.start_worker(
        "agents-only",
        &[("JUNCTION_WORKER__EXECUTORS", "agent.run")],
    )
    .await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(DOUBLE).await?;
    let run_id = env.start_run("double", json!({ "n": 21 })).await?;
    let run = waiting_step(&env, &run_id).await?;
    assert_eq!(run["status"], "RUNNING", "{run}");
    assert_eq!(
        run["steps"][0]["waiting_reason"],
        "no live worker offers `starlark.eval`"
    );

    env.start_worker(
        "starlark-only",
        &[("JUNCTION_WORKER__EXECUTORS", "starlark.eval")],
    )
    .await?;
    let ended = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(ended["status"], "COMPLETED", "{ended}");
    assert_eq!(ended["context"]["steps"]["compute"], 42);
    assert_eq!(ended["steps"][0]["worker_id"], "starlark-only", "{ended}");
    let members = env
        .control(ControlSubject::ClusterMembers, json!({}))
        .await?;
    let executors: Vec<Value> = members["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "worker")
        .map(|m| json!([m["id"], m["executors"]]))
        .collect();
    assert!(
        executors.contains(&json!(["starlark-only", ["starlark.eval"]])),
        "{executors:?}"
    );
    assert!(
        executors.contains(&json!(["agents-only", ["agent.run"]])),
        "{executors:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_executor_is_a_configuration_error() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    let worker = env
        .start_worker("bad", &[("JUNCTION_WORKER__EXECUTORS", "agent.run,bash")])
        .await?;
    env.wait_for_exit(worker, 2, "a worker with an unknown executor")
        .await?;
    let log = env.processes[worker].tail(20);
    assert!(log.contains("unknown executor \"bash\""), "{log}");
    assert!(
        log.contains("known: agent.run, http.request, shell.run"),
        "{log}"
    );
    Ok(())
}
