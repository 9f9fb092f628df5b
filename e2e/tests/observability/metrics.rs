//! `/metrics` on a coordinator and a worker after runs that complete, are
//! cancelled through the control plane, time out on a timer, and wait for
//! a person: every pinned family with its labels and values, and
//! `promtool check metrics` accepting both pages.

use crate::WAIT;
use junction_bus::{ControlSubject, RunVerb};
use junction_e2e::prometheus::{Samples, promtool_check};
use junction_e2e::{SHIP, TestEnv, chain_yaml, http_get_at};
use junction_example_agents::Registry;
use serde_json::json;

const NAPPER: &str = "id: napper\nstates:\n  - { name: nap, type: agent, agent: sleep, input: { input: { ms: 30000 } }, end: true }\n";
const TIMED: &str = "id: timed\ntimeoutSeconds: 1\nstates:\n  - { name: nap, type: agent, agent: sleep, input: { input: { ms: 30000 } }, end: true }\n";

/// Completed runs of the two-step chain.
const RUNS: usize = 3;

#[tokio::test]
async fn both_processes_export_the_pinned_families_and_promtool_accepts_them() -> anyhow::Result<()>
{
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    for source in [
        chain_yaml("chain", "echo", 2, None).as_str(),
        NAPPER,
        TIMED,
        SHIP,
    ] {
        env.put_workflow(source).await?;
    }
    let mut chains = Vec::new();
    for i in 0..RUNS {
        chains.push(env.start_run("chain", json!({ "i": i })).await?);
    }
    for run_id in &chains {
        assert_eq!(env.wait_for_end(run_id, WAIT).await?["status"], "COMPLETED");
    }
    let napping = env.start_run("napper", json!({})).await?;
    let cancelled = env
        .control(
            ControlSubject::run(&napping, RunVerb::Cancel),
            json!({ "reason": "metrics test" }),
        )
        .await?;
    assert_eq!(cancelled["status"], "CANCELLED", "{cancelled}");
    let timed = env.start_run("timed", json!({})).await?;
    assert_eq!(env.wait_for_end(&timed, WAIT).await?["status"], "TIMED_OUT");
    let waiting = env.start_run("ship", json!({ "v": 1 })).await?;
    env.wait_for_status(&waiting, "WAITING_APPROVAL").await?;
    env.publish_raw_signal("nothing", b"{ not json".to_vec())
        .await?;

    let coordinator = coordinator_page(&env).await?;
    coordinator_families_are_there(&env, &coordinator)?;
    promtool_check(&coordinator.text)?;

    let worker = worker_page(&env).await?;
    worker_families_are_there(&env, &worker)?;
    promtool_check(&worker.text)?;
    Ok(())
}

/// The coordinator's page once every run end and the rejected signal are
/// counted (run ends are counted right after their commit, so this polls).
async fn coordinator_page(env: &TestEnv) -> anyhow::Result<Samples> {
    let addr = env.coordinator_http().await?;
    let runs = RUNS as f64;
    env.eventually("the coordinator's counts", WAIT, || async {
        let page = Samples::parse(&http_get_at(&addr, "/metrics").await?)?;
        let settled = page.get(
            "junction_runs_total",
            &[("workflow_id", "chain"), ("status", "COMPLETED")],
        ) == Some(runs)
            && page.get(
                "junction_run_duration_seconds_count",
                &[("workflow_id", "chain")],
            ) == Some(runs)
            && page.get(
                "junction_runs_total",
                &[("workflow_id", "napper"), ("status", "CANCELLED")],
            ) == Some(1.0)
            && page.get(
                "junction_runs_total",
                &[("workflow_id", "timed"), ("status", "TIMED_OUT")],
            ) == Some(1.0)
            && page.get(
                "junction_signals_rejected_total",
                &[("reason", "malformed_json")],
            ) == Some(1.0);
        Ok(settled.then_some(page))
    })
    .await
}

