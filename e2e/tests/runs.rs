//! Runs end to end on real NATS and Postgres: signals and `run.start` start
//! runs, outputs land at their `resultPath`, and duplicates start nothing twice.

use junction_bus::ControlSubject;
use junction_e2e::{TestEnv, chain_yaml};
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::time::Duration;

const PIPELINE: &str = r#"
id: pipeline
version: "3"
trigger: { signal: order.created }
inputSchema:
  type: object
  required: [order_id, amount]
states:
  - name: defaults
    type: inject
    data: { currency: EUR }
    next: validate
  - name: validate
    type: operation
    action: agent.run
    input: { agent: echo, task: "validate {{ ctx.order_id }}" }
    resultPath: steps.validate
    next: price
  - name: price
    type: operation
    action: agent.run
    input: { agent: add, input: { a: "{{ ctx.amount }}", b: 10 } }
    resultPath: ctx.price
    end: true
"#;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_signal_runs_to_completed_with_outputs_at_their_result_paths() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(PIPELINE).await?;
    env.publish_signal(
        "order.created",
        "sig-1",
        json!({ "order_id": "A-1", "amount": 5 }),
    )
    .await?;
    let run_id = env.wait_for_signal_run("sig-1", WAIT).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;

    assert_eq!(run["status"], "COMPLETED", "{run}");
    let context = &run["context"];
    assert_eq!(context["ctx"]["currency"], "EUR");
    assert_eq!(
        context["steps"]["validate"],
        json!({ "task": "validate A-1", "input": { "order_id": "A-1", "amount": 5, "currency": "EUR" } })
    );
    assert_eq!(context["ctx"]["price"], json!({ "sum": 15 }));
    assert_eq!(
        context["signal"]["id"], "sig-1",
        "context.signal is the whole CloudEvent"
    );
    assert_eq!(run["causation_id"], "sig-1");
    assert_eq!(run["correlation_id"], "sig-1");
    assert_eq!(run["version"], 1);

    let steps = run["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 3);
    assert!(
        steps
            .iter()
            .all(|s| s["status"] == "SUCCEEDED" && s["attempt"] == 1)
    );
    assert!(
        steps[0]["worker_id"].is_null(),
        "inline inject has no worker"
    );
    assert_eq!(steps[1]["worker_id"], "worker-1");

    let events = env.events(&run_id).await?;
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().unwrap_or_default())
        .collect();
    assert_eq!(
        seqs,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "seq starts at 1 without gaps"
    );
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds.first(), Some(&"workflow.run.started"));
    assert_eq!(kinds.last(), Some(&"workflow.run.completed"));
    assert_eq!(events[0]["data"]["definition_version"], "3");
    assert_eq!(
        events.last().map(|e| &e["data"]["output"]["price"]),
        Some(&json!({ "sum": 15 }))
    );
    for event in &events {
        assert_eq!(event["workflow_id"], "pipeline");
        assert_eq!(event["tenant"], "default");
        assert!(
            event["time"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z') && t.len() == 24),
            "RFC 3339 with millis: {event}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_same_signal_published_five_times_gives_exactly_one_run() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(PIPELINE).await?;
    let body = serde_json::to_vec(
        &json!({ "specversion": "1.0", "id": "dup-1", "source": "e2e", "type": "order.created", "data": { "order_id": "D", "amount": 1 } }),
    )?;
    // Plain core publishes, so JetStream's duplicate window does not help: the store must.
    for _ in 0..5 {
        env.nats
            .publish(env.subjects.signal("order.created"), body.clone().into())
            .await?;
    }
    env.nats.flush().await?;
    let run_id = env.wait_for_signal_run("dup-1", WAIT).await?;
    env.wait_for_end(&run_id, WAIT).await?;
    // All five copies were handled (acknowledged after any run they start
    // is committed), and every task they caused was executed.
    env.wait_for_signals_handled(5).await?;
    env.wait_for_tasks_idle().await?;
    assert_eq!(env.runs_caused_by("dup-1").await?.len(), 1);
    assert_eq!(env.calls.count_for("echo"), 1, "the first step ran once");
    Ok(())
}

#[tokio::test]
async fn run_start_honours_idempotency_keys_and_correlation() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(PIPELINE).await?;
    let body = json!({ "workflow_id": "pipeline", "input": { "order_id": "K", "amount": 2 }, "idempotency_key": "k-1", "correlation_id": "corr-9" });
    let first = env.control(ControlSubject::RunStart, body.clone()).await?;
    let second = env.control(ControlSubject::RunStart, body).await?;
    assert_eq!(first["created"], true);
    assert_eq!(second["created"], false);
    assert_eq!(first["run_id"], second["run_id"]);
    let run_id = first["run_id"].as_str().unwrap_or_default();
    let run = env.wait_for_end(run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED");
    assert!(run["causation_id"].is_null());
    assert_eq!(run["correlation_id"], "corr-9");
    assert!(run["context"]["signal"].is_null());

    let listed = env
        .control(
            ControlSubject::RunsList,
            json!({ "workflow_id": "pipeline", "status": "COMPLETED" }),
        )
        .await?;
    assert_eq!(listed["runs"].as_array().map(Vec::len), Some(1));
    assert!(
        listed["runs"][0].get("context").is_none(),
        "summaries have no context"
    );
    assert!(listed.get("next_cursor").is_none());
    Ok(())
}

#[tokio::test]
async fn control_plane_stores_versions_agents_and_pages() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    workflows_are_stored_as_revisions(&env).await?;
    agents_are_put_listed_and_deleted(&env).await?;
    runs_are_listed_in_pages(&env).await?;
    members_report_their_bound_address(&env).await
}

/// The same source is the same revision, a changed one the next; every
/// revision stays readable, and JSON sources are stored too.
async fn workflows_are_stored_as_revisions(env: &TestEnv) -> anyhow::Result<()> {
    let put = env
        .control(ControlSubject::WorkflowsPut, json!({ "source": PIPELINE }))
        .await?;
    assert_eq!(
        (
            put["id"].as_str(),
            put["version"].as_i64(),
            put["created"].as_bool()
        ),
        (Some("pipeline"), Some(1), Some(true))
    );
    let again = env
        .control(ControlSubject::WorkflowsPut, json!({ "source": PIPELINE }))
        .await?;
    assert_eq!(
        (again["version"].as_i64(), again["created"].as_bool()),
        (Some(1), Some(false)),
        "same source, same revision"
    );
    let changed = env
        .control(
            ControlSubject::WorkflowsPut,
            json!({ "source": PIPELINE.replace("b: 10", "b: 20") }),
        )
        .await?;
    assert_eq!(changed["version"], 2);
    let got = env
        .control(
            ControlSubject::WorkflowsGet,
            json!({ "id": "pipeline", "version": 1 }),
        )
        .await?;
    assert_eq!(got["workflow"]["definition_version"], "3");
    assert!(
        got["workflow"]["source"]
            .as_str()
            .is_some_and(|s| s.contains("b: 10"))
    );
    let listed = env
        .control(ControlSubject::WorkflowsList, json!({}))
        .await?;
    assert_eq!(listed["workflows"][0]["version"], 2);

    let json_source = serde_json::to_string(
        &json!({ "id": "j", "states": [{ "name": "a", "type": "inject", "data": {}, "end": true }] }),
    )?;
    assert_eq!(
        env.control(
            ControlSubject::WorkflowsPut,
            json!({ "source": json_source, "format": "json" })
        )
        .await?["created"],
        true
    );
    Ok(())
}

/// Agents are created, replaced, listed by name and deleted once.
async fn agents_are_put_listed_and_deleted(env: &TestEnv) -> anyhow::Result<()> {
    let created = env.control(ControlSubject::AgentsPut, json!({ "name": "notifier", "description": "notifies", "input_schema": { "type": "object" } })).await?;
    assert_eq!(created["created"], true);
    assert_eq!(
        env.control(ControlSubject::AgentsPut, json!({ "name": "notifier" }))
            .await?["created"],
        false
    );
    let agents = env.control(ControlSubject::AgentsList, json!({})).await?;
    let names: Vec<&str> = agents["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(names.contains(&"notifier"), "{names:?}");
    assert!(
        names.windows(2).all(|w| w[0] <= w[1]),
        "sorted by name: {names:?}"
    );
    env.control(ControlSubject::AgentsDelete, json!({ "name": "notifier" }))
        .await?;
    assert_eq!(
        env.control_error(ControlSubject::AgentsDelete, json!({ "name": "notifier" }))
            .await?,
        "NOT_FOUND"
    );
    Ok(())
}

/// Three runs, pages of two.
async fn runs_are_listed_in_pages(env: &TestEnv) -> anyhow::Result<()> {
    for i in 0..3 {
        env.start_run(
            "pipeline",
            json!({ "order_id": format!("P{i}"), "amount": i }),
        )
        .await?;
    }
    let page = env
        .control(ControlSubject::RunsList, json!({ "limit": 2 }))
        .await?;
    assert_eq!(page["runs"].as_array().map(Vec::len), Some(2));
    let cursor = page["next_cursor"].clone();
    assert!(cursor.is_string());
    let rest = env
        .control(
            ControlSubject::RunsList,
            json!({ "limit": 2, "cursor": cursor }),
        )
        .await?;
    assert_eq!(rest["runs"].as_array().map(Vec::len), Some(1));
    assert!(rest.get("next_cursor").is_none());
    Ok(())
}

/// `cluster.members` reports the address the coordinator bound, not `:0`.
async fn members_report_their_bound_address(env: &TestEnv) -> anyhow::Result<()> {
    let members = env
        .control(ControlSubject::ClusterMembers, json!({}))
        .await?;
    let coordinator = members["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "coordinator"))
        .cloned()
        .unwrap_or(Value::Null);
    assert!(
        coordinator["http_addr"]
            .as_str()
            .is_some_and(|a| !a.ends_with(":0")),
        "the bound address is reported: {coordinator}"
    );
    Ok(())
}

#[tokio::test]
async fn an_example_chain_of_many_steps_completes_in_order() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 2).await?;
    env.put_workflow(&chain_yaml("chain10", "echo", 10, None))
        .await?;
    let run_id = env.start_run("chain10", json!({})).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED");
    let states: Vec<&str> = run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["state"].as_str())
        .collect();
    assert_eq!(
        states,
        (1..=10).map(|i| format!("s{i}")).collect::<Vec<_>>()
    );
    assert_eq!(run["context"]["steps"]["s7"]["task"], "step 7");
    Ok(())
}
