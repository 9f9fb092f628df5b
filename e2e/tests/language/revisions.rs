//! Revisions: a running run keeps the revision it started on; new runs and
//! triggers use the latest, and the old one is archived.

use crate::{WAIT, step};
use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::json;

fn pinned_yaml(task: &str) -> String {
    format!(
        "
id: pinned
trigger: {{ signal: pin.go }}
states:
  - name: wait
    type: operation
    action: agent.run
    input: {{ agent: sleep, input: {{ ms: 1500 }} }}
    resultPath: steps.wait
    next: report
  - name: report
    type: operation
    action: agent.run
    input: {{ agent: echo, task: \"{task}\" }}
    resultPath: steps.report
    end: true
"
    )
}

/// A run keeps the revision it started on when a new one is stored; new runs
/// (by `run.start` and by trigger) use the new revision, and the old one is
/// archived: still readable, no longer triggered.
#[tokio::test]
async fn versions_pin_running_runs() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let v1 = pinned_yaml("release v1");
    let v2 = pinned_yaml("release v2");
    assert_eq!(env.put_workflow(&v1).await?, 1);
    let first = env.start_run("pinned", json!({})).await?;

    // Wait until the first run is inside its sleep step (the agent is
    // called; a 1.5 s step is never claimed on its own, so its row stays
    // `PENDING` until its result).
    env.eventually("the sleep step started", WAIT, || async {
        let calls = env.calls.records();
        Ok(calls
            .iter()
            .any(|r| r.agent == "sleep" && r.run_id == first)
            .then_some(()))
    })
    .await?;
    let put = env
        .control(ControlSubject::WorkflowsPut, json!({ "source": v2 }))
        .await?;
    assert_eq!(
        (put["version"].as_i64(), put["created"].as_bool()),
        (Some(2), Some(true)),
        "{put}"
    );
    let during = env.get_run(&first).await?;
    assert_eq!(
        during["status"], "RUNNING",
        "v2 was stored while the run was in flight: {during}"
    );
    let second = env.start_run("pinned", json!({})).await?;

    let first = env.wait_for_end(&first, WAIT).await?;
    assert_eq!(first["status"], "COMPLETED", "{first}");
    assert_eq!(first["version"], 1, "{first}");
    assert_eq!(
        step(&first, "report")["output"]["task"],
        "release v1",
        "{first}"
    );
    let second = env.wait_for_end(&second, WAIT).await?;
    assert_eq!(second["status"], "COMPLETED", "{second}");
    assert_eq!(second["version"], 2, "{second}");
    assert_eq!(
        step(&second, "report")["output"]["task"],
        "release v2",
        "{second}"
    );
    v2_is_latest_and_v1_readable(&env, &v1, &v2).await?;
    v1_is_archived_and_no_longer_triggered(&env).await
}

/// The latest revision is v2; v1 is still readable by number.
async fn v2_is_latest_and_v1_readable(env: &TestEnv, v1: &str, v2: &str) -> anyhow::Result<()> {
    let listed = env
        .control(ControlSubject::WorkflowsList, json!({}))
        .await?;
    assert_eq!(listed["workflows"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["workflows"][0]["version"], 2, "{listed}");
    let latest = env
        .control(ControlSubject::WorkflowsGet, json!({ "id": "pinned" }))
        .await?;
    assert_eq!(
        (
            &latest["workflow"]["version"],
            &latest["workflow"]["source"]
        ),
        (&json!(2), &json!(v2)),
        "{latest}"
    );
    let old = env
        .control(
            ControlSubject::WorkflowsGet,
            json!({ "id": "pinned", "version": 1 }),
        )
        .await?;
    assert_eq!(old["workflow"]["source"], json!(v1), "{old}");
    Ok(())
}

/// v1 is archived: the store says so, and its trigger no longer starts runs.
async fn v1_is_archived_and_no_longer_triggered(env: &TestEnv) -> anyhow::Result<()> {
    let db = env.db().await?;
    let rows = db
        .query(
            "SELECT version, archived FROM definitions WHERE workflow_id = 'pinned' ORDER BY version",
            &[],
        )
        .await?;
    let archived: Vec<(i32, bool)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(archived, [(1, true), (2, false)]);
    let v1 = env
        .control(
            ControlSubject::WorkflowsGet,
            json!({ "id": "pinned", "version": 1 }),
        )
        .await?;
    assert_eq!(v1["workflow"]["archived"], true, "{v1}");
    let latest = env
        .control(ControlSubject::WorkflowsGet, json!({ "id": "pinned" }))
        .await?;
    assert_eq!(latest["workflow"]["archived"], false, "{latest}");
    env.publish_signal("pin.go", "pin-1", json!({})).await?;
    let by_signal = env.wait_for_signal_run("pin-1", WAIT).await?;
    let by_signal = env.wait_for_end(&by_signal, WAIT).await?;
    assert_eq!(by_signal["version"], 2, "{by_signal}");
    // Handled: every run the signal starts is committed and listed.
    env.wait_for_signals_handled(1).await?;
    let caused = env.runs_caused_by("pin-1").await?;
    assert_eq!(
        caused.len(),
        1,
        "one run, on the latest revision: {caused:?}"
    );
    Ok(())
}
