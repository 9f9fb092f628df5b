//! `/readyz` follows NATS on both processes: 503 while the server is down,
//! 200 once it is back, and work goes on after it; a process started while
//! NATS is down answers `/healthz`, says on `/readyz` what it waits for, and
//! becomes ready once NATS starts; and a process whose consumer is gone is
//! not ready. The tests that stop NATS run their own server (the machine's
//! shared one is never stopped), listening on a free port with its own
//! store, and give their processes fixed HTTP ports, since they are probed
//! before they can join the member list.

use crate::WAIT;
use junction_e2e::{NatsServer, TestEnv, chain_yaml, free_port, http_get_status_at};
use junction_example_agents::Registry;
use serde_json::json;

/// A coordinator and a worker on `nats`, each on an HTTP port of its own;
/// returns the cluster and the two HTTP addresses.
async fn cluster_on(nats: &NatsServer) -> anyhow::Result<(TestEnv, [String; 2])> {
    let mut env = TestEnv::on_nats(&nats.url()).await?;
    let coordinator = format!("127.0.0.1:{}", free_port()?);
    let worker = format!("127.0.0.1:{}", free_port()?);
    env.start_coordinator("coordinator", &[("JUNCTION_HTTP__LISTEN", &coordinator)])
        .await?;
    env.start_worker("worker-1", &[("JUNCTION_HTTP__LISTEN", &worker)])
        .await?;
    Ok((env, [coordinator, worker]))
}

/// Polls `path` on every address until each answers `status`; returns the
/// last bodies.
async fn until_status(
    env: &TestEnv,
    addrs: &[String],
    path: &str,
    status: u16,
) -> anyhow::Result<Vec<String>> {
    let mut bodies = Vec::new();
    for addr in addrs {
        let body = env
            .eventually(&format!("{addr}{path} answers {status}"), WAIT, || async {
                Ok(match http_get_status_at(addr, path).await {
                    Ok((code, body)) if code == status => Some(body),
                    _ => None,
                })
            })
            .await?;
        bodies.push(body);
    }
    Ok(bodies)
}

#[tokio::test]
async fn readyz_is_503_while_nats_is_down_and_200_after_it_is_back() -> anyhow::Result<()> {
    let mut nats = NatsServer::new()?;
    nats.start().await?;
    let (mut env, addrs) = cluster_on(&nats).await?;
    env.serve_agents(Registry::builtin()).await?;
    env.wait_for_members(1, 1).await?;
    until_status(&env, &addrs, "/readyz", 200).await?;

    nats.stop();
    let down = until_status(&env, &addrs, "/readyz", 503).await?;
    for body in &down {
        assert!(body.contains("nats"), "names what is down: {body}");
    }
    for addr in &addrs {
        let (healthz, _) = http_get_status_at(addr, "/healthz").await?;
        assert_eq!(healthz, 200, "{addr} is alive while NATS is down");
    }

    nats.start().await?;
    until_status(&env, &addrs, "/readyz", 200).await?;
    // Work goes on through the same consumers after the restart.
    env.put_workflow(&chain_yaml("after", "echo", 2, None))
        .await?;
    let run_id = env.start_run("after", json!({})).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    Ok(())
}

#[tokio::test]
async fn a_process_started_while_nats_is_down_is_alive_and_ready_once_nats_starts()
-> anyhow::Result<()> {
    let mut nats = NatsServer::new()?;
    let (mut env, addrs) = cluster_on(&nats).await?;
    until_status(&env, &addrs, "/healthz", 200).await?;
    for addr in &addrs {
        let (status, body) = http_get_status_at(addr, "/readyz").await?;
        assert_eq!(status, 503, "{addr}: {body}");
        assert!(body.starts_with("starting"), "{addr}: {body}");
    }
    // Each process retries (and logs each failure) rather than exiting.
    env.eventually("both processes retry NATS", WAIT, || async {
        let retried = env
            .processes
            .iter()
            .all(|p| p.output().matches("start-up step failed; retrying").count() >= 2);
        Ok(retried.then_some(()))
    })
    .await?;
    for process in &mut env.processes {
        assert!(process.is_running(), "{}", process.tail(20));
    }

    nats.start().await?;
    until_status(&env, &addrs, "/readyz", 200).await?;
    env.serve_agents(Registry::builtin()).await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(&chain_yaml("late", "echo", 1, None))
        .await?;
    let run_id = env.start_run("late", json!({})).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    Ok(())
}

/// The consumer check: a worker whose `WORKERS` consumer is gone (deleted
/// on the server under it) is not ready, and says which consumer.
#[tokio::test]
async fn readyz_is_503_when_the_process_consumer_does_not_answer() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let members = env
        .control(junction_bus::ControlSubject::ClusterMembers, json!({}))
        .await?;
    let worker = members["members"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["role"] == "worker")
        .and_then(|m| m["http_addr"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no worker http_addr in {members}"))?
        .to_owned();
    let addrs = [worker];
    until_status(&env, &addrs, "/readyz", 200).await?;
    let jetstream = async_nats::jetstream::new(env.nats.clone());
    jetstream
        .get_stream(env.subjects.tasks_stream())
        .await?
        .delete_consumer(&env.subjects.workers_consumer())
        .await?;
    let bodies = until_status(&env, &addrs, "/readyz", 503).await?;
    let consumer = env.subjects.workers_consumer();
    assert!(
        bodies.iter().all(|b| b.contains(&consumer)),
        "names {consumer}: {bodies:?}"
    );
    Ok(())
}
