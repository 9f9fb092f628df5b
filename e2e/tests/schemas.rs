//! Runtime schema checks and registry-checked agents (PROTOCOL §5;
//! the acceptance cases "Runtime Validation Tests", `TestE2E_RuntimeSchemaMismatch`
//! and `TestE2E_AgentNotFoundAtRuntime`) on real processes.
//!
//! The agent is `echo` without a task, which outputs exactly its input, and
//! its input is the run's `ctx` (no `input.input`). So the run input decides
//! both what the input schema sees and what the output schema sees, and
//! nothing in a definition lets a static check predict the outcome.

use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// One `echo` step whose input is the run's ctx. It may be retried, so a
/// failure on the first attempt shows that the error was not retryable.
const ONE_STEP: &str = "
id: checked
states:
  - name: check
    type: operation
    action: agent.run
    input: { agent: echo }
    retry: { maxAttempts: 3, backoffSeconds: 0 }
    resultPath: steps.check
    end: true
";

/// `echo` then `upper`, which uses the first step's output.
const TWO_STEPS: &str = r#"
id: pipeline
states:
  - name: check
    type: operation
    action: agent.run
    input: { agent: echo }
    resultPath: steps.check
    next: report
  - name: report
    type: operation
    action: agent.run
    input: { agent: upper, task: "checked {{ steps.check.name }}" }
    resultPath: steps.report
    end: true
"#;

fn needs_name() -> Value {
    json!({
        "type": "object",
        "properties": { "name": { "type": "string" }, "count": { "type": "integer" } },
        "required": ["name"]
    })
}

fn reports_status() -> Value {
    json!({
        "type": "object",
        "properties": { "status": { "type": "string", "enum": ["healthy", "degraded", "critical"] } },
        "required": ["status"]
    })
}

/// A cluster of one coordinator and one worker serving the built-in agents,
/// with `echo` registered with these schemas and [`ONE_STEP`] stored.
async fn cluster_with_echo(input: Option<Value>, output: Option<Value>) -> anyhow::Result<TestEnv> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_agent("echo", input, output).await?;
    env.put_workflow(ONE_STEP).await?;
    Ok(env)
}

async fn run_to_end(
    env: &TestEnv,
    workflow: &str,
    input: Value,
) -> anyhow::Result<(Value, Vec<Value>)> {
    let run_id = env.start_run(workflow, input).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    let events = env.events(&run_id).await?;
    Ok((run, events))
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn step<'a>(run: &'a Value, state: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["state"] == state))
        .unwrap_or(&Value::Null)
}

/// Acceptance case `TestRuntime_InputValidation_Pass`: input matches the schema → the step executes.
#[tokio::test]
async fn input_matching_the_input_schema_executes_the_step() -> anyhow::Result<()> {
    let env = cluster_with_echo(Some(needs_name()), None).await?;
    let (run, events) = run_to_end(&env, "checked", json!({ "name": "web", "count": 3 })).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(step(&run, "check")["status"], "SUCCEEDED");
    assert_eq!(
        run["context"]["steps"]["check"],
        json!({ "name": "web", "count": 3 })
    );
    assert_eq!(env.calls.count_for("echo"), 1);
    assert!(
        of_type(&events, "workflow.step.warning").is_empty(),
        "{events:?}"
    );
    Ok(())
}

