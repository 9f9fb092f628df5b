//! U+0000 (NUL), which Postgres text and jsonb cannot hold, and failures
//! the database refuses for good: a signal carrying one is rejected
//! `invalid_value` (acked, counted once, never redelivered); a control
//! request carrying one is `INVALID_REQUEST` over NATS and 400 over HTTP; a
//! step producing one fails `INVALID_OUTPUT`, never retried; and a
//! transition the database refuses for good fails its step with the
//! database's own report instead of being retried for ever.

use crate::{WAIT, failed_run, one_step};
use junction_bus::{ControlSubject, Decision, RunVerb};
use junction_core::wire::agent::{AgentError, AgentReply};
use junction_e2e::{TestEnv, http_get_status_at, http_post_status_at};
use junction_example_agents::Registry;
use serde_json::{Value, json};

const NUL: &str = "a\u{0}b";

#[tokio::test]
async fn a_nul_signal_is_acked_counted_once_and_never_redelivered() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(&one_step("nulsig", "echo", "")).await?;
    // Structured mode: NUL in data, and in an extension.
    let event = |id: &str, data: Value| json!({ "specversion": "1.0", "id": id, "source": "e2e", "type": "nulsig", "data": data });
    env.publish_raw_signal(
        "nulsig",
        serde_json::to_vec(&event("nul-data", json!({ "n": 1, "s": NUL })))?,
    )
    .await?;
    let mut extension = event("nul-ext", json!({ "n": 1 }));
    extension["note"] = json!(NUL);
    env.publish_raw_signal("nulsig", serde_json::to_vec(&extension)?)
        .await?;
    // Binary mode: a percent-encoded NUL in a `ce-` header.
    let mut headers = async_nats::HeaderMap::new();
    for (name, value) in [
        ("ce-specversion", "1.0"),
        ("ce-id", "nul%00header"),
        ("ce-source", "e2e"),
        ("ce-type", "nulsig"),
        ("content-type", "application/json"),
    ] {
        headers.insert(name, value);
    }
    async_nats::jetstream::new(env.nats.clone())
        .publish_with_headers(env.subjects.signal("nulsig"), headers, "{}".into())
        .await?
        .await?;
    env.publish_signal("nulsig", "fine", json!({ "n": 2 }))
        .await?;

    let run_id = env.wait_for_signal_run("fine", WAIT).await?;
    assert_eq!(
        env.wait_for_end(&run_id, WAIT).await?["status"],
        "COMPLETED"
    );
    env.wait_for_signals_handled(4).await?;
    let (_, info) = env
        .consumer_state(
            &env.subjects.signals_stream(),
            &env.subjects.signal_intake_consumer(),
        )
        .await?;
    assert_eq!(
        info.delivered.consumer_sequence, 4,
        "each signal delivered once: no redelivery"
    );
    let metrics = env.http_get("/metrics").await?;
    assert!(
        metrics.contains("junction_signals_rejected_total{reason=\"invalid_value\"} 3"),
        "three NUL signals counted once each:\n{metrics}"
    );
    let runs = env.control(ControlSubject::RunsList, json!({})).await?;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(1), "{runs}");
    Ok(())
}

