//! Station's example files run unchanged: every `*.workflow.yaml` of
//! `examples/station/` is stored as it is, run end to end on real services
//! (its approvals approved through the control plane) to COMPLETED, and its
//! outputs are the ones the Station dialect's rules predict
//! (docs/language.md, "The Station dialect"). The agents are the registry
//! files of `examples/station/agents/`, served by `junction-example-agents`.

use anyhow::Context;
use junction_bus::{ControlSubject, Decision};
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn station_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/station")
}

/// The example files, sorted.
fn workflow_files() -> anyhow::Result<Vec<String>> {
    let mut files: Vec<String> = std::fs::read_dir(station_dir())?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(".workflow.yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// A cluster whose coordinator registers `examples/station/agents/` (schemas
/// included) and whose agents are the example agents.
async fn station_cluster() -> anyhow::Result<TestEnv> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::examples()).await?;
    for entry in std::fs::read_dir(station_dir().join("agents"))? {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".agent.yaml"))
        else {
            continue;
        };
        // The example's own file (with its schemas) replaces the harness's.
        let harness_file = env.agents_dir().join(format!("{name}.agent.json"));
        if harness_file.exists() {
            std::fs::remove_file(harness_file)?;
        }
        std::fs::copy(&path, env.agents_dir().join(format!("{name}.agent.yaml")))?;
    }
    env.start_coordinator("coordinator", &[]).await?;
    env.start_worker("worker-1", &[]).await?;
    env.start_worker("worker-2", &[]).await?;
    env.wait_for_members(1, 2).await?;
    Ok(env)
}

/// What a run went through besides its record: the approvals it asked for.
struct Ran {
    run: Value,
    approvals: Vec<Value>,
}

/// Runs `workflow_id` to a terminal status, approving (as `alice`) every
/// approval it asks for on the way.
async fn run_approving(env: &TestEnv, workflow_id: &str, input: Value) -> anyhow::Result<Ran> {
    let run_id = env.start_run(workflow_id, input).await?;
    let mut approvals = Vec::new();
    loop {
        let run = env
            .eventually(&format!("run {run_id} to end or wait"), WAIT, || async {
                let run = env.get_run(&run_id).await?;
                let settled = matches!(
                    run["status"].as_str(),
                    Some("COMPLETED" | "FAILED" | "CANCELLED" | "TIMED_OUT" | "WAITING_APPROVAL")
                );
                Ok(settled.then_some(run))
            })
            .await?;
        if run["status"] != "WAITING_APPROVAL" {
            return Ok(Ran { run, approvals });
        }
        let approval = env.pending_approval(&run_id).await?;
        let id = approval["id"].as_str().context("approval id")?.to_owned();
        let decided = env
            .control(
                ControlSubject::approval(&id, Decision::Approve),
                json!({ "actor": "alice", "comment": "go" }),
            )
            .await?;
        anyhow::ensure!(decided["status"] == "APPROVED", "{decided}");
        // The decision reaches the run through a durable timer: wait until
        // the run has taken it.
        env.eventually(&format!("run {run_id} past {id}"), WAIT, || async {
            let run = env.get_run(&run_id).await?;
            Ok((run["status"] != "WAITING_APPROVAL").then_some(()))
        })
        .await?;
        approvals.push(approval);
        anyhow::ensure!(approvals.len() < 10, "approvals without end: {run}");
    }
}

/// The step paths a run went through.
fn paths(run: &Value) -> Vec<&str> {
    run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["path"].as_str())
        .collect()
}

/// No `_`-prefixed key anywhere in the context, and no per-state
/// `steps.<name>.output` records.
fn assert_no_hidden_metadata(file: &str, context: &Value) {
    fn walk(file: &str, value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    assert!(!key.starts_with('_'), "{file}: hidden key {at}.{key}");
                    walk(file, child, &format!("{at}.{key}"));
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(file, item, at)),
            _ => {}
        }
    }
    walk(file, context, "");
    for (name, record) in context["steps"].as_object().into_iter().flatten() {
        assert!(
            record.get("output").is_none(),
            "{file}: steps.{name}.output is a hidden record"
        );
    }
}

/// The run input of each example and what its run must show.
fn input_of(file: &str) -> Option<Value> {
    Some(match file {
        "incident-triage.workflow.yaml" => json!({ "namespace": "prod", "service": "hot-api" }),
        "service-triage.workflow.yaml" => json!({ "namespace": "prod", "service": "hot-api" }),
        "fleet-health.workflow.yaml" => json!({ "services": ["api", "legacy-db", "web"] }),
        "change-report.workflow.yaml" => json!({ "repo": "junction" }),
        "release-gate.workflow.yaml" => json!({ "version": "2.0" }),
        _ => return None,
    })
}

