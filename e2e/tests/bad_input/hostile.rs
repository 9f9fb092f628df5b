//! Hostile JSON everywhere: nesting far past the parsers' recursion limit
//! and bodies past the payload limit, sent to the control plane over NATS
//! and HTTP, as signals and as an agent's reply. Each gets its code
//! (`INVALID_REQUEST`, `PAYLOAD_TOO_LARGE`, a counted signal rejection, a
//! failed step with `BAD_AGENT_REPLY` or `PAYLOAD_TOO_LARGE`), and the
//! processes are still alive and serving afterwards.

use crate::{WAIT, failed_run, one_step};
use junction_bus::{ControlSubject, Decision, RunVerb};
use junction_e2e::TestEnv;
use junction_example_agents::{Registry, Reply};
use serde_json::{Value, json};
use std::time::Duration;

/// Deeper than any parser here accepts (serde_json and the YAML parser stop
/// at 128).
const DEEP: usize = 10_000;
/// The payload limit of the cluster (`limits.payload_bytes`), below NATS's
/// 1 MiB message limit so that a request past it can still be sent.
const PAYLOAD_LIMIT: &str = "262144";
/// More than that limit plus the room for a request's envelope (16 KiB),
/// and more than the signal limit (256 KiB).
const OVERSIZED: usize = 300 * 1024;

/// `n` opening brackets around `1`, closed: valid JSON no parser here takes.
fn deep_array(n: usize) -> String {
    format!("{}1{}", "[".repeat(n), "]".repeat(n))
}

/// `{"a":{"a":…1…}}` `n` deep, as a value within the parsers' limit.
fn nested(n: usize) -> Value {
    (0..n).fold(json!(1), |inner, _| json!({ "a": inner }))
}

/// The agents: `deep` answers with nesting past the limit, `huge` with an
/// output past the payload limit, `nested` with an output as deep as a reply
/// may be.
fn registry() -> Registry {
    Registry::builtin()
        .with("deep", |_| async move {
            Reply::Raw(format!("{{\"output\":{}}}", deep_array(DEEP)).into_bytes())
        })
        .with("huge", |_| async move {
            Reply::output(json!({ "blob": "x".repeat(OVERSIZED) }))
        })
        .with("nested", |_| async move { Reply::output(nested(120)) })
}

