//! Definitions from files, kept in sync: a coordinator watching its
//! directories stores a new file, stores a changed file as a new version
//! (new runs use it), logs a broken file with its diagnostics and keeps the
//! last good version running, retries a workflow once the agent it named
//! appears, and leaves a removed file's workflow stored; two coordinators
//! watching one directory add one version per change between them; and
//! `junction sync DIR` stores a directory's good files and reports the bad
//! ones with their line and column.

use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const WATCH_EVERY_SECOND: (&str, &str) = ("JUNCTION_DEFINITIONS__WATCH_INTERVAL_SECONDS", "1");

fn inject(id: &str, value: i64) -> String {
    format!(
        "id: {id}\nstates:\n  - {{ name: a, type: inject, data: {{ v: {value} }}, end: true }}\n"
    )
}

/// Line 4 names a state that does not exist.
const BROKEN: &str = "id: watched\nstates:\n  - name: a\n    next: nowhere\n    type: inject\n";

/// The latest stored version of a workflow, or `None`.
async fn latest_version(env: &TestEnv, id: &str) -> anyhow::Result<Option<i64>> {
    let reply = env
        .try_control(ControlSubject::WorkflowsGet, json!({ "id": id }))
        .await?;
    Ok(reply["workflow"]["version"].as_i64())
}

async fn wait_for_version(env: &TestEnv, id: &str, version: i64) -> anyhow::Result<()> {
    env.eventually(&format!("{id} version {version}"), WAIT, || async {
        Ok((latest_version(env, id).await? == Some(version)).then_some(()))
    })
    .await
}

/// Waits until process `index` has logged a line holding every one of `parts`.
async fn wait_for_log(env: &TestEnv, index: usize, parts: &[&str]) -> anyhow::Result<()> {
    env.eventually(&format!("a log line with {parts:?}"), WAIT, || async {
        let output = env.processes[index].output();
        Ok(output
            .lines()
            .any(|line| parts.iter().all(|p| line.contains(p)))
            .then_some(()))
    })
    .await
}

async fn run_value(env: &TestEnv, id: &str) -> anyhow::Result<Value> {
    let run_id = env.start_run(id, json!({})).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    Ok(run["context"]["ctx"]["v"].clone())
}

#[tokio::test]
async fn a_watched_directory_stores_new_changed_and_fixed_files_and_skips_broken_ones()
-> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    let coordinator = env
        .start_coordinator("coordinator", &[WATCH_EVERY_SECOND])
        .await?;
    env.start_worker("worker-1", &[]).await?;
    env.wait_for_members(1, 1).await?;
    let file = env.workflows_dir().join("watched.workflow.yaml");

    // A new file.
    std::fs::write(&file, inject("watched", 1))?;
    wait_for_version(&env, "watched", 1).await?;
    assert_eq!(run_value(&env, "watched").await?, 1);

    // A changed file: a new version, and new runs use it.
    std::fs::write(&file, inject("watched", 2))?;
    wait_for_version(&env, "watched", 2).await?;
    assert_eq!(run_value(&env, "watched").await?, 2);

    // A broken file: logged with its diagnostic and line; version 2 stays and runs.
    std::fs::write(&file, BROKEN)?;
    wait_for_log(
        &env,
        coordinator,
        &["watched.workflow.yaml", "DANGLING_TARGET", "line=4"],
    )
    .await?;
    wait_for_log(
        &env,
        coordinator,
        &["watched.workflow.yaml", "definition file is broken"],
    )
    .await?;
    assert_eq!(latest_version(&env, "watched").await?, Some(2));
    assert_eq!(run_value(&env, "watched").await?, 2);

    // Fixed again: stored.
    std::fs::write(&file, inject("watched", 3))?;
    wait_for_version(&env, "watched", 3).await?;

    // A workflow naming an agent no file defines yet is broken until the
    // agent file appears; then it is stored without being touched.
    let late = "id: late\nstates:\n  - { name: a, type: operation, action: agent.run, input: { agent: newcomer }, end: true }\n";
    std::fs::write(env.workflows_dir().join("late.workflow.yaml"), late)?;
    wait_for_log(
        &env,
        coordinator,
        &["late.workflow.yaml", "AGENT_NOT_FOUND"],
    )
    .await?;
    assert_eq!(latest_version(&env, "late").await?, None);
    std::fs::write(
        env.agents_dir().join("newcomer.agent.yaml"),
        "name: newcomer\ndescription: arrives late\n",
    )?;
    wait_for_version(&env, "late", 1).await?;
    let agents = env.control(ControlSubject::AgentsList, json!({})).await?;
    assert!(
        agents["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["name"] == "newcomer"),
        "{agents}"
    );

    // A removed file: logged; the stored workflow stays.
    std::fs::remove_file(&file)?;
    wait_for_log(
        &env,
        coordinator,
        &["watched.workflow.yaml", "workflow file removed"],
    )
    .await?;
    assert_eq!(latest_version(&env, "watched").await?, Some(3));
    Ok(())
}

