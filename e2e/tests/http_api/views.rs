//! The web UI's side of the API: `/v1/session`, a workflow's versions and
//! graph, triggers in the list, each attempt's input in `run.steps`, and
//! the `/ui` page and assets with their security headers.

use crate::client::{expect, expect_error, get, header, post};
use anyhow::Context;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};

const PIPELINE: &str = r#"
id: pipeline
trigger: { signal: order.created }
states:
  - name: fetch
    type: operation
    action: agent.run
    input: { agent: echo, task: "fetch {{ ctx.order }}" }
    resultPath: steps.fetch
    next: each
  - name: each
    type: foreach
    itemsPath: ctx.items
    itemName: item
    iterator:
      states:
        - { name: check, type: agent, agent: echo, task: "check {{ item }}", end: true }
    resultPath: steps.checks
    end: true
"#;

#[tokio::test]
async fn the_views_the_web_ui_reads() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let addr = env.coordinator_http().await?;
    let addr = addr.as_str();

    let session = expect(get(addr, "/v1/session").await?, 200)?;
    assert_eq!(
        session,
        json!({ "auth": false, "identity": null, "tenants": null, "groups": null })
    );

    expect(
        post(addr, "/v1/workflows", json!({ "source": PIPELINE })).await?,
        201,
    )?;
    let second = PIPELINE.replacen("id: pipeline", "id: pipeline\ndescription: v2", 1);
    expect(
        post(addr, "/v1/workflows", json!({ "source": second })).await?,
        201,
    )?;
    let listed = expect(get(addr, "/v1/workflows").await?, 200)?;
    assert_eq!(
        listed["workflows"][0]["triggers"],
        json!(["signal: order.created"])
    );
    let versions = expect(get(addr, "/v1/workflows/pipeline/versions").await?, 200)?;
    let numbers: Vec<&Value> = versions["versions"]
        .as_array()
        .context("versions")?
        .iter()
        .map(|v| &v["version"])
        .collect();
    assert_eq!(numbers, [&json!(2), &json!(1)], "newest first: {versions}");
    assert_eq!(versions["versions"][1]["archived"], true, "{versions}");
    expect_error(
        get(addr, "/v1/workflows/nope/versions").await?,
        404,
        "NOT_FOUND",
    )?;

    let drawn = expect(
        get(addr, "/v1/workflows/pipeline/graph?version=1").await?,
        200,
    )?;
    assert_eq!(drawn["version"], 1);
    assert!(
        drawn["mermaid"]
            .as_str()
            .is_some_and(|m| m.starts_with("flowchart TD\n")),
        "{drawn}"
    );
    let nodes = drawn["graph"]["nodes"].as_array().context("nodes")?;
    let check = nodes
        .iter()
        .find(|n| n["path"] == "each/check")
        .with_context(|| format!("the foreach body's step: {drawn}"))?;
    let foreach = nodes
        .iter()
        .find(|n| n["path"] == "each")
        .context("the foreach")?;
    assert_eq!(foreach["kind"], "foreach");
    assert_eq!(check["parent"], foreach["id"]);
    assert!(
        drawn["graph"]["edges"]
            .as_array()
            .is_some_and(|edges| edges.iter().any(|e| e["to"] == check["id"])),
        "{drawn}"
    );
    expect_error(
        get(addr, "/v1/workflows/pipeline/graph?color=red").await?,
        400,
        "INVALID_REQUEST",
    )?;

    let started = expect(
        post(
            addr,
            "/v1/runs",
            json!({ "workflow_id": "pipeline", "input": { "order": "A-1", "items": ["x", "y"] } }),
        )
        .await?,
        201,
    )?;
    let run_id = started["run_id"].as_str().context("run_id")?;
    let run = env.wait_for_end(run_id, crate::WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let fetch = run["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["state"] == "fetch"))
        .context("the fetch step")?;
    assert_eq!(
        fetch["input"]["order"], "A-1",
        "each attempt's input: {run}"
    );

    // The page and its assets, from this origin only.
    let page = get(addr, "/ui/").await?;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html"), "{}", page.body);
    let csp = header(&page.headers, "content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(
        header(&page.headers, "content-type").is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        page.headers
    );
    let script = get(addr, "/ui/app.js").await?;
    assert_eq!(script.status, 200);
    assert!(
        header(&script.headers, "content-type").is_some_and(|t| t.starts_with("text/javascript"))
    );
    let redirect = get(addr, "/ui").await?;
    assert_eq!(redirect.status, 308);
    assert_eq!(header(&redirect.headers, "location"), Some("/ui/"));
    expect_error(get(addr, "/ui/nope.js").await?, 404, "NOT_FOUND")?;
    Ok(())
}
