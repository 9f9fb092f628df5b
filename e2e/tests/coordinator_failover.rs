//! A coordinator that dies holding intake messages it had pulled but not
//! acknowledged: a survivor gets them within the intakes' short `ack_wait`
//! (5 s), not the 30 s of earlier releases, whose intake consumers are
//! updated in place at startup.
//!
//! Deterministic: coordinator-a is frozen (SIGSTOP) with a pull request
//! outstanding, so every message published then is delivered to it and sits
//! unacknowledged in its socket; coordinator-b starts, and coordinator-a is
//! SIGKILLed. What the test measures is the stall: from the kill until the
//! last of those runs has completed.

use junction_e2e::{TestEnv, chain_yaml};
use junction_example_agents::Registry;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
/// Runs held by the dying coordinator.
const RUNS: i64 = 6;
/// The behavioural bound on the stall: well under the old 30 s `ack_wait`,
/// generous for a slow machine (the `ack_wait` is 5 s).
const STALL_BOUND: Duration = Duration::from_secs(15);

/// Sends a signal to a process of the test (`STOP`, `CONT`).
fn signal(env: &TestEnv, index: usize, name: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &env.processes[index].pid().to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -{name} failed");
    Ok(())
}

/// Waits until `stream`'s `consumer` has delivered everything on the
/// stream and at least `n` messages are still unacknowledged (held by the
/// frozen coordinator). Nothing is left in the outbox first: every message
/// committed so far is on the stream.
async fn wait_until_held(
    env: &TestEnv,
    stream: &str,
    consumer: &str,
    n: u64,
) -> anyhow::Result<()> {
    let db = env.db().await?;
    env.eventually(
        &format!("{n} messages of {consumer} held unacknowledged"),
        WAIT,
        || async {
            let outbox: i64 = db
                .query_one("SELECT count(*) FROM outbox", &[])
                .await?
                .get(0);
            let (_, info) = env.consumer_state(stream, consumer).await?;
            Ok(
                (outbox == 0 && info.num_pending == 0 && info.num_ack_pending as u64 >= n)
                    .then_some(()),
            )
        },
    )
    .await
}

/// Waits until `name`'s coordinator is listed (it joins last, once its
/// intakes pull).
async fn wait_until_listed(env: &TestEnv, name: &str) -> anyhow::Result<()> {
    let db = env.db().await?;
    let id = format!("{}-{name}", env.prefix);
    env.eventually(&format!("{name} listed"), WAIT, || async {
        let row = db
            .query_opt("SELECT 1 FROM cluster_members WHERE id = $1", &[&id])
            .await?;
        Ok(row.map(drop))
    })
    .await
}

/// Waits until `n` runs have completed; returns when that was first seen.
async fn wait_for_completed(env: &TestEnv, n: i64) -> anyhow::Result<Instant> {
    let db = env.db().await?;
    env.eventually(&format!("{n} runs completed"), WAIT, || async {
        let done: i64 = db
            .query_one("SELECT count(*) FROM runs WHERE status = 'COMPLETED'", &[])
            .await?
            .get(0);
        Ok((done >= n).then(Instant::now))
    })
    .await
}