#[tokio::test]
async fn two_coordinators_watching_one_directory_store_one_version_per_change() -> anyhow::Result<()>
{
    let mut env = TestEnv::new().await?;
    let file = env.workflows_dir().join("shared.workflow.yaml");
    std::fs::write(&file, inject("shared", 1))?;
    let a = env
        .start_coordinator("coordinator-a", &[WATCH_EVERY_SECOND])
        .await?;
    let b = env
        .start_coordinator("coordinator-b", &[WATCH_EVERY_SECOND])
        .await?;
    env.wait_for_members(2, 0).await?;
    // Both stored the file at startup: one version.
    assert_eq!(latest_version(&env, "shared").await?, Some(1));
    for version in 2..=4 {
        std::fs::write(&file, inject("shared", version))?;
        // Each coordinator has handled this content once it logs its version.
        let expected = format!("version={version}");
        for coordinator in [a, b] {
            wait_for_log(&env, coordinator, &["shared.workflow.yaml", &expected]).await?;
        }
    }
    let db = env.db().await?;
    let rows = db
        .query(
            "SELECT version FROM definitions WHERE workflow_id = 'shared' ORDER BY version",
            &[],
        )
        .await?;
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, [1, 2, 3, 4], "{}", env.logs());
    Ok(())
}

#[tokio::test]
async fn junction_sync_stores_good_files_and_reports_bad_ones_at_their_line() -> anyhow::Result<()>
{
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let dir = tempfile::tempdir()?;
    let write = |name: &str, text: &str| -> anyhow::Result<()> {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        Ok(std::fs::write(path, text)?)
    };
    write(
        "agents/helper.agent.yaml",
        "name: helper\ndescription: helps\n",
    )?;
    write("agents/bad.agent.json", r#"{"name": "Not A Name"}"#)?;
    let good = "id: good\nstates:\n  - { name: a, type: operation, action: agent.run, input: { agent: helper }, next: b }\n  - { name: b, type: inject, data: { v: 1 }, end: true }\n";
    write("workflows/good.workflow.yaml", good)?;
    write(
        "workflows/broken.workflow.yaml",
        &BROKEN.replace("watched", "broken"),
    )?;
    let dirname = dir.path().display().to_string();

    let first = env.junction(&["sync", &dirname]).await?;
    assert_eq!(first.code, Some(2), "{first:?}");
    assert!(
        first
            .stdout
            .contains("agents/helper.agent.yaml: agent helper stored"),
        "{first:?}"
    );
    assert!(
        first
            .stdout
            .contains("workflows/good.workflow.yaml: workflow good version 1 stored"),
        "{first:?}"
    );
    assert!(
        first.stdout.contains("agents/bad.agent.json: agent failed"),
        "{first:?}"
    );
    assert!(first.stdout.contains("error[DANGLING_TARGET]"), "{first:?}");
    assert!(
        first.stdout.contains("workflows/broken.workflow.yaml:4:11"),
        "{first:?}"
    );
    assert!(first.stdout.contains("2 stored, 2 failed"), "{first:?}");

    // Again, as JSON: what was stored is unchanged, the bad files still fail.
    let again = env.junction(&["sync", &dirname, "-o", "json"]).await?;
    assert_eq!(again.code, Some(2), "{again:?}");
    let reports = again.json()?;
    let status = |file: &str| -> Value {
        reports
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["file"].as_str().is_some_and(|f| f.ends_with(file)))
            .map_or(Value::Null, |r| r["status"].clone())
    };
    assert_eq!(status("helper.agent.yaml"), "unchanged", "{reports}");
    assert_eq!(status("good.workflow.yaml"), "unchanged", "{reports}");
    assert_eq!(status("bad.agent.json"), "failed", "{reports}");
    assert_eq!(status("broken.workflow.yaml"), "failed", "{reports}");
    let broken = reports
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["status"] == "failed" && r["kind"] == "workflow")
        .cloned()
        .unwrap_or_default();
    assert_eq!(broken["code"], "VALIDATION_FAILED", "{broken}");
    assert_eq!(broken["diagnostics"][0]["line"], 4, "{broken}");

    // A dry run of a changed file says so and stores nothing.
    write(
        "workflows/good.workflow.yaml",
        &good.replace("v: 1", "v: 2"),
    )?;
    std::fs::remove_file(dir.path().join("workflows/broken.workflow.yaml"))?;
    std::fs::remove_file(dir.path().join("agents/bad.agent.json"))?;
    let dry = env
        .junction(&["sync", &dirname, "--dry-run", "-o", "json"])
        .await?;
    assert_eq!(dry.code, Some(0), "{dry:?}");
    assert_eq!(dry.json()?[1]["status"], "would_store", "{dry:?}");
    assert_eq!(latest_version(&env, "good").await?, Some(1));

    // And for real: version 2.
    let stored = env.junction(&["sync", &dirname]).await?;
    assert_eq!(stored.code, Some(0), "{stored:?}");
    assert_eq!(latest_version(&env, "good").await?, Some(2));
    Ok(())
}