fn check(file: &str, ran: &Ran) {
    let run = &ran.run;
    let context = &run["context"];
    let ctx = &context["ctx"];
    let ran_paths = paths(run);
    match file {
        "incident-triage.workflow.yaml" => {
            let steps = &context["steps"];
            assert_eq!(steps["diagnostics"]["errors"]["result"]["error_rate"], 0.2);
            assert_eq!(
                steps["diagnostics"]["pods"]["result"]["pods"][0]["name"],
                "pod-1"
            );
            assert_eq!(
                ran.approvals[0]["message"],
                "Error rate high (0.2). Approve mitigation?"
            );
            assert_eq!(
                steps["mitigation"]["result"],
                "restarted: Restart unhealthy pods in prod"
            );
            assert!(ran_paths.contains(&"notify") && !ran_paths.contains(&"report_ok"));
        }
        "service-triage.workflow.yaml" => {
            // merge: {branch: value}; a shorthand branch's value is its
            // agent's output, a states branch's its local object.
            assert_eq!(
                context["triage"],
                json!({
                    "pods": { "pods": [{ "name": "pod-1", "ready": false }, { "name": "pod-2", "ready": true }] },
                    "errors": { "error_rate": 0.2 },
                    "logs": { "scan": { "lines": ["error 1"] }, "tally": { "log_errors": 1 } },
                })
            );
            assert_eq!(
                context["summary"],
                json!({ "unready": ["pod-1"], "error_rate": 0.2, "log_errors": 1 })
            );
            assert_eq!(ctx["verdict"], "escalate");
            assert_eq!(
                ctx["notification"],
                json!({ "sent": true, "channel": "#incidents", "message": "hot-api: escalate (error rate 0.2)" })
            );
            for path in [
                "checks/pods/pods",
                "checks/errors/errors",
                "checks/logs/scan",
            ] {
                assert!(ran_paths.contains(&path), "{path} in {ran_paths:?}");
            }
        }
        "fleet-health.workflow.yaml" => {
            let probe = |service: &str, healthy: bool| json!({ "service": service, "healthy": healthy, "latency_ms": 10 * service.len() });
            assert_eq!(
                context["probes"],
                json!([
                    { "item": "api", "index": 0, "output": probe("api", true) },
                    { "item": "legacy-db", "index": 1, "output": probe("legacy-db", false) },
                    { "item": "web", "index": 2, "output": probe("web", true) },
                ]),
                "each item's first agent got the item"
            );
            assert_eq!(
                ctx["report"],
                json!({ "checked": 3, "order": [0, 1, 2], "down": ["legacy-db"], "slowest_ms": 90 })
            );
            assert!(ran_paths.contains(&"probe[2]/probe"), "{ran_paths:?}");
        }
        "change-report.workflow.yaml" => {
            assert_eq!(
                context["shape"],
                json!({ "repo": "junction", "count": 3, "authors": ["ada", "grace"] })
            );
            let task = "Report 3 changes to junction, 1 risky";
            assert_eq!(
                context["flags"],
                json!({ "risky": [2], "count": 3, "task": task })
            );
            assert_eq!(
                ctx["report"],
                json!({ "report": task, "items": 3 }),
                "no task: the payload's"
            );
            assert_eq!(
                ctx["archived"],
                json!({ "report": "Execute workflow step: archive", "items": 3 })
            );
        }
        "release-gate.workflow.yaml" => {
            assert_eq!(
                ran.approvals[0]["message"],
                "Ship 2.0? Notes: Release notes for 2.0"
            );
            let decision = &context["decision"];
            assert_eq!(decision["decision"], "approved");
            assert_eq!(decision["approved"], true);
            assert_eq!(decision["actor"], "alice");
            assert_eq!(decision["comment"], "go");
            assert!(decision["decided_at"].is_string(), "{decision}");
            assert_eq!(ctx["shipped"], true);
            assert_eq!(
                ctx["announcement"],
                json!({ "sent": true, "channel": "#releases", "message": "Shipping 2.0 (approved by alice)" })
            );
            assert!(!ran_paths.contains(&"hold"), "{ran_paths:?}");
        }
        other => panic!("{other} has no checks: add its input and checks here"),
    }
}

#[tokio::test]
async fn every_station_example_runs_unchanged_to_completed() -> anyhow::Result<()> {
    let env = station_cluster().await?;
    let files = workflow_files()?;
    assert!(files.len() >= 5, "{files:?}");
    for file in &files {
        let source = std::fs::read_to_string(station_dir().join(file))?;
        let stored = env
            .control(ControlSubject::WorkflowsPut, json!({ "source": source }))
            .await?;
        let id = stored["id"].as_str().context("workflow id")?.to_owned();
        let input = input_of(file)
            .with_context(|| format!("{file} has no run input: add it and its checks here"))?;
        let ran = run_approving(&env, &id, input).await?;
        assert_eq!(ran.run["status"], "COMPLETED", "{file}: {}", ran.run);
        assert_no_hidden_metadata(file, &ran.run["context"]);
        check(file, &ran);
    }
    Ok(())
}
