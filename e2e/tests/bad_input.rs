//! Bad input gets a clear error or a clear FAILED run, loses nothing, and
//! never crashes a process or leaves a run stuck.

use junction_bus::{ControlSubject, RunVerb};
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn one_step(id: &str, agent: &str, extra: &str) -> String {
    format!(
        "id: {id}\ntrigger: {{ signal: {id} }}\ninputSchema:\n  type: object\n  properties:\n    n: {{ type: integer }}\nstates:\n  - name: only\n    type: operation\n    action: agent.run\n    input:\n      agent: {agent}\n{extra}    resultPath: steps.only\n    end: true\n"
    )
}

async fn failed_run(env: &TestEnv, workflow: &str, input: Value) -> anyhow::Result<Value> {
    let run_id = env.start_run(workflow, input).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "FAILED", "{run}");
    Ok(run)
}

#[tokio::test]
async fn malformed_signals_are_rejected_counted_and_intake_continues() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(&one_step("sig", "echo", "")).await?;
    env.publish_raw_signal("sig", b"{ not json".to_vec())
        .await?;
    env.publish_raw_signal(
        "sig",
        br#"{"specversion":"1.0","source":"x","type":"sig"}"#.to_vec(),
    )
    .await?;
    env.publish_raw_signal(
        "sig",
        br#"{"specversion":"1.0","id":"t1","source":"x","type":"other"}"#.to_vec(),
    )
    .await?;
    env.publish_raw_signal(
        "sig",
        br#"{"specversion":"1.0","id":"t2","source":"x","type":"sig","data":[1]}"#.to_vec(),
    )
    .await?;
    env.publish_signal("sig", "bad-input", json!({ "n": "not an integer" }))
        .await?;
    env.publish_signal("sig", "good", json!({ "n": 1 })).await?;

    let run_id = env.wait_for_signal_run("good", WAIT).await?;
    assert_eq!(
        env.wait_for_end(&run_id, WAIT).await?["status"],
        "COMPLETED"
    );
    let all = env.control(ControlSubject::RunsList, json!({})).await?;
    assert_eq!(
        all["runs"].as_array().map(Vec::len),
        Some(1),
        "no run from any bad signal"
    );
    let metrics = env.http_get("/metrics").await?;
    for reason in [
        "malformed_json",
        "missing_id",
        "type_mismatch",
        "data_not_object",
        "input_schema",
    ] {
        assert!(
            metrics.contains(&format!(
                "junction_signals_rejected_total{{reason=\"{reason}\"}} 1"
            )),
            "{reason} counted:\n{metrics}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_pinned_error_codes_and_create_nothing() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(&one_step("typed", "echo", "")).await?;
    let code = |reply: Value| {
        reply["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    assert_eq!(
        code(
            env.try_control(ControlSubject::RunStart, json!({ "workflow_id": "nope" }))
                .await?
        ),
        "NOT_FOUND"
    );
    assert_eq!(
        code(
            env.try_control(
                ControlSubject::RunStart,
                json!({ "workflow_id": "typed", "input": [1] })
            )
            .await?
        ),
        "INVALID_REQUEST"
    );
    assert_eq!(
        code(
            env.try_control(
                ControlSubject::RunStart,
                json!({ "workflow_id": "typed", "input": { "n": "x" } })
            )
            .await?
        ),
        "INPUT_SCHEMA"
    );
    assert_eq!(
        code(
            env.try_control(ControlSubject::run("bogus-id", RunVerb::Get), json!({}))
                .await?
        ),
        "NOT_FOUND"
    );
    assert_eq!(
        code(
            env.try_control(ControlSubject::AgentsPut, json!({ "name": "Bad Name" }))
                .await?
        ),
        "INVALID_REQUEST"
    );
    let raw = env
        .nats
        .request(
            env.subjects.control_subject(&ControlSubject::RunsList),
            "{oops".into(),
        )
        .await?;
    assert_eq!(
        code(serde_json::from_slice(&raw.payload)?),
        "INVALID_REQUEST"
    );

    let broken = "id: broken\nstates:\n  - name: a\n    type: operation\n    action: agent.run\n    input: { agent: echo }\n    next: nowhere\n";
    let put = env
        .try_control(ControlSubject::WorkflowsPut, json!({ "source": broken }))
        .await?;
    assert_eq!(code(put.clone()), "VALIDATION_FAILED");
    let diagnostics = put["error"]["details"]["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        diagnostics.iter().any(|d| d["code"] == "DANGLING_TARGET"
            && d["path"] == "states[0].next"
            && d["severity"] == "error"),
        "{put}"
    );
    let validated = env
        .control(
            ControlSubject::WorkflowsValidate,
            json!({ "source": broken }),
        )
        .await?;
    assert_eq!(
        validated["ok"], true,
        "validate answers ok even with errors"
    );
    assert!(!validated["errors"].as_array().is_none_or(Vec::is_empty));
    assert_eq!(
        code(
            env.try_control(ControlSubject::WorkflowsGet, json!({ "id": "broken" }))
                .await?
        ),
        "NOT_FOUND",
        "nothing was stored"
    );

    let runs = env.control(ControlSubject::RunsList, json!({})).await?;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(0));
    Ok(())
}

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
async fn retries_make_new_attempts_including_after_a_durable_backoff_timer() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(&one_step(
        "flaky-now",
        "flaky",
        "      input: { succeed_at: 3 }\n    retry: { maxAttempts: 3 }\n",
    ))
    .await?;
    env.put_workflow(&one_step(
        "flaky-later",
        "flaky",
        "      input: { succeed_at: 2 }\n    retry: { maxAttempts: 2, backoffSeconds: 1 }\n",
    ))
    .await?;
    env.put_workflow(&one_step(
        "never",
        "fail",
        "      input: { retryable: true }\n    retry: { maxAttempts: 2 }\n",
    ))
    .await?;
    env.put_workflow(&one_step(
        "final",
        "fail",
        "    retry: { maxAttempts: 5 }\n",
    ))
    .await?;

    let run_id = env.start_run("flaky-now", json!({})).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["context"]["steps"]["only"], json!({ "attempt": 3 }));
    let attempts: Vec<(i64, &str)> = run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["attempt"].as_i64().unwrap_or(0),
                s["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        vec![(1, "FAILED"), (2, "FAILED"), (3, "SUCCEEDED")],
        "one row per attempt"
    );
    let retrying = env
        .events(&run_id)
        .await?
        .iter()
        .filter(|e| e["type"] == "workflow.step.retrying")
        .count();
    assert_eq!(retrying, 2);

    let started = std::time::Instant::now();
    let run_id = env.start_run("flaky-later", json!({})).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the backoff was waited for"
    );
    let retry = env
        .events(&run_id)
        .await?
        .into_iter()
        .find(|e| e["type"] == "workflow.step.retrying")
        .unwrap_or_default();
    assert_eq!(
        (
            retry["data"]["next_attempt"].as_i64(),
            retry["data"]["delay_seconds"].as_f64()
        ),
        (Some(2), Some(1.0))
    );
    let timers: i64 = env
        .db()
        .await?
        .query_one("SELECT count(*) FROM timers", &[])
        .await?
        .get(0);
    assert_eq!(timers, 0, "fired timers are deleted");

    let exhausted = failed_run(&env, "never", json!({})).await?;
    assert_eq!(
        (
            exhausted["error"]["code"].as_str(),
            exhausted["error"]["attempt"].as_i64()
        ),
        (Some("AGENT_FAILED"), Some(2))
    );
    let final_error = failed_run(&env, "final", json!({})).await?;
    assert_eq!(
        final_error["error"]["attempt"], 1,
        "retryable: false is not retried"
    );
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