fn coordinator_families_are_there(env: &TestEnv, page: &Samples) -> anyhow::Result<()> {
    let text = &page.text;
    for (name, kind) in [
        ("junction_runs_total", "counter"),
        ("junction_runs_active", "gauge"),
        ("junction_run_duration_seconds", "histogram"),
        ("junction_workflows", "gauge"),
        ("junction_signals_rejected_total", "counter"),
        ("junction_outbox_oldest_age_seconds", "gauge"),
        ("junction_consumer_pending", "gauge"),
        ("junction_transitions_total", "counter"),
        ("junction_transition_inputs_total", "counter"),
        ("junction_transition_conflicts_total", "counter"),
    ] {
        anyhow::ensure!(page.has_type(name, kind), "{name} is a {kind}:\n{text}");
    }
    // Only the ended runs are counted, each once, under its own status.
    let ended: f64 = page.named("junction_runs_total").map(|s| s.value).sum();
    anyhow::ensure!(
        ended == RUNS as f64 + 2.0,
        "runs counted once each:\n{text}"
    );
    // The run that timed out after 1 s took at least that long.
    let timed = page.get(
        "junction_run_duration_seconds_sum",
        &[("workflow_id", "timed")],
    );
    anyhow::ensure!(
        timed.is_some_and(|s| (1.0..60.0).contains(&s)),
        "the timed-out run's duration:\n{text}"
    );
    let chain = [("workflow_id", "chain"), ("le", "+Inf")];
    anyhow::ensure!(
        page.get("junction_run_duration_seconds_bucket", &chain) == Some(RUNS as f64),
        "run duration buckets:\n{text}"
    );
    for (status, count) in [
        ("WAITING_APPROVAL", 1.0),
        ("PENDING", 0.0),
        ("RUNNING", 0.0),
        ("WAITING_SIGNAL", 0.0),
        ("PAUSED", 0.0),
    ] {
        let active = page.get("junction_runs_active", &[("status", status)]);
        anyhow::ensure!(active == Some(count), "{count} run(s) {status}:\n{text}");
    }
    anyhow::ensure!(
        page.named("junction_runs_active").count() == 5,
        "only the non-terminal statuses are gauged:\n{text}"
    );
    anyhow::ensure!(
        page.get("junction_workflows", &[("tenant", "default")]) == Some(4.0),
        "four workflows stored:\n{text}"
    );
    let transitions = page.get("junction_transitions_total", &[]).unwrap_or(0.0);
    let inputs = page
        .get("junction_transition_inputs_total", &[])
        .unwrap_or(0.0);
    anyhow::ensure!(
        transitions > 0.0 && inputs >= transitions,
        "transitions:\n{text}"
    );
    anyhow::ensure!(
        page.get("junction_transition_conflicts_total", &[]) == Some(0.0),
        "no conflicts with one coordinator:\n{text}"
    );
    let age = page.get("junction_outbox_oldest_age_seconds", &[]);
    anyhow::ensure!(age.is_some_and(|a| a >= 0.0), "outbox age:\n{text}");
    for consumer in [
        env.subjects.signal_intake_consumer(),
        env.subjects.event_intake_consumer(),
    ] {
        anyhow::ensure!(
            page.get("junction_consumer_pending", &[("consumer", &consumer)])
                .is_some(),
            "{consumer} pending:\n{text}"
        );
    }
    anyhow::ensure!(
        page.named("junction_steps_total").next().is_none(),
        "step families are the worker's:\n{text}"
    );
    Ok(())
}

/// The worker's page once every chain step is counted.
async fn worker_page(env: &TestEnv) -> anyhow::Result<Samples> {
    let members = env
        .control(ControlSubject::ClusterMembers, json!({}))
        .await?;
    let addr = members["members"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["role"] == "worker")
        .and_then(|m| m["http_addr"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no worker http_addr in {members}"))?
        .to_owned();
    let steps = (RUNS * 2) as f64;
    let succeeded = [("action", "agent.run"), ("status", "SUCCEEDED")];
    env.eventually("the worker's step counts", WAIT, || async {
        let page = Samples::parse(&http_get_at(&addr, "/metrics").await?)?;
        let counted = page.get("junction_steps_total", &succeeded);
        Ok(counted.is_some_and(|n| n >= steps).then_some(page))
    })
    .await
}

fn worker_families_are_there(env: &TestEnv, page: &Samples) -> anyhow::Result<()> {
    let text = &page.text;
    for (name, kind) in [
        ("junction_steps_total", "counter"),
        ("junction_step_duration_seconds", "histogram"),
        ("junction_consumer_pending", "gauge"),
    ] {
        anyhow::ensure!(page.has_type(name, kind), "{name} is a {kind}:\n{text}");
    }
    let all = [("action", "agent.run"), ("le", "+Inf")];
    let timed = page.get("junction_step_duration_seconds_bucket", &all);
    anyhow::ensure!(
        timed.is_some_and(|n| n >= (RUNS * 2) as f64),
        "step duration buckets:\n{text}"
    );
    let first = [("action", "agent.run"), ("le", "0.001")];
    anyhow::ensure!(
        page.get("junction_step_duration_seconds_bucket", &first)
            .is_some(),
        "buckets from 1 ms:\n{text}"
    );
    let last = [("action", "agent.run"), ("le", "60")];
    anyhow::ensure!(
        page.get("junction_step_duration_seconds_bucket", &last)
            .is_some(),
        "buckets up to 60 s:\n{text}"
    );
    let workers = env.subjects.workers_consumer();
    anyhow::ensure!(
        page.get("junction_consumer_pending", &[("consumer", &workers)])
            .is_some(),
        "{workers} pending:\n{text}"
    );
    anyhow::ensure!(
        page.named("junction_runs_total").next().is_none(),
        "run families are the coordinator's:\n{text}"
    );
    Ok(())
}
