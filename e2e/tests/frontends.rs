//! Every front end of the language runs end to end: the shipped examples in
//! the states form, the DAG form, a composer graph and a Starlark plan are
//! stored with `workflows.put` and run to COMPLETED on real services.

use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn example(name: &str) -> anyhow::Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/workflows")
        .join(name);
    Ok(std::fs::read_to_string(path)?)
}

/// Stores an example file in its format and runs it with `input`.
async fn run_example(
    env: &TestEnv,
    file: &str,
    format: &str,
    input: Value,
) -> anyhow::Result<Value> {
    let reply = env
        .control(
            ControlSubject::WorkflowsPut,
            json!({ "source": example(file)?, "format": format }),
        )
        .await?;
    let id = reply["id"].as_str().unwrap_or_default().to_owned();
    let run_id = env.start_run(&id, input).await?;
    env.wait_for_end(&run_id, WAIT).await
}

#[tokio::test]
async fn every_front_end_runs_an_example_end_to_end() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;

    // States form.
    let run = run_example(
        &env,
        "order-pipeline.workflow.yaml",
        "yaml",
        json!({ "order_id": "A-1", "customer": "ada", "amount": 20 }),
    )
    .await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");

    // DAG form: `shout` runs because `loud` is true, and `publish` sees both branches.
    let run = run_example(
        &env,
        "release-notes.workflow.yaml",
        "yaml",
        json!({ "version": "1.2", "loud": true }),
    )
    .await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let steps = &run["context"]["steps"];
    assert_eq!(steps["title"]["text"], "JUNCTION 1.2");
    assert_eq!(steps["shout"]["text"], "JUNCTION 1.2!");
    assert_eq!(steps["publish"]["title"], "JUNCTION 1.2", "{steps}");
    assert_eq!(run["context"]["variables"]["product"], "Junction");

    // DAG form again: a false condition skips `shout`, and its dependents still run.
    let run = run_example(
        &env,
        "release-notes.workflow.yaml",
        "yaml",
        json!({ "version": "1.3", "loud": false }),
    )
    .await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert!(run["context"]["steps"].get("shout").is_none(), "{run}");
    assert_eq!(run["context"]["steps"]["publish"]["title"], "JUNCTION 1.3");

    // Composer graph: two agents in parallel, joined by a third.
    let run = run_example(&env, "agent-graph.workflow.json", "json", json!({})).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["context"]["steps"]["join"]["task"], "LEFT+RIGHT");

    // Starlark plan.
    let run = run_example(
        &env,
        "fanout-plan.workflow.star",
        "star",
        json!({ "name": "ada" }),
    )
    .await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["context"]["steps"]["shout"]["text"], "HELLO ADA");
    assert_eq!(run["context"]["steps"]["relay"]["task"], "greet ada");
    Ok(())
}
