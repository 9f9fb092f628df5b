//! Runs: start one (`run`) or let a signal start one (`signal`), and follow
//! it; print one (`get`), its timeline (`events`) or a list (`runs`); cancel,
//! pause or resume one, or deliver a signal into it (`send`).

use super::{Session, parse_object, with_tenant};
use crate::client::Client;
use crate::operator::{self, RunAction};
use crate::{follow, timeline};
use anyhow::Context;
use junction_bus::{ControlSubject, RunVerb};
use serde_json::json;
use std::process::ExitCode;
use std::time::Duration;

/// `run`: starts a run, then follows it unless `no_wait`.
pub async fn start(
    s: &Session<'_>,
    workflow_id: &str,
    input: &str,
    no_wait: bool,
    timeout_secs: u64,
) -> anyhow::Result<ExitCode> {
    let input = parse_object(input, "--input")?;
    let reply = s
        .client
        .request(
            &ControlSubject::RunStart,
            s.with_tenant(json!({ "workflow_id": workflow_id, "input": input })),
        )
        .await?;
    let run_id = reply["run_id"]
        .as_str()
        .context("the coordinator's reply has no run_id")?
        .to_owned();
    println!("run {run_id} started ({workflow_id})");
    if no_wait {
        return Ok(ExitCode::SUCCESS);
    }
    follow::follow(&s.client, &s.operator, &s.junction, &run_id, timeout_secs).await
}

/// `signal`: publishes a CloudEvent; with `wait`, follows the run it starts.
pub async fn signal(
    s: &Session<'_>,
    signal_type: &str,
    data: &str,
    id: Option<String>,
    wait: bool,
    timeout_secs: u64,
) -> anyhow::Result<ExitCode> {
    let data = parse_object(data, "--data")?;
    let id = id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    s.client
        .publish_signal(signal_type, &id, data, s.tenant.as_deref())
        .await?;
    println!("signal {signal_type} published (id {id})");
    if !wait {
        return Ok(ExitCode::SUCCESS);
    }
    let run_id = find_run_for_signal(&s.client, &id, &s.tenant, timeout_secs).await?;
    println!("run {run_id} started by the signal");
    follow::follow(&s.client, &s.operator, &s.junction, &run_id, timeout_secs).await
}

/// `get`: the run as JSON.
pub async fn get(s: &Session<'_>, run_id: &str) -> anyhow::Result<ExitCode> {
    let reply = s
        .client
        .request(&ControlSubject::run(run_id, RunVerb::Get), json!({}))
        .await?;
    println!("{}", serde_json::to_string_pretty(&reply["run"])?);
    Ok(ExitCode::SUCCESS)
}

/// `events`: the run's timeline, rebuilt from its stored events.
pub async fn events(s: &Session<'_>, run_id: &str) -> anyhow::Result<ExitCode> {
    print!("{}", timeline::render(&s.client.all_events(run_id).await?));
    Ok(ExitCode::SUCCESS)
}

/// `runs`: one line per run.
pub async fn list(
    s: &Session<'_>,
    workflow: Option<String>,
    status: Option<String>,
) -> anyhow::Result<ExitCode> {
    let reply = s
        .client
        .request(
            &ControlSubject::RunsList,
            s.with_tenant(json!({ "workflow_id": workflow, "status": status })),
        )
        .await?;
    for run in reply["runs"].as_array().into_iter().flatten() {
        println!(
            "{}  {:<10} {}  v{}  {}",
            run["id"].as_str().unwrap_or(""),
            run["status"].as_str().unwrap_or(""),
            run["workflow_id"].as_str().unwrap_or(""),
            run["version"],
            run["created_at"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `cancel`, `pause` and `resume`.
pub async fn act(
    s: &Session<'_>,
    run_id: &str,
    action: RunAction,
    reason: Option<&str>,
) -> anyhow::Result<ExitCode> {
    operator::act_on_run(&s.client, &s.operator, run_id, action, reason).await?;
    Ok(ExitCode::SUCCESS)
}

/// `send`: a signal into the run, for its `signal.wait` states.
pub async fn send(
    s: &Session<'_>,
    run_id: &str,
    name: &str,
    data: &str,
) -> anyhow::Result<ExitCode> {
    let data = parse_object(data, "--data")?;
    operator::send(&s.client, &s.operator, run_id, name, data).await?;
    Ok(ExitCode::SUCCESS)
}

/// The run a signal started, polling `runs.list` until `timeout_secs`.
async fn find_run_for_signal(
    client: &Client,
    signal_id: &str,
    tenant: &Option<String>,
    timeout_secs: u64,
) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_secs);
    loop {
        let reply = client
            .request(
                &ControlSubject::RunsList,
                with_tenant(json!({ "causation_id": signal_id }), tenant),
            )
            .await?;
        if let Some(id) = reply["runs"]
            .as_array()
            .and_then(|r| r.first())
            .and_then(|r| r["id"].as_str())
        {
            return Ok(id.to_owned());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no run was started by signal {signal_id}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
