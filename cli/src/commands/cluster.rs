//! The cluster itself: its live members (`members`) and its lifecycle events
//! as they happen (`tail`).

use super::Session;
use crate::output::{self, text};
use crate::tail;
use junction_bus::ControlSubject;
use serde_json::{Value, json};
use std::process::ExitCode;

/// `members`: the live members, with their HTTP addresses
/// (`http://host:port` in text; `http_addr` in JSON) and, for workers, the
/// executors they run (`executors` in JSON).
pub async fn members(s: &Session<'_>) -> anyhow::Result<ExitCode> {
    let reply = s
        .client
        .request(&ControlSubject::ClusterMembers, json!({}))
        .await?;
    let members = reply["members"].as_array().cloned().unwrap_or_default();
    output::list(s.output, &Value::Array(members.clone()), &members, || {
        let rows: Vec<Vec<String>> = members
            .iter()
            .map(|m| {
                vec![
                    text(m, "role"),
                    text(m, "id"),
                    text(m, "started_at"),
                    m["http_addr"]
                        .as_str()
                        .map(|a| format!("http://{a}"))
                        .unwrap_or_default(),
                    executors(m),
                ]
            })
            .collect();
        let header = ["ROLE", "ID", "SINCE", "HTTP", "EXECUTORS"];
        print!("{}", output::table(&header, &rows));
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// A worker's executors as one comma list; empty for a coordinator.
fn executors(member: &Value) -> String {
    let names = member["executors"].as_array().into_iter().flatten();
    names
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// `tail`: lifecycle events, one line each (one JSON object each with
/// `-o json|jsonl`), until Ctrl-C.
pub async fn tail(s: &Session<'_>, run_id: Option<&str>) -> anyhow::Result<ExitCode> {
    tail::tail(&s.client, run_id, s.tenant.as_deref(), s.output).await?;
    Ok(ExitCode::SUCCESS)
}
