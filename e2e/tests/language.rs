//! The workflow language end to end (PRD §9.2 "Integration Tests" and the
//! "API Tests", with the §9.3 fixtures) on real coordinator and worker
//! processes: schema-checked agent pipelines, `workflows.put|validate` over
//! the NATS control plane, revisions pinned by running runs, switch and
//! transform routing, trigger filters, the workflow `outputSchema` and
//! `inputSchema`.
//!
//! The §9.3 agents (`pod-checker` → `log-analyzer` → `notifier`) are served
//! in-process by [`triage_agents`] and registered with the fixture schemas
//! through `wf.ctl.agents.put`.

use junction_e2e::TestEnv;
use junction_example_agents::{Registry, Reply};
use junction_shared::wire::agent::AgentRequest;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// PRD §9.3 fixtures
// ---------------------------------------------------------------------------

/// `valid-pipeline` of PRD §9.3, written as the PRD writes it (Station
/// dialect: `id`, `input.task: agent.run`, `transition`), with a
/// `resultPath` on each step so the test can read every output. `analyze`
/// and `notify` take the previous step's output (no explicit `input`).
const VALID_PIPELINE: &str = "
id: valid-pipeline
states:
  - id: check
    type: operation
    input:
      task: agent.run
      agent: pod-checker
    resultPath: steps.check
    transition: analyze
  - id: analyze
    type: operation
    input:
      task: agent.run
      agent: log-analyzer
    resultPath: steps.analyze
    transition: notify
  - id: notify
    type: operation
    input:
      task: agent.run
      agent: notifier
    resultPath: steps.notify
    end: true
";

/// `invalid-agent` of PRD §9.3.
const INVALID_AGENT: &str = "
id: invalid-agent
states:
  - id: check
    type: operation
    input:
      task: agent.run
      agent: nonexistent-agent
    end: true
";

/// `warning-pipeline` of PRD §9.3.
const WARNING_PIPELINE: &str = "
id: warning-pipeline
states:
  - id: step1
    type: operation
    input:
      task: agent.run
      agent: minimal-output-agent
    transition: step2
  - id: step2
    type: operation
    input:
      task: agent.run
      agent: expects-more-agent
    end: true
";

fn pod_checker_input() -> Value {
    json!({
        "type": "object",
        "properties": { "namespace": { "type": "string" } },
        "required": ["namespace"]
    })
}

fn pod_checker_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "pods": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": { "name": { "type": "string" }, "status": { "type": "string" } }
                }
            },
            "timestamp": { "type": "string" }
        },
        "required": ["pods"]
    })
}

fn log_analyzer_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "pods": {
                "type": "array",
                "items": { "type": "object", "properties": { "name": { "type": "string" } } }
            }
        },
        "required": ["pods"]
    })
}

fn log_analyzer_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "analysis": { "type": "string" },
            "severity": { "type": "string", "enum": ["low", "medium", "high", "critical"] }
        }
    })
}

/// Registers the three §9.3 agents with their fixture schemas (`notifier`
/// has none).
async fn register_triage_agents(env: &TestEnv) -> anyhow::Result<()> {
    env.put_agent(
        "pod-checker",
        Some(pod_checker_input()),
        Some(pod_checker_output()),
    )
    .await?;
    env.put_agent(
        "log-analyzer",
        Some(log_analyzer_input()),
        Some(log_analyzer_output()),
    )
    .await?;
    env.put_agent("notifier", None, None).await?;
    Ok(())
}

/// The built-in agents plus the §9.3 ones, answering with outputs shaped by
/// the fixture schemas and computed from their input, so each output shows
/// what the step received.
fn triage_agents() -> Registry {
    Registry::builtin()
        .with("pod-checker", |request: AgentRequest| async move {
            let namespace = request.input["namespace"]
                .as_str()
                .unwrap_or("?")
                .to_owned();
            Reply::output(json!({
                "pods": [
                    { "name": format!("{namespace}-web-1"), "status": "Running" },
                    { "name": format!("{namespace}-db-0"), "status": "CrashLoopBackOff" }
                ],
                "timestamp": "2024-05-01T12:00:00Z"
            }))
        })
        .with("log-analyzer", |request: AgentRequest| async move {
            let pods = request.input["pods"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let unhealthy: Vec<&str> = pods
                .iter()
                .filter(|pod| pod["status"] != "Running")
                .filter_map(|pod| pod["name"].as_str())
                .collect();
            Reply::output(json!({
                "analysis": format!(
                    "{} of {} pods unhealthy: {}",
                    unhealthy.len(),
                    pods.len(),
                    unhealthy.join(", ")
                ),
                "severity": if unhealthy.is_empty() { "low" } else { "high" }
            }))
        })
        .with("notifier", |request: AgentRequest| async move {
            Reply::output(json!({ "notified": true, "received": request.input }))
        })
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A coordinator and no worker: enough for the control-plane rows.
async fn control_plane() -> anyhow::Result<TestEnv> {
    TestEnv::cluster(Registry::builtin(), 0).await
}

/// The first attempt row of `state` in `run.steps` (Null when it did not run).
fn step<'a>(run: &'a Value, state: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["state"] == state))
        .unwrap_or(&Value::Null)
}

