//! Redrive on real services (docs/protocol.md §10): a run that failed
//! because an agent was broken is redriven once the agent is fixed, and
//! completes in the same run id. Steps that succeeded are not executed
//! again (the agents' calls are counted), the failed step's attempt numbers
//! go on, and inside a foreach only the failed and cancelled items run
//! again. The run's event stream (SSE) goes on past its first end. A run
//! that is RUNNING or COMPLETED refuses a redrive with `INVALID_STATE`,
//! over NATS and HTTP; `junction redrive` drives one from the CLI binary.

use junction_bus::{ControlSubject, RunVerb};
use junction_core::wire::agent::AgentRequest;
use junction_e2e::{TestEnv, http_post_status_at};
use junction_example_agents::{Registry, Reply};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

const WAIT: Duration = Duration::from_secs(60);

/// `prep` → `deliver` (two attempts) → `wrap`: `deliver` fails until fixed.
const PIPELINE: &str = r#"
id: redrive-pipeline
states:
  - { name: prep, type: agent, agent: echo, task: prep, resultPath: steps.prep, next: deliver }
  - name: deliver
    type: operation
    action: agent.run
    input: { agent: mend, task: deliver }
    retry: { maxAttempts: 2 }
    resultPath: steps.deliver
    next: wrap
  - { name: wrap, type: inject, data: { wrapped: true }, end: true }
"#;

/// A foreach whose odd items fail until fixed.
const SWEEP: &str = r#"
id: redrive-sweep
states:
  - name: each
    type: foreach
    itemsPath: ctx.items
    itemName: item
    maxConcurrency: 5
    iterator:
      states:
        - { name: check, type: agent, agent: parity, resultPath: r, end: true }
    resultPath: steps.checked
    end: true
"#;

/// One step that waits for the test.
const HOLD: &str =
    "id: redrive-hold\nstates:\n  - { name: wait, type: agent, agent: hold, end: true }\n";

/// The switches the test's agents obey.
#[derive(Clone)]
struct Switches {
    /// `mend` and `parity` fail until this is set.
    fixed: Arc<AtomicBool>,
    /// `parity`'s failing items, and `hold`, answer once a permit is here.
    gate: Arc<Semaphore>,
}

fn registry(switches: &Switches) -> Registry {
    let (mend, parity, hold) = (switches.clone(), switches.clone(), switches.clone());
    Registry::builtin()
        .with("mend", move |_request: AgentRequest| {
            let fixed = mend.fixed.load(Ordering::SeqCst);
            async move {
                if fixed {
                    Reply::output(json!({ "delivered": true }))
                } else {
                    Reply::error("BROKEN", "the delivery service is down")
                }
            }
        })
        .with("parity", move |request: AgentRequest| {
            let switches = parity.clone();
            async move {
                let n = request.input.as_u64().unwrap_or(0);
                if n.is_multiple_of(2) || switches.fixed.load(Ordering::SeqCst) {
                    return Reply::output(json!({ "n": n }));
                }
                // Odd items wait until the even ones are done, so which
                // items end how is the same every time.
                if let Ok(permit) = switches.gate.acquire().await {
                    permit.forget();
                }
                Reply::error("ODD", format!("item {n} is odd"))
            }
        })
        .with("hold", move |_request: AgentRequest| {
            let gate = hold.gate.clone();
            async move {
                if let Ok(permit) = gate.acquire().await {
                    permit.forget();
                }
                Reply::output(json!({ "held": true }))
            }
        })
}

async fn cluster() -> anyhow::Result<(TestEnv, Switches)> {
    let switches = Switches {
        fixed: Arc::new(AtomicBool::new(false)),
        gate: Arc::new(Semaphore::new(0)),
    };
    let env = TestEnv::cluster(registry(&switches), 1).await?;
    Ok((env, switches))
}

/// The attempts the agents received for `run_id`'s step `step_id`, in order.
fn attempts(env: &TestEnv, run_id: &str, step_id: &str) -> Vec<u32> {
    env.calls
        .records()
        .iter()
        .filter(|c| c.run_id == run_id && c.step_id == step_id)
        .map(|c| c.attempt)
        .collect()
}

