//! Agents' circuit breakers on a real cluster. `door` answers when the
//! run's input says `up`, and otherwise replies `AGENT_UNAVAILABLE`; every
//! call is counted by the test. After `failures` counted failures the
//! breaker opens: steps fail with `CIRCUIT_OPEN` and the agent is not
//! called, on whichever worker runs them (the state is shared in Postgres).
//! The cooldown is ended by moving `open_until` into the past in the
//! database, instead of being waited for; then one trial call decides.
//! An agent nobody serves (NATS: no responders) opens its breaker too.

use junction_bus::ControlSubject;
use junction_core::wire::agent::{AgentError, AgentReply, AgentRequest};
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

const KNOCK: &str =
    "id: knock\nstates:\n  - { name: knock, type: agent, agent: door, end: true }\n";
const HAUNT: &str =
    "id: haunt\nstates:\n  - { name: call, type: agent, agent: ghost, end: true }\n";

fn registry() -> Registry {
    Registry::empty().with("door", |request: AgentRequest| async move {
        if request.input["up"] == json!(true) {
            AgentReply::Output(json!({ "opened": true }))
        } else {
            AgentReply::Error(AgentError {
                code: "AGENT_UNAVAILABLE".into(),
                message: "the door is stuck".into(),
                retryable: Some(false),
            })
        }
    })
}

async fn put_guarded(env: &TestEnv, name: &str, failures: u32) -> anyhow::Result<()> {
    let circuit = json!({ "failures": failures, "cooldownSeconds": 3600 });
    env.control(
        ControlSubject::AgentsPut,
        json!({ "name": name, "circuit": circuit }),
    )
    .await?;
    Ok(())
}

/// Runs `workflow` to its end; returns its status, error code and the
/// worker that recorded its step.
async fn run(
    env: &TestEnv,
    workflow: &str,
    input: Value,
) -> anyhow::Result<(String, String, String)> {
    let run_id = env.start_run(workflow, input).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Ok((
        text(&run["status"]),
        text(&run["error"]["code"]),
        text(&run["steps"][0]["worker_id"]),
    ))
}