/// The states that ran, in order.
fn states_run(run: &Value) -> Vec<String> {
    run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["state"].as_str().map(str::to_owned))
        .collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// The diagnostics of a `VALIDATION_FAILED` reply.
fn refused_diagnostics(reply: &Value) -> Vec<Value> {
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["error"]["code"], "VALIDATION_FAILED", "{reply}");
    reply["error"]["details"]["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("details.diagnostics is a list: {reply}"))
}

fn with_code<'a>(diagnostics: &'a [Value], code: &str) -> Vec<&'a Value> {
    diagnostics.iter().filter(|d| d["code"] == code).collect()
}

/// 1-based line and column of the first occurrence of `needle` in `source`.
fn position_of(source: &str, needle: &str) -> (u64, u64) {
    for (i, line) in source.lines().enumerate() {
        if let Some(column) = line.find(needle) {
            return (i as u64 + 1, column as u64 + 1);
        }
    }
    panic!("{needle:?} is not in the source");
}

fn line_column(diagnostic: &Value) -> (Option<u64>, Option<u64>) {
    (diagnostic["line"].as_u64(), diagnostic["column"].as_u64())
}

fn code_of(reply: &Value) -> &str {
    reply["error"]["code"].as_str().unwrap_or_default()
}

/// Asserts the workflow `id` is not stored: `workflows.get` is NOT_FOUND and
/// `workflows.list` does not list it.
async fn assert_not_stored(env: &TestEnv, id: &str) -> anyhow::Result<()> {
    let got = env
        .try_control("workflows.get", json!({ "id": id }))
        .await?;
    assert_eq!(code_of(&got), "NOT_FOUND", "{got}");
    let listed = env.control("workflows.list", json!({})).await?;
    assert!(
        !listed["workflows"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|w| w["id"] == id),
        "{id} is not listed: {listed}"
    );
    Ok(())
}

async fn run_to_end(env: &TestEnv, workflow: &str, input: Value) -> anyhow::Result<Value> {
    let run_id = env.start_run(workflow, input).await?;
    env.wait_for_end(&run_id, WAIT).await
}

// ---------------------------------------------------------------------------
// PRD §9.2 End-to-End Workflow Tests
// ---------------------------------------------------------------------------

