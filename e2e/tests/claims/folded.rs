//! Steps that finish within a third of the lease: claim and result in one
//! statement, with consecutive seqs and no backstop timer.

use crate::{WAIT, any_timer_ever_inserted, attempt, backstops, stored_events, types};
use junction_e2e::{TestEnv, chain_yaml};
use junction_example_agents::Registry;
use serde_json::{Value, json};

#[tokio::test]
async fn a_short_step_is_claimed_and_finished_by_one_statement() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(&chain_yaml("short", "echo", 3, None))
        .await?;
    let run_id = env.start_run("short", json!({ "n": 1 })).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");

    let events = env.events(&run_id).await?;
    for state in ["s1", "s2", "s3"] {
        let mine: Vec<&Value> = events.iter().filter(|e| e["state"] == state).collect();
        let kinds: Vec<&str> = mine.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(
            kinds,
            ["workflow.step.started", "workflow.step.completed"],
            "{mine:?}"
        );
        let (started, completed) = (mine[0], mine[1]);
        assert_eq!(
            started["seq"].as_i64().map(|s| s + 1),
            completed["seq"].as_i64(),
            "consecutive seqs, from one statement: {mine:?}"
        );
        for event in [started, completed] {
            assert_eq!(event["worker_id"], "worker-1", "{event}");
            assert_eq!(event["attempt"], 1, "{event}");
        }
        assert!(started["data"].get("input").is_some(), "{started}");
        assert!(
            started["time"].as_str() <= completed["time"].as_str(),
            "started at the execution's start: {mine:?}"
        );

        let row = attempt(&env, &run_id, state).await?;
        assert_eq!(row.status, "SUCCEEDED", "{row:?}");
        assert_eq!(row.claims, 1, "{row:?}");
        assert_eq!(row.worker_id.as_deref(), Some("worker-1"), "{row:?}");
        assert_eq!(row.ordered, Some(true), "started_at <= ended_at: {row:?}");
        assert!(!row.leased, "no lease left: {row:?}");
        assert_eq!(row.completion_seq, completed["seq"].as_i64(), "{row:?}");
    }
    junction_e2e::assert_gapless(&events)?;
    // One commit per step in the worker: no claim statement ever ran, so no
    // backstop timer was ever written (a claim writes one, its result
    // deletes it).
    assert_eq!(backstops(&env, &run_id).await?, 0);
    assert!(
        !any_timer_ever_inserted(&env).await?,
        "no step_deadline timer was written for a short step"
    );
    assert_eq!(env.calls.count_for("echo"), 3);
    Ok(())
}

#[tokio::test]
async fn a_short_steps_warning_sits_between_its_folded_start_and_completion() -> anyhow::Result<()>
{
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_agent(
        "echo",
        None,
        Some(json!({ "type": "object", "required": ["status"] })),
    )
    .await?;
    env.put_workflow(
        "id: warned\nstates:\n  - { name: say, type: agent, agent: echo, input: { input: { pods: 3 } }, resultPath: said, end: true }\n",
    )
    .await?;
    let run_id = env.start_run("warned", json!({})).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let events = stored_events(&env, &run_id, "say").await?;
    assert_eq!(
        types(&events),
        [
            "workflow.step.started",
            "workflow.step.warning",
            "workflow.step.completed"
        ],
        "{events:?}"
    );
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(seqs, [seqs[0], seqs[0] + 1, seqs[0] + 2], "{events:?}");
    let row = attempt(&env, &run_id, "say").await?;
    assert_eq!(
        (row.status.as_str(), row.claims, row.completion_seq),
        ("SUCCEEDED", 1, Some(seqs[2])),
        "{row:?}"
    );
    Ok(())
}
