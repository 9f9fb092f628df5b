//! The REST API answering like the control plane: workflows, runs, cancel,
//! delete, approvals and error responses.

use crate::client::{expect, expect_error, get, http, post};
use crate::{pending_approval, start, wait_for_status};
use anyhow::Context;
use junction_e2e::{SHIP, TestEnv};
use junction_example_agents::Registry;
use serde_json::json;

#[tokio::test]
async fn the_rest_api_answers_like_the_control_plane() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 0).await?;
    let addr = env.coordinator_http().await?;
    let addr = addr.as_str();
    workflows(addr).await?;
    let run_id = runs(addr).await?;
    cancel_then_delete(addr, &run_id).await?;
    approve(addr).await?;
    errors(addr).await
}

/// Workflows: put (201, then 200 unchanged), a broken one (400), get, list.
async fn workflows(addr: &str) -> anyhow::Result<()> {
    let put = expect(
        post(addr, "/v1/workflows", json!({ "source": SHIP })).await?,
        201,
    )?;
    assert_eq!(put["id"], "ship");
    assert_eq!(put["version"], 1);
    assert_eq!(put["created"], true);
    let again = expect(
        post(addr, "/v1/workflows", json!({ "source": SHIP })).await?,
        200,
    )?;
    assert_eq!(again["created"], false);
    let broken = SHIP.replace("next: done", "next: nowhere");
    let failed = expect_error(
        post(addr, "/v1/workflows", json!({ "source": broken })).await?,
        400,
        "VALIDATION_FAILED",
    )?;
    assert!(
        failed["error"]["details"]["diagnostics"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{failed}"
    );
    let validated = expect(
        post(addr, "/v1/workflows/validate", json!({ "source": broken })).await?,
        200,
    )?;
    assert!(
        validated["errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    let workflow = expect(get(addr, "/v1/workflows/ship?version=1").await?, 200)?;
    assert_eq!(workflow["workflow"]["id"], "ship");
    assert_eq!(workflow["workflow"]["version"], 1);
    expect_error(get(addr, "/v1/workflows/nope").await?, 404, "NOT_FOUND")?;
    // PUT updates a named workflow as a new version; the body must keep its id.
    let changed = SHIP.replacen("id: ship", "id: ship\ndescription: changed", 1);
    let body = serde_json::to_vec(&json!({ "source": changed }))?;
    let updated = expect(
        http(addr, "PUT", "/v1/workflows/ship", &[], Some(&body)).await?,
        201,
    )?;
    assert_eq!(updated["version"], 2, "{updated}");
    expect_error(
        http(addr, "PUT", "/v1/workflows/other", &[], Some(&body)).await?,
        400,
        "INVALID_REQUEST",
    )?;
    let listed = expect(get(addr, "/v1/workflows").await?, 200)?;
    assert_eq!(listed["workflows"][0]["id"], "ship");
    let other = http(
        addr,
        "GET",
        "/v1/workflows",
        &[("X-Junction-Tenant", "other")],
        None,
    )
    .await?;
    assert_eq!(expect(other, 200)?["workflows"], json!([]));
    let openapi = expect(get(addr, "/v1/openapi.json").await?, 200)?;
    assert_eq!(openapi["openapi"], "3.1.0");
    Ok(())
}

/// Runs: an idempotent start, get, list with filters, event paging. Returns
/// the run, left waiting for approval.
async fn runs(addr: &str) -> anyhow::Result<String> {
    let body = json!({ "workflow_id": "ship", "input": { "v": 1 }, "idempotency_key": "k1" });
    let started = expect(post(addr, "/v1/runs", body.clone()).await?, 201)?;
    let run_id = started["run_id"].as_str().context("run_id")?.to_owned();
    let repeated = expect(post(addr, "/v1/runs", body).await?, 200)?;
    assert_eq!(repeated["run_id"], run_id.as_str());
    assert_eq!(repeated["created"], false);
    let run = wait_for_status(addr, &run_id, "WAITING_APPROVAL").await?;
    assert_eq!(run["input"], json!({ "v": 1 }));
    let runs = expect(
        get(
            addr,
            "/v1/runs?workflow_id=ship&status=WAITING_APPROVAL&limit=10",
        )
        .await?,
        200,
    )?;
    assert_eq!(runs["runs"][0]["id"], run_id.as_str());
    let none = expect(get(addr, "/v1/runs?workflow_id=other").await?, 200)?;
    assert_eq!(none["runs"], json!([]));
    let first = expect(
        get(addr, &format!("/v1/runs/{run_id}/events?limit=1")).await?,
        200,
    )?;
    assert_eq!(first["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(first["events"][0]["seq"], 1);
    assert_eq!(first["events"][0]["type"], "workflow.run.started");
    let second = expect(
        get(
            addr,
            &format!("/v1/runs/{run_id}/events?after_seq=1&limit=1"),
        )
        .await?,
        200,
    )?;
    assert_eq!(second["events"][0]["seq"], 2);
    Ok(run_id)
}

/// Cancel the waiting run; pausing it afterwards is INVALID_STATE (409). A
/// workflow with runs cannot be deleted; one that never ran can.
async fn cancel_then_delete(addr: &str, run_id: &str) -> anyhow::Result<()> {
    let cancelled = expect(
        post(
            addr,
            &format!("/v1/runs/{run_id}/cancel"),
            json!({ "actor": "e2e", "reason": "not today" }),
        )
        .await?,
        200,
    )?;
    assert_eq!(cancelled, json!({ "status": "CANCELLED" }));
    expect_error(
        post(addr, &format!("/v1/runs/{run_id}/pause"), json!({})).await?,
        409,
        "INVALID_STATE",
    )?;
    // The workflow has runs: it cannot be deleted.
    expect_error(
        http(addr, "DELETE", "/v1/workflows/ship", &[], None).await?,
        409,
        "CONFLICT",
    )?;
    // A workflow that never ran can be deleted, with all its revisions.
    let unused = SHIP.replacen("id: ship", "id: unused", 1);
    expect(
        post(addr, "/v1/workflows", json!({ "source": unused })).await?,
        201,
    )?;
    let deleted = expect(
        http(addr, "DELETE", "/v1/workflows/unused", &[], None).await?,
        200,
    )?;
    assert_eq!(deleted["deleted"], true, "{deleted}");
    expect_error(get(addr, "/v1/workflows/unused").await?, 404, "NOT_FOUND")?;
    Ok(())
}

/// Approve over HTTP: the run completes; a second decision is 409.
async fn approve(addr: &str) -> anyhow::Result<()> {
    let run_id = start(addr, json!({ "v": 2 })).await?;
    let approval = pending_approval(addr, &run_id).await?;
    let approval_id = approval["id"].as_str().context("approval id")?;
    let decided = expect(
        post(
            addr,
            &format!("/v1/approvals/{approval_id}/approve"),
            json!({ "actor": "e2e", "comment": "go" }),
        )
        .await?,
        200,
    )?;
    assert_eq!(decided["status"], "APPROVED");
    expect_error(
        post(
            addr,
            &format!("/v1/approvals/{approval_id}/reject"),
            json!({}),
        )
        .await?,
        409,
        "ALREADY_DECIDED",
    )?;
    wait_for_status(addr, &run_id, "COMPLETED").await?;
    Ok(())
}

/// Errors: unknown run, malformed JSON, unknown path, too large a body.
async fn errors(addr: &str) -> anyhow::Result<()> {
    let unknown = uuid::Uuid::now_v7().to_string();
    expect_error(
        get(addr, &format!("/v1/runs/{unknown}")).await?,
        404,
        "NOT_FOUND",
    )?;
    expect_error(
        http(addr, "POST", "/v1/runs", &[], Some(b"{\"workflow_id\": ")).await?,
        400,
        "INVALID_REQUEST",
    )?;
    expect_error(get(addr, "/v1/nothing-here").await?, 404, "NOT_FOUND")?;
    expect_error(
        http(
            addr,
            "POST",
            "/v1/workflows",
            &[("Content-Length", "50000000")],
            None,
        )
        .await?,
        413,
        "PAYLOAD_TOO_LARGE",
    )?;
    Ok(())
}
