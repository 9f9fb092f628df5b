//! The shipped examples that need more than agents run end to end, unchanged:
//! `build-dag` (shell steps, an agent, an approval and an HTTP webhook) and
//! `composer-graph` (an agent, a shell verifier, an approval and a
//! deployment signal). The worker lists `shell.run`; the programs the
//! commands name (`cargo`, `docker`, `go`) are small scripts on its `PATH`
//! that record their argv, so the test proves each command ran once, as
//! argv, never through a shell; the webhook is an HTTP server of the test.

use axum::routing::post;
use junction_bus::{ControlSubject, Decision};
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn example(name: &str) -> anyhow::Result<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/workflows")
        .join(name);
    Ok(std::fs::read_to_string(path)?)
}

/// A directory of scripts named like the programs the examples run; each
/// appends its name and arguments (one per line) to `calls.log`.
fn fake_tools(dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let log = dir.join("calls.log");
    for tool in ["cargo", "docker", "go"] {
        let script = dir.join(tool);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s' \"{tool}\" >> '{log}'\nfor a in \"$@\"; do printf ' [%s]' \"$a\" >> '{log}'; done\necho >> '{log}'\necho \"{tool} ok\"\n",
                log = log.display()
            ),
        )?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(log)
}

/// Starts a cluster whose worker runs `shell.run` with the fake tools first on its `PATH`.
async fn cluster(tools: &Path) -> anyhow::Result<TestEnv> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.start_worker(
        "worker",
        &[
            (
                "JUNCTION_WORKER__EXECUTORS",
                "agent.run,shell.run,http.request,signal.emit",
            ),
            ("PATH", path.as_str()),
        ],
    )
    .await?;
    env.wait_for_members(1, 1).await?;
    Ok(env)
}

async fn approve(env: &TestEnv, run_id: &str) -> anyhow::Result<()> {
    let approval = env.pending_approval(run_id).await?;
    let id = approval["id"].as_str().unwrap_or_default().to_owned();
    let decided = env
        .control(
            ControlSubject::approval(&id, Decision::Approve),
            json!({ "actor": "release-manager" }),
        )
        .await?;
    assert_eq!(decided["status"], "APPROVED", "{decided}");
    Ok(())
}

#[tokio::test]
async fn the_build_dag_example_runs_its_commands_approval_and_webhook() -> anyhow::Result<()> {
    let tools = tempfile::tempdir()?;
    let calls = fake_tools(tools.path())?;
    let posted: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = posted.clone();
    let app = axum::Router::new().route(
        "/hooks/releases",
        post(move |body: axum::body::Bytes| async move {
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            seen.lock().map(|mut all| all.push(body)).ok();
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let webhook = format!("http://{}/hooks/releases", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let env = cluster(tools.path()).await?;
    env.put_workflow(&example("build-dag.workflow.yaml")?)
        .await?;
    let run_id = env
        .start_run("build-dag", json!({ "branch": "main", "webhook": webhook }))
        .await?;
    approve(&env, &run_id).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}\n{}", env.logs());

    let steps = &run["context"]["steps"];
    assert_eq!(steps["test"]["exit_code"], 0, "{steps}");
    assert_eq!(steps["build"]["stdout"], "docker ok\n", "{steps}");
    assert_eq!(steps["announce"]["status"], 200, "{steps}");
    let log = std::fs::read_to_string(&calls)?;
    let mut lines: Vec<&str> = log.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "cargo [clippy] [--workspace] [--] [-D] [warnings]",
            "cargo [test] [--workspace]",
            "docker [build] [-t] [registry.example/app:main] [.]",
        ],
        "each command ran once, as argv"
    );
    let posted = posted.lock().map(|p| p.clone()).unwrap_or_default();
    assert_eq!(
        posted,
        [json!({ "text": "released registry.example/app:main" })]
    );
    Ok(())
}

#[tokio::test]
async fn the_composer_graph_example_verifies_approves_and_requests_a_deployment()
-> anyhow::Result<()> {
    let tools = tempfile::tempdir()?;
    let calls = fake_tools(tools.path())?;
    let env = cluster(tools.path()).await?;
    let stored = env
        .control(
            ControlSubject::WorkflowsPut,
            json!({ "source": example("composer-graph.workflow.json")?, "format": "json" }),
        )
        .await?;
    assert_eq!(stored["id"], "wf-go-build", "{stored}");
    let run_id = env.start_run("wf-go-build", json!({})).await?;
    approve(&env, &run_id).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}\n{}", env.logs());
    assert_eq!(std::fs::read_to_string(&calls)?, "go [test] [./...]\n");
    let steps = &run["context"]["steps"];
    let emitted = steps["deploy"]["id"].as_str().unwrap_or_default();
    assert!(emitted.starts_with(&format!("{run_id}:")), "{steps}");
    Ok(())
}
