//! `POST /v1/signals/{type}`: a signal published over HTTP starts the runs
//! it triggers (202, stored), once per id; what intake would reject is
//! refused before it is stored, with the reason.

use crate::client::{expect, expect_error, http, post};
use crate::wait_for_status;
use anyhow::Context;
use junction_e2e::{TestEnv, chain_yaml};
use junction_example_agents::Registry;
use serde_json::json;

#[tokio::test]
async fn a_signal_published_over_http_starts_its_runs_once_per_id() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let addr = env.coordinator_http().await?;
    let addr = addr.as_str();
    env.put_workflow(&chain_yaml("ordered", "echo", 1, Some("order.created")))
        .await?;

    let body = json!({ "id": "order-1", "data": { "order": "A-1" } });
    let accepted = expect(
        post(addr, "/v1/signals/order.created", body.clone()).await?,
        202,
    )?;
    assert_eq!(
        accepted,
        json!({ "id": "order-1", "type": "order.created" })
    );
    // The same id again is stored again, and deduplicated by intake.
    expect(post(addr, "/v1/signals/order.created", body).await?, 202)?;
    let run_id = env
        .wait_for_signal_run("order-1", crate::WAIT)
        .await
        .context("the run the signal started")?;
    let run = wait_for_status(addr, &run_id, "COMPLETED").await?;
    assert_eq!(run["input"], json!({ "order": "A-1" }), "{run}");
    assert_eq!(run["causation_id"], "order-1", "{run}");
    env.wait_for_signals_handled(2).await?;
    let runs = expect(
        crate::client::get(addr, "/v1/runs?workflow_id=ordered").await?,
        200,
    )?;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(1), "{runs}");

    // Without an id one is made; the answer names it.
    let made = expect(
        post(addr, "/v1/signals/order.created", json!({})).await?,
        202,
    )?;
    assert!(
        made["id"].as_str().is_some_and(|id| id.len() == 36),
        "{made}"
    );

    // Refused before it is stored, with intake's reason.
    expect_error(
        post(addr, "/v1/signals/bad..type", json!({})).await?,
        400,
        "INVALID_REQUEST",
    )?;
    let refused = expect_error(
        post(addr, "/v1/signals/order.created", json!({ "data": [1, 2] })).await?,
        400,
        "INVALID_REQUEST",
    )?;
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("data_not_object")),
        "{refused}"
    );
    expect_error(
        post(addr, "/v1/signals/order.created", json!({ "datum": {} })).await?,
        400,
        "INVALID_REQUEST",
    )?;
    let huge = "x".repeat(300 * 1024);
    let body = serde_json::to_vec(&json!({ "data": { "blob": huge } }))?;
    let too_large = http(addr, "POST", "/v1/signals/order.created", &[], Some(&body)).await?;
    assert_eq!(too_large.status, 413, "{}", too_large.body);
    Ok(())
}