/// An intake consumer as an earlier release created it (`ack_wait` 30 s),
/// on a stream of its own making: a coordinator uses an existing stream as
/// it is, and must update the consumer.
async fn create_old_signal_intake(env: &TestEnv) -> anyhow::Result<()> {
    use async_nats::jetstream::consumer::{AckPolicy, pull};
    use async_nats::jetstream::stream;
    let jetstream = async_nats::jetstream::new(env.nats.clone());
    let signals = jetstream
        .get_or_create_stream(stream::Config {
            name: env.subjects.signals_stream(),
            subjects: vec![env.subjects.signals_wildcard()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await?;
    let name = env.subjects.signal_intake_consumer();
    signals
        .create_consumer(pull::Config {
            durable_name: Some(name),
            ack_policy: AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 10_000,
            ..Default::default()
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn signals_a_dead_coordinator_had_pulled_start_their_runs_within_seconds()
-> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    create_old_signal_intake(&env).await?;
    let doomed = env.start_coordinator("coordinator-a", &[]).await?;
    env.start_worker("worker-1", &[]).await?;
    env.wait_for_members(1, 1).await?;
    let (signals, intake) = (
        env.subjects.signals_stream(),
        env.subjects.signal_intake_consumer(),
    );
    let (_, info) = env.consumer_state(&signals, &intake).await?;
    assert_eq!(
        info.config.ack_wait,
        junction_bus::INTAKE_ACK_WAIT,
        "the old consumer was updated in place"
    );
    env.put_workflow(&chain_yaml("burst", "echo", 1, Some("go")))
        .await?;

    // Frozen with its pull request outstanding: every signal goes to it.
    signal(&env, doomed, "STOP")?;
    for i in 0..RUNS {
        env.publish_signal("go", &format!("sig-{i}"), json!({ "i": i }))
            .await?;
    }
    let held = wait_until_held(&env, &signals, &intake, RUNS as u64).await;
    let survivor = async {
        held?;
        env.start_coordinator("coordinator-b", &[]).await?;
        wait_until_listed(&env, "coordinator-b").await
    }
    .await;
    env.processes[doomed].kill_now();
    let killed = Instant::now();
    survivor?;

    let last = wait_for_completed(&env, RUNS).await?;
    let stall = last - killed;
    eprintln!("signal intake: all {RUNS} runs completed {stall:?} after the kill");
    assert!(
        stall < STALL_BOUND,
        "the runs waited {stall:?} after the kill\n{}",
        env.logs()
    );
    env.wait_for_signals_handled(RUNS as u64).await?;
    Ok(())
}

#[tokio::test]
async fn step_events_a_dead_coordinator_had_pulled_advance_their_runs_within_seconds()
-> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    // `gate` answers once the test opens it; then each run has one more step.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let opened = gate.clone();
    let registry = Registry::builtin().with(
        "gate",
        move |_request: junction_core::wire::agent::AgentRequest| {
            let gate = opened.clone();
            async move {
                let _permit = gate.acquire().await;
                junction_example_agents::Reply::output(json!({ "opened": true }))
            }
        },
    );
    env.serve_agents(registry).await?;
    let doomed = env.start_coordinator("coordinator-a", &[]).await?;
    env.start_worker("worker-1", &[]).await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(
        "id: gated\nstates:\n  - { name: wait, type: operation, action: agent.run, input: { agent: gate }, resultPath: steps.wait, next: after }\n  - { name: after, type: operation, action: agent.run, input: { agent: echo, task: after }, resultPath: steps.after, end: true }\n",
    )
    .await?;
    for i in 0..RUNS {
        env.start_run("gated", json!({ "i": i })).await?;
    }
    env.wait_for_calls("gate", RUNS as usize).await?;
    let db = env.db().await?;

    // Frozen with its pull request outstanding: every step event goes to it.
    let (events, intake) = (
        env.subjects.events_stream(),
        env.subjects.event_intake_consumer(),
    );
    signal(&env, doomed, "STOP")?;
    gate.add_permits(RUNS as usize);
    // Every `gate` result is committed and on the stream, held by the
    // frozen coordinator: no run can move until a survivor gets them.
    env.eventually("every gate result committed", WAIT, || async {
        let done: i64 = db
            .query_one(
                "SELECT count(*) FROM events WHERE state = 'wait' AND type = 'workflow.step.completed'",
                &[],
            )
            .await?
            .get(0);
        Ok((done == RUNS).then_some(()))
    })
    .await?;
    let held = wait_until_held(&env, &events, &intake, RUNS as u64).await;
    let survivor = async {
        held?;
        env.start_coordinator("coordinator-b", &[]).await?;
        wait_until_listed(&env, "coordinator-b").await
    }
    .await;
    env.processes[doomed].kill_now();
    let killed = Instant::now();
    survivor?;

    let last = wait_for_completed(&env, RUNS).await?;
    let stall = last - killed;
    eprintln!("event intake: all {RUNS} runs completed {stall:?} after the kill");
    assert!(
        stall < STALL_BOUND,
        "the runs waited {stall:?} after the kill\n{}",
        env.logs()
    );
    Ok(())
}
