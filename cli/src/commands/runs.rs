//! Runs: start one (`run`) or let a signal start one (`signal`), and follow
//! it; print one (`get`), its events (`events`) or a page of runs (`runs`);
//! cancel, pause, resume or redrive one, or deliver a signal into it (`send`).

use super::{Session, parse_object, with_tenant};
use crate::args::Output;
use crate::client::Client;
use crate::exit::TimedOut;
use crate::operator::{self, RunAction};
use crate::output::{self, text};
use crate::{follow, timeline};
use anyhow::Context;
use junction_bus::{ControlSubject, RunVerb};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::Duration;

/// What `run` was asked.
pub struct Start<'a> {
    pub workflow_id: &'a str,
    pub input: &'a str,
    pub version: Option<i64>,
    pub idempotency_key: Option<&'a str>,
    pub no_wait: bool,
    pub timeout_secs: u64,
}

/// `run`: starts a run, then follows it unless `no_wait`.
pub async fn start(s: &Session<'_>, start: Start<'_>) -> anyhow::Result<ExitCode> {
    let input = parse_object(start.input, "--input")?;
    let mut body = json!({ "workflow_id": start.workflow_id, "input": input });
    if let Some(version) = start.version {
        body["version"] = json!(version);
    }
    if let Some(key) = start.idempotency_key {
        body["idempotency_key"] = json!(key);
    }
    let reply = s
        .client
        .request(&ControlSubject::RunStart, s.with_tenant(body))
        .await?;
    let run_id = reply["run_id"]
        .as_str()
        .context("the coordinator's reply has no run_id")?
        .to_owned();
    let started =
        json!({ "run_id": run_id, "workflow_id": start.workflow_id, "created": reply["created"] });
    match s.output {
        Output::Text => output::line(&format!("run {run_id} started ({})", start.workflow_id))?,
        format if start.no_wait => output::document(format, &started)?,
        _ => {}
    }
    if start.no_wait {
        return Ok(ExitCode::SUCCESS);
    }
    follow::follow(
        &s.client,
        &s.junction,
        &run_id,
        start.timeout_secs,
        s.output,
    )
    .await
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
    if s.output == Output::Text {
        output::line(&format!("signal {signal_type} published (id {id})"))?;
    } else if !wait {
        output::document(s.output, &json!({ "id": id, "type": signal_type }))?;
    }
    if !wait {
        return Ok(ExitCode::SUCCESS);
    }
    let run_id = find_run_for_signal(&s.client, &id, &s.tenant, timeout_secs).await?;
    if s.output == Output::Text {
        output::line(&format!("run {run_id} started by the signal"))?;
    }
    follow::follow(&s.client, &s.junction, &run_id, timeout_secs, s.output).await
}

/// `get`: the run (JSON in every format: it is a document). In text
/// format, why a step waits for a worker is said on stderr too.
pub async fn get(s: &Session<'_>, run_id: &str) -> anyhow::Result<ExitCode> {
    let reply = s
        .client
        .request(
            &ControlSubject::run(run_id, RunVerb::Get),
            s.with_tenant(json!({})),
        )
        .await?;
    let format = match s.output {
        Output::Jsonl => Output::Jsonl,
        _ => Output::Json,
    };
    output::document(format, &reply["run"])?;
    if s.output == Output::Text {
        for step in reply["run"]["steps"].as_array().into_iter().flatten() {
            if let Some(reason) = step["waiting_reason"].as_str() {
                eprintln!("step {}: waiting: {reason}", output::text(step, "path"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `events`: the run's timeline, or its stored events as JSON.
pub async fn events(s: &Session<'_>, run_id: &str) -> anyhow::Result<ExitCode> {
    let events = s.client.all_events(run_id).await?;
    output::list(s.output, &Value::Array(events.clone()), &events, || {
        print!("{}", timeline::render(&events));
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The filters of `runs`.
pub struct ListFilter {
    pub workflow: Option<String>,
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// `runs`: one page of runs; the next page's cursor is `next_cursor` (in
/// text and jsonl, a hint on stderr).
pub async fn list(s: &Session<'_>, filter: ListFilter) -> anyhow::Result<ExitCode> {
    let body = json!({
        "workflow_id": filter.workflow,
        "status": filter.status.map(|s| s.to_ascii_uppercase()),
        "limit": filter.limit,
        "cursor": filter.cursor,
    });
    let reply = s
        .client
        .request(&ControlSubject::RunsList, s.with_tenant(body))
        .await?;
    let runs = reply["runs"].as_array().cloned().unwrap_or_default();
    let next = reply["next_cursor"].as_str();
    let document = json!({ "runs": runs, "next_cursor": next });
    output::list(s.output, &document, &runs, || {
        let rows: Vec<Vec<String>> = runs
            .iter()
            .map(|run| {
                vec![
                    text(run, "id"),
                    text(run, "status"),
                    text(run, "workflow_id"),
                    text(run, "version"),
                    text(run, "created_at"),
                ]
            })
            .collect();
        print!(
            "{}",
            output::table(&["ID", "STATUS", "WORKFLOW", "VERSION", "CREATED"], &rows)
        );
        Ok(())
    })?;
    if let Some(next) = next
        && s.output != Output::Json
    {
        eprintln!("more runs: {} runs --cursor {next}", s.junction);
    }
    Ok(ExitCode::SUCCESS)
}

/// `cancel`, `pause`, `resume` and `redrive`: the run's status after the
/// action.
pub async fn act(
    s: &Session<'_>,
    run_id: &str,
    action: RunAction,
    reason: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let status = operator::act_on_run(&s.client, &s.operator, run_id, action, reason).await?;
    match s.output {
        Output::Text => output::line(&format!("run {run_id} {status}"))?,
        format => output::document(format, &json!({ "run_id": run_id, "status": status }))?,
    }
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
    match s.output {
        Output::Text => output::line(&format!("signal {name} delivered to run {run_id}"))?,
        format => output::document(
            format,
            &json!({ "run_id": run_id, "name": name, "delivered": true }),
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The run a signal started, asking `runs.list` until `timeout_secs`.
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
        if tokio::time::Instant::now() >= deadline {
            return Err(TimedOut(format!("no run was started by signal {signal_id}")).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
