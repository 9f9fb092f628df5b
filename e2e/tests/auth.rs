//! Auth on (PROTOCOL §6, §8.13) against a real coordinator started with
//! `JUNCTION_AUTH__TOKENS_FILE`:
//!
//! - no token or an unknown one is `UNAUTHENTICATED`; a tenant the token does
//!   not list is `FORBIDDEN`; `cluster.members` stays open;
//! - an approval with `approvers: [team:release]` is `FORBIDDEN` to a token
//!   without that group, and approved by one with it, the recorded actor
//!   being the token's identity whatever the payload claims (cancel too);
//! - a run of tenant `acme` is `NOT_FOUND` to a token of tenant `default`,
//!   over NATS and HTTP (`/v1/runs/{id}`, `/events`, `/stream`);
//! - HTTP without `Authorization: Bearer` is 401, health stays open;
//! - a missing or malformed tokens file stops the coordinator with exit 2.

use anyhow::Context;
use junction_bus::{ControlSubject, Decision, RunVerb};
use junction_e2e::TestEnv;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(60);

const TOKENS: &str = r#"{"tokens":[
  {"token":"t-alice","identity":"alice","groups":["release"],"tenants":["default"]},
  {"token":"t-bob","identity":"bob","groups":["ops"],"tenants":["default"]},
  {"token":"t-carol","identity":"carol","groups":["release"],"tenants":["acme"]}
]}"#;

/// Waits for the release team, then ends with an `inject` state.
const GATED: &str = r#"
id: gated
states:
  - name: ask
    type: human_approval
    message: "Ship?"
    approvers: ["team:release"]
    next: done
  - { name: done, type: inject, data: { shipped: true }, end: true }
"#;

/// `body` with `token` (and `tenant`, when given) added.
fn with(token: &str, tenant: Option<&str>, mut body: Value) -> Value {
    body["token"] = json!(token);
    if let Some(tenant) = tenant {
        body["tenant"] = json!(tenant);
    }
    body
}

fn code(reply: &Value) -> &str {
    reply["error"]["code"].as_str().unwrap_or_default()
}

async fn auth_env() -> anyhow::Result<TestEnv> {
    let mut env = TestEnv::new().await?;
    let file = env.dir.path().join("tokens.json");
    std::fs::write(&file, TOKENS)?;
    let file = file.display().to_string();
    env.start_coordinator("coordinator", &[("JUNCTION_AUTH__TOKENS_FILE", &file)])
        .await?;
    // `cluster.members` needs no token.
    env.wait_for_members(1, 0).await?;
    Ok(env)
}

async fn wait_for_status(
    env: &TestEnv,
    token: &str,
    tenant: Option<&str>,
    run_id: &str,
    status: &str,
) -> anyhow::Result<Value> {
    let body = with(token, tenant, json!({}));
    env.eventually(&format!("run {run_id} {status}"), WAIT, || async {
        let reply = env
            .control(ControlSubject::run(run_id, RunVerb::Get), body.clone())
            .await?;
        Ok((reply["run"]["status"] == status).then(|| reply["run"].clone()))
    })
    .await
}

async fn run_events(
    env: &TestEnv,
    token: &str,
    tenant: Option<&str>,
    run_id: &str,
) -> anyhow::Result<Vec<Value>> {
    let reply = env
        .control(
            ControlSubject::run(run_id, RunVerb::Events),
            with(token, tenant, json!({ "limit": 1000 })),
        )
        .await?;
    Ok(reply["events"].as_array().cloned().unwrap_or_default())
}

/// A raw HTTP/1.1 GET; returns the status and body.
async fn http_get(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    // Read the head only: a stream (SSE) never ends by itself.
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    while !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .context("HTTP response timed out")??;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad response {text:?}"))?;
    Ok((status, text))
}

