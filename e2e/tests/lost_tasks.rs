//! A task JetStream holds but no longer delivers (nats-server 2.9 lost
//! track of nak'ed deliveries after a consumer leader change in a chaos
//! run) is found by the coordinator's lost-task sweep, published again,
//! and its run completes, each step called once.

use anyhow::Context;
use async_nats::jetstream::consumer::{AckPolicy, pull};
use futures::StreamExt;
use junction_e2e::{TestEnv, chain_yaml};
use junction_example_agents::Registry;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_task_the_queue_no_longer_delivers_is_published_again() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator(
        "coordinator",
        &[("JUNCTION_COORDINATOR__LOST_TASK_SECONDS", "2")],
    )
    .await?;
    env.wait_for_members(1, 0).await?;
    env.put_workflow(&chain_yaml("lost", "echo", 2, None))
        .await?;
    let run_id = env.start_run("lost", json!({})).await?;
    env.eventually("the first task dispatched", WAIT, || async {
        let run = env.get_run(&run_id).await?;
        Ok(run["steps"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["status"] == "PENDING"))
            .then_some(()))
    })
    .await?;

    // The shared task consumer hands the task out once, to the test, and
    // then holds it as delivered for an hour: no worker will get it.
    let jetstream = async_nats::jetstream::new(env.nats.clone());
    let stream = jetstream.get_stream(env.subjects.tasks_stream()).await?;
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some(env.subjects.workers_consumer()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: Duration::from_secs(3600),
            filter_subject: env.subjects.executor_tasks("agent.run"),
            ..Default::default()
        })
        .await?;
    let mut taken = consumer.fetch().max_messages(1).messages().await?;
    let held = taken
        .next()
        .await
        .context("the stored task")?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(
        held.subject.as_str().contains(&run_id),
        "the task of the run: {}",
        held.subject
    );
    env.start_worker("worker-1", &[]).await?;

    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    // Each step called once: the copy replaced the lost delivery.
    assert_eq!(env.calls.count_for("echo"), 2, "{:?}", env.calls.keys());
    let logs = env.logs();
    assert!(
        logs.contains("published again"),
        "the sweep names what it did:\n{logs}"
    );
    drop(held);
    Ok(())
}
