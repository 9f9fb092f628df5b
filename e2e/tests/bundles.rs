//! Bundles through the `junction` binary: a directory packed with `bundle
//! create` installs into a fresh cluster (agents, then workflows) and a
//! workflow from it runs; `bundle inspect` lists the verified manifest; a
//! directory with a broken workflow is not packed; a bundle changed after
//! it was made is refused before anything is sent; a bundle whose workflow
//! does not validate against the cluster is refused whole, nothing stored.

use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// Runs the built-in `echo`, then checks its output against the bundle's
/// own `auditor` agent (registered by the bundle, never called here).
const SHIPPED: &str = r#"
id: shipped
version: "1.2"
states:
  - { name: say, type: operation, action: agent.run, input: { agent: echo, task: "hi" }, resultPath: steps.say, next: done }
  - { name: done, type: inject, data: { from_bundle: true }, end: true }
"#;

const AUDITED: &str = r#"
id: audited
states:
  - { name: audit, type: operation, action: agent.run, input: { agent: auditor, task: "check" }, end: true }
"#;

const AUDITOR: &str =
    "name: auditor\ndescription: reviews things\ninput_schema: { type: object }\n";

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    Ok(std::fs::write(path, text)?)
}

/// A directory with the auditor agent and two workflows, packed into
/// `bundle.tar.gz` beside it; returns the bundle's path.
async fn make_bundle(env: &TestEnv, root: &Path, extra: &[(&str, &str)]) -> anyhow::Result<String> {
    let dir = root.join("src");
    write(&dir, "agents/auditor.agent.yaml", AUDITOR)?;
    write(&dir, "workflows/shipped.workflow.yaml", SHIPPED)?;
    write(&dir, "workflows/audited.workflow.yaml", AUDITED)?;
    for (name, text) in extra {
        write(&dir, name, text)?;
    }
    let bundle = root.join("bundle.tar.gz").display().to_string();
    let made = env
        .junction(&[
            "bundle",
            "create",
            &dir.display().to_string(),
            "--out",
            &bundle,
        ])
        .await?;
    anyhow::ensure!(made.code == Some(0), "bundle create: {made:?}");
    Ok(bundle)
}

async fn stored_ids(env: &TestEnv) -> anyhow::Result<(Vec<Value>, Vec<Value>)> {
    let workflows = env
        .control(ControlSubject::WorkflowsList, json!({}))
        .await?;
    let agents = env.control(ControlSubject::AgentsList, json!({})).await?;
    let ids = |list: &Value, key: &str| -> Vec<Value> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|w| w[key].clone())
            .collect()
    };
    Ok((
        ids(&workflows["workflows"], "id"),
        ids(&agents["agents"], "name"),
    ))
}

#[tokio::test]
async fn a_bundle_installs_into_a_fresh_cluster_and_its_workflow_runs() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let root = tempfile::tempdir()?;
    let bundle = make_bundle(&env, root.path(), &[]).await?;

    let inspected = env
        .junction(&["bundle", "inspect", &bundle, "-o", "json"])
        .await?;
    assert_eq!(inspected.code, Some(0), "{inspected:?}");
    let manifest = inspected.json()?;
    assert_eq!(manifest["format"], "junction-bundle");
    assert_eq!(manifest["format_version"], 1);
    let files = manifest["files"].as_array().cloned().unwrap_or_default();
    assert_eq!(files.len(), 3, "{manifest}");
    let shipped = files
        .iter()
        .find(|f| f["id"] == "shipped")
        .cloned()
        .unwrap_or_default();
    assert_eq!(shipped["kind"], "workflow");
    assert_eq!(shipped["version"], "1.2");
    assert_eq!(shipped["path"], "workflows/shipped.workflow.yaml");
    assert_eq!(shipped["sha256"].as_str().map(str::len), Some(64));

    let installed = env.junction(&["bundle", "install", &bundle]).await?;
    assert_eq!(installed.code, Some(0), "{installed:?}\n{}", env.logs());
    assert!(
        installed
            .stdout
            .contains("agents/auditor.agent.yaml: agent auditor stored"),
        "{installed:?}"
    );
    assert!(
        installed
            .stdout
            .contains("workflows/shipped.workflow.yaml: workflow shipped version 1 stored"),
        "{installed:?}"
    );
    let (workflows, agents) = stored_ids(&env).await?;
    assert!(
        workflows.contains(&json!("audited")) && workflows.contains(&json!("shipped")),
        "{workflows:?}"
    );
    assert!(agents.contains(&json!("auditor")), "{agents:?}");

    let run_id = env.start_run("shipped", json!({})).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["context"]["ctx"]["from_bundle"], true, "{run}");

    // Installing again stores nothing new.
    let again = env
        .junction(&["bundle", "install", &bundle, "-o", "json"])
        .await?;
    assert_eq!(again.code, Some(0), "{again:?}");
    let report = again.json()?;
    assert!(
        report["files"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|f| f["status"] == "unchanged"),
        "{report}"
    );
    Ok(())
}

