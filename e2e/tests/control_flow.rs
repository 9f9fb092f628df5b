//! Parallel branches and foreach items on real services: branches overlap,
//! items respect `maxConcurrency`, results join in order, and every item's
//! step runs exactly once.

use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

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
          - { name: nap, type: agent, agent: sleep, input: { ms: 200 }, resultPath: slept, next: read_logs }
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

#[tokio::test]
async fn a_run_past_its_timeout_ends_timed_out() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(
        "id: slow\ntimeoutSeconds: 1\nstates:\n  - { name: nap, type: agent, agent: sleep, input: { ms: 20000 }, end: true }\n",
    )
    .await?;
    let started = std::time::Instant::now();
    let run_id = env.start_run("slow", json!({})).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "TIMED_OUT", "{run}");
    assert_eq!(run["error"]["code"], "RUN_TIMEOUT");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the timeout fired long before the step would have ended"
    );
    let events = env.events(&run_id).await?;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(
        kinds.ends_with(&["workflow.step.cancelled", "workflow.run.timed_out"]),
        "{kinds:?}"
    );
    Ok(())
}

/// The PRD appendix's incident-triage workflow, unchanged but for its
/// approval gate, which is stubbed by an `inject` until approvals run.
#[tokio::test]
async fn the_prd_incident_triage_workflow_runs_both_ways() -> anyhow::Result<()> {
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
    let registry = Registry::builtin()
        .with(
            "k8s-pod-checker",
            |_req: junction_shared::wire::agent::AgentRequest| async {
                junction_example_agents::Reply::output(
                    json!({ "pods": [{ "name": "api-1", "ready": false }] }),
                )
            },
        )
        .with(
            "slo-analyzer",
            |req: junction_shared::wire::agent::AgentRequest| async move {
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
            |_req: junction_shared::wire::agent::AgentRequest| async {
                // Station agents answer `{result: …}`; the appendix reads `steps.mitigation.result`.
                junction_example_agents::Reply::output(json!({ "result": "restarted api-1" }))
            },
        )
        .with(
            "notification-sender",
            |req: junction_shared::wire::agent::AgentRequest| async move {
                junction_example_agents::Reply::output(json!({ "sent": req.variables }))
            },
        );
    let env = TestEnv::cluster(registry, 2).await?;
    env.put_workflow(&source).await?;

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
    let ran: Vec<&str> = run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["path"].as_str())
        .collect();
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
    let ran: Vec<&str> = run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["path"].as_str())
        .collect();
    assert!(
        ran.contains(&"report_ok") && !ran.contains(&"mitigate"),
        "{ran:?}"
    );
    assert!(ran.contains(&"diagnostics/pods/check_pods"), "{ran:?}");
    Ok(())
}

const PARENT: &str = r#"
id: parent
states:
  - name: prepare
    type: agent
    agent: upper
    task: "{{ ctx.name }}"
    resultPath: steps.prepare
    next: spawn
  - name: spawn
    type: operation
    action: workflow.run
    input: { workflow: child, input: { shout: "{{ steps.prepare.text }}" } }
    resultPath: steps.child
    next: after
  - { name: after, type: agent, agent: echo, task: "got {{ steps.child.steps.greet.text }}", resultPath: steps.after, end: true }
"#;

const CHILD: &str = r#"
id: child
inputSchema: { type: object, properties: { shout: { type: string } }, required: [shout] }
states:
  - { name: greet, type: agent, agent: upper, task: "hello {{ ctx.shout }}", resultPath: steps.greet, next: keep }
  - { name: keep, type: transform, expression: "{'steps': steps}", end: true }
"#;

#[tokio::test]
async fn a_child_workflow_runs_and_its_result_lands_in_the_parent() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(CHILD).await?;
    env.put_workflow(PARENT).await?;
    let run_id = env.start_run("parent", json!({ "name": "ada" })).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let steps = &run["context"]["steps"];
    assert_eq!(
        steps["child"]["shout"], "ADA",
        "the child's ctx is the step output"
    );
    assert_eq!(steps["child"]["steps"]["greet"]["text"], "HELLO ADA");
    assert_eq!(steps["after"]["task"], "got HELLO ADA");

    // Exactly one child, caused by the parent, and finished.
    let children = env
        .control(
            "runs.list",
            json!({ "workflow_id": "child", "causation_id": run_id }),
        )
        .await?;
    let children = children["runs"].as_array().cloned().unwrap_or_default();
    assert_eq!(children.len(), 1, "{children:?}");
    assert_eq!(children[0]["status"], "COMPLETED");

    // A child that cannot start fails the parent step clearly.
    env.put_workflow(
        &PARENT
            .replace("id: parent", "id: orphan")
            .replace("workflow: child", "workflow: nowhere"),
    )
    .await?;
    let run_id = env.start_run("orphan", json!({ "name": "bob" })).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(run["error"]["code"], "CHILD_FAILED");
    assert!(
        run["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nowhere")),
        "{run}"
    );
    Ok(())
}

