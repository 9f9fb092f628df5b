//! Routing within and into runs: `switch` and `transform` pick a branch, and
//! trigger filters choose which signals start runs.

use crate::{WAIT, of_type, run_to_end, runs_of, states_run, step};
use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};

const ROUTER: &str = r#"
id: router
inputSchema:
  type: object
  properties:
    amount: { type: number }
    limit: { type: number }
  required: [amount]
states:
  - name: classify
    type: transform
    expression: '{"tier": "gold" if amount >= 1000 else "standard", "amount": amount}'
    resultPath: ctx.order
    next: route
  - name: route
    type: switch
    dataPath: ctx.order
    conditions:
      - if: 'tier == "gold"'
        next: vip
      - if: amount > limit
        next: review
    defaultNext: standard
  - name: vip
    type: operation
    action: agent.run
    input: { agent: echo, task: "vip desk for {{ ctx.order.amount }}" }
    resultPath: steps.vip
    end: true
  - name: review
    type: operation
    action: agent.run
    input: { agent: echo, task: "review {{ ctx.order.amount }} over {{ ctx.limit }}" }
    resultPath: steps.review
    end: true
  - name: standard
    type: operation
    action: agent.run
    input: { agent: echo, task: "standard {{ ctx.order.amount }}" }
    resultPath: steps.standard
    end: true
"#;

/// The first condition holds: the transform made the order gold.
async fn the_first_condition_picks_vip(env: &TestEnv) -> anyhow::Result<()> {
    let run = run_to_end(env, "router", json!({ "amount": 5000 })).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(states_run(&run), ["classify", "route", "vip"], "{run}");
    assert_eq!(
        run["context"]["ctx"]["order"],
        json!({ "tier": "gold", "amount": 5000 })
    );
    assert_eq!(
        step(&run, "classify")["output"],
        json!({ "tier": "gold", "amount": 5000 })
    );
    assert_eq!(step(&run, "route")["output"]["matched"], 0, "{run}");
    assert_eq!(step(&run, "route")["output"]["next"], "vip", "{run}");
    assert_eq!(
        run["context"]["steps"],
        json!({ "vip": {
            "task": "vip desk for 5000",
            "input": { "tier": "gold", "amount": 5000 }
        } }),
        "the agent gets the transform's output; no other branch wrote"
    );
    Ok(())
}

/// The second condition holds.
async fn the_second_condition_picks_review(env: &TestEnv) -> anyhow::Result<()> {
    let run = run_to_end(env, "router", json!({ "amount": 500, "limit": 100 })).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(states_run(&run), ["classify", "route", "review"], "{run}");
    assert_eq!(step(&run, "route")["output"]["matched"], 1, "{run}");
    assert_eq!(
        step(&run, "review")["output"]["task"],
        "review 500 over 100",
        "{run}"
    );
    Ok(())
}

/// No condition holds: `defaultNext`, and the decision is an event too.
async fn no_condition_takes_default_next(env: &TestEnv) -> anyhow::Result<()> {
    let run_id = env
        .start_run("router", json!({ "amount": 50, "limit": 100 }))
        .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(states_run(&run), ["classify", "route", "standard"], "{run}");
    assert_eq!(
        step(&run, "route")["output"],
        json!({ "matched": "default", "next": "standard" })
    );
    assert_eq!(run["context"]["steps"]["standard"]["task"], "standard 50");
    let events = env.events(&run_id).await?;
    let routed = of_type(&events, "workflow.step.completed")
        .into_iter()
        .find(|e| e["state"] == "route")
        .map(|e| e["data"]["output"]["next"].clone());
    assert_eq!(
        routed,
        Some(json!("standard")),
        "the decision is an event too"
    );
    Ok(())
}