#[tokio::test]
async fn duplicate_ids_bad_agents_and_a_missing_directory_are_refused() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    std::fs::write(
        env.workflows_dir().join("a.workflow.yaml"),
        inject("twice", 1),
    )?;
    std::fs::write(
        env.workflows_dir().join("b.workflow.yaml"),
        inject("twice", 2),
    )?;
    let coordinator = env.start_coordinator("coordinator", &[]).await?;
    env.wait_for_members(1, 0).await?;
    // The first file by name wins; the other is logged and never stored.
    wait_for_log(&env, coordinator, &["b.workflow.yaml", "same workflow id"]).await?;
    let stored = env
        .control(ControlSubject::WorkflowsGet, json!({ "id": "twice" }))
        .await?;
    assert_eq!(stored["workflow"]["version"], 1, "{stored}");
    assert_eq!(stored["workflow"]["source"], inject("twice", 1), "{stored}");

    // `junction sync` refuses the second file the same way.
    let dir = env.workflows_dir().display().to_string();
    let synced = env.junction(&["sync", &dir, "-o", "json"]).await?;
    assert_eq!(synced.code, Some(2), "{synced:?}");
    let reports = synced.json()?;
    assert_eq!(reports[0]["status"], "unchanged", "{reports}");
    assert_eq!(reports[1]["code"], "DUPLICATE_WORKFLOW_ID", "{reports}");

    // Agents given to `workflows.validate` are checked like `agents.put`'s.
    for agents in [
        json!([{ "name": "Bad Name" }]),
        json!([{ "name": "ok", "input_schema": { "type": 5 } }]),
        json!({ "name": "ok" }),
    ] {
        let code = env
            .control_error(
                ControlSubject::WorkflowsValidate,
                json!({ "source": inject("v", 1), "agents": agents }),
            )
            .await?;
        assert_eq!(code, "INVALID_REQUEST", "{agents}");
    }

    // A definitions directory that does not exist is a startup error.
    let missing = env.dir.path().join("missing").display().to_string();
    let broken = env
        .start_coordinator(
            "misconfigured",
            &[("JUNCTION_DEFINITIONS__DIR", missing.as_str())],
        )
        .await?;
    env.wait_for_exit(broken, 2, "a coordinator with a missing definitions.dir")
        .await?;
    Ok(())
}