#[tokio::test]
async fn catch_routes_a_failed_step_to_its_handler_with_the_error_in_context() -> anyhow::Result<()>
{
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(
        r#"
id: guarded
states:
  - name: charge
    type: operation
    action: agent.run
    input: { agent: fail, input: { code: CARD_DECLINED, message: declined } }
    retry: { maxAttempts: 3, retryOn: [AGENT_UNAVAILABLE] }
    catch:
      - { errors: [CARD_DECLINED], next: apologise, resultPath: steps.charge_error }
    next: ship
  - { name: ship, type: agent, agent: echo, task: ship, end: true }
  - { name: apologise, type: agent, agent: upper, task: "sorry: {{ steps.charge_error.message }}", resultPath: steps.note, end: true }
"#,
    )
    .await?;
    let run_id = env.start_run("guarded", json!({})).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let steps = &run["context"]["steps"];
    assert_eq!(steps["charge_error"]["code"], "CARD_DECLINED");
    assert_eq!(steps["charge_error"]["state"], "charge");
    assert_eq!(steps["note"]["text"], "SORRY: DECLINED");
    let attempts = run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["state"] == "charge")
        .count();
    assert_eq!(attempts, 1, "CARD_DECLINED is not in retryOn: no retry");
    Ok(())
}

#[tokio::test]
async fn cancel_stops_a_running_parallel_state_and_its_child_runs() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(
        "id: napper\nstates:\n  - { name: nap, type: agent, agent: sleep, input: { ms: 30000 }, end: true }\n",
    )
    .await?;
    env.put_workflow(
        r#"
id: wide
states:
  - name: fan
    type: parallel
    branches:
      - name: slow
        states:
          - { name: nap, type: agent, agent: sleep, input: { ms: 30000 }, end: true }
      - name: nested
        states:
          - { name: spawn, type: operation, action: workflow.run, input: { workflow: napper }, end: true }
    end: true
"#,
    )
    .await?;
    let run_id = env.start_run("wide", json!({})).await?;
    // Wait until the child run exists and is running.
    let deadline = tokio::time::Instant::now() + WAIT;
    let child_id = loop {
        let children = env
            .control("runs.list", json!({ "causation_id": run_id }))
            .await?;
        if let Some(id) = children["runs"][0]["id"].as_str() {
            break id.to_owned();
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no child run\n{}",
            env.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let reply = env
        .control(
            &format!("run.{run_id}.cancel"),
            json!({ "actor": "ops", "reason": "not needed" }),
        )
        .await?;
    assert_eq!(reply["status"], "CANCELLED", "{reply}");
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "CANCELLED");
    assert_eq!(
        run["error"],
        json!({ "code": "CANCELLED", "message": "not needed" })
    );
    let child = env.wait_for_end(&child_id, WAIT).await?;
    assert_eq!(
        child["status"], "CANCELLED",
        "the child run is cancelled too: {child}"
    );

    let events = env.events(&run_id).await?;
    let cancelled = events
        .iter()
        .find(|e| e["type"] == "workflow.run.cancelled")
        .cloned()
        .unwrap_or_default();
    assert_eq!(cancelled["data"]["actor"], "ops");
    let step_cancels = events
        .iter()
        .filter(|e| e["type"] == "workflow.step.cancelled")
        .count();
    assert_eq!(step_cancels, 2, "both branches' steps: {events:?}");

    // Cancelling again is ok (PROTOCOL §4); an unknown run gets a clear error.
    let again = env
        .control(&format!("run.{run_id}.cancel"), json!({}))
        .await?;
    assert_eq!(again["status"], "CANCELLED", "{again}");
    let unknown = env.try_control("run.nope.cancel", json!({})).await?;
    assert_eq!(unknown["error"]["code"], "NOT_FOUND", "{unknown}");
    Ok(())
}