/// Stores `GATED` and starts a run of it as `token` in `tenant`; returns the run id.
async fn start_gated(env: &TestEnv, token: &str, tenant: Option<&str>) -> anyhow::Result<String> {
    env.control(
        ControlSubject::WorkflowsPut,
        with(token, tenant, json!({ "source": GATED })),
    )
    .await?;
    let started = env
        .control(
            ControlSubject::RunStart,
            with(token, tenant, json!({ "workflow_id": "gated" })),
        )
        .await?;
    Ok(started["run_id"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn requests_without_a_valid_token_or_tenant_are_refused() -> anyhow::Result<()> {
    let env = auth_env().await?;
    // No token, an unknown token: UNAUTHENTICATED.
    let reply = env
        .try_control(ControlSubject::WorkflowsList, json!({}))
        .await?;
    assert_eq!(code(&reply), "UNAUTHENTICATED", "{reply}");
    let reply = env
        .try_control(ControlSubject::WorkflowsList, json!({ "token": "nope" }))
        .await?;
    assert_eq!(code(&reply), "UNAUTHENTICATED", "{reply}");
    // A tenant the token does not list: FORBIDDEN.
    let reply = env
        .try_control(
            ControlSubject::WorkflowsList,
            with("t-bob", Some("acme"), json!({})),
        )
        .await?;
    assert_eq!(code(&reply), "FORBIDDEN", "{reply}");
    let reply = env
        .try_control(
            ControlSubject::WorkflowsList,
            with("t-carol", None, json!({})),
        )
        .await?;
    assert_eq!(code(&reply), "FORBIDDEN", "{reply}");
    Ok(())
}

#[tokio::test]
async fn only_the_approver_group_decides_and_the_token_identity_is_recorded() -> anyhow::Result<()>
{
    let env = auth_env().await?;
    let run_id = start_gated(&env, "t-alice", None).await?;
    let approval = env
        .pending_approval_with(&run_id, with("t-bob", None, json!({})))
        .await?;
    let id = approval["id"].as_str().unwrap_or_default().to_owned();
    let reply = env
        .try_control(
            ControlSubject::approval(&id, Decision::Approve),
            with("t-bob", None, json!({ "actor": "alice" })),
        )
        .await?;
    assert_eq!(code(&reply), "FORBIDDEN", "{reply}");
    let reply = env
        .control(
            ControlSubject::approval(&id, Decision::Approve),
            with(
                "t-alice",
                None,
                json!({ "actor": "mallory", "comment": "go" }),
            ),
        )
        .await?;
    assert_eq!(reply["status"], "APPROVED", "{reply}");
    wait_for_status(&env, "t-alice", None, &run_id, "COMPLETED").await?;
    let events = run_events(&env, "t-bob", None, &run_id).await?;
    let approved = events
        .iter()
        .find(|e| e["type"] == "workflow.approval.approved")
        .with_context(|| format!("no approved event: {events:?}"))?;
    assert_eq!(approved["data"]["actor"], "alice", "{approved}");
    let listed = env
        .control(
            ControlSubject::ApprovalsList,
            with("t-alice", None, json!({ "run_id": run_id })),
        )
        .await?;
    assert_eq!(listed["approvals"][0]["actor"], "alice", "{listed}");
    Ok(())
}

#[tokio::test]
async fn another_tenants_run_is_not_found_over_nats_and_http() -> anyhow::Result<()> {
    let env = auth_env().await?;
    let run_id = start_gated(&env, "t-alice", None).await?;
    // Carol's run in `acme` does not exist for `default`.
    let acme_run = start_gated(&env, "t-carol", Some("acme")).await?;
    wait_for_status(&env, "t-carol", Some("acme"), &acme_run, "WAITING_APPROVAL").await?;
    for action in [RunVerb::Get, RunVerb::Events, RunVerb::Cancel] {
        let reply = env
            .try_control(
                ControlSubject::run(&acme_run, action),
                with("t-alice", None, json!({})),
            )
            .await?;
        assert_eq!(code(&reply), "NOT_FOUND", "{action:?}: {reply}");
        // Naming the tenant does not help a token that does not list it.
        let reply = env
            .try_control(
                ControlSubject::run(&acme_run, action),
                with("t-alice", Some("acme"), json!({})),
            )
            .await?;
        assert_eq!(code(&reply), "FORBIDDEN", "{action:?}: {reply}");
    }
    http_needs_a_bearer_token_and_isolates_tenants(&env, &run_id, &acme_run).await?;
    cancel_records_the_token_identity(&env, &acme_run).await
}

/// HTTP: Bearer tokens, 401 without, 404 across tenants; health stays open.
async fn http_needs_a_bearer_token_and_isolates_tenants(
    env: &TestEnv,
    run_id: &str,
    acme_run: &str,
) -> anyhow::Result<()> {
    let addr = env.coordinator_http().await?;
    let (status, _) = http_get(&addr, "/healthz", &[]).await?;
    assert_eq!(status, 200);
    for path in [
        "/v1/runs".to_owned(),
        format!("/v1/runs/{run_id}"),
        format!("/v1/runs/{run_id}/stream"),
    ] {
        let (status, text) = http_get(&addr, &path, &[]).await?;
        assert_eq!(status, 401, "{path}: {text}");
        let (status, text) = http_get(&addr, &path, &[("Authorization", "Bearer nope")]).await?;
        assert_eq!(status, 401, "{path}: {text}");
    }
    let (status, text) = http_get(
        &addr,
        &format!("/v1/runs/{run_id}"),
        &[("Authorization", "Bearer t-alice")],
    )
    .await?;
    assert_eq!(status, 200, "{text}");
    let (status, text) = http_get(
        &addr,
        "/v1/runs",
        &[
            ("Authorization", "Bearer t-alice"),
            ("X-Junction-Tenant", "acme"),
        ],
    )
    .await?;
    assert_eq!(status, 403, "{text}");
    for suffix in ["", "/events", "/stream"] {
        let path = format!("/v1/runs/{acme_run}{suffix}");
        let (status, text) = http_get(&addr, &path, &[("Authorization", "Bearer t-alice")]).await?;
        assert_eq!(status, 404, "{path}: {text}");
        let (status, text) = http_get(
            &addr,
            &path,
            &[
                ("Authorization", "Bearer t-carol"),
                ("X-Junction-Tenant", "acme"),
            ],
        )
        .await?;
        assert_eq!(status, 200, "{path}: {text}");
    }
    Ok(())
}

/// Cancel records the token's identity, not the claimed actor.
async fn cancel_records_the_token_identity(env: &TestEnv, acme_run: &str) -> anyhow::Result<()> {
    let reply = env
        .control(
            ControlSubject::run(acme_run, RunVerb::Cancel),
            with(
                "t-carol",
                Some("acme"),
                json!({ "actor": "mallory", "reason": "done" }),
            ),
        )
        .await?;
    assert_eq!(reply["status"], "CANCELLED", "{reply}");
    let events = run_events(env, "t-carol", Some("acme"), acme_run).await?;
    let cancelled = events
        .iter()
        .find(|e| e["type"] == "workflow.run.cancelled")
        .with_context(|| format!("no cancelled event: {events:?}"))?;
    assert_eq!(cancelled["data"]["actor"], "carol", "{cancelled}");
    Ok(())
}

#[tokio::test]
async fn a_missing_or_malformed_tokens_file_stops_the_coordinator() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    let malformed = env.dir.path().join("bad.json");
    std::fs::write(&malformed, "{\"tokens\": [{\"identity\": \"x\"}]}")?;
    let missing = env.dir.path().join("missing.json");
    for (name, file) in [("malformed", &malformed), ("missing", &missing)] {
        let file = file.display().to_string();
        let index = env
            .start_coordinator(name, &[("JUNCTION_AUTH__TOKENS_FILE", &file)])
            .await?;
        let process = &mut env.processes[index];
        let code = process.wait_exit(Duration::from_secs(30)).await;
        assert_eq!(code, Some(2), "{name}: {}", process.tail(20));
        assert!(
            process.output().contains("tokens file"),
            "{name}: {}",
            process.tail(20)
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_cli_sends_its_token_and_explains_a_refusal() -> anyhow::Result<()> {
    let env = auth_env().await?;
    let cli = |token: Option<&str>| {
        let mut command = tokio::process::Command::new(junction_e2e::bin_dir().join("junction"));
        command
            .args(["runs"])
            .env_remove("JUNCTION_CONFIG")
            .env_remove("JUNCTION_TOKEN")
            .env("JUNCTION_NATS__URL", junction_e2e::nats_url())
            .env("JUNCTION_NATS__PREFIX", &env.prefix)
            .env("NO_COLOR", "1")
            .kill_on_drop(true);
        if let Some(token) = token {
            command.env("JUNCTION_TOKEN", token);
        }
        command.output()
    };
    let refused = tokio::time::timeout(WAIT, cli(None)).await??;
    // Refused: exit 4.
    assert_eq!(refused.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("UNAUTHENTICATED"), "{stderr}");
    let allowed = tokio::time::timeout(WAIT, cli(Some("t-alice"))).await??;
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    Ok(())
}