/// Acceptance case `TestRuntime_InputValidation_Fail`: input missing a required field →
/// step FAILED with `SCHEMA_VALIDATION_INPUT` and a clear message, agent not called.
#[tokio::test]
async fn input_missing_a_required_field_fails_the_step_and_never_calls_the_agent()
-> anyhow::Result<()> {
    let env = cluster_with_echo(Some(needs_name()), None).await?;
    let (run, events) = run_to_end(&env, "checked", json!({ "count": "three" })).await?;

    assert_eq!(run["status"], "FAILED", "{run}");
    let check = step(&run, "check");
    assert_eq!(check["status"], "FAILED", "{run}");
    assert_eq!(check["attempt"], 1, "not retried: {run}");
    assert_eq!(check["error"]["code"], "SCHEMA_VALIDATION_INPUT", "{run}");
    assert_eq!(check["error"]["retryable"], false, "{run}");
    let message = check["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("agent \"echo\""),
        "names the agent: {message}"
    );
    assert!(
        message.contains("(root): \"name\" is a required property"),
        "names the missing field: {message}"
    );
    assert!(
        message.contains("/count: "),
        "each violation with its path: {message}"
    );
    assert_eq!(run["error"]["code"], "SCHEMA_VALIDATION_INPUT", "{run}");

    let failed = of_type(&events, "workflow.step.failed");
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(
        failed[0]["data"]["error"]["code"],
        "SCHEMA_VALIDATION_INPUT"
    );
    assert_eq!(failed[0]["worker_id"], "worker-1");
    // A call is logged before it is answered, and the worker records the
    // step's result only after its call returns; once the worker has also
    // acknowledged the task, no call can still be coming.
    env.wait_for_tasks_idle().await?;
    assert_eq!(env.calls.count_for("echo"), 0, "the agent was not called");
    Ok(())
}

/// Acceptance case `TestRuntime_InputValidation_NoSchema`: no input_schema → executes.
#[tokio::test]
async fn an_agent_without_input_schema_executes_whatever_the_input() -> anyhow::Result<()> {
    let env = cluster_with_echo(None, None).await?;
    let (run, events) = run_to_end(&env, "checked", json!({ "anything": [1, "two"] })).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        run["context"]["steps"]["check"],
        json!({ "anything": [1, "two"] })
    );
    assert_eq!(env.calls.count_for("echo"), 1);
    assert!(
        of_type(&events, "workflow.step.warning").is_empty(),
        "{events:?}"
    );
    Ok(())
}

/// Acceptance case `TestRuntime_OutputValidation_Pass`: output matches → completes normally.
#[tokio::test]
async fn output_matching_the_output_schema_completes_without_warning() -> anyhow::Result<()> {
    let env = cluster_with_echo(None, Some(reports_status())).await?;
    let (run, events) = run_to_end(&env, "checked", json!({ "status": "healthy" })).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(step(&run, "check")["status"], "SUCCEEDED");
    assert_eq!(
        run["context"]["steps"]["check"],
        json!({ "status": "healthy" })
    );
    assert!(
        of_type(&events, "workflow.step.warning").is_empty(),
        "{events:?}"
    );
    Ok(())
}

/// Acceptance case `TestRuntime_OutputValidation_Fail`: output missing a field → a
/// `workflow.step.warning` is stored with the result and published, and the
/// step and the run still complete.
#[tokio::test]
async fn output_missing_a_field_records_a_warning_and_the_run_completes() -> anyhow::Result<()> {
    let env = cluster_with_echo(None, Some(reports_status())).await?;
    let mut published = env
        .nats
        .subscribe(env.subjects.step_events_wildcard())
        .await?;
    let (run, events) = run_to_end(&env, "checked", json!({ "pods": 3 })).await?;

    assert_eq!(run["status"], "COMPLETED", "{run}");
    let check = step(&run, "check");
    assert_eq!(check["status"], "SUCCEEDED", "{run}");
    assert_eq!(
        check["output"],
        json!({ "pods": 3 }),
        "the output is kept as it is"
    );
    assert_eq!(env.calls.count_for("echo"), 1);

    let warnings = of_type(&events, "workflow.step.warning");
    assert_eq!(warnings.len(), 1, "{events:?}");
    let warning = warnings[0];
    assert_eq!(warning["data"]["code"], "SCHEMA_VALIDATION_OUTPUT");
    let message = warning["data"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("agent \"echo\"") && message.contains("\"status\" is a required property"),
        "{message}"
    );
    assert_eq!(warning["step_id"], check["step_id"]);
    assert_eq!(
        (warning["state"].as_str(), warning["attempt"].as_i64()),
        (Some("check"), Some(1))
    );
    assert_eq!(warning["worker_id"], "worker-1");
    let completed = of_type(&events, "workflow.step.completed");
    assert_eq!(completed.len(), 1);
    assert_eq!(
        warning["seq"].as_i64().map(|s| s + 1),
        completed[0]["seq"].as_i64(),
        "stored with the result, just before step.completed"
    );
    junction_e2e::assert_gapless(&events)?;

    // Published through the outbox like every other event.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let message = tokio::time::timeout_at(deadline, futures::StreamExt::next(&mut published))
            .await?
            .ok_or_else(|| anyhow::anyhow!("subscription ended"))?;
        let event: Value = serde_json::from_slice(&message.payload)?;
        if event["type"] == "workflow.step.warning" {
            assert_eq!(event["seq"], warning["seq"]);
            assert_eq!(event["data"], warning["data"]);
            break;
        }
    }
    Ok(())
}

