//! End-to-end workflow acceptance tests: the three-agent pipeline runs when
//! its schemas fit and is refused at creation when they do not.

use crate::fixtures::{VALID_PIPELINE, log_analyzer_output, register_triage_agents, triage_agents};
use crate::{
    WAIT, assert_not_stored, assert_one_diagnostic, control_plane, of_type, refused_diagnostics,
    states_run, step,
};
use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use serde_json::{Value, json};

/// Acceptance case `TestE2E_ThreeAgentPipeline_SchemaValid`: A → B → C with
/// compatible schemas is stored without warnings and completes; B and C get
/// the previous step's output as their input.
#[tokio::test]
async fn three_agent_pipeline_with_compatible_schemas_completes() -> anyhow::Result<()> {
    let env = TestEnv::cluster(triage_agents(), 1).await?;
    register_triage_agents(&env).await?;
    let put = env
        .control(
            ControlSubject::WorkflowsPut,
            json!({ "source": VALID_PIPELINE }),
        )
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

/// Acceptance case `TestE2E_ThreeAgentPipeline_SchemaMismatch`: A outputs `pods`,
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
        .try_control(
            ControlSubject::WorkflowsPut,
            json!({ "source": VALID_PIPELINE }),
        )
        .await?;
    let diagnostics = refused_diagnostics(&reply);
    // Located at the consuming state's list element (its first key).
    assert_one_diagnostic(
        &diagnostics,
        ("SCHEMA_INCOMPATIBLE", "error", "states[1]"),
        &[
            "`pod-checker` (state `check`)",
            "`log-analyzer` (state `analyze`)",
            "log_lines",
        ],
        (VALID_PIPELINE, "id: analyze"),
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
