//! The three-agent fixtures: the `valid-pipeline`, `invalid-agent` and
//! `warning-pipeline` sources, the agents' schemas, and the in-process
//! agents that answer with outputs shaped by those schemas.

use junction_core::wire::agent::AgentRequest;
use junction_e2e::TestEnv;
use junction_example_agents::{Registry, Reply};
use serde_json::{Value, json};

/// `valid-pipeline` of the acceptance fixtures, written as they were given (Station
/// dialect: `id`, `input.task: agent.run`, `transition`), with a
/// `resultPath` on each step so the test can read every output. `analyze`
/// and `notify` take the previous step's output (no explicit `input`).
pub(crate) const VALID_PIPELINE: &str = "
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

/// `invalid-agent` of the acceptance fixtures.
pub(crate) const INVALID_AGENT: &str = "
id: invalid-agent
states:
  - id: check
    type: operation
    input:
      task: agent.run
      agent: nonexistent-agent
    end: true
";

/// `warning-pipeline` of the acceptance fixtures.
pub(crate) const WARNING_PIPELINE: &str = "
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

pub(crate) fn pod_checker_input() -> Value {
    json!({
        "type": "object",
        "properties": { "namespace": { "type": "string" } },
        "required": ["namespace"]
    })
}

pub(crate) fn pod_checker_output() -> Value {
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

pub(crate) fn log_analyzer_input() -> Value {
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

pub(crate) fn log_analyzer_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "analysis": { "type": "string" },
            "severity": { "type": "string", "enum": ["low", "medium", "high", "critical"] }
        }
    })
}

/// Registers the three fixture agents with their fixture schemas (`notifier`
/// has none).
pub(crate) async fn register_triage_agents(env: &TestEnv) -> anyhow::Result<()> {
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

/// The built-in agents plus the three fixture ones, answering with outputs shaped by
/// the fixture schemas and computed from their input, so each output shows
/// what the step received.
pub(crate) fn triage_agents() -> Registry {
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

/// `minimal-output-agent` outputs `{result}`; `expects-more-agent` takes
/// `{result, metadata?}` (the acceptance fixtures).
pub(crate) async fn register_warning_agents(env: &TestEnv) -> anyhow::Result<()> {
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
