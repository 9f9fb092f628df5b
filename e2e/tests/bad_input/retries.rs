//! Retries: new attempts at once and after a durable backoff timer, and
//! where they stop.

use crate::{WAIT, failed_run, one_step};
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn retries_make_new_attempts_including_after_a_durable_backoff_timer() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    immediate_retries_make_one_attempt_row_each(&env).await?;
    a_retry_after_a_backoff_waits_on_a_durable_timer(&env).await?;
    retries_stop_when_exhausted_or_not_retryable(&env).await
}

/// `flaky` succeeds at its third attempt; each attempt is a row.
async fn immediate_retries_make_one_attempt_row_each(env: &TestEnv) -> anyhow::Result<()> {
    env.put_workflow(&one_step(
        "flaky-now",
        "flaky",
        "      input: { succeed_at: 3 }\n    retry: { maxAttempts: 3 }\n",
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
    Ok(())
}

/// A retry with `backoffSeconds` waits for its timer, which is deleted once fired.
async fn a_retry_after_a_backoff_waits_on_a_durable_timer(env: &TestEnv) -> anyhow::Result<()> {
    env.put_workflow(&one_step(
        "flaky-later",
        "flaky",
        "      input: { succeed_at: 2 }\n    retry: { maxAttempts: 2, backoffSeconds: 1 }\n",
    ))
    .await?;
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

    Ok(())
}

/// Retries end with the last attempt's error; a non-retryable error is not retried.
async fn retries_stop_when_exhausted_or_not_retryable(env: &TestEnv) -> anyhow::Result<()> {
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
    let exhausted = failed_run(env, "never", json!({})).await?;
    assert_eq!(
        (
            exhausted["error"]["code"].as_str(),
            exhausted["error"]["attempt"].as_i64()
        ),
        (Some("AGENT_FAILED"), Some(2))
    );
    let final_error = failed_run(env, "final", json!({})).await?;
    assert_eq!(
        final_error["error"]["attempt"], 1,
        "retryable: false is not retried"
    );
    Ok(())
}
