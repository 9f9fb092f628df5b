//! Workflow definitions: `put` stores definition files, one control request
//! each.

use super::Session;
use anyhow::Context;
use junction_bus::ControlSubject;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// `put`: stores each file; a file that fails is reported and the others
/// still go (exit status 1 if any failed).
pub async fn put(s: &Session<'_>, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for file in files {
        let source =
            std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
        // `*.workflow.star` is a Starlark plan, `.json` JSON, anything else YAML.
        let format = match file.extension().and_then(|e| e.to_str()) {
            Some("json") => "json",
            Some("star") => "star",
            _ => "yaml",
        };
        match s
            .client
            .request(
                &ControlSubject::WorkflowsPut,
                s.with_tenant(json!({ "source": source, "format": format })),
            )
            .await
        {
            Ok(reply) => println!(
                "{}: {} version {} ({})",
                file.display(),
                reply["id"].as_str().unwrap_or(""),
                reply["version"],
                if reply["created"] == json!(true) {
                    "stored"
                } else {
                    "unchanged"
                }
            ),
            Err(error) => {
                eprintln!("{}: {error:#}", file.display());
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
