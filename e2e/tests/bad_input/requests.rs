//! Malformed signals and bad control requests: refused with their codes,
//! counted, and nothing created.

use crate::{WAIT, one_step};
use junction_bus::{ControlSubject, RunVerb};
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};

#[tokio::test]
async fn malformed_signals_are_rejected_counted_and_intake_continues() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(&one_step("sig", "echo", "")).await?;
    env.publish_raw_signal("sig", b"{ not json".to_vec())
        .await?;
    env.publish_raw_signal(
        "sig",
        br#"{"specversion":"1.0","source":"x","type":"sig"}"#.to_vec(),
    )
    .await?;
    env.publish_raw_signal(
        "sig",
        br#"{"specversion":"1.0","id":"t1","source":"x","type":"other"}"#.to_vec(),
    )
    .await?;
    env.publish_raw_signal(
        "sig",
        br#"{"specversion":"1.0","id":"t2","source":"x","type":"sig","data":[1]}"#.to_vec(),
    )
    .await?;
    env.publish_signal("sig", "bad-input", json!({ "n": "not an integer" }))
        .await?;
    env.publish_signal("sig", "good", json!({ "n": 1 })).await?;

    let run_id = env.wait_for_signal_run("good", WAIT).await?;
    assert_eq!(
        env.wait_for_end(&run_id, WAIT).await?["status"],
        "COMPLETED"
    );
    let all = env.control(ControlSubject::RunsList, json!({})).await?;
    assert_eq!(
        all["runs"].as_array().map(Vec::len),
        Some(1),
        "no run from any bad signal"
    );
    let metrics = env.http_get("/metrics").await?;
    for reason in [
        "malformed_json",
        "missing_id",
        "type_mismatch",
        "data_not_object",
        "input_schema",
    ] {
        assert!(
            metrics.contains(&format!(
                "junction_signals_rejected_total{{reason=\"{reason}\"}} 1"
            )),
            "{reason} counted:\n{metrics}"
        );
    }
    let outbox_age = metrics
        .lines()
        .find_map(|line| line.strip_prefix("junction_outbox_oldest_age_seconds "))
        .and_then(|value| value.trim().parse::<f64>().ok());
    assert!(
        outbox_age.is_some_and(|age| age >= 0.0),
        "the outbox gauge:\n{metrics}"
    );
    for consumer in [
        env.subjects.signal_intake_consumer(),
        env.subjects.event_intake_consumer(),
    ] {
        let series = format!("junction_consumer_pending{{consumer=\"{consumer}\"}} ");
        assert!(
            metrics.lines().any(|line| line.starts_with(&series)),
            "{consumer} pending:\n{metrics}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_pinned_error_codes_and_create_nothing() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(&one_step("typed", "echo", "")).await?;
    bad_requests_are_refused_with_their_codes(&env).await?;
    a_broken_workflow_is_refused_and_not_stored(&env).await?;
    let runs = env.control(ControlSubject::RunsList, json!({})).await?;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(0));
    Ok(())
}

/// Unknown ids, bad inputs and names, unparsable bodies and unknown subjects.
async fn bad_requests_are_refused_with_their_codes(env: &TestEnv) -> anyhow::Result<()> {
    for (subject, body, code) in [
        (
            ControlSubject::RunStart,
            json!({ "workflow_id": "nope" }),
            "NOT_FOUND",
        ),
        (
            ControlSubject::RunStart,
            json!({ "workflow_id": "typed", "input": [1] }),
            "INVALID_REQUEST",
        ),
        (
            ControlSubject::RunStart,
            json!({ "workflow_id": "typed", "input": { "n": "x" } }),
            "INPUT_SCHEMA",
        ),
        (
            ControlSubject::run("bogus-id", RunVerb::Get),
            json!({}),
            "NOT_FOUND",
        ),
        (
            ControlSubject::AgentsPut,
            json!({ "name": "Bad Name" }),
            "INVALID_REQUEST",
        ),
    ] {
        let what = format!("{subject} {body}");
        assert_eq!(env.control_error(subject, body).await?, code, "{what}");
    }
    // Raw requests no typed subject expresses: a body that is not JSON, and
    // a subject that names no control verb.
    let code = |payload: &[u8]| -> anyhow::Result<String> {
        let reply: Value = serde_json::from_slice(payload)?;
        Ok(reply["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    };
    let raw = env
        .nats
        .request(
            env.subjects.control_subject(&ControlSubject::RunsList),
            "{oops".into(),
        )
        .await?;
    assert_eq!(code(&raw.payload)?, "INVALID_REQUEST");
    let unknown = env
        .nats
        .request(env.subjects.control("runs.nope"), "{}".into())
        .await?;
    assert_eq!(code(&unknown.payload)?, "NOT_FOUND");
    Ok(())
}

/// A workflow with a dangling target is refused with its diagnostic,
/// validates with errors, and is not stored.
async fn a_broken_workflow_is_refused_and_not_stored(env: &TestEnv) -> anyhow::Result<()> {
    let broken = "id: broken\nstates:\n  - name: a\n    type: operation\n    action: agent.run\n    input: { agent: echo }\n    next: nowhere\n";
    let put = env
        .try_control(ControlSubject::WorkflowsPut, json!({ "source": broken }))
        .await?;
    assert_eq!(put["error"]["code"], "VALIDATION_FAILED", "{put}");
    let diagnostics = put["error"]["details"]["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        diagnostics.iter().any(|d| d["code"] == "DANGLING_TARGET"
            && d["path"] == "states[0].next"
            && d["severity"] == "error"),
        "{put}"
    );
    let validated = env
        .control(
            ControlSubject::WorkflowsValidate,
            json!({ "source": broken }),
        )
        .await?;
    assert_eq!(
        validated["ok"], true,
        "validate answers ok even with errors"
    );
    assert!(!validated["errors"].as_array().is_none_or(Vec::is_empty));
    assert_eq!(
        env.control_error(ControlSubject::WorkflowsGet, json!({ "id": "broken" }))
            .await?,
        "NOT_FOUND",
        "nothing was stored"
    );
    Ok(())
}
