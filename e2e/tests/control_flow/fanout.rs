//! Parallel branches and foreach items, and Station's incident-triage
//! workflow that fans out its diagnostics.

use crate::WAIT;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};

const FLOW: &str = r#"
id: control-flow
inputSchema:
  type: object
  properties:
    services: { type: array }
  required: [services]
states:
  - name: diagnostics
    type: parallel
    branches:
      - name: pods
        states:
          - { name: check_pods, type: agent, agent: upper, task: "pods", resultPath: result, end: true }
      - name: logs
        states:
          - { name: nap, type: agent, agent: sleep, input: { input: { ms: 200 } }, resultPath: slept, next: read_logs }
          - { name: read_logs, type: agent, agent: upper, task: "logs", resultPath: result, end: true }
    resultPath: steps.diagnostics
    next: each
  - name: each
    type: foreach
    itemsPath: ctx.services
    itemName: service
    maxConcurrency: 2
    iterator:
      states:
        - { name: check, type: agent, agent: upper, task: "{{ service }}", resultPath: health, end: true }
    resultPath: steps.health
    next: route
  - name: route
    type: switch
    dataPath: steps.diagnostics.pods.result
    conditions:
      - { if: "text == 'PODS'", next: done }
    defaultNext: odd
  - { name: done, type: inject, data: { verdict: ok }, end: true }
  - { name: odd, type: inject, data: { verdict: odd }, end: true }
"#;

#[tokio::test]
async fn parallel_and_foreach_run_end_to_end_with_one_execution_per_item() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 2).await?;
    env.put_workflow(FLOW).await?;
    let services: Vec<String> = (0..6).map(|i| format!("svc-{i}")).collect();
    let run_id = env
        .start_run("control-flow", json!({ "services": services }))
        .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let context = &run["context"];
    assert_eq!(context["ctx"]["verdict"], "ok");
    assert_eq!(
        context["steps"]["diagnostics"]["pods"]["result"]["text"],
        "PODS"
    );
    assert_eq!(
        context["steps"]["diagnostics"]["logs"]["result"]["text"],
        "LOGS"
    );
    let health: Vec<Value> = context["steps"]["health"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let texts: Vec<&str> = health
        .iter()
        .filter_map(|h| h["health"]["text"].as_str())
        .collect();
    let expected: Vec<String> = services.iter().map(|s| s.to_uppercase()).collect();
    assert_eq!(texts, expected, "items joined in index order");

    // Every item's step ran exactly once, under its own path and step id.
    let steps = run["steps"].as_array().cloned().unwrap_or_default();
    let mut item_paths: Vec<String> = steps
        .iter()
        .filter(|s| s["status"] == "SUCCEEDED")
        .filter_map(|s| s["path"].as_str().map(str::to_owned))
        .filter(|p| p.starts_with("each["))
        .collect();
    item_paths.sort();
    let wanted: Vec<String> = (0..6).map(|i| format!("each[{i}]/check")).collect();
    assert_eq!(item_paths, wanted);
    let ids: std::collections::HashSet<&str> =
        steps.iter().filter_map(|s| s["step_id"].as_str()).collect();
    assert_eq!(
        ids.len(),
        steps.len(),
        "one row per step, distinct ids: {steps:?}"
    );

    // The branches overlapped: check_pods ended before the logs branch did.
    let events = env.events(&run_id).await?;
    let ended = |path: &str| {
        events
            .iter()
            .position(|e| e["type"] == "workflow.step.completed" && e["path"] == path)
    };
    assert!(ended("diagnostics/pods/check_pods") < ended("diagnostics/logs/read_logs"));
    Ok(())
}

/// Station's incident-triage example, with its approval gate
/// stubbed by an `inject`.
fn triage_source() -> anyhow::Result<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/station/incident-triage.workflow.yaml");
    let source = std::fs::read_to_string(path)?;
    let gate = "    type: operation\n    action: human.approval\n";
    anyhow::ensure!(source.contains(gate), "the appendix changed");
    let source = source.replace(
        gate,
        "    type: inject\n    data: { approval: { decision: approved, actor: stub } }\n    resultPath: steps.approval\n",
    );
    let source = source.replace(
        "      message: \"Error rate high ({{ steps.diagnostics.errors.result.error_rate }}). Approve mitigation?\"\n      summaryPath: \"steps.diagnostics\"\n    timeoutSeconds: 3600\n",
        "",
    );
    Ok(source)
}

/// The appendix's agents; the service name decides the error rate, so the
/// test picks the branch.
fn triage_registry() -> Registry {
    Registry::builtin()
        .with(
            "k8s-pod-checker",
            |_req: junction_core::wire::agent::AgentRequest| async {
                junction_example_agents::Reply::output(
                    json!({ "pods": [{ "name": "api-1", "ready": false }] }),
                )
            },
        )
        .with(
            "slo-analyzer",
            |req: junction_core::wire::agent::AgentRequest| async move {
                // The service name decides the error rate, so the test picks the branch.
                let rate = if req.task.as_deref().is_some_and(|t| t.contains("hot")) {
                    0.2
                } else {
                    0.01
                };
                junction_example_agents::Reply::output(json!({ "error_rate": rate }))
            },
        )
        .with(
            "k8s-remediator",
            |_req: junction_core::wire::agent::AgentRequest| async {
                // Station agents answer `{result: …}`; the appendix reads `steps.mitigation.result`.
                junction_example_agents::Reply::output(json!({ "result": "restarted api-1" }))
            },
        )
        .with(
            "notification-sender",
            |req: junction_core::wire::agent::AgentRequest| async move {
                junction_example_agents::Reply::output(json!({ "sent": req.variables }))
            },
        )
}

/// The step paths of a run's attempts, in order.
fn paths_run(run: &Value) -> Vec<&str> {
    run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["path"].as_str())
        .collect()
}

/// Station's incident-triage example, unchanged but for its
/// approval gate, which is stubbed by an `inject` until approvals run.
#[tokio::test]
async fn the_prd_incident_triage_workflow_runs_both_ways() -> anyhow::Result<()> {
    let env = TestEnv::cluster(triage_registry(), 2).await?;
    env.put_workflow(&triage_source()?).await?;

    let run_id = env
        .start_run(
            "incident-triage",
            json!({ "namespace": "prod", "service": "hot-api" }),
        )
        .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let steps = &run["context"]["steps"];
    assert_eq!(steps["diagnostics"]["errors"]["result"]["error_rate"], 0.2);
    assert_eq!(steps["mitigation"], json!({ "result": "restarted api-1" }));
    let ran = paths_run(&run);
    assert!(
        ran.contains(&"notify") && !ran.contains(&"report_ok"),
        "{ran:?}"
    );

    let run_id = env
        .start_run(
            "incident-triage",
            json!({ "namespace": "prod", "service": "calm-api" }),
        )
        .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let ran = paths_run(&run);
    assert!(
        ran.contains(&"report_ok") && !ran.contains(&"mitigate"),
        "{ran:?}"
    );
    assert!(ran.contains(&"diagnostics/pods/check_pods"), "{ran:?}");
    Ok(())
}
