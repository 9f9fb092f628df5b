//! The stored events alone rebuild a complex run's whole timeline: every
//! step attempt's end, every status the run went through, in order, with no
//! gap in `seq`, and they agree with the run's own record.

use junction_bus::{ControlSubject, Decision};
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

const COMPLEX: &str = r#"
id: complex
states:
  - name: fan
    type: parallel
    branches:
      - name: a
        states:
          - { name: flaky, type: agent, agent: flaky, input: { input: { succeed_at: 2 } }, retry: { maxAttempts: 3 }, resultPath: r, end: true }
      - name: b
        states:
          - name: each
            type: foreach
            itemsPath: ctx.items
            itemName: it
            maxConcurrency: 2
            iterator:
              states:
                - { name: up, type: agent, agent: upper, task: "{{ it }}", resultPath: r, end: true }
            resultPath: all
            end: true
    resultPath: steps.fan
    next: gate
  - name: gate
    type: human_approval
    message: "continue?"
    resultPath: steps.gate
    next: route
  - name: route
    type: switch
    dataPath: steps.gate
    conditions:
      - { if: "decision == 'approved'", next: done }
    defaultNext: done
  - { name: done, type: inject, data: { finished: true }, end: true }
"#;

/// A step's status as the event stream tells it, by (path, attempt).
fn rebuild(events: &[Value]) -> (BTreeMap<(String, i64), String>, Vec<String>) {
    let mut steps = BTreeMap::new();
    let mut run = Vec::new();
    for event in events {
        let kind = event["type"].as_str().unwrap_or_default();
        let key = || {
            (
                event["path"].as_str().unwrap_or_default().to_owned(),
                event["attempt"].as_i64().unwrap_or(0),
            )
        };
        let status = match kind {
            "workflow.step.started" => "RUNNING",
            "workflow.step.completed" => "SUCCEEDED",
            "workflow.step.failed" => "FAILED",
            "workflow.step.timed_out" => "TIMED_OUT",
            "workflow.step.cancelled" => "CANCELLED",
            "workflow.run.started" | "workflow.run.resumed" => {
                run.push("RUNNING".to_owned());
                continue;
            }
            "workflow.run.waiting" => {
                run.push(format!(
                    "WAITING_{}",
                    event["data"]["on"].as_str().unwrap_or("").to_uppercase()
                ));
                continue;
            }
            "workflow.approval.approved" | "workflow.signal.received" => {
                run.push("RUNNING".to_owned());
                continue;
            }
            "workflow.run.completed" => {
                run.push("COMPLETED".to_owned());
                continue;
            }
            "workflow.run.failed" => {
                run.push("FAILED".to_owned());
                continue;
            }
            _ => continue,
        };
        steps.insert(key(), status.to_owned());
    }
    (steps, run)
}

#[tokio::test]
async fn the_stored_events_rebuild_a_complex_runs_whole_timeline() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 2).await?;
    env.put_workflow(COMPLEX).await?;
    let run_id = env
        .start_run("complex", json!({ "items": ["x", "y", "z"] }))
        .await?;
    // Approve the gate once it is pending.
    let approval = env.pending_approval(&run_id).await?;
    let approval = approval["id"].as_str().unwrap_or_default();
    env.control(
        ControlSubject::approval(approval, Decision::Approve),
        json!({ "actor": "ops" }),
    )
    .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");

    let events = env.events(&run_id).await?;
    // `seq` starts at 1 and has no gap.
    junction_e2e::assert_gapless(&events)?;

    let (steps, statuses) = rebuild(&events);
    // Every attempt of the run record has the status the events end it with.
    let recorded: BTreeMap<(String, i64), String> = run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                (
                    s["path"].as_str().unwrap_or_default().to_owned(),
                    s["attempt"].as_i64().unwrap_or(0),
                ),
                s["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(steps, recorded, "events vs. the run's step records");
    // The flaky step failed once then succeeded; three items, each once.
    assert_eq!(steps[&("fan/a/flaky".to_owned(), 1)], "FAILED");
    assert_eq!(steps[&("fan/a/flaky".to_owned(), 2)], "SUCCEEDED");
    for i in 0..3 {
        assert_eq!(steps[&(format!("fan/b/each[{i}]/up"), 1)], "SUCCEEDED");
    }
    // The run's statuses, in order, as its events tell them.
    assert_eq!(
        statuses,
        ["RUNNING", "WAITING_APPROVAL", "RUNNING", "COMPLETED"],
        "{events:?}"
    );
    let approved = events
        .iter()
        .find(|e| e["type"] == "workflow.approval.approved")
        .cloned()
        .unwrap_or_default();
    assert_eq!(approved["data"]["actor"], "ops", "who decided is on record");
    Ok(())
}
