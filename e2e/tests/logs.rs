//! JSON logs (`JUNCTION_LOG_FORMAT=json`): every line a worker writes is one
//! JSON object, and every attempt's end is logged with the fields operators
//! filter on (PROTOCOL §9): `run_id`, `step_id`, `attempt`, `worker_id`,
//! `executor`, `duration_ms`, `status` and, on a failure, `error_type`.

use junction_e2e::TestEnv;
use junction_e2e::chain_yaml;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn a_json_worker_logs_each_attempts_end_with_its_fields() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    let coordinator = env
        .start_coordinator("coordinator", &[("JUNCTION_LOG_FORMAT", "json")])
        .await?;
    let worker = env
        .start_worker("worker-json", &[("JUNCTION_LOG_FORMAT", "json")])
        .await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(&chain_yaml("logged", "echo", 2, None))
        .await?;
    env.put_workflow(&chain_yaml("doomed", "fail", 1, None))
        .await?;
    let ok = env.start_run("logged", json!({})).await?;
    let failed = env.start_run("doomed", json!({})).await?;
    env.wait_for_end(&ok, Duration::from_secs(30)).await?;
    env.wait_for_end(&failed, Duration::from_secs(30)).await?;

    let lines = json_lines(&env.processes[worker].output())?;
    assert!(!lines.is_empty(), "the worker logged nothing");
    let coordinator_lines = json_lines(&env.processes[coordinator].output())?;
    assert!(
        coordinator_lines
            .iter()
            .any(|l| l["message"] == "run started" && l.get("run_id").is_some()),
        "the coordinator logs each run's start with its run_id"
    );
    let ends: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "step attempt ended")
        .collect();
    let of_run = |run: &str| ends.iter().filter(|l| l["run_id"] == run).count();
    assert_eq!(of_run(&ok), 2, "{ends:?}");
    assert!(of_run(&failed) >= 1, "{ends:?}");
    for end in &ends {
        for key in ["step_id", "attempt", "worker_id", "duration_ms"] {
            assert!(end.get(key).is_some(), "no {key}: {end}");
        }
        assert_eq!(end["executor"], "agent.run", "{end}");
        assert_eq!(end["worker_id"], "worker-json", "{end}");
        if end["run_id"] == ok.as_str() {
            assert_eq!(end["status"], "SUCCEEDED", "{end}");
            assert!(end.get("error_type").is_none(), "{end}");
        } else {
            assert_eq!(end["status"], "FAILED", "{end}");
            assert_eq!(end["error_type"], "agent_error", "{end}");
        }
    }
    Ok(())
}

/// Every line of `output` as JSON with the pinned keys (`timestamp` RFC
/// 3339, `level`, `message`, `target`).
fn json_lines(output: &str) -> anyhow::Result<Vec<Value>> {
    let lines: Vec<Value> = output
        .lines()
        .map(|line| {
            serde_json::from_str(line).map_err(|e| anyhow::anyhow!("not JSON ({e}): {line}"))
        })
        .collect::<anyhow::Result<_>>()?;
    for line in &lines {
        for key in ["timestamp", "level", "message", "target"] {
            assert!(line.get(key).is_some(), "no {key}: {line}");
        }
        let timestamp = line["timestamp"].as_str().unwrap_or("");
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
            "not RFC 3339: {line}"
        );
    }
    Ok(lines)
}