/// The one `workflow.run.redriven` event of the run.
async fn redriven(env: &TestEnv, run_id: &str) -> anyhow::Result<Value> {
    let events = env.events(run_id).await?;
    let found: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "workflow.run.redriven")
        .collect();
    anyhow::ensure!(found.len() == 1, "one redriven event: {events:?}");
    Ok(found[0].clone())
}

fn step_id_of(run: &Value, state: &str) -> anyhow::Result<String> {
    run["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["state"] == state))
        .and_then(|s| s["step_id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no step {state} in {run}"))
}

#[tokio::test]
async fn a_redriven_run_runs_only_its_failed_step_again_with_the_next_attempt() -> anyhow::Result<()>
{
    let (env, switches) = cluster().await?;
    env.put_workflow(PIPELINE).await?;
    let run_id = env.start_run("redrive-pipeline", json!({})).await?;
    let failed = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["error"]["code"], "BROKEN", "{failed}");
    let deliver = step_id_of(&failed, "deliver")?;
    assert_eq!(attempts(&env, &run_id, &deliver), vec![1, 2]);

    switches.fixed.store(true, Ordering::SeqCst);
    let reply = env
        .control(
            ControlSubject::run(&run_id, RunVerb::Redrive),
            json!({ "actor": "ops", "reason": "delivery fixed" }),
        )
        .await?;
    assert_eq!(reply["status"], "RUNNING", "{reply}");
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert!(run["error"].is_null(), "{run}");
    assert!(run["ended_at"].is_string(), "{run}");
    // `prep` ran once; `deliver` went on with attempt 3.
    assert_eq!(env.calls.count_for("echo"), 1);
    assert_eq!(attempts(&env, &run_id, &deliver), vec![1, 2, 3]);
    assert_eq!(
        run["context"]["steps"]["deliver"],
        json!({ "delivered": true })
    );
    assert!(run["context"]["steps"]["prep"].is_object(), "{run}");
    assert_eq!(run["context"]["ctx"]["wrapped"], json!(true));
    let event = redriven(&env, &run_id).await?;
    assert_eq!(
        event["data"],
        json!({ "actor": "ops", "reason": "delivery fixed", "steps": [deliver] })
    );
    junction_e2e::assert_gapless(&env.events(&run_id).await?)?;

    // The event stream of the run goes past its first end, to its last.
    let addr = env.coordinator_http().await?;
    let stream = format!("/v1/runs/{run_id}/stream");
    let (status, body) = junction_e2e::http_get_status_at(&addr, &stream).await?;
    assert_eq!(status, 200, "{body}");
    for kind in [
        "workflow.run.failed",
        "workflow.run.redriven",
        "workflow.run.completed",
    ] {
        assert!(
            body.contains(&format!("event: {kind}")),
            "no {kind} in {body}"
        );
    }

    // A COMPLETED run refuses, over NATS and HTTP.
    let refused = env
        .try_control(ControlSubject::run(&run_id, RunVerb::Redrive), json!({}))
        .await?;
    assert_eq!(refused["error"]["code"], "INVALID_STATE", "{refused}");
    let path = format!("/v1/runs/{run_id}/redrive");
    let (status, body) = http_post_status_at(&addr, &path, &json!({})).await?;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("INVALID_STATE"), "{body}");

    // So does a RUNNING one (its step waits for the test).
    env.put_workflow(HOLD).await?;
    let held = env.start_run("redrive-hold", json!({})).await?;
    env.wait_for_calls("hold", 1).await?;
    let refused = env
        .try_control(ControlSubject::run(&held, RunVerb::Redrive), json!({}))
        .await?;
    assert_eq!(refused["error"]["code"], "INVALID_STATE", "{refused}");
    let path = format!("/v1/runs/{held}/redrive");
    let (status, body) = http_post_status_at(&addr, &path, &json!({})).await?;
    assert_eq!(status, 409, "{body}");
    switches.gate.add_permits(1);
    let done = env.wait_for_end(&held, WAIT).await?;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    Ok(())
}

