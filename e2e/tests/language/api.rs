//! Acceptance API tests over the NATS control plane: `workflows.put` of a
//! valid definition, of one with an unknown agent and of one with a schema
//! warning, `workflows.validate`, and an update that breaks schemas.

use crate::fixtures::{
    INVALID_AGENT, VALID_PIPELINE, WARNING_PIPELINE, register_triage_agents,
    register_warning_agents,
};
use crate::{
    assert_not_stored, assert_one_diagnostic, code_of, control_plane, line_column, position_of,
    refused_diagnostics, with_code,
};
use junction_bus::ControlSubject;
use serde_json::json;

/// Acceptance case `TestAPI_CreateWorkflow_Valid`: a valid definition is created as
/// revision 1 and can be read back.
#[tokio::test]
async fn create_workflow_valid_is_created_as_version_1() -> anyhow::Result<()> {
    let env = control_plane().await?;
    register_triage_agents(&env).await?;
    let put = env
        .control(
            ControlSubject::WorkflowsPut,
            json!({ "source": VALID_PIPELINE }),
        )
        .await?;
    assert_eq!(put["id"], "valid-pipeline", "{put}");
    assert_eq!(put["version"], 1, "{put}");
    assert_eq!(put["created"], true, "{put}");
    assert_eq!(put["warnings"], json!([]), "{put}");

    let got = env
        .control(
            ControlSubject::WorkflowsGet,
            json!({ "id": "valid-pipeline" }),
        )
        .await?;
    let workflow = &got["workflow"];
    assert_eq!(workflow["version"], 1, "{got}");
    assert_eq!(workflow["source"], VALID_PIPELINE, "{got}");
    assert_eq!(workflow["format"], "yaml", "{got}");
    let listed = env
        .control(ControlSubject::WorkflowsList, json!({}))
        .await?;
    assert_eq!(listed["workflows"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["workflows"][0]["id"], "valid-pipeline");
    assert_eq!(listed["workflows"][0]["version"], 1);
    Ok(())
}

/// Acceptance case `TestAPI_CreateWorkflow_AgentNotFound`: an unregistered agent is
/// `VALIDATION_FAILED` with an `AGENT_NOT_FOUND` naming the agent and the
/// state, pointing at the `agent:` line; nothing is stored.
#[tokio::test]
async fn create_workflow_with_an_unknown_agent_is_refused() -> anyhow::Result<()> {
    let env = control_plane().await?;
    let reply = env
        .try_control(
            ControlSubject::WorkflowsPut,
            json!({ "source": INVALID_AGENT }),
        )
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

/// Acceptance case `TestAPI_CreateWorkflow_SchemaIncompatible` ("400 or 201 with
/// warnings"), with the `warning-pipeline` fixture: the next agent's optional
/// `metadata` is never produced → stored, with a `SCHEMA_UNVERIFIED`
/// warning in the put reply.
#[tokio::test]
async fn create_workflow_with_a_missing_optional_field_is_stored_with_a_warning()
-> anyhow::Result<()> {
    let env = control_plane().await?;
    register_warning_agents(&env).await?;
    let put = env
        .control(
            ControlSubject::WorkflowsPut,
            json!({ "source": WARNING_PIPELINE }),
        )
        .await?;
    assert_eq!(put["id"], "warning-pipeline", "{put}");
    assert_eq!(put["version"], 1, "{put}");
    assert_eq!(put["created"], true, "{put}");
    let warnings = put["warnings"].as_array().cloned().unwrap_or_default();
    assert_one_diagnostic(
        &warnings,
        ("SCHEMA_UNVERIFIED", "warning", "states[1]"),
        &[
            "`minimal-output-agent` (state `step1`)",
            "`expects-more-agent` (state `step2`)",
            "metadata",
        ],
        (WARNING_PIPELINE, "id: step2"),
    );

    let got = env
        .control(
            ControlSubject::WorkflowsGet,
            json!({ "id": "warning-pipeline" }),
        )
        .await?;
    assert_eq!(got["workflow"]["version"], 1, "stored: {got}");
    Ok(())
}

/// Acceptance case `TestAPI_ValidateWorkflow`: `workflows.validate` answers `ok`
/// with the `errors` and `warnings` lists, whatever they hold, and stores
/// nothing.
#[tokio::test]
async fn validate_workflow_reports_errors_and_warnings_and_stores_nothing() -> anyhow::Result<()> {
    let env = control_plane().await?;
    register_triage_agents(&env).await?;
    register_warning_agents(&env).await?;

    let clean = env
        .control(
            ControlSubject::WorkflowsValidate,
            json!({ "source": VALID_PIPELINE }),
        )
        .await?;
    assert_eq!(
        (&clean["errors"], &clean["warnings"]),
        (&json!([]), &json!([])),
        "{clean}"
    );

    let warned = env
        .control(
            ControlSubject::WorkflowsValidate,
            json!({ "source": WARNING_PIPELINE }),
        )
        .await?;
    assert_eq!(warned["errors"], json!([]), "{warned}");
    let warnings = warned["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        with_code(&warnings, "SCHEMA_UNVERIFIED").len(),
        1,
        "{warned}"
    );

    let refused = env
        .control(
            ControlSubject::WorkflowsValidate,
            json!({ "source": INVALID_AGENT }),
        )
        .await?;
    assert_eq!(refused["ok"], true, "ok whenever validation ran: {refused}");
    let errors = refused["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(with_code(&errors, "AGENT_NOT_FOUND").len(), 1, "{refused}");
    assert!(errors.iter().all(|d| d["severity"] == "error"), "{refused}");
    assert!(refused["warnings"].is_array(), "{refused}");

    // A definition that does not even parse is still a validation result.
    let broken = env
        .control(
            ControlSubject::WorkflowsValidate,
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
        env.control(ControlSubject::WorkflowsList, json!({}))
            .await?["workflows"],
        json!([])
    );
    Ok(())
}

/// Acceptance case `TestAPI_UpdateWorkflow_BreaksSchema`: a new revision whose
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
        .try_control(ControlSubject::WorkflowsPut, json!({ "source": broken }))
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
        .control(
            ControlSubject::WorkflowsGet,
            json!({ "id": "valid-pipeline" }),
        )
        .await?;
    assert_eq!(latest["workflow"]["version"], 1, "{latest}");
    assert_eq!(latest["workflow"]["source"], VALID_PIPELINE, "{latest}");
    let listed = env
        .control(ControlSubject::WorkflowsList, json!({}))
        .await?;
    assert_eq!(listed["workflows"][0]["version"], 1, "{listed}");
    assert_eq!(
        code_of(
            &env.try_control(
                ControlSubject::WorkflowsGet,
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
        .control(ControlSubject::WorkflowsPut, json!({ "source": renamed }))
        .await?;
    assert_eq!(
        (put["version"].as_i64(), put["created"].as_bool()),
        (Some(2), Some(true)),
        "{put}"
    );
    Ok(())
}