#[tokio::test]
async fn nul_control_requests_are_invalid_request_over_nats_and_http() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(&one_step("typed", "echo", "")).await?;
    let workflow = one_step("other", "echo", "").replace("name: only", "name: o\u{0}nly");
    for (subject, body) in [
        (
            ControlSubject::RunStart,
            json!({ "workflow_id": "typed", "input": { "n": 1, "s": NUL } }),
        ),
        (
            ControlSubject::RunStart,
            json!({ "workflow_id": "typed", "input": { "n": 1, "k\u{0}": 1 } }),
        ),
        (ControlSubject::RunStart, json!({ "workflow_id": NUL })),
        (
            ControlSubject::RunStart,
            json!({ "workflow_id": "typed", "\u{0}": 1 }),
        ),
        (ControlSubject::WorkflowsPut, json!({ "source": workflow })),
        (
            ControlSubject::WorkflowsValidate,
            json!({ "source": workflow }),
        ),
        (
            ControlSubject::AgentsPut,
            json!({ "name": "nul-agent", "description": NUL }),
        ),
        (
            ControlSubject::approval("some-approval", Decision::Approve),
            json!({ "comment": NUL }),
        ),
        (
            ControlSubject::run("some-run", RunVerb::Signal),
            json!({ "name": "go", "data": { "s": NUL } }),
        ),
        (ControlSubject::RunsList, json!({ "workflow_id": NUL })),
    ] {
        let what = format!("{subject} {body}");
        assert_eq!(
            env.control_error(subject, body).await?,
            "INVALID_REQUEST",
            "{what}"
        );
    }

    // An escape in the source puts a NUL in the definition, not the request.
    let escaped =
        "id: escaped\nstates:\n  - { name: a, type: inject, data: { s: \"a\\0b\" }, end: true }\n";
    let put = env
        .try_control(ControlSubject::WorkflowsPut, json!({ "source": escaped }))
        .await?;
    assert_eq!(put["error"]["code"], "VALIDATION_FAILED", "{put}");
    assert_eq!(
        put["error"]["details"]["diagnostics"][0]["code"], "INVALID_VALUE",
        "{put}"
    );

    let addr = env.coordinator_http().await?;
    let nul_run = json!({ "workflow_id": "typed", "input": { "n": 1, "s": NUL } });
    for (path, body) in [
        ("/v1/runs", nul_run),
        ("/v1/workflows", json!({ "source": workflow })),
        (
            "/v1/runs/some-run/signal",
            json!({ "name": "go", "data": { "k\u{0}": 1 } }),
        ),
        (
            "/v1/approvals/some-approval/approve",
            json!({ "comment": NUL }),
        ),
    ] {
        let (status, reply) = http_post_status_at(&addr, path, &body).await?;
        assert_eq!(status, 400, "POST {path}: {reply}");
        assert!(reply.contains("INVALID_REQUEST"), "POST {path}: {reply}");
    }
    for path in [
        "/v1/runs/a%00b",
        "/v1/workflows/a%00b",
        "/v1/runs?workflow_id=a%00b",
        "/v1/runs/a%00b/events",
    ] {
        let (status, reply) = http_get_status_at(&addr, path).await?;
        assert_eq!(status, 400, "GET {path}: {reply}");
    }
    let runs = env.control(ControlSubject::RunsList, json!({})).await?;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(0), "{runs}");
    assert!(
        !env.logs().contains("db error"),
        "no request reached the database"
    );
    Ok(())
}

const AGENT_THEN_TRANSFORM: &str = r#"
id: shaped
states:
  - name: ask
    type: operation
    action: agent.run
    input: { agent: echo }
    resultPath: steps.ask
    next: shape
  - name: shape
    type: transform
    expression: "{'text': 'a' + chr(0) + 'b'}"
    end: true
"#;

#[tokio::test]
async fn a_transform_yielding_nul_fails_its_run_with_invalid_output() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(AGENT_THEN_TRANSFORM).await?;
    let caught = AGENT_THEN_TRANSFORM
        .replace("id: shaped", "id: caught")
        .replace(
            "    end: true\n",
            "    catch:\n      - { errors: [INVALID_OUTPUT], next: fallback, resultPath: steps.error }\n    end: true\n  - { name: fallback, type: inject, data: { handled: true }, end: true }\n",
        );
    env.put_workflow(&caught).await?;

    let run = failed_run(&env, "shaped", json!({ "q": 1 })).await?;
    assert_eq!(run["error"]["code"], "INVALID_OUTPUT", "{run}");
    assert_eq!(run["error"]["state"], "shape", "{run}");

    let run_id = env.start_run("caught", json!({ "q": 1 })).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["context"]["ctx"]["handled"], true, "{run}");
    assert_eq!(run["context"]["steps"]["error"]["code"], "INVALID_OUTPUT");
    assert!(
        !env.logs().contains("could not advance run"),
        "no result was retried"
    );
    Ok(())
}

