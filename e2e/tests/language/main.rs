//! The workflow language end to end (the acceptance cases "Integration
//! Tests" and "API Tests", with the three-agent fixtures) on real coordinator and worker
//! processes: schema-checked agent pipelines, `workflows.put|validate` over
//! the NATS control plane, revisions pinned by running runs, switch and
//! transform routing, trigger filters, the workflow `outputSchema` and
//! `inputSchema`.
//!
//! The three fixture agents (`pod-checker` → `log-analyzer` → `notifier`) are served
//! in-process by [`triage_agents`] and registered with the fixture schemas
//! through `wf.ctl.agents.put`.

mod api;
mod fixtures;
mod pipelines;
mod revisions;
mod routing;
mod workflow_schemas;

use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

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

/// The one diagnostic with `code` among `diagnostics`: its severity and
/// path as given, its message naming every one of `parts`, and its line and
/// column where `anchor` is written in `source`.
fn assert_one_diagnostic<'a>(
    diagnostics: &'a [Value],
    (code, severity, path): (&str, &str, &str),
    parts: &[&str],
    (source, anchor): (&str, &str),
) -> &'a Value {
    let found = with_code(diagnostics, code);
    assert_eq!(found.len(), 1, "one {code} in {diagnostics:?}");
    let diagnostic = found[0];
    assert_eq!(diagnostic["severity"], severity, "{diagnostic}");
    assert_eq!(diagnostic["path"], path, "{diagnostic}");
    let message = diagnostic["message"].as_str().unwrap_or_default();
    for part in parts {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    let (line, column) = position_of(source, anchor);
    assert_eq!(
        line_column(diagnostic),
        (Some(line), Some(column)),
        "{diagnostic}"
    );
    diagnostic
}

fn code_of(reply: &Value) -> &str {
    reply["error"]["code"].as_str().unwrap_or_default()
}

/// Asserts the workflow `id` is not stored: `workflows.get` is NOT_FOUND and
/// `workflows.list` does not list it.
async fn assert_not_stored(env: &TestEnv, id: &str) -> anyhow::Result<()> {
    let got = env
        .try_control(ControlSubject::WorkflowsGet, json!({ "id": id }))
        .await?;
    assert_eq!(code_of(&got), "NOT_FOUND", "{got}");
    let listed = env
        .control(ControlSubject::WorkflowsList, json!({}))
        .await?;
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

/// Runs of one workflow, by `runs.list`.
async fn runs_of(env: &TestEnv, workflow: &str) -> anyhow::Result<Vec<Value>> {
    let reply = env
        .control(ControlSubject::RunsList, json!({ "workflow_id": workflow }))
        .await?;
    Ok(reply["runs"].as_array().cloned().unwrap_or_default())
}
