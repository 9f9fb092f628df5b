//! Tokens that end and change (PROTOCOL §6): a running coordinator with
//! `JUNCTION_AUTH__TOKENS_FILE`, never restarted.
//!
//! - a token whose `expires_at` passes is `UNAUTHENTICATED` from then on,
//!   over NATS and HTTP (401);
//! - a token added to the file works once the file is read again (polling
//!   every `auth.reload_interval_seconds`), a removed one stops working;
//! - with polling off, SIGHUP reads the file;
//! - a file that becomes invalid keeps the tokens loaded before, with an
//!   error in the log.

use anyhow::Context;
use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(60);

fn tokens(entries: &[Value]) -> String {
    json!({ "tokens": entries }).to_string()
}

fn token(token: &str, identity: &str) -> Value {
    json!({ "token": token, "identity": identity, "tenants": ["default"] })
}

/// `runs.list` with `token`: its error code, or `None` when it succeeds.
async fn refusal(env: &TestEnv, token: &str) -> anyhow::Result<Option<String>> {
    let reply = env
        .try_control(ControlSubject::RunsList, json!({ "token": token }))
        .await?;
    if reply["ok"] == json!(true) {
        return Ok(None);
    }
    Ok(Some(
        reply["error"]["code"]
            .as_str()
            .with_context(|| format!("no code in {reply}"))?
            .to_owned(),
    ))
}

/// Waits until `token` is accepted (`true`) or refused `UNAUTHENTICATED`.
async fn wait_until_accepted(env: &TestEnv, token: &str, accepted: bool) -> anyhow::Result<()> {
    let what = format!("token {token} accepted={accepted}");
    env.eventually(&what, WAIT, || async {
        let code = refusal(env, token).await?;
        Ok(match code.as_deref() {
            None if accepted => Some(()),
            Some("UNAUTHENTICATED") if !accepted => Some(()),
            _ => None,
        })
    })
    .await
}

/// The HTTP status of `GET /v1/runs` with `token` as bearer.
async fn http_status(addr: &str, token: &str) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(addr).await?;
    let head = format!(
        "GET /v1/runs HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut text))
        .await
        .context("HTTP response timed out")??;
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad response {text:?}"))
}

/// A coordinator reading `file`, polling it every `interval` seconds (0: off).
async fn coordinator(file_text: &str, interval: &str) -> anyhow::Result<(TestEnv, String)> {
    let mut env = TestEnv::new().await?;
    let file = env.dir.path().join("tokens.json");
    std::fs::write(&file, file_text)?;
    let file = file.display().to_string();
    env.start_coordinator(
        "coordinator",
        &[
            ("JUNCTION_AUTH__TOKENS_FILE", &file),
            ("JUNCTION_AUTH__RELOAD_INTERVAL_SECONDS", interval),
        ],
    )
    .await?;
    env.wait_for_members(1, 0).await?;
    Ok((env, file))
}

/// Waits until the coordinator's log has `line` `times` times.
async fn wait_for_log(env: &TestEnv, line: &str, times: usize) -> anyhow::Result<()> {
    env.eventually(&format!("{times}× {line:?} in the log"), WAIT, || async {
        Ok((env.processes[0].output().matches(line).count() >= times).then_some(()))
    })
    .await
}

#[tokio::test]
async fn tokens_expire_and_change_without_a_restart() -> anyhow::Result<()> {
    let (env, file) = coordinator(&tokens(&[token("t-alice", "alice")]), "1").await?;
    wait_until_accepted(&env, "t-alice", true).await?;
    let http = env.coordinator_http().await?;

    // A token added to the file works without a restart; this one ends
    // 8 s from now.
    let ends = chrono::Utc::now() + chrono::Duration::seconds(8);
    let mut soon = token("t-soon", "sam");
    soon["expires_at"] = json!(ends.to_rfc3339());
    std::fs::write(&file, tokens(&[token("t-alice", "alice"), soon]))?;
    wait_until_accepted(&env, "t-soon", true).await?;
    assert_eq!(http_status(&http, "t-soon").await?, 200);

    // Past its expiry it is UNAUTHENTICATED, over NATS and HTTP.
    wait_until_accepted(&env, "t-soon", false).await?;
    let reply = env
        .try_control(ControlSubject::RunsList, json!({ "token": "t-soon" }))
        .await?;
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("expired"), "{reply}");
    assert_eq!(http_status(&http, "t-soon").await?, 401);
    assert_eq!(http_status(&http, "t-alice").await?, 200);

    // A file that turns invalid keeps the tokens of the last good one.
    std::fs::write(&file, "{\"tokens\": [{\"identity\": \"nobody\"}]}")?;
    wait_for_log(
        &env,
        "invalid tokens file; keeping the tokens loaded before",
        1,
    )
    .await?;
    assert_eq!(refusal(&env, "t-alice").await?, None);

    // Fixed again: a removed token ends, a new one works.
    std::fs::write(&file, tokens(&[token("t-bob", "bob")]))?;
    wait_until_accepted(&env, "t-bob", true).await?;
    wait_until_accepted(&env, "t-alice", false).await?;
    Ok(())
}

#[tokio::test]
async fn sighup_reads_the_tokens_file_again() -> anyhow::Result<()> {
    let (env, file) = coordinator(&tokens(&[token("t-alice", "alice")]), "0").await?;
    wait_until_accepted(&env, "t-alice", true).await?;

    // Polling is off: the new file waits for the signal.
    std::fs::write(&file, tokens(&[token("t-bob", "bob")]))?;
    assert_eq!(
        refusal(&env, "t-bob").await?.as_deref(),
        Some("UNAUTHENTICATED")
    );
    let pid = env.processes[0].pid().to_string();
    let hup = || {
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
    };
    anyhow::ensure!(hup()?.success(), "kill -HUP {pid} failed");
    wait_until_accepted(&env, "t-bob", true).await?;
    wait_until_accepted(&env, "t-alice", false).await?;

    // A broken file read on SIGHUP keeps the tokens.
    std::fs::write(&file, "{ not json")?;
    anyhow::ensure!(hup()?.success(), "kill -HUP {pid} failed");
    wait_for_log(
        &env,
        "invalid tokens file; keeping the tokens loaded before",
        1,
    )
    .await?;
    assert_eq!(refusal(&env, "t-bob").await?, None);
    // The coordinator is still serving after both signals.
    env.control(ControlSubject::ClusterMembers, json!({}))
        .await?;
    Ok(())
}
