//! The workflow's own schemas: `outputSchema` is checked against the final
//! context (a warning), `inputSchema` against `run.start` input (a refusal).

use crate::{WAIT, code_of, of_type, run_to_end, runs_of};
use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};

const SUMMARIZED: &str = "
id: summarized
outputSchema:
  type: object
  properties:
    summary: { type: string }
  required: [summary]
states:
  - name: work
    type: operation
    action: agent.run
    input: { agent: echo, task: work }
    resultPath: steps.work
    end: true
";

/// The workflow `outputSchema` is checked against the final `ctx`: a
/// mismatch is a `workflow.step.warning` (`OUTPUT_SCHEMA`) just before
/// `workflow.run.completed`, and the run still completes.
#[tokio::test]
async fn output_schema_mismatch_records_a_warning_and_completes() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(SUMMARIZED).await?;

    let run_id = env.start_run("summarized", json!({ "other": 1 })).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert!(run["error"].is_null(), "{run}");
    let events = env.events(&run_id).await?;
    let warnings = of_type(&events, "workflow.step.warning");
    assert_eq!(warnings.len(), 1, "{events:?}");
    let warning = warnings[0];
    assert_eq!(warning["data"]["code"], "OUTPUT_SCHEMA", "{warning}");
    let message = warning["data"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("summary"),
        "names the missing key: {message}"
    );
    assert!(
        warning.get("step_id").is_none_or(Value::is_null),
        "a run-level warning: {warning}"
    );
    let last = events.last().expect("events");
    assert_eq!(last["type"], "workflow.run.completed");
    assert_eq!(
        warning["seq"].as_i64().map(|s| s + 1),
        last["seq"].as_i64(),
        "just before run.completed"
    );
    assert_eq!(last["data"]["output"], json!({ "other": 1 }));

    // A ctx that has the key: no warning.
    let run_id = env
        .start_run("summarized", json!({ "summary": "all good" }))
        .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let events = env.events(&run_id).await?;
    assert!(
        of_type(&events, "workflow.step.warning").is_empty(),
        "{events:?}"
    );
    Ok(())
}

const TYPED: &str = "
id: typed
inputSchema:
  type: object
  properties:
    order_id: { type: string }
    amount: { type: number }
  required: [order_id, amount]
states:
  - name: work
    type: operation
    action: agent.run
    input: { agent: echo }
    resultPath: steps.work
    end: true
";

/// `run.start` with input that fails the `inputSchema` is `INPUT_SCHEMA`
/// with a message listing every violation, and creates no run.
#[tokio::test]
async fn input_schema_refusal_creates_no_run() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(TYPED).await?;
    let reply = env
        .try_control(
            ControlSubject::RunStart,
            json!({ "workflow_id": "typed", "input": { "amount": "ten" } }),
        )
        .await?;
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(code_of(&reply), "INPUT_SCHEMA", "{reply}");
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    for part in [
        "input does not match inputSchema",
        "\"order_id\" is a required property",
        "/amount: ",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert!(runs_of(&env, "typed").await?.is_empty());
    assert_eq!(
        env.control(ControlSubject::RunsList, json!({})).await?["runs"],
        json!([])
    );
    // No run, so no task: the queue is idle and nothing called the agent.
    env.wait_for_tasks_idle().await?;
    assert_eq!(env.calls.count_for("echo"), 0);

    // The same workflow with a valid input runs, and its call is the only
    // one: the refused start left nothing behind that calls later.
    let run = run_to_end(&env, "typed", json!({ "order_id": "A-1", "amount": 10 })).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(runs_of(&env, "typed").await?.len(), 1);
    env.wait_for_tasks_idle().await?;
    assert_eq!(env.calls.count_for("echo"), 1);
    Ok(())
}