#[tokio::test]
async fn an_agent_replying_nul_fails_its_step_with_invalid_output_once() -> anyhow::Result<()> {
    let registry = Registry::builtin()
        .with("nul-output", |_| async move {
            AgentReply::Output(json!({ "text": NUL }))
        })
        .with("nul-error", |_| async move {
            AgentReply::Error(AgentError {
                code: "SAID_NUL".into(),
                message: NUL.into(),
                retryable: Some(true),
            })
        });
    let env = TestEnv::cluster(registry, 1).await?;
    let retried = "    retry: { maxAttempts: 3 }\n";
    env.put_workflow(&one_step("nulout", "nul-output", retried))
        .await?;
    env.put_workflow(&one_step("nulerr", "nul-error", retried))
        .await?;
    for (workflow, agent) in [("nulout", "nul-output"), ("nulerr", "nul-error")] {
        let run = failed_run(&env, workflow, json!({})).await?;
        assert_eq!(run["error"]["code"], "INVALID_OUTPUT", "{run}");
        assert_eq!(run["steps"].as_array().map(Vec::len), Some(1), "{run}");
        assert_eq!(env.calls.count_for(agent), 1, "{agent} called once");
    }
    Ok(())
}

#[tokio::test]
async fn a_transition_the_database_refuses_for_good_fails_the_step_with_the_cause()
-> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(&one_step("refused", "echo", "")).await?;
    // The database now refuses every completed run: the step's result can
    // never be committed as it is.
    env.db()
        .await?
        .batch_execute(
            "ALTER TABLE runs ADD CONSTRAINT e2e_never_completes CHECK (status <> 'COMPLETED') NOT VALID",
        )
        .await?;
    let run = failed_run(&env, "refused", json!({ "n": 1 })).await?;
    assert_eq!(run["error"]["code"], "INTERNAL", "{run}");
    let message = run["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("23514") && message.contains("e2e_never_completes"),
        "the database's own report: {run}"
    );
    Ok(())
}

/// A valid signal that fails for good (here, the workflow it triggers has
/// a latest revision whose stored IR no longer compiles, written behind
/// the coordinator's back) is dropped with its cause logged, counted
/// `unprocessable`, and never redelivered.
#[tokio::test]
async fn a_signal_that_fails_for_good_is_counted_unprocessable_and_not_redelivered()
-> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(&one_step("broken", "echo", "")).await?;
    env.db()
        .await?
        .batch_execute(
            "UPDATE definitions SET archived = true WHERE workflow_id = 'broken';
             INSERT INTO definitions (tenant, workflow_id, version, source, format, checksum, ir, trigger_signal)
             VALUES ('default', 'broken', 2, 'id: broken', 'yaml', 'x', '{\"not\": \"an ir\"}', 'broken')",
        )
        .await?;
    env.publish_signal("broken", "doomed", json!({ "n": 1 }))
        .await?;
    env.wait_for_signals_handled(1).await?;
    let (_, info) = env
        .consumer_state(
            &env.subjects.signals_stream(),
            &env.subjects.signal_intake_consumer(),
        )
        .await?;
    assert_eq!(info.delivered.consumer_sequence, 1, "delivered once");
    let metrics = env.http_get("/metrics").await?;
    assert!(
        metrics.contains("junction_signals_rejected_total{reason=\"unprocessable\"} 1"),
        "{metrics}"
    );
    assert!(
        env.logs().contains("cannot process signal; dropped"),
        "the cause is logged"
    );
    let runs = env.control(ControlSubject::RunsList, json!({})).await?;
    assert_eq!(runs["runs"], json!([]), "{runs}");
    Ok(())
}
