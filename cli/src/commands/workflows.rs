//! Workflow definitions: `put` stores definition files, one control request
//! each; `workflows list|get|delete` read and remove them.

use super::{Session, read_file};
use crate::args::Output;
use crate::exit::code_of;
use crate::output::{self, text};
use junction_bus::ControlSubject;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

/// `put`: stores each file; a file that fails is reported and the others
/// still go. Exit: 0 when every file was stored, else the code of the
/// first failure (2 for a definition with errors).
pub async fn put(s: &Session<'_>, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut failed: Option<u8> = None;
    let mut results = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let result = put_one(s, file).await;
        let shown = match result {
            Ok(reply) => {
                if s.output == Output::Text {
                    output::line(&format!(
                        "{name}: {} version {} ({})",
                        text(&reply, "id"),
                        reply["version"],
                        if reply["created"] == json!(true) {
                            "stored"
                        } else {
                            "unchanged"
                        }
                    ))?;
                }
                json!({ "file": name, "ok": true, "id": reply["id"], "version": reply["version"],
                        "created": reply["created"], "warnings": reply["warnings"] })
            }
            Err(error) => {
                eprintln!("{name}: {error:#}");
                failed.get_or_insert(code_of(&error).max(1));
                let code = error
                    .downcast_ref::<crate::exit::Refusal>()
                    .map(|r| r.code.clone());
                json!({ "file": name, "ok": false, "code": code, "error": format!("{error:#}") })
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

async fn put_one(s: &Session<'_>, file: &std::path::Path) -> anyhow::Result<Value> {
    let source = read_file(file)?;
    // `*.workflow.star` is a Starlark plan, `.json` JSON, anything else YAML.
    let format = match file.extension().and_then(|e| e.to_str()) {
        Some("json") => "json",
        Some("star") => "star",
        _ => "yaml",
    };
    s.client
        .request(
            &ControlSubject::WorkflowsPut,
            s.with_tenant(json!({ "source": source, "format": format })),
        )
        .await
}

/// `workflows list`: the latest revision of each workflow, with the next
/// fire time of scheduled ones.
pub async fn list(s: &Session<'_>) -> anyhow::Result<ExitCode> {
    let reply = s
        .client
        .request(&ControlSubject::WorkflowsList, s.with_tenant(json!({})))
        .await?;
    let workflows = reply["workflows"].as_array().cloned().unwrap_or_default();
    output::list(
        s.output,
        &Value::Array(workflows.clone()),
        &workflows,
        || {
            let rows: Vec<Vec<String>> = workflows
                .iter()
                .map(|w| {
                    vec![
                        text(w, "id"),
                        text(w, "version"),
                        text(w, "name"),
                        text(w, "updated_at"),
                        next_fire(w),
                    ]
                })
                .collect();
            let columns = ["ID", "VERSION", "NAME", "UPDATED", "NEXT FIRE"];
            print!("{}", output::table(&columns, &rows));
            Ok(())
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The next tick of a scheduled workflow; `-` for one without a schedule.
fn next_fire(workflow: &Value) -> String {
    match workflow["next_fire_at"].as_str() {
        Some(at) => at.to_owned(),
        None => "-".to_owned(),
    }
}

/// `workflows get`: the source as stored (text), or the revision with its
/// metadata (JSON).
pub async fn get(s: &Session<'_>, id: &str, version: Option<i64>) -> anyhow::Result<ExitCode> {
    let reply = s
        .client
        .request(
            &ControlSubject::WorkflowsGet,
            s.with_tenant(json!({ "id": id, "version": version })),
        )
        .await?;
    let workflow = &reply["workflow"];
    match s.output {
        Output::Text => {
            let source = text(workflow, "source");
            print!("{source}");
            if !source.ends_with('\n') {
                println!();
            }
        }
        format => output::document(format, workflow)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `workflows delete`: every revision of a workflow that never ran.
pub async fn delete(s: &Session<'_>, id: &str) -> anyhow::Result<ExitCode> {
    let reply = s
        .client
        .request(
            &ControlSubject::WorkflowsDelete,
            s.with_tenant(json!({ "id": id })),
        )
        .await?;
    match s.output {
        Output::Text => output::line(&format!("workflow {id} deleted"))?,
        format => output::document(format, &json!({ "id": id, "deleted": reply["deleted"] }))?,
    }
    Ok(ExitCode::SUCCESS)
}