/// Acceptance case `TestRuntime_OutputValidation_NoSchema`: no output_schema → completes.
#[tokio::test]
async fn an_agent_without_output_schema_completes_whatever_the_output() -> anyhow::Result<()> {
    let env = cluster_with_echo(Some(json!({ "type": "object" })), None).await?;
    let (run, events) = run_to_end(&env, "checked", json!({ "pods": 3 })).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(step(&run, "check")["status"], "SUCCEEDED");
    assert!(
        of_type(&events, "workflow.step.warning").is_empty(),
        "{events:?}"
    );
    Ok(())
}

/// Acceptance case `TestE2E_RuntimeSchemaMismatch`: an agent returns unexpected output →
/// a warning, and the workflow continues with the next step.
#[tokio::test]
async fn runtime_schema_mismatch_warns_and_the_workflow_continues() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_agent("echo", Some(needs_name()), Some(reports_status()))
        .await?;
    env.put_workflow(TWO_STEPS).await?;
    let (run, events) = run_to_end(&env, "pipeline", json!({ "name": "web" })).await?;

    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(step(&run, "check")["status"], "SUCCEEDED");
    assert_eq!(step(&run, "report")["status"], "SUCCEEDED");
    assert_eq!(
        run["context"]["steps"]["report"],
        json!({ "text": "CHECKED WEB" })
    );
    let warnings = of_type(&events, "workflow.step.warning");
    assert_eq!(warnings.len(), 1, "{events:?}");
    assert_eq!(warnings[0]["state"], "check");
    assert_eq!(warnings[0]["data"]["code"], "SCHEMA_VALIDATION_OUTPUT");
    assert_eq!(
        (env.calls.count_for("echo"), env.calls.count_for("upper")),
        (1, 1)
    );
    Ok(())
}

/// Acceptance case `TestE2E_AgentNotFoundAtRuntime`: the agent is deleted after the
/// workflow was stored → the step fails with `AGENT_NOT_FOUND` and a clear
/// message, the run FAILED, and the agent (still served) is never called.
#[tokio::test]
async fn an_agent_deleted_after_the_workflow_was_stored_fails_with_agent_not_found()
-> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(ONE_STEP).await?;
    env.delete_agent("echo").await?;
    let (run, events) = run_to_end(&env, "checked", json!({ "name": "web" })).await?;

    assert_eq!(run["status"], "FAILED", "{run}");
    let check = step(&run, "check");
    assert_eq!(check["status"], "FAILED", "{run}");
    assert_eq!(check["attempt"], 1, "not retried: {run}");
    assert_eq!(check["error"]["code"], "AGENT_NOT_FOUND", "{run}");
    assert_eq!(
        check["error"]["message"],
        "agent \"echo\" not found in tenant \"default\""
    );
    assert_eq!(run["error"]["code"], "AGENT_NOT_FOUND", "{run}");
    assert_eq!(run["error"]["message"], check["error"]["message"]);
    assert_eq!(
        of_type(&events, "workflow.step.failed").len(),
        1,
        "{events:?}"
    );
    assert_eq!(
        of_type(&events, "workflow.run.failed").len(),
        1,
        "{events:?}"
    );
    assert_eq!(
        env.calls.count_for("echo"),
        0,
        "a deregistered agent is not called"
    );
    Ok(())
}
