//! The HTTP API (docs/http.md) against a real cluster, over raw HTTP/1.1:
//!
//! - workflows put (201, then 200), validation errors (400 with diagnostics),
//!   get, list, delete (409), tenants by header;
//! - runs start (idempotent: 201 then 200), get, list with filters, event
//!   paging, cancel of a run waiting for approval, 409 for pausing it after,
//!   the approval flow (approve, then `ALREADY_DECIDED`), 404, 400 for
//!   malformed JSON, 413 for a body over the limit;
//! - the SSE stream: stored events first with increasing ids, live ones after
//!   an approval, the end after `workflow.run.completed`, and a reconnect with
//!   `Last-Event-ID` that gets only later events;
//! - the web UI's views (`/v1/session`, a workflow's versions and graph,
//!   triggers in the list, each attempt's input) and the `/ui` page and
//!   assets with their security headers.

mod client;
mod publish;
mod rest;
mod sse;
mod views;

use anyhow::{Context, bail};
use client::{expect, get, post};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

async fn wait_for_status(addr: &str, run_id: &str, status: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let run = expect(get(addr, &format!("/v1/runs/{run_id}")).await?, 200)?["run"].clone();
        if run["status"] == status {
            return Ok(run);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("run {run_id} is {} not {status}: {run}", run["status"]);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn pending_approval(addr: &str, run_id: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let listed = expect(
            get(
                addr,
                &format!("/v1/approvals?run_id={run_id}&status=PENDING"),
            )
            .await?,
            200,
        )?;
        if let Some(approval) = listed["approvals"].as_array().and_then(|a| a.first()) {
            return Ok(approval.clone());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("no pending approval for {run_id}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start(addr: &str, input: Value) -> anyhow::Result<String> {
    let started = expect(
        post(
            addr,
            "/v1/runs",
            json!({ "workflow_id": "ship", "input": input }),
        )
        .await?,
        201,
    )?;
    Ok(started["run_id"].as_str().context("run_id")?.to_owned())
}