/// The states of the dispatches a paused run holds back, from its snapshot.
async fn held_states(env: &TestEnv, run_id: &str) -> anyhow::Result<Vec<String>> {
    let row = env
        .db()
        .await?
        .query_one(
            "SELECT coalesce(state->'held', '[]'::jsonb) FROM runs WHERE id = $1",
            &[&run_id],
        )
        .await?;
    let held: Value = row.get(0);
    let mut states: Vec<String> = held
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["task"]["state"].as_str().map(str::to_owned))
        .collect();
    states.sort();
    Ok(states)
}

#[tokio::test]
async fn pause_and_resume_a_running_parallel_state() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(
        r#"
id: pausable
states:
  - name: fan
    type: parallel
    branches:
      - name: a
        states:
          - { name: a1, type: agent, agent: sleep, input: { ms: 600 }, next: a2 }
          - { name: a2, type: agent, agent: echo, task: a2, end: true }
      - name: b
        states:
          - { name: b1, type: agent, agent: sleep, input: { ms: 600 }, next: b2 }
          - { name: b2, type: agent, agent: echo, task: b2, end: true }
    resultPath: steps.fan
    end: true
"#,
    )
    .await?;
    let run_id = env.start_run("pausable", json!({})).await?;
    let paused = env
        .control(&format!("run.{run_id}.pause"), json!({ "actor": "ops" }))
        .await?;
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    // The sleeps in flight finish; the second step of each branch waits:
    // wait until the coordinator has applied both results and held back
    // what they would have dispatched, in the same transition.
    let held = env
        .eventually("a2 and b2 held by the pause", WAIT, || async {
            let held = held_states(&env, &run_id).await?;
            Ok((held.len() >= 2).then_some(held))
        })
        .await?;
    assert_eq!(held, ["a2", "b2"], "held, not dispatched");
    let run = env.get_run(&run_id).await?;
    assert_eq!(run["status"], "PAUSED", "{run}");
    let started: Vec<String> = env
        .events(&run_id)
        .await?
        .iter()
        .filter(|e| e["type"] == "workflow.step.started")
        .filter_map(|e| e["path"].as_str().map(str::to_owned))
        .collect();
    assert!(
        !started
            .iter()
            .any(|p| p.ends_with("/a2") || p.ends_with("/b2")),
        "nothing new started while paused: {started:?}"
    );
    let attempts: Vec<&str> = run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["state"].as_str())
        .collect();
    assert!(
        !attempts.contains(&"a2") && !attempts.contains(&"b2"),
        "no attempt dispatched while paused: {attempts:?}"
    );
    let again = env
        .try_control(&format!("run.{run_id}.pause"), json!({}))
        .await?;
    assert_eq!(again["error"]["code"], "INVALID_STATE");

    let resumed = env
        .control(&format!("run.{run_id}.resume"), json!({ "actor": "ops" }))
        .await?;
    assert_eq!(resumed["status"], "RUNNING", "{resumed}");
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let kinds: Vec<String> = env
        .events(&run_id)
        .await?
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .filter(|t| t.starts_with("workflow.run."))
        .collect();
    assert_eq!(
        kinds,
        [
            "workflow.run.started",
            "workflow.run.paused",
            "workflow.run.resumed",
            "workflow.run.completed"
        ]
    );
    let not_paused = env
        .try_control(&format!("run.{run_id}.resume"), json!({}))
        .await?;
    assert_eq!(not_paused["error"]["code"], "INVALID_STATE");
    Ok(())
}

#[tokio::test]
async fn a_paused_runs_unclaimed_tasks_wait_for_resume() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    env.wait_for_members(1, 0).await?;
    env.put_workflow("id: one\nstates:\n  - { name: only, type: agent, agent: upper, task: hi, resultPath: steps.only, end: true }\n")
        .await?;
    // No worker yet: the task waits in the queue, unclaimed.
    let run_id = env.start_run("one", json!({})).await?;
    env.control(&format!("run.{run_id}.pause"), json!({}))
        .await?;
    env.start_worker("worker-1", &[]).await?;
    // A second delivery of the only task proves the worker received the
    // first and refused it (an executed task is acknowledged and deleted).
    let (tasks, _) = env.wait_for_task_deliveries(2).await?;
    assert_eq!(tasks.messages, 1, "the task is still queued");
    let run = env.get_run(&run_id).await?;
    assert_eq!(run["status"], "PAUSED", "{run}");
    assert_eq!(
        run["steps"][0]["status"], "PENDING",
        "held, not claimed: {run}"
    );
    assert!(env.calls.records().is_empty(), "the agent was not called");

    env.control(&format!("run.{run_id}.resume"), json!({}))
        .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["context"]["steps"]["only"]["text"], "HI");
    Ok(())
}