/// Ends the cooldown of every breaker, as if `cooldownSeconds` had passed.
async fn cool_down(env: &TestEnv) -> anyhow::Result<()> {
    let db = env.db().await?;
    db.execute(
        "UPDATE agent_circuits SET open_until = now() - interval '1 second' WHERE open_until IS NOT NULL",
        &[],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn failures_open_the_breaker_for_every_worker_and_one_trial_decides() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(registry()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    let first = env.start_worker("worker-1", &[]).await?;
    env.wait_for_members(1, 1).await?;
    put_guarded(&env, "door", 2).await?;
    env.put_workflow(KNOCK).await?;
    let (down, up) = (json!({ "up": false }), json!({ "up": true }));

    for calls in 1..=2 {
        let (status, code, _) = run(&env, "knock", down.clone()).await?;
        assert_eq!(
            (status.as_str(), code.as_str()),
            ("FAILED", "AGENT_UNAVAILABLE")
        );
        assert_eq!(env.calls.count_for("door"), calls);
    }
    // Open: the step fails fast, the door is not called.
    let (status, code, worker) = run(&env, "knock", up.clone()).await?;
    assert_eq!((status.as_str(), code.as_str()), ("FAILED", "CIRCUIT_OPEN"));
    assert_eq!(worker, "worker-1");
    assert_eq!(env.calls.count_for("door"), 2);

    // A second worker, which never saw a failure, finds the breaker open.
    env.start_worker("worker-2", &[]).await?;
    env.processes[first].terminate();
    env.wait_for_exit(first, 0, "worker-1 drains and exits")
        .await?;
    let (status, code, worker) = run(&env, "knock", up.clone()).await?;
    assert_eq!((status.as_str(), code.as_str()), ("FAILED", "CIRCUIT_OPEN"));
    assert_eq!(worker, "worker-2");
    assert_eq!(env.calls.count_for("door"), 2);

    // After the cooldown one trial call is made; it fails: open again.
    cool_down(&env).await?;
    let (_, code, _) = run(&env, "knock", down.clone()).await?;
    assert_eq!(code, "AGENT_UNAVAILABLE");
    assert_eq!(env.calls.count_for("door"), 3);
    let (_, code, _) = run(&env, "knock", up.clone()).await?;
    assert_eq!(code, "CIRCUIT_OPEN");
    assert_eq!(env.calls.count_for("door"), 3);

    // The next trial succeeds: closed, and calls go through again.
    cool_down(&env).await?;
    let (status, _, _) = run(&env, "knock", up.clone()).await?;
    assert_eq!(status, "COMPLETED");
    let (_, code, _) = run(&env, "knock", down).await?;
    assert_eq!(code, "AGENT_UNAVAILABLE");
    let (status, _, _) = run(&env, "knock", up).await?;
    assert_eq!(status, "COMPLETED");
    assert_eq!(env.calls.count_for("door"), 6);
    Ok(())
}

#[tokio::test]
async fn an_agent_nobody_serves_opens_its_breaker() -> anyhow::Result<()> {
    let env = TestEnv::cluster(registry(), 1).await?;
    put_guarded(&env, "ghost", 1).await?;
    env.put_workflow(HAUNT).await?;
    let (status, code, _) = run(&env, "haunt", json!({})).await?;
    assert_eq!(
        (status.as_str(), code.as_str()),
        ("FAILED", "AGENT_UNAVAILABLE")
    );
    let (_, code, _) = run(&env, "haunt", json!({})).await?;
    assert_eq!(code, "CIRCUIT_OPEN");
    Ok(())
}

#[tokio::test]
async fn agents_put_checks_and_keeps_the_circuit() -> anyhow::Result<()> {
    let env = TestEnv::cluster(registry(), 0).await?;
    for bad in [
        json!({ "failures": 0, "cooldownSeconds": 5 }),
        json!({ "failures": 3 }),
        json!("open"),
        json!({ "failures": 3, "cooldownSeconds": 5, "halfOpen": 1 }),
    ] {
        let code = env
            .control_error(
                ControlSubject::AgentsPut,
                json!({ "name": "door", "circuit": bad }),
            )
            .await?;
        assert_eq!(code, "INVALID_REQUEST", "{bad}");
    }
    put_guarded(&env, "door", 3).await?;
    let listed = env.control(ControlSubject::AgentsList, json!({})).await?;
    let door = listed["agents"]
        .as_array()
        .and_then(|agents| agents.iter().find(|a| a["name"] == "door"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        door["circuit"],
        json!({ "failures": 3, "cooldownSeconds": 3600 })
    );
    Ok(())
}

/// The example `fail` agent, told to fail with `AGENT_UNAVAILABLE`, opens
/// its breaker; its own default error (`AGENT_FAILED`) is an answer and
/// does not count.
#[tokio::test]
async fn the_fail_agent_opens_its_breaker_with_unavailable_failures_only() -> anyhow::Result<()> {
    const FAIL: &str =
        "id: failing\nstates:\n  - { name: call, type: agent, agent: fail, end: true }\n";
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    put_guarded(&env, "fail", 2).await?;
    env.put_workflow(FAIL).await?;
    let unavailable = json!({ "code": "AGENT_UNAVAILABLE" });

    let (_, code, _) = run(&env, "failing", unavailable.clone()).await?;
    assert_eq!(code, "AGENT_UNAVAILABLE");
    // An answer of the agent's own resets the count.
    let (_, code, _) = run(&env, "failing", json!({})).await?;
    assert_eq!(code, "AGENT_FAILED");
    for _ in 0..2 {
        let (_, code, _) = run(&env, "failing", unavailable.clone()).await?;
        assert_eq!(code, "AGENT_UNAVAILABLE");
    }
    assert_eq!(env.calls.count_for("fail"), 4);
    let (status, code, _) = run(&env, "failing", unavailable).await?;
    assert_eq!((status.as_str(), code.as_str()), ("FAILED", "CIRCUIT_OPEN"));
    assert_eq!(
        env.calls.count_for("fail"),
        4,
        "an open breaker calls nothing"
    );
    Ok(())
}
