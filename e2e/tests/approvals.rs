//! Human approvals over NATS: Station's incident-triage example is
//! approved with a real `wf.ctl.approval.<id>.approve` request; a second run
//! is rejected, and a third times out.

use junction_bus::{ControlSubject, Decision};
use junction_core::wire::agent::AgentRequest;
use junction_e2e::TestEnv;
use junction_example_agents::{Registry, Reply};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn triage_agents() -> Registry {
    Registry::builtin()
        .with("k8s-pod-checker", |_r: AgentRequest| async {
            Reply::output(json!({ "pods": [{ "name": "api-1", "ready": false }] }))
        })
        .with("slo-analyzer", |_r: AgentRequest| async {
            Reply::output(json!({ "error_rate": 0.3 }))
        })
        .with("k8s-remediator", |_r: AgentRequest| async {
            Reply::output(json!({ "result": "restarted api-1" }))
        })
        .with("notification-sender", |r: AgentRequest| async move {
            Reply::output(json!({ "sent": r.variables }))
        })
}

fn appendix(timeout_seconds: u64) -> anyhow::Result<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/station/incident-triage.workflow.yaml");
    let source = std::fs::read_to_string(path)?;
    Ok(source.replace(
        "timeoutSeconds: 3600",
        &format!("timeoutSeconds: {timeout_seconds}"),
    ))
}

fn triage_input() -> Value {
    json!({ "namespace": "prod", "service": "api" })
}

#[tokio::test]
async fn the_incident_triage_workflow_is_approved_rejected_and_timed_out() -> anyhow::Result<()> {
    let env = TestEnv::cluster(triage_agents(), 1).await?;
    env.put_workflow(&appendix(3600)?).await?;
    approved_over_nats_the_run_mitigates_and_notifies(&env).await?;
    rejected_the_run_fails(&env).await?;
    undecided_the_approval_times_out(&env).await?;
    unknown_approvals_and_bad_statuses_are_refused(&env).await
}

/// Approved over NATS: the run goes on to mitigate and notify; a second
/// decision is refused.
async fn approved_over_nats_the_run_mitigates_and_notifies(env: &TestEnv) -> anyhow::Result<()> {
    let run_id = env.start_run("incident-triage", triage_input()).await?;
    let approval = env.pending_approval(&run_id).await?;
    assert_eq!(approval["state"], "request_approval");
    assert_eq!(
        approval["message"],
        "Error rate high (0.3). Approve mitigation?"
    );
    assert_eq!(approval["summary"]["errors"]["result"]["error_rate"], 0.3);
    assert!(approval["expires_at"].is_string());
    let run = env.get_run(&run_id).await?;
    assert_eq!(run["status"], "WAITING_APPROVAL");
    let id = approval["id"].as_str().unwrap_or_default().to_owned();
    let decided = env
        .control(
            ControlSubject::approval(&id, Decision::Approve),
            json!({ "actor": "alice", "comment": "go" }),
        )
        .await?;
    assert_eq!(decided["status"], "APPROVED");
    let again = env
        .control_error(
            ControlSubject::approval(&id, Decision::Reject),
            json!({ "actor": "bob" }),
        )
        .await?;
    assert_eq!(again, "ALREADY_DECIDED");
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        run["context"]["steps"]["mitigation"]["result"],
        "restarted api-1"
    );
    let events = env.events(&run_id).await?;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let requested = kinds
        .iter()
        .position(|k| *k == "workflow.approval.requested");
    let approved = kinds
        .iter()
        .position(|k| *k == "workflow.approval.approved");
    assert!(requested.is_some() && requested < approved, "{kinds:?}");
    let approved_event = &events[approved.unwrap_or_default()];
    assert_eq!(approved_event["data"]["actor"], "alice");
    assert_eq!(approved_event["data"]["approval_id"], id.as_str());
    Ok(())
}

/// Rejected: the run fails with `APPROVAL_REJECTED`.
async fn rejected_the_run_fails(env: &TestEnv) -> anyhow::Result<()> {
    let run_id = env.start_run("incident-triage", triage_input()).await?;
    let approval = env.pending_approval(&run_id).await?;
    let id = approval["id"].as_str().unwrap_or_default();
    let decided = env
        .control(
            ControlSubject::approval(id, Decision::Reject),
            json!({ "actor": "bob", "comment": "too risky" }),
        )
        .await?;
    assert_eq!(decided["status"], "REJECTED");
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(run["error"]["code"], "APPROVAL_REJECTED");
    Ok(())
}

/// Nobody decides within the step's timeout.
async fn undecided_the_approval_times_out(env: &TestEnv) -> anyhow::Result<()> {
    env.put_workflow(&appendix(1)?).await?;
    let run_id = env.start_run("incident-triage", triage_input()).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(run["error"]["code"], "APPROVAL_TIMED_OUT");
    let listed = env
        .control(ControlSubject::ApprovalsList, json!({ "run_id": run_id }))
        .await?;
    assert_eq!(listed["approvals"][0]["status"], "TIMED_OUT", "{listed}");
    Ok(())
}

/// Unknown approvals and bad statuses get clear errors.
async fn unknown_approvals_and_bad_statuses_are_refused(env: &TestEnv) -> anyhow::Result<()> {
    let unknown = env
        .control_error(
            ControlSubject::approval("nope", Decision::Approve),
            json!({}),
        )
        .await?;
    assert_eq!(unknown, "NOT_FOUND");
    let bad = env
        .control_error(ControlSubject::ApprovalsList, json!({ "status": "MAYBE" }))
        .await?;
    assert_eq!(bad, "INVALID_REQUEST");
    Ok(())
}
