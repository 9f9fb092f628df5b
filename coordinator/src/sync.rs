//! Definitions from files: `*.workflow.yaml|yml|json|star` and `*.agent.yaml|yml|json`
//! in the configured directories are stored at startup (tenant `default`).
//! A file with errors is reported and skipped; the others still load.

use crate::control::workflows::check;
use junction_core::model::SourceFormat;
use junction_store::{NewDefinition, Store};
use serde_json::Value;
use std::path::Path;

/// Stores every workflow file in `dir`. Returns (stored or unchanged, failed).
pub async fn sync_workflows(store: &Store, dir: &Path) -> anyhow::Result<(usize, usize)> {
    let mut ok = 0;
    let mut failed = 0;
    for path in sorted_files(dir)? {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let Some(format) = SourceFormat::from_file_name(name) else {
            continue;
        };
        let source = std::fs::read_to_string(&path)?;
        let compiled = check(store, "default", &source, format).await?;
        for warning in &compiled.diagnostics.warnings {
            tracing::warn!(file = %path.display(), code = %warning.code, path = %warning.path, "{}", warning.message);
        }
        let Some(workflow) = compiled.workflow else {
            for error in &compiled.diagnostics.errors {
                tracing::error!(file = %path.display(), code = %error.code, path = %error.path, line = ?error.line, "{}", error.message);
            }
            failed += 1;
            continue;
        };
        let outcome = store
            .put_definition(&NewDefinition {
                tenant: "default",
                workflow: &workflow,
                source: &source,
                format: format.as_str(),
            })
            .await?;
        tracing::info!(file = %path.display(), workflow_id = %workflow.id, version = outcome.version, created = outcome.created, "workflow synced");
        ok += 1;
    }
    Ok((ok, failed))
}

/// Stores every agent file in `dir`.
pub async fn sync_agents(store: &Store, dir: &Path) -> anyhow::Result<usize> {
    let mut count = 0;
    for path in sorted_files(dir)? {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let source = std::fs::read_to_string(&path)?;
        let agent: Value = if name.ends_with(".agent.yaml") || name.ends_with(".agent.yml") {
            yaml_serde::from_str(&source)?
        } else if name.ends_with(".agent.json") {
            serde_json::from_str(&source)?
        } else {
            continue;
        };
        let Some(agent_name) = agent.get("name").and_then(Value::as_str) else {
            tracing::error!(file = %path.display(), "agent file has no `name`; skipped");
            continue;
        };
        let description = agent.get("description").and_then(Value::as_str);
        let circuit = agent.get("circuit").filter(|c| !c.is_null());
        if let Some(circuit) = circuit
            && let Err(error) = junction_core::wire::circuit::CircuitPolicy::from_value(circuit)
        {
            tracing::error!(file = %path.display(), agent = agent_name, %error, "agent file has an invalid `circuit`; skipped");
            continue;
        }
        store
            .put_agent(
                "default",
                agent_name,
                description,
                agent.get("input_schema"),
                agent.get("output_schema"),
                circuit,
            )
            .await?;
        count += 1;
    }
    Ok(count)
}

fn sorted_files(dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}
