//! The cluster itself: its live members (`members`) and its lifecycle events
//! as they happen (`tail`).

use super::Session;
use crate::tail;
use junction_bus::ControlSubject;
use serde_json::json;
use std::process::ExitCode;

/// `members`: one line per live member.
pub async fn members(s: &Session<'_>) -> anyhow::Result<ExitCode> {
    let reply = s
        .client
        .request(&ControlSubject::ClusterMembers, json!({}))
        .await?;
    for member in reply["members"].as_array().into_iter().flatten() {
        println!(
            "{:<12} {:<32} since {}{}",
            member["role"].as_str().unwrap_or(""),
            member["id"].as_str().unwrap_or(""),
            member["started_at"].as_str().unwrap_or(""),
            member["http_addr"]
                .as_str()
                .map(|a| format!("  http://{a}"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `tail`: lifecycle events, one line each, until Ctrl-C.
pub async fn tail(s: &Session<'_>, run_id: Option<&str>) -> anyhow::Result<ExitCode> {
    tail::tail(&s.client, run_id, s.tenant.as_deref()).await?;
    Ok(ExitCode::SUCCESS)
}