#[tokio::test]
async fn inside_a_foreach_only_the_failed_and_cancelled_items_run_again() -> anyhow::Result<()> {
    let (env, switches) = cluster().await?;
    env.put_workflow(SWEEP).await?;
    let run_id = env
        .start_run("redrive-sweep", json!({ "items": [0, 1, 2, 3, 4] }))
        .await?;
    // Every item reached its agent, and the even ones are done; then the
    // odd ones fail.
    env.wait_for_calls("parity", 5).await?;
    env.eventually("the even items done", WAIT, || async {
        let events = env.events(&run_id).await?;
        let done = events
            .iter()
            .filter(|e| e["type"] == "workflow.step.completed" && e["state"] == "check")
            .count();
        Ok((done == 3).then_some(()))
    })
    .await?;
    switches.gate.add_permits(2);
    let failed = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(env.calls.count_for("parity"), 5);

    switches.fixed.store(true, Ordering::SeqCst);
    let addr = env.coordinator_http().await?;
    let path = format!("/v1/runs/{run_id}/redrive");
    let (status, body) = http_post_status_at(&addr, &path, &json!({})).await?;
    assert_eq!(status, 200, "{body}");
    let reply: Value = serde_json::from_str(&body)?;
    assert_eq!(reply["status"], "RUNNING", "{reply}");
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");

    // Items 1 and 3 ran again (attempt 2); 0, 2 and 4 kept their values.
    let calls = env.calls.records();
    let mut again: Vec<(u64, u32)> = Vec::new();
    for call in calls.iter().filter(|c| c.run_id == run_id && c.attempt > 1) {
        let step = run["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["step_id"] == call.step_id.as_str()));
        let path = step.and_then(|s| s["path"].as_str()).unwrap_or_default();
        let index = path
            .strip_prefix("each[")
            .and_then(|p| p.split(']').next())
            .and_then(|i| i.parse().ok())
            .unwrap_or(u64::MAX);
        again.push((index, call.attempt));
    }
    again.sort_unstable();
    assert_eq!(again, vec![(1, 2), (3, 2)]);
    assert_eq!(env.calls.count_for("parity"), 7);
    assert_eq!(
        run["context"]["steps"]["checked"],
        json!(
            [0, 1, 2, 3, 4]
                .iter()
                .map(|n| json!({ "r": { "n": n } }))
                .collect::<Vec<_>>()
        )
    );
    let event = redriven(&env, &run_id).await?;
    let steps = event["data"]["steps"].as_array().map_or(0, Vec::len);
    assert_eq!(steps, 3, "the foreach and items 1 and 3: {event}");
    Ok(())
}

/// Runs `junction ARGS…` against the cluster; its exit code, stdout, stderr.
async fn junction(env: &TestEnv, args: &[&str]) -> anyhow::Result<(Option<i32>, String, String)> {
    let path = junction_e2e::bin_dir().join("junction");
    anyhow::ensure!(path.exists(), "{} is not built", path.display());
    let output = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(&path)
            .args(args)
            .env_remove("JUNCTION_CONFIG")
            .env("JUNCTION_NATS__URL", &env.nats_url)
            .env("JUNCTION_NATS__PREFIX", &env.prefix)
            .env("USER", "cli-operator")
            .kill_on_drop(true)
            .output(),
    )
    .await??;
    Ok((
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

#[tokio::test]
async fn junction_redrive_redrives_a_failed_run_and_exits_4_on_a_completed_one()
-> anyhow::Result<()> {
    let (env, switches) = cluster().await?;
    env.put_workflow(PIPELINE).await?;
    let run_id = env.start_run("redrive-pipeline", json!({})).await?;
    let failed = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    switches.fixed.store(true, Ordering::SeqCst);

    let args = ["-o", "json", "redrive", &run_id, "--reason", "fixed"];
    let (code, stdout, stderr) = junction(&env, &args).await?;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let printed: Value = serde_json::from_str(stdout.trim())?;
    assert_eq!(printed, json!({ "run_id": run_id, "status": "RUNNING" }));
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let event = redriven(&env, &run_id).await?;
    assert_eq!(event["data"]["actor"], "cli-operator", "{event}");
    assert_eq!(event["data"]["reason"], "fixed", "{event}");

    let (code, stdout, stderr) = junction(&env, &["redrive", &run_id]).await?;
    assert_eq!(code, Some(4), "{stdout}{stderr}");
    assert!(stderr.contains("INVALID_STATE"), "{stderr}");
    Ok(())
}