#[tokio::test]
async fn a_directory_with_a_broken_workflow_is_not_bundled() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let root = tempfile::tempdir()?;
    let dir = root.path().join("src");
    write(&dir, "workflows/fine.workflow.yaml", SHIPPED)?;
    write(
        &dir,
        "workflows/broken.workflow.yaml",
        "id: broken\nstates:\n  - { name: a, type: inject, next: nowhere }\n",
    )?;
    let out = root.path().join("never.tar.gz");
    let made = env
        .junction(&[
            "bundle",
            "create",
            &dir.display().to_string(),
            "--out",
            &out.display().to_string(),
        ])
        .await?;
    assert_eq!(made.code, Some(2), "{made:?}");
    assert!(
        made.stderr.contains(
            "refusing to bundle: 1 file(s) do not validate: workflows/broken.workflow.yaml"
        ),
        "{made:?}"
    );
    assert!(made.stderr.contains("error[DANGLING_TARGET]"), "{made:?}");
    assert!(!out.exists());
    Ok(())
}

#[tokio::test]
async fn a_tampered_bundle_is_refused_and_nothing_is_stored() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 0).await?;
    let root = tempfile::tempdir()?;
    let bundle = make_bundle(&env, root.path(), &[]).await?;
    // Unpack, change one workflow, pack again with the original manifest.
    let unpacked = root.path().join("unpacked");
    std::fs::create_dir_all(&unpacked)?;
    let tar = |args: &[&str]| -> anyhow::Result<()> {
        let status = std::process::Command::new("tar").args(args).status()?;
        anyhow::ensure!(status.success(), "tar {args:?}: {status}");
        Ok(())
    };
    let unpacked_dir = unpacked.display().to_string();
    tar(&["-xzf", &bundle, "-C", &unpacked_dir])?;
    let target = unpacked.join("workflows/shipped.workflow.yaml");
    std::fs::write(
        &target,
        SHIPPED.replace("from_bundle: true", "from_bundle: false"),
    )?;
    let tampered = root.path().join("tampered.tar.gz").display().to_string();
    tar(&[
        "-czf",
        &tampered,
        "-C",
        &unpacked_dir,
        "manifest.json",
        "agents",
        "workflows",
    ])?;

    let refused = env.junction(&["bundle", "install", &tampered]).await?;
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("workflows/shipped.workflow.yaml: checksum mismatch"),
        "{refused:?}"
    );
    let inspected = env.junction(&["bundle", "inspect", &tampered]).await?;
    assert_eq!(inspected.code, Some(2), "{inspected:?}");

    // An extra file the manifest does not list is refused too.
    write(&unpacked, "workflows/extra.workflow.yaml", SHIPPED)?;
    std::fs::write(&target, SHIPPED)?;
    let extra = root.path().join("extra.tar.gz").display().to_string();
    tar(&[
        "-czf",
        &extra,
        "-C",
        &unpacked_dir,
        "manifest.json",
        "agents",
        "workflows",
    ])?;
    let refused = env.junction(&["bundle", "install", &extra]).await?;
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("is in the archive but not in the manifest"),
        "{refused:?}"
    );

    let (workflows, agents) = stored_ids(&env).await?;
    assert!(workflows.is_empty(), "{workflows:?}");
    assert!(!agents.contains(&json!("auditor")), "{agents:?}");
    Ok(())
}

#[tokio::test]
async fn a_bundle_whose_workflow_does_not_validate_is_refused_whole() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 0).await?;
    let root = tempfile::tempdir()?;
    // Compiles offline, but names an agent neither the cluster nor the bundle has.
    let ghostly = "id: ghostly\nstates:\n  - name: a\n    type: operation\n    action: agent.run\n    input: { agent: ghost }\n    end: true\n";
    let bundle = make_bundle(
        &env,
        root.path(),
        &[("workflows/ghostly.workflow.yaml", ghostly)],
    )
    .await?;

    let refused = env
        .junction(&["bundle", "install", &bundle, "-o", "json"])
        .await?;
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("bundle refused: 1 file(s) do not validate; nothing was stored"),
        "{refused:?}"
    );
    let report = refused.json()?;
    assert_eq!(report["installed"], false, "{report}");
    let ghost = report["files"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["id"] == "ghostly" || f["file"] == "workflows/ghostly.workflow.yaml")
        .cloned()
        .unwrap_or_default();
    assert_eq!(ghost["status"], "failed", "{report}");
    assert_eq!(
        ghost["diagnostics"][0]["code"], "AGENT_NOT_FOUND",
        "{report}"
    );
    assert_eq!(ghost["diagnostics"][0]["line"], 6, "{report}");
    // `audited` validated only because the bundle's own agent counts.
    let audited = report["files"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["file"] == "workflows/audited.workflow.yaml")
        .cloned()
        .unwrap_or_default();
    assert_eq!(audited["status"], "valid", "{report}");

    let (workflows, agents) = stored_ids(&env).await?;
    assert!(workflows.is_empty(), "{workflows:?}");
    assert!(!agents.contains(&json!("auditor")), "{agents:?}");
    Ok(())
}
