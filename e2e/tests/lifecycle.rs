//! Process lifecycle: migrations under an advisory lock, staged shutdown on
//! SIGTERM (drain, exit 0, leave the member list), a fatal startup error, a
//! database unreachable at start (retried, probes answering meanwhile), and
//! the worker's probes. NATS going away is in `observability/readiness.rs`.

use junction_bus::ControlSubject;
use junction_e2e::{Process, TestEnv};
use junction_example_agents::Registry;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn concurrent_migrate_commands_apply_each_migration_once() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let mut migrations = Vec::new();
    for i in 0..3 {
        migrations.push(Process::spawn_with_args(
            "junction-coordinator",
            &format!("m{i}"),
            &["migrate"],
            &[("JUNCTION_DATABASE__URL".into(), env.database_url.clone())],
            env.dir.path(),
        )?);
    }
    for migration in &mut migrations {
        assert_eq!(
            migration.wait_exit(WAIT).await,
            Some(0),
            "{}",
            migration.tail(20)
        );
    }
    let applied: i64 = env
        .db()
        .await?
        .query_one("SELECT count(*) FROM junction_migrations", &[])
        .await?
        .get(0);
    assert_eq!(applied as usize, junction_store::migrate::MIGRATIONS.len());
    Ok(())
}

#[tokio::test]
async fn sigterm_drains_in_flight_steps_and_leaves_the_member_list() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    let worker = env.start_worker("worker-1", &[]).await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow("id: slow\nstates:\n  - name: nap\n    type: operation\n    action: agent.run\n    input: { agent: sleep, input: { ms: 1500 } }\n    resultPath: steps.nap\n    end: true\n").await?;
    let run_id = env.start_run("slow", json!({})).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while env.calls.count_for("sleep") == 0 {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "sleep never called");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.processes[worker].terminate();
    env.wait_for_exit(worker, 0, "a drained worker exits 0")
        .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        run["steps"][0]["worker_id"], "worker-1",
        "the draining worker finished its step"
    );
    let members = env
        .control(ControlSubject::ClusterMembers, json!({}))
        .await?;
    let workers = members["members"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["role"] == "worker").count());
    assert_eq!(
        workers,
        Some(0),
        "the worker left the list at once: {members}"
    );

    let coordinator = 0;
    env.processes[coordinator].terminate();
    env.wait_for_exit(coordinator, 0, "a drained coordinator exits 0")
        .await?;
    let left: i64 = env
        .db()
        .await?
        .query_one("SELECT count(*) FROM cluster_members", &[])
        .await?
        .get(0);
    assert_eq!(left, 0);
    Ok(())
}

/// Bad configuration is fatal (exit 2); an unreachable service is not
/// (see [`an_unreachable_database_at_start_is_retried_not_fatal`]).
#[tokio::test]
async fn a_fatal_startup_error_exits_with_status_two() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let bad_db = [(
        "JUNCTION_DATABASE__URL".to_owned(),
        "postgres://postgres@127.0.0.1:notaport/nowhere".to_owned(),
    )];
    let mut coordinator =
        Process::spawn("junction-coordinator", "bad-db", &bad_db, env.dir.path())?;
    assert_eq!(
        coordinator.wait_exit(WAIT).await,
        Some(2),
        "{}",
        coordinator.tail(20)
    );
    let bad_prefix = [("JUNCTION_NATS__PREFIX".to_owned(), "Not.Valid".to_owned())];
    let mut worker = Process::spawn("junction-worker", "bad-prefix", &bad_prefix, env.dir.path())?;
    assert_eq!(worker.wait_exit(WAIT).await, Some(2), "{}", worker.tail(20));
    assert!(
        worker.output().contains("nats.prefix"),
        "the error names the key: {}",
        worker.output()
    );
    Ok(())
}

