//! Failures a definition handles: a run past its `timeoutSeconds` ends
//! `TIMED_OUT`; `catch` routes a failed step to its handler.

use crate::WAIT;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_run_past_its_timeout_ends_timed_out() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(
        "id: slow\ntimeoutSeconds: 1\nstates:\n  - { name: nap, type: agent, agent: sleep, input: { input: { ms: 20000 } }, end: true }\n",
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
