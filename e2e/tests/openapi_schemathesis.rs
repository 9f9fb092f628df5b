//! The OpenAPI document is true to the server: Schemathesis runs every
//! check (`--checks all`, 20 examples an operation) against a real
//! coordinator's `/v1/openapi.json` and finds nothing. The venv is made by
//! `deploy/dev/schemathesis.sh` (PyPI `schemathesis`, pinned) on first use.

use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use std::path::PathBuf;
use std::time::Duration;

#[tokio::test]
async fn schemathesis_finds_no_failure_against_a_running_coordinator() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    // Something to find: a stored workflow and a run of it.
    env.put_workflow(junction_e2e::SHIP).await?;
    env.start_run("ship", serde_json::json!({ "v": "1" }))
        .await?;
    let addr = env.coordinator_http().await?;
    // A fixed seed keeps CI repeatable; JUNCTION_TEST_SCHEMATHESIS_SEED tries others.
    let seed = std::env::var("JUNCTION_TEST_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/dev/schemathesis.sh");
    let run = tokio::process::Command::new("bash")
        .arg(&script)
        .args(["run", &format!("http://{addr}"), "--seed", &seed])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(240), run).await??;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{text}\n{}",
        env.logs()
    );
    assert!(
        text.contains("Tested: 23"),
        "every operation was tested:\n{text}"
    );
    Ok(())
}