/// A worker lists its HTTP address in `cluster.members` and answers
/// `/healthz` and `/readyz` there (PROTOCOL §9).
#[tokio::test]
async fn a_worker_serves_its_probes_at_the_address_it_lists() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let members = env
        .control(ControlSubject::ClusterMembers, json!({}))
        .await?;
    let workers: Vec<&serde_json::Value> = members["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "worker")
        .collect();
    assert_eq!(workers.len(), 1, "{members}");
    let addr = workers[0]["http_addr"]
        .as_str()
        .filter(|a| a.starts_with("127.0.0.1:") && !a.ends_with(":0"))
        .ok_or_else(|| anyhow::anyhow!("worker without an http_addr: {members}"))?;
    assert_eq!(junction_e2e::http_get_at(addr, "/healthz").await?, "ok");
    assert_eq!(junction_e2e::http_get_at(addr, "/readyz").await?, "ready");
    Ok(())
}

/// A coordinator whose database is unreachable at start keeps retrying
/// (logging each failure) with its probes up: `/healthz` 200, `/readyz` 503
/// naming what it waits for. It stops at once on SIGTERM.
#[tokio::test]
async fn an_unreachable_database_at_start_is_retried_not_fatal() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let addr = format!("127.0.0.1:{}", junction_e2e::free_port()?);
    let mut process_env = env.base_env();
    process_env.push((
        "JUNCTION_DATABASE__URL".to_owned(),
        "postgres://postgres@127.0.0.1:1/nowhere".to_owned(),
    ));
    process_env.push(("JUNCTION_HTTP__LISTEN".to_owned(), addr.clone()));
    let mut coordinator = Process::spawn(
        "junction-coordinator",
        "no-db",
        &process_env,
        env.dir.path(),
    )?;
    env.eventually("two logged retries", WAIT, || async {
        let retries = coordinator
            .output()
            .matches("start-up step failed; retrying")
            .count();
        Ok((retries >= 2).then_some(()))
    })
    .await?;
    assert!(coordinator.is_running(), "{}", coordinator.tail(20));
    let (status, body) = junction_e2e::http_get_status_at(&addr, "/healthz").await?;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, body) = junction_e2e::http_get_status_at(&addr, "/readyz").await?;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("starting: apply database migrations"),
        "{body}"
    );
    coordinator.terminate();
    assert_eq!(
        coordinator.wait_exit(WAIT).await,
        Some(0),
        "{}",
        coordinator.tail(20)
    );
    Ok(())
}

/// A misspelled `JUNCTION_*` variable, or an unknown key of the TOML file,
/// is a startup error (exit 2) that names the closest valid key.
#[tokio::test]
async fn a_misspelled_setting_is_fatal_and_names_the_closest_key() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let mut base = env.base_env();
    base.push(("JUNCTION_WORKER__CONCURENCY".to_owned(), "4".to_owned()));
    let mut worker = Process::spawn("junction-worker", "misspelled", &base, env.dir.path())?;
    assert_eq!(worker.wait_exit(WAIT).await, Some(2), "{}", worker.tail(20));
    assert!(
        worker
            .output()
            .contains("did you mean JUNCTION_WORKER__CONCURRENCY?"),
        "the error names the closest key: {}",
        worker.output()
    );
    let file = env.dir.path().join("junction.toml");
    std::fs::write(&file, "[coordinator]\nconcurency = 8\n")?;
    let mut with_file = env.base_env();
    with_file.push(("JUNCTION_CONFIG".to_owned(), file.display().to_string()));
    let mut coordinator = Process::spawn(
        "junction-coordinator",
        "bad-key",
        &with_file,
        env.dir.path(),
    )?;
    assert_eq!(
        coordinator.wait_exit(WAIT).await,
        Some(2),
        "{}",
        coordinator.tail(20)
    );
    assert!(
        coordinator
            .output()
            .contains("did you mean coordinator.concurrency?"),
        "{}",
        coordinator.output()
    );
    Ok(())
}
