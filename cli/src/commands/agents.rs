//! The agent registry: `agents list|put|delete`. `put` reads agent files
//! (`*.agent.yaml|yml|json`, the coordinator's `agents.dir` format: `name`,
//! `description`, `input_schema`, `output_schema`, `circuit`).

use super::{Session, read_file};
use crate::args::Output;
use crate::exit::{BadInput, code_of};
use crate::output::{self, text};
use junction_bus::ControlSubject;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `agents list`.
pub async fn list(s: &Session<'_>) -> anyhow::Result<ExitCode> {
    let reply = s
        .client
        .request(&ControlSubject::AgentsList, s.with_tenant(json!({})))
        .await?;
    let agents = reply["agents"].as_array().cloned().unwrap_or_default();
    output::list(s.output, &Value::Array(agents.clone()), &agents, || {
        let rows: Vec<Vec<String>> = agents
            .iter()
            .map(|a| {
                let schemas = match (a["input_schema"].is_null(), a["output_schema"].is_null()) {
                    (false, false) => "in, out",
                    (false, true) => "in",
                    (true, false) => "out",
                    (true, true) => "",
                };
                vec![
                    text(a, "name"),
                    schemas.to_owned(),
                    text(a, "updated_at"),
                    text(a, "description"),
                ]
            })
            .collect();
        print!(
            "{}",
            output::table(&["NAME", "SCHEMAS", "UPDATED", "DESCRIPTION"], &rows)
        );
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// An agent file's request fields.
fn agent_request(file: &Path) -> anyhow::Result<Value> {
    let source = read_file(file)?;
    let name = file.display().to_string();
    let lower = name.to_ascii_lowercase();
    let agent: Value = if lower.ends_with(".json") {
        serde_json::from_str(&source).map_err(|e| BadInput(format!("{name}: {e}")))?
    } else {
        yaml_serde::from_str(&source).map_err(|e| BadInput(format!("{name}: {e}")))?
    };
    if !agent["name"].is_string() {
        return Err(BadInput(format!("{name}: an agent file needs a `name`")).into());
    }
    Ok(json!({
        "name": agent["name"],
        "description": agent["description"],
        "input_schema": agent["input_schema"],
        "output_schema": agent["output_schema"],
        "circuit": agent["circuit"],
    }))
}

/// `agents put`: registers each file's agent; a file that fails is reported
/// and the others still go.
pub async fn put(s: &Session<'_>, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut failed: Option<u8> = None;
    let mut results = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let outcome = match agent_request(file) {
            Ok(body) => {
                let agent = body["name"].clone();
                s.client
                    .request(&ControlSubject::AgentsPut, s.with_tenant(body))
                    .await
                    .map(|reply| (agent, reply))
            }
            Err(error) => Err(error),
        };
        let shown = match outcome {
            Ok((agent, reply)) => {
                let created = reply["created"] == json!(true);
                if s.output == Output::Text {
                    output::line(&format!(
                        "{name}: agent {} {}",
                        agent.as_str().unwrap_or("?"),
                        if created { "registered" } else { "updated" }
                    ))?;
                }
                json!({ "file": name, "ok": true, "name": agent, "created": created })
            }
            Err(error) => {
                eprintln!("{name}: {error:#}");
                failed.get_or_insert(code_of(&error).max(1));
                json!({ "file": name, "ok": false, "error": format!("{error:#}") })
            }
        };
        if s.output == Output::Jsonl {
            output::json_line(&shown)?;
        }
        results.push(shown);
    }
    if s.output == Output::Json {
        output::document(Output::Json, &Value::Array(results))?;
    }
    Ok(failed.map_or(ExitCode::SUCCESS, ExitCode::from))
}

/// `agents delete`.
pub async fn delete(s: &Session<'_>, name: &str) -> anyhow::Result<ExitCode> {
    s.client
        .request(
            &ControlSubject::AgentsDelete,
            s.with_tenant(json!({ "name": name })),
        )
        .await?;
    match s.output {
        Output::Text => output::line(&format!("agent {name} deleted"))?,
        format => output::document(format, &json!({ "name": name, "deleted": true }))?,
    }
    Ok(ExitCode::SUCCESS)
}
