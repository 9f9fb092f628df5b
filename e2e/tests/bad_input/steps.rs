//! Steps that fail: agent errors, missing and garbled agents, timeouts,
//! oversized payloads and missing template paths; and runs that complete
//! while their database connections are cut.

use crate::{failed_run, one_step};
use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn agent_failures_fail_the_run_clearly() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(&one_step(
        "fails",
        "fail",
        "      input: { code: CARD_DECLINED, message: declined }\n",
    ))
    .await?;
    // An agent missing from the registry is refused before any run starts...
    let refused = env
        .try_control(
            ControlSubject::WorkflowsPut,
            json!({ "source": one_step("absent", "no-such-agent", "") }),
        )
        .await?;
    assert_eq!(refused["error"]["code"], "VALIDATION_FAILED", "{refused}");
    let diagnostics = refused["error"]["details"]["diagnostics"].to_string();
    assert!(diagnostics.contains("AGENT_NOT_FOUND"), "{diagnostics}");
    assert!(diagnostics.contains("no-such-agent"), "{diagnostics}");
    // ...and one registered but served by nobody fails the run at call time.
    env.put_agent("no-such-agent", None, None).await?;
    env.put_workflow(&one_step("absent", "no-such-agent", ""))
        .await?;
    env.put_workflow(&one_step("garbled", "garbage", ""))
        .await?;
    env.put_workflow(&one_step(
        "slow",
        "sleep",
        "      input: { ms: 5000 }\n      timeoutSeconds: 1\n",
    ))
    .await?;

    let run = failed_run(&env, "fails", json!({})).await?;
    assert_eq!(run["error"]["code"], "CARD_DECLINED");
    assert_eq!(run["error"]["message"], "declined");
    assert_eq!(run["error"]["state"], "only");
    assert_eq!(run["error"]["attempt"], 1);
    assert!(run["error"]["step_id"].is_string());
    assert_eq!(run["steps"][0]["status"], "FAILED");

    assert_eq!(
        failed_run(&env, "absent", json!({})).await?["error"]["code"],
        "AGENT_UNAVAILABLE"
    );
    assert_eq!(
        failed_run(&env, "garbled", json!({})).await?["error"]["code"],
        "BAD_AGENT_REPLY"
    );

    let slow = failed_run(&env, "slow", json!({})).await?;
    assert_eq!(slow["error"]["code"], "STEP_TIMEOUT", "{slow}");
    assert_eq!(slow["steps"][0]["status"], "TIMED_OUT");
    let events = env.events(slow["id"].as_str().unwrap_or_default()).await?;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(kinds.contains(&"workflow.step.timed_out"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"workflow.run.failed"));
    Ok(())
}

#[tokio::test]
async fn oversized_payloads_and_missing_template_paths_fail_clearly() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator", &[("JUNCTION_LIMITS__PAYLOAD_BYTES", "4096")])
        .await?;
    env.start_worker("worker-1", &[("JUNCTION_LIMITS__PAYLOAD_BYTES", "4096")])
        .await?;
    env.wait_for_members(1, 1).await?;
    // Without declared input properties, `ctx.*` paths cannot be checked
    // before the run: they are checked when the step is dispatched.
    let open = |source: String| source.replace("  properties:\n    n: { type: integer }\n", "");
    env.put_workflow(&open(one_step(
        "big",
        "echo",
        "      input: { blob: \"{{ ctx.blob }}{{ ctx.blob }}\" }\n",
    )))
    .await?;
    let templ = one_step("templ", "echo", "      task: \"{{ ctx.missing.path }}\"\n");
    // With declared properties the same mistake is refused at validation.
    let refused = env
        .try_control(ControlSubject::WorkflowsPut, json!({ "source": templ }))
        .await?;
    assert_eq!(refused["error"]["code"], "VALIDATION_FAILED", "{refused}");
    let diagnostic = &refused["error"]["details"]["diagnostics"][0];
    assert_eq!(diagnostic["code"], "TEMPLATE_PATH", "{refused}");
    assert_eq!(diagnostic["path"], "states[0].input.task", "{refused}");
    assert_eq!(diagnostic["line"], 13, "{refused}");
    env.put_workflow(&open(templ)).await?;

    let too_big = env
        .try_control(
            ControlSubject::RunStart,
            json!({ "workflow_id": "big", "input": { "blob": "x".repeat(5000) } }),
        )
        .await?;
    assert_eq!(too_big["error"]["code"], "PAYLOAD_TOO_LARGE");

    let run = failed_run(&env, "big", json!({ "blob": "y".repeat(3000) })).await?;
    assert_eq!(run["error"]["code"], "PAYLOAD_TOO_LARGE", "{run}");
    assert_eq!(run["steps"][0]["status"], "FAILED");

    let run = failed_run(&env, "templ", json!({})).await?;
    assert_eq!(run["error"]["code"], "TEMPLATE_PATH");
    assert!(
        run["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("ctx.missing.path")),
        "{run}"
    );
    Ok(())
}

#[tokio::test]
async fn runs_complete_while_database_connections_are_cut() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 2).await?;
    env.put_workflow(
        &junction_e2e::chain_yaml("cut", "sleep", 4, None)
            .replace("task: \"step", "input: { ms: 50 }\n      task: \"step"),
    )
    .await?;
    let mut runs = Vec::new();
    for _ in 0..10 {
        runs.push(env.start_run("cut", json!({})).await?);
    }
    let (admin, connection) =
        tokio_postgres::connect(&junction_e2e::admin_url(), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", &[&env.database]).await?;
    }
    for run_id in &runs {
        let run = env.wait_for_end(run_id, Duration::from_secs(90)).await?;
        assert_eq!(run["status"], "COMPLETED", "{run}");
    }
    let mut keys = std::collections::HashMap::<String, usize>::new();
    for record in env.calls.records() {
        *keys.entry(record.idempotency_key).or_default() += 1;
    }
    assert_eq!(keys.len(), 40, "10 runs × 4 steps, each attempt 1");
    Ok(())
}