/// The second condition raises (no `limit`): `CONDITION_ERROR` names it.
async fn a_raising_condition_fails_the_run(env: &TestEnv) -> anyhow::Result<()> {
    let run = run_to_end(env, "router", json!({ "amount": 50 })).await?;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(
        states_run(&run),
        ["classify", "route"],
        "no branch ran: {run}"
    );
    assert_eq!(step(&run, "route")["status"], "FAILED", "{run}");
    let error = &run["error"];
    assert_eq!(error["code"], "CONDITION_ERROR", "{run}");
    assert_eq!(error["state"], "route", "{run}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("switch `route`") && message.contains("\"amount > limit\""),
        "names the switch and the expression: {message}"
    );
    assert_eq!(step(&run, "route")["error"]["code"], "CONDITION_ERROR");
    Ok(())
}

/// A transform computes a tier, a switch on its `dataPath` picks the branch
/// (first condition, second condition, or `defaultNext`); only that branch
/// runs. A condition that raises fails the run with `CONDITION_ERROR`.
#[tokio::test]
async fn switch_and_transform_route_a_run() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let put = env
        .control(ControlSubject::WorkflowsPut, json!({ "source": ROUTER }))
        .await?;
    assert_eq!(put["warnings"], json!([]), "{put}");

    the_first_condition_picks_vip(&env).await?;
    the_second_condition_picks_review(&env).await?;
    no_condition_takes_default_next(&env).await?;
    a_raising_condition_fails_the_run(&env).await?;
    assert_eq!(
        env.calls.count_for("echo"),
        3,
        "one agent call per routed run"
    );
    Ok(())
}

fn triggered(id: &str, signal: &str, filter: Option<&str>) -> String {
    let filter = filter.map_or(String::new(), |f| format!(", filter: \"{f}\""));
    format!(
        "id: {id}\ntrigger: {{ signal: {signal}{filter} }}\nstates:\n  - name: only\n    type: operation\n    action: agent.run\n    input: {{ agent: echo }}\n    resultPath: steps.only\n    end: true\n"
    )
}

/// A trigger filter decides which signals start runs; a filter that raises
/// counts as false. Each signal type also triggers an unfiltered workflow,
/// whose runs prove the signals were processed.
#[tokio::test]
async fn trigger_filters_choose_which_signals_start_runs() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    for source in [
        triggered("big-orders", "t.x", Some("data.amount > 10")),
        triggered("all-orders", "t.x", None),
        triggered("broken-filter", "t.y", Some("data.missing.field > 1")),
        triggered("all-events", "t.y", None),
    ] {
        env.put_workflow(&source).await?;
    }
    env.publish_signal("t.x", "amount-5", json!({ "amount": 5 }))
        .await?;
    env.publish_signal("t.x", "amount-50", json!({ "amount": 50 }))
        .await?;
    env.publish_signal("t.y", "raises", json!({ "amount": 50 }))
        .await?;

    // Every signal was processed: its unfiltered workflow ran.
    for signal in ["amount-5", "amount-50", "raises"] {
        let run_id = env.wait_for_signal_run(signal, WAIT).await?;
        let run = env.wait_for_end(&run_id, WAIT).await?;
        assert_eq!(run["status"], "COMPLETED", "{run}");
    }
    // A signal is acknowledged only after every workflow it triggers has
    // been considered and its run, if any, committed: once all three are,
    // a filtered run wrongly started would be listed.
    env.wait_for_signals_handled(3).await?;

    let big = runs_of(&env, "big-orders").await?;
    assert_eq!(big.len(), 1, "exactly one run, for amount 50: {big:?}");
    assert_eq!(big[0]["causation_id"], "amount-50");
    assert_eq!(big[0]["input"], json!({ "amount": 50 }));
    let workflows_of = |runs: Vec<Value>| {
        let mut ids: Vec<String> = runs
            .iter()
            .filter_map(|r| r["workflow_id"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        workflows_of(env.runs_caused_by("amount-5").await?),
        ["all-orders"]
    );
    assert_eq!(
        workflows_of(env.runs_caused_by("amount-50").await?),
        ["all-orders", "big-orders"]
    );
    assert_eq!(
        workflows_of(env.runs_caused_by("raises").await?),
        ["all-events"]
    );
    assert!(runs_of(&env, "broken-filter").await?.is_empty());
    assert!(
        env.processes[0].output().contains("trigger filter raised"),
        "the raising filter is logged"
    );
    Ok(())
}