/// The error code of a raw NATS control request.
async fn nats_code(env: &TestEnv, what: ControlSubject, body: Vec<u8>) -> anyhow::Result<String> {
    let reply = env
        .nats
        .request(env.subjects.control_subject(&what), body.into())
        .await?;
    let reply: Value = serde_json::from_slice(&reply.payload)?;
    Ok(reply["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// A raw HTTP/1.1 request; returns the status and the body.
async fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> anyhow::Result<(u16, Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    // The server may answer (and close) before reading a refused body.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("{method} {path}: no body in {response:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{method} {path}: no status in {head:?}"))?;
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

#[tokio::test]
async fn hostile_json_gets_its_codes_and_every_process_keeps_serving() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(registry()).await?;
    let limit = [("JUNCTION_LIMITS__PAYLOAD_BYTES", PAYLOAD_LIMIT)];
    env.start_coordinator("coordinator", &limit).await?;
    env.start_worker("worker-1", &limit).await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(&one_step("typed", "echo", "")).await?;
    deep_and_oversized_control_requests_over_nats(&env).await?;
    deep_and_oversized_control_requests_over_http(&env).await?;
    deep_and_oversized_signals_are_rejected_and_counted(&env).await?;
    deep_and_oversized_agent_replies_fail_their_step(&env).await?;

    // Everyone is alive and serving: members listed, a run completes.
    for process in &mut env.processes {
        assert!(process.is_running(), "a process died:\n{}", env.logs());
    }
    env.wait_for_members(1, 1).await?;
    let run_id = env.start_run("typed", json!({ "n": 1 })).await?;
    assert_eq!(
        env.wait_for_end(&run_id, WAIT).await?["status"],
        "COMPLETED"
    );
    Ok(())
}

async fn deep_and_oversized_control_requests_over_nats(env: &TestEnv) -> anyhow::Result<()> {
    let deep_input = format!(
        "{{\"workflow_id\":\"typed\",\"input\":{{\"x\":{}}}}}",
        deep_array(DEEP)
    );
    let big_input = json!({ "workflow_id": "typed", "input": { "x": "x".repeat(OVERSIZED) } });
    for (what, body, code) in [
        (
            ControlSubject::RunsList,
            deep_array(DEEP).into_bytes(),
            "INVALID_REQUEST",
        ),
        (
            ControlSubject::RunStart,
            deep_input.into_bytes(),
            "INVALID_REQUEST",
        ),
        (
            ControlSubject::RunStart,
            serde_json::to_vec(&big_input)?,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            ControlSubject::WorkflowsPut,
            format!("{{\"source\":{}}}", deep_array(DEEP)).into_bytes(),
            "INVALID_REQUEST",
        ),
        (
            ControlSubject::approval("a", Decision::Approve),
            format!("{{\"comment\":{}}}", deep_array(DEEP)).into_bytes(),
            "INVALID_REQUEST",
        ),
        (
            ControlSubject::approval("a", Decision::Approve),
            serde_json::to_vec(&json!({ "comment": "x".repeat(OVERSIZED) }))?,
            "PAYLOAD_TOO_LARGE",
        ),
    ] {
        let label = format!("{what}");
        assert_eq!(nats_code(env, what, body).await?, code, "{label}");
    }
    // A definition whose document nests past the parser's limit, in YAML and
    // in JSON: refused with a diagnostic that has a line.
    for source in [
        format!("id: deep\nstates: {}\n", deep_array(DEEP)),
        format!("{{\"id\":\"deep\",\"states\":{}}}", deep_array(DEEP)),
        format!(
            "id: deep\nstates:\n  - {{ name: a, type: inject, data: {}, end: true }}\n",
            deep_array(200)
        ),
    ] {
        let put = env
            .try_control(ControlSubject::WorkflowsPut, json!({ "source": source }))
            .await?;
        assert_eq!(put["error"]["code"], "VALIDATION_FAILED", "{put}");
        let diagnostics = &put["error"]["details"]["diagnostics"];
        assert!(diagnostics[0]["line"].is_u64(), "{put}");
    }
    // A signal into a run, its data past the payload limit.
    let run_id = env.start_run("typed", json!({ "n": 1 })).await?;
    let code = env
        .control_error(
            ControlSubject::run(&run_id, RunVerb::Signal),
            json!({ "name": "go", "data": { "x": "x".repeat(OVERSIZED) } }),
        )
        .await?;
    assert_eq!(code, "PAYLOAD_TOO_LARGE");
    env.wait_for_end(&run_id, WAIT).await?;
    Ok(())
}

async fn deep_and_oversized_control_requests_over_http(env: &TestEnv) -> anyhow::Result<()> {
    let addr = env.coordinator_http().await?;
    let deep = deep_array(DEEP).into_bytes();
    let big = serde_json::to_vec(
        &json!({ "workflow_id": "typed", "input": { "x": "x".repeat(OVERSIZED) } }),
    )?;
    let huge = vec![b' '; 4 << 20];
    for (method, path, body, status, code) in [
        ("POST", "/v1/runs", &deep, 400, "INVALID_REQUEST"),
        ("POST", "/v1/workflows", &deep, 400, "INVALID_REQUEST"),
        (
            "POST",
            "/v1/workflows/validate",
            &deep,
            400,
            "INVALID_REQUEST",
        ),
        (
            "POST",
            "/v1/approvals/a/approve",
            &deep,
            400,
            "INVALID_REQUEST",
        ),
        ("POST", "/v1/runs", &big, 413, "PAYLOAD_TOO_LARGE"),
        ("POST", "/v1/runs", &huge, 413, "PAYLOAD_TOO_LARGE"),
        (
            "POST",
            "/v1/approvals/a/reject",
            &big,
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ] {
        let (got, reply) = http(&addr, method, path, body).await?;
        assert_eq!(
            (got, reply["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {reply}"
        );
    }
    Ok(())
}

async fn deep_and_oversized_signals_are_rejected_and_counted(env: &TestEnv) -> anyhow::Result<()> {
    env.put_workflow(&one_step("sig", "echo", "")).await?;
    let event = |id: &str, data: &str| {
        format!(
            "{{\"specversion\":\"1.0\",\"id\":\"{id}\",\"source\":\"x\",\"type\":\"sig\",\"data\":{data}}}"
        )
    };
    env.publish_raw_signal("sig", deep_array(DEEP).into_bytes())
        .await?;
    env.publish_raw_signal(
        "sig",
        event("deep", &format!("{{\"x\":{}}}", deep_array(DEEP))).into_bytes(),
    )
    .await?;
    let big = format!("{{\"x\":\"{}\"}}", "x".repeat(OVERSIZED));
    env.publish_raw_signal("sig", event("big", &big).into_bytes())
        .await?;
    env.publish_signal("sig", "good", json!({ "n": 1 })).await?;
    let run_id = env.wait_for_signal_run("good", WAIT).await?;
    assert_eq!(
        env.wait_for_end(&run_id, WAIT).await?["status"],
        "COMPLETED"
    );
    let metrics = env.http_get("/metrics").await?;
    for (reason, count) in [("malformed_json", 2), ("too_large", 1)] {
        let line = format!("junction_signals_rejected_total{{reason=\"{reason}\"}} {count}");
        assert!(metrics.contains(&line), "{line}:\n{metrics}");
    }
    Ok(())
}

async fn deep_and_oversized_agent_replies_fail_their_step(env: &TestEnv) -> anyhow::Result<()> {
    for (agent, code) in [("deep", "BAD_AGENT_REPLY"), ("huge", "PAYLOAD_TOO_LARGE")] {
        env.put_workflow(&one_step(agent, agent, "")).await?;
        let run = failed_run(env, agent, json!({})).await?;
        assert_eq!(run["error"]["code"], code, "{run}");
        assert!(
            run["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{run}"
        );
    }
    // An output as deep as a reply may be: the run ends, whatever the
    // nesting its context and events reach.
    env.put_workflow(&one_step("nested", "nested", "")).await?;
    let run_id = env.start_run("nested", json!({})).await?;
    let run = env.wait_for_end(&run_id, Duration::from_secs(60)).await?;
    assert!(
        run["status"] == "COMPLETED" || run["error"]["code"].is_string(),
        "{run}"
    );
    Ok(())
}