/// PRD 9.2 `TestE2E_ThreeAgentPipeline_SchemaValid`: A → B → C with
/// compatible schemas is stored without warnings and completes; B and C get
/// the previous step's output as their input.
#[tokio::test]
async fn three_agent_pipeline_with_compatible_schemas_completes() -> anyhow::Result<()> {
    let env = TestEnv::cluster(triage_agents(), 1).await?;
    register_triage_agents(&env).await?;
    let put = env
        .control("workflows.put", json!({ "source": VALID_PIPELINE }))
        .await?;
    assert_eq!(
        (put["version"].as_i64(), put["created"].as_bool()),
        (Some(1), Some(true)),
        "{put}"
    );
    assert_eq!(put["warnings"], json!([]), "compatible schemas, no warning");

    let run_id = env
        .start_run("valid-pipeline", json!({ "namespace": "prod" }))
        .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(states_run(&run), ["check", "analyze", "notify"], "{run}");
    for state in ["check", "analyze", "notify"] {
        assert_eq!(step(&run, state)["status"], "SUCCEEDED", "{run}");
    }

    let pods = json!({
        "pods": [
            { "name": "prod-web-1", "status": "Running" },
            { "name": "prod-db-0", "status": "CrashLoopBackOff" }
        ],
        "timestamp": "2024-05-01T12:00:00Z"
    });
    let analysis = json!({ "analysis": "1 of 2 pods unhealthy: prod-db-0", "severity": "high" });
    assert_eq!(step(&run, "check")["output"], pods);
    assert_eq!(step(&run, "analyze")["output"], analysis);
    assert_eq!(
        step(&run, "notify")["output"],
        json!({ "notified": true, "received": analysis })
    );
    let steps = &run["context"]["steps"];
    assert_eq!(
        (&steps["check"], &steps["analyze"]),
        (&pods, &analysis),
        "each output at its resultPath"
    );

    // What each agent was given, from the step.started events.
    let events = env.events(&run_id).await?;
    let input_of = |state: &str| {
        of_type(&events, "workflow.step.started")
            .into_iter()
            .find(|e| e["state"] == state)
            .map(|e| e["data"]["input"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(input_of("check"), json!({ "namespace": "prod" }), "the ctx");
    assert_eq!(input_of("analyze"), pods, "pod-checker's output");
    assert_eq!(input_of("notify"), analysis, "log-analyzer's output");
    assert!(
        of_type(&events, "workflow.step.warning").is_empty(),
        "outputs match their schemas: {events:?}"
    );
    assert_eq!(
        [
            env.calls.count_for("pod-checker"),
            env.calls.count_for("log-analyzer"),
            env.calls.count_for("notifier"),
        ],
        [1, 1, 1]
    );
    Ok(())
}

/// PRD 9.2 `TestE2E_ThreeAgentPipeline_SchemaMismatch`: A outputs `pods`,
/// B expects `log_lines` → `workflows.put` refuses the definition with a
/// located `SCHEMA_INCOMPATIBLE` naming both agents, and stores nothing.
#[tokio::test]
async fn three_agent_pipeline_with_mismatched_schemas_is_refused_at_creation() -> anyhow::Result<()>
{
    let env = control_plane().await?;
    register_triage_agents(&env).await?;
    env.put_agent(
        "log-analyzer",
        Some(json!({
            "type": "object",
            "properties": { "log_lines": { "type": "array", "items": { "type": "string" } } },
            "required": ["log_lines"]
        })),
        Some(log_analyzer_output()),
    )
    .await?;

    let reply = env
        .try_control("workflows.put", json!({ "source": VALID_PIPELINE }))
        .await?;
    let diagnostics = refused_diagnostics(&reply);
    let incompatible = with_code(&diagnostics, "SCHEMA_INCOMPATIBLE");
    assert_eq!(incompatible.len(), 1, "{diagnostics:?}");
    let diagnostic = incompatible[0];
    assert_eq!(diagnostic["severity"], "error");
    assert_eq!(diagnostic["path"], "states[1]", "the consuming state");
    let message = diagnostic["message"].as_str().unwrap_or_default();
    for part in [
        "`pod-checker` (state `check`)",
        "`log-analyzer` (state `analyze`)",
        "log_lines",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    // Located at the consuming state's list element (its first key).
    let (line, column) = position_of(VALID_PIPELINE, "id: analyze");
    assert_eq!(
        line_column(diagnostic),
        (Some(line), Some(column)),
        "{diagnostic}"
    );
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("error")),
        "{reply}"
    );

    assert_not_stored(&env, "valid-pipeline").await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// PRD §9.2 API Tests (over the NATS control plane)
// ---------------------------------------------------------------------------

/// PRD 9.2 `TestAPI_CreateWorkflow_Valid`: a valid definition is created as
/// revision 1 and can be read back.
#[tokio::test]
async fn create_workflow_valid_is_created_as_version_1() -> anyhow::Result<()> {
    let env = control_plane().await?;
    register_triage_agents(&env).await?;
    let put = env
        .control("workflows.put", json!({ "source": VALID_PIPELINE }))
        .await?;
    assert_eq!(put["id"], "valid-pipeline", "{put}");
    assert_eq!(put["version"], 1, "{put}");
    assert_eq!(put["created"], true, "{put}");
    assert_eq!(put["warnings"], json!([]), "{put}");

    let got = env
        .control("workflows.get", json!({ "id": "valid-pipeline" }))
        .await?;
    let workflow = &got["workflow"];
    assert_eq!(workflow["version"], 1, "{got}");
    assert_eq!(workflow["source"], VALID_PIPELINE, "{got}");
    assert_eq!(workflow["format"], "yaml", "{got}");
    let listed = env.control("workflows.list", json!({})).await?;
    assert_eq!(listed["workflows"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["workflows"][0]["id"], "valid-pipeline");
    assert_eq!(listed["workflows"][0]["version"], 1);
    Ok(())
}

/// PRD 9.2 `TestAPI_CreateWorkflow_AgentNotFound`: an unregistered agent is
/// `VALIDATION_FAILED` with an `AGENT_NOT_FOUND` naming the agent and the
/// state, pointing at the `agent:` line; nothing is stored.
#[tokio::test]
async fn create_workflow_with_an_unknown_agent_is_refused() -> anyhow::Result<()> {
    let env = control_plane().await?;
    let reply = env
        .try_control("workflows.put", json!({ "source": INVALID_AGENT }))
        .await?;
    let diagnostics = refused_diagnostics(&reply);
    let not_found = with_code(&diagnostics, "AGENT_NOT_FOUND");
    assert_eq!(not_found.len(), 1, "{diagnostics:?}");
    let diagnostic = not_found[0];
    assert_eq!(diagnostic["severity"], "error");
    assert_eq!(diagnostic["path"], "states[0].input.agent");
    let message = diagnostic["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`nonexistent-agent`") && message.contains("state `check`"),
        "names the agent and the state: {message}"
    );
    let (line, column) = position_of(INVALID_AGENT, "agent: nonexistent-agent");
    assert_eq!(
        line_column(diagnostic),
        (Some(line), Some(column)),
        "{diagnostic}"
    );
    assert_not_stored(&env, "invalid-agent").await?;
    Ok(())
}

/// PRD 9.2 `TestAPI_CreateWorkflow_SchemaIncompatible` ("400 or 201 with
/// warnings"), with the §9.3 `warning-pipeline`: the next agent's optional
/// `metadata` is never produced → stored, with a `SCHEMA_UNVERIFIED`
/// warning in the put reply.
#[tokio::test]
async fn create_workflow_with_a_missing_optional_field_is_stored_with_a_warning()
-> anyhow::Result<()> {
    let env = control_plane().await?;
    register_warning_agents(&env).await?;
    let put = env
        .control("workflows.put", json!({ "source": WARNING_PIPELINE }))
        .await?;
    assert_eq!(put["id"], "warning-pipeline", "{put}");
    assert_eq!(put["version"], 1, "{put}");
    assert_eq!(put["created"], true, "{put}");
    let warnings = put["warnings"].as_array().cloned().unwrap_or_default();
    let unverified = with_code(&warnings, "SCHEMA_UNVERIFIED");
    assert_eq!(unverified.len(), 1, "{put}");
    let warning = unverified[0];
    assert_eq!(warning["severity"], "warning");
    assert_eq!(warning["path"], "states[1]");
    let message = warning["message"].as_str().unwrap_or_default();
    for part in [
        "`minimal-output-agent` (state `step1`)",
        "`expects-more-agent` (state `step2`)",
        "metadata",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    let (line, column) = position_of(WARNING_PIPELINE, "id: step2");
    assert_eq!(
        line_column(warning),
        (Some(line), Some(column)),
        "{warning}"
    );

    let got = env
        .control("workflows.get", json!({ "id": "warning-pipeline" }))
        .await?;
    assert_eq!(got["workflow"]["version"], 1, "stored: {got}");
    Ok(())
}

/// `minimal-output-agent` outputs `{result}`; `expects-more-agent` takes
/// `{result, metadata?}` (PRD §9.3).
async fn register_warning_agents(env: &TestEnv) -> anyhow::Result<()> {
    env.put_agent(
        "minimal-output-agent",
        None,
        Some(json!({
            "type": "object",
            "properties": { "result": { "type": "string" } },
            "required": ["result"]
        })),
    )
    .await?;
    env.put_agent(
        "expects-more-agent",
        Some(json!({
            "type": "object",
            "properties": { "result": { "type": "string" }, "metadata": { "type": "object" } },
            "required": ["result"]
        })),
        None,
    )
    .await?;
    Ok(())
}

/// PRD 9.2 `TestAPI_ValidateWorkflow`: `workflows.validate` answers `ok`
/// with the `errors` and `warnings` lists, whatever they hold, and stores
/// nothing.
#[tokio::test]
async fn validate_workflow_reports_errors_and_warnings_and_stores_nothing() -> anyhow::Result<()> {
    let env = control_plane().await?;
    register_triage_agents(&env).await?;
    register_warning_agents(&env).await?;

    let clean = env
        .control("workflows.validate", json!({ "source": VALID_PIPELINE }))
        .await?;
    assert_eq!(
        (&clean["errors"], &clean["warnings"]),
        (&json!([]), &json!([])),
        "{clean}"
    );

    let warned = env
        .control("workflows.validate", json!({ "source": WARNING_PIPELINE }))
        .await?;
    assert_eq!(warned["errors"], json!([]), "{warned}");
    let warnings = warned["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        with_code(&warnings, "SCHEMA_UNVERIFIED").len(),
        1,
        "{warned}"
    );

    let refused = env
        .control("workflows.validate", json!({ "source": INVALID_AGENT }))
        .await?;
    assert_eq!(refused["ok"], true, "ok whenever validation ran: {refused}");
    let errors = refused["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(with_code(&errors, "AGENT_NOT_FOUND").len(), 1, "{refused}");
    assert!(errors.iter().all(|d| d["severity"] == "error"), "{refused}");
    assert!(refused["warnings"].is_array(), "{refused}");

    // A definition that does not even parse is still a validation result.
    let broken = env
        .control(
            "workflows.validate",
            json!({ "source": "id: broken\nstates: [ {" }),
        )
        .await?;
    assert!(
        broken["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{broken}"
    );

    for id in [
        "valid-pipeline",
        "warning-pipeline",
        "invalid-agent",
        "broken",
    ] {
        assert_not_stored(&env, id).await?;
    }
    assert_eq!(
        env.control("workflows.list", json!({})).await?["workflows"],
        json!([])
    );
    Ok(())
}

/// PRD 9.2 `TestAPI_UpdateWorkflow_BreaksSchema`: a new revision whose
/// first agent no longer produces what `log-analyzer` needs is refused, and
/// the stored latest revision stays the previous one.
#[tokio::test]
async fn update_workflow_that_breaks_schemas_is_refused_and_the_stored_version_stays()
-> anyhow::Result<()> {
    let env = control_plane().await?;
    register_triage_agents(&env).await?;
    env.put_agent(
        "deploy-lister",
        None,
        Some(json!({
            "type": "object",
            "properties": { "deployments": { "type": "array", "items": { "type": "string" } } },
            "required": ["deployments"]
        })),
    )
    .await?;
    assert_eq!(env.put_workflow(VALID_PIPELINE).await?, 1);

    let broken = VALID_PIPELINE.replace("agent: pod-checker", "agent: deploy-lister");
    let reply = env
        .try_control("workflows.put", json!({ "source": broken }))
        .await?;
    let diagnostics = refused_diagnostics(&reply);
    let incompatible = with_code(&diagnostics, "SCHEMA_INCOMPATIBLE");
    assert_eq!(incompatible.len(), 1, "{diagnostics:?}");
    let message = incompatible[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`deploy-lister`") && message.contains("`log-analyzer`"),
        "{message}"
    );
    assert!(incompatible[0]["line"].is_u64(), "{}", incompatible[0]);

    let latest = env
        .control("workflows.get", json!({ "id": "valid-pipeline" }))
        .await?;
    assert_eq!(latest["workflow"]["version"], 1, "{latest}");
    assert_eq!(latest["workflow"]["source"], VALID_PIPELINE, "{latest}");
    let listed = env.control("workflows.list", json!({})).await?;
    assert_eq!(listed["workflows"][0]["version"], 1, "{listed}");
    assert_eq!(
        code_of(
            &env.try_control(
                "workflows.get",
                json!({ "id": "valid-pipeline", "version": 2 })
            )
            .await?
        ),
        "NOT_FOUND",
        "no revision 2 was stored"
    );

    // A compatible update is accepted, and takes the next revision number.
    let renamed = VALID_PIPELINE.replace("id: valid-pipeline", "id: valid-pipeline\nname: Triage");
    let put = env
        .control("workflows.put", json!({ "source": renamed }))
        .await?;
    assert_eq!(
        (put["version"].as_i64(), put["created"].as_bool()),
        (Some(2), Some(true)),
        "{put}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Revisions, routing, triggers and workflow schemas
// ---------------------------------------------------------------------------

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
    let deadline = tokio::time::Instant::now() + WAIT;
    while !env
        .calls
        .records()
        .iter()
        .any(|r| r.agent == "sleep" && r.run_id == first)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sleep step never started: {}\n{}",
            env.get_run(&first).await?,
            env.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let put = env
        .control("workflows.put", json!({ "source": v2 }))
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

    // The latest revision is v2; v1 is still readable by number.
    let listed = env.control("workflows.list", json!({})).await?;
    assert_eq!(listed["workflows"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["workflows"][0]["version"], 2, "{listed}");
    let latest = env
        .control("workflows.get", json!({ "id": "pinned" }))
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
        .control("workflows.get", json!({ "id": "pinned", "version": 1 }))
        .await?;
    assert_eq!(old["workflow"]["source"], json!(v1), "{old}");

    // v1 is archived: the store says so, and its trigger no longer starts runs.
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
        .control("workflows.get", json!({ "id": "pinned", "version": 1 }))
        .await?;
    assert_eq!(v1["workflow"]["archived"], true, "{v1}");
    let latest = env
        .control("workflows.get", json!({ "id": "pinned" }))
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

const ROUTER: &str = r#"
id: router
inputSchema:
  type: object
  properties:
    amount: { type: number }
    limit: { type: number }
  required: [amount]
states:
  - name: classify
    type: transform
    expression: '{"tier": "gold" if amount >= 1000 else "standard", "amount": amount}'
    resultPath: ctx.order
    next: route
  - name: route
    type: switch
    dataPath: ctx.order
    conditions:
      - if: 'tier == "gold"'
        next: vip
      - if: amount > limit
        next: review
    defaultNext: standard
  - name: vip
    type: operation
    action: agent.run
    input: { agent: echo, task: "vip desk for {{ ctx.order.amount }}" }
    resultPath: steps.vip
    end: true
  - name: review
    type: operation
    action: agent.run
    input: { agent: echo, task: "review {{ ctx.order.amount }} over {{ ctx.limit }}" }
    resultPath: steps.review
    end: true
  - name: standard
    type: operation
    action: agent.run
    input: { agent: echo, task: "standard {{ ctx.order.amount }}" }
    resultPath: steps.standard
    end: true
"#;

/// A transform computes a tier, a switch on its `dataPath` picks the branch
/// (first condition, second condition, or `defaultNext`); only that branch
/// runs. A condition that raises fails the run with `CONDITION_ERROR`.
#[tokio::test]
async fn switch_and_transform_route_a_run() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let put = env
        .control("workflows.put", json!({ "source": ROUTER }))
        .await?;
    assert_eq!(put["warnings"], json!([]), "{put}");

    // First condition: the transform made it gold.
    let run = run_to_end(&env, "router", json!({ "amount": 5000 })).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(states_run(&run), ["classify", "route", "vip"], "{run}");
    assert_eq!(
        run["context"]["ctx"]["order"],
        json!({ "tier": "gold", "amount": 5000 })
    );
    assert_eq!(
        step(&run, "classify")["output"],
        json!({ "tier": "gold", "amount": 5000 })
    );
    assert_eq!(step(&run, "route")["output"]["matched"], 0, "{run}");
    assert_eq!(step(&run, "route")["output"]["next"], "vip", "{run}");
    assert_eq!(
        run["context"]["steps"],
        json!({ "vip": {
            "task": "vip desk for 5000",
            "input": { "tier": "gold", "amount": 5000 }
        } }),
        "the agent gets the transform's output; no other branch wrote"
    );

    // Second condition.
    let run = run_to_end(&env, "router", json!({ "amount": 500, "limit": 100 })).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(states_run(&run), ["classify", "route", "review"], "{run}");
    assert_eq!(step(&run, "route")["output"]["matched"], 1, "{run}");
    assert_eq!(
        step(&run, "review")["output"]["task"],
        "review 500 over 100",
        "{run}"
    );

    // No condition holds: defaultNext.
    let run_id = env
        .start_run("router", json!({ "amount": 50, "limit": 100 }))
        .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(states_run(&run), ["classify", "route", "standard"], "{run}");
    assert_eq!(
        step(&run, "route")["output"],
        json!({ "matched": "default", "next": "standard" })
    );
    assert_eq!(run["context"]["steps"]["standard"]["task"], "standard 50");
    let events = env.events(&run_id).await?;
    let routed = of_type(&events, "workflow.step.completed")
        .into_iter()
        .find(|e| e["state"] == "route")
        .map(|e| e["data"]["output"]["next"].clone());
    assert_eq!(
        routed,
        Some(json!("standard")),
        "the decision is an event too"
    );

    // The second condition raises (no `limit`): CONDITION_ERROR names it.
    let run = run_to_end(&env, "router", json!({ "amount": 50 })).await?;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(
        states_run(&run),
        ["classify", "route"],
        "no branch ran: {run}"
    );
    assert_eq!(step(&run, "route")["status"], "FAILED", "{run}");
    let error = &run["error"];
    assert_eq!(error["code"], "CONDITION_ERROR", "{run}");
    assert_eq!(error["state"], "route", "{run}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("switch `route`") && message.contains("\"amount > limit\""),
        "names the switch and the expression: {message}"
    );
    assert_eq!(step(&run, "route")["error"]["code"], "CONDITION_ERROR");
    assert_eq!(
        env.calls.count_for("echo"),
        3,
        "one agent call per routed run"
    );
    Ok(())
}

fn triggered(id: &str, signal: &str, filter: Option<&str>) -> String {
    let filter = filter.map_or(String::new(), |f| format!(", filter: \"{f}\""));
    format!(
        "id: {id}\ntrigger: {{ signal: {signal}{filter} }}\nstates:\n  - name: only\n    type: operation\n    action: agent.run\n    input: {{ agent: echo }}\n    resultPath: steps.only\n    end: true\n"
    )
}

/// Runs of one workflow, by `runs.list`.
async fn runs_of(env: &TestEnv, workflow: &str) -> anyhow::Result<Vec<Value>> {
    let reply = env
        .control("runs.list", json!({ "workflow_id": workflow }))
        .await?;
    Ok(reply["runs"].as_array().cloned().unwrap_or_default())
}

/// A trigger filter decides which signals start runs; a filter that raises
/// counts as false. Each signal type also triggers an unfiltered workflow,
/// whose runs prove the signals were processed.
#[tokio::test]
async fn trigger_filters_choose_which_signals_start_runs() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    for source in [
        triggered("big-orders", "t.x", Some("data.amount > 10")),
        triggered("all-orders", "t.x", None),
        triggered("broken-filter", "t.y", Some("data.missing.field > 1")),
        triggered("all-events", "t.y", None),
    ] {
        env.put_workflow(&source).await?;
    }
    env.publish_signal("t.x", "amount-5", json!({ "amount": 5 }))
        .await?;
    env.publish_signal("t.x", "amount-50", json!({ "amount": 50 }))
        .await?;
    env.publish_signal("t.y", "raises", json!({ "amount": 50 }))
        .await?;

    // Every signal was processed: its unfiltered workflow ran.
    for signal in ["amount-5", "amount-50", "raises"] {
        let run_id = env.wait_for_signal_run(signal, WAIT).await?;
        let run = env.wait_for_end(&run_id, WAIT).await?;
        assert_eq!(run["status"], "COMPLETED", "{run}");
    }
    // A signal is acknowledged only after every workflow it triggers has
    // been considered and its run, if any, committed: once all three are,
    // a filtered run wrongly started would be listed.
    env.wait_for_signals_handled(3).await?;

    let big = runs_of(&env, "big-orders").await?;
    assert_eq!(big.len(), 1, "exactly one run, for amount 50: {big:?}");
    assert_eq!(big[0]["causation_id"], "amount-50");
    assert_eq!(big[0]["input"], json!({ "amount": 50 }));
    let workflows_of = |runs: Vec<Value>| {
        let mut ids: Vec<String> = runs
            .iter()
            .filter_map(|r| r["workflow_id"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        workflows_of(env.runs_caused_by("amount-5").await?),
        ["all-orders"]
    );
    assert_eq!(
        workflows_of(env.runs_caused_by("amount-50").await?),
        ["all-orders", "big-orders"]
    );
    assert_eq!(
        workflows_of(env.runs_caused_by("raises").await?),
        ["all-events"]
    );
    assert!(runs_of(&env, "broken-filter").await?.is_empty());
    assert!(
        env.processes[0].output().contains("trigger filter raised"),
        "the raising filter is logged"
    );
    Ok(())
}

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
            "run.start",
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
        env.control("runs.list", json!({})).await?["runs"],
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
