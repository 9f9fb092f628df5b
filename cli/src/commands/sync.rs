//! `junction sync DIR…`: stores the agent and workflow files found in the
//! directories (and their subdirectories) through the control plane, agents
//! first, as a coordinator does with its watched directories. Each file is
//! reported stored, unchanged or failed (with its diagnostics); a failed
//! file does not stop the others. `--dry-run` checks every file against
//! the cluster and stores nothing.

use super::Session;
use super::store::{self, FileReport, Status};
use crate::args::Output;
use crate::definitions::{DefinitionFile, Kind, agents_first, discover};
use crate::exit::{BAD_INPUT, BadInput, RUN_FAILED, code_of_reply};
use crate::output;
use crate::render::Style;
use crate::validate::use_color;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// The exit code of a failed file: what the cluster's refusal means, and
/// bad input for a file that is wrong in itself.
pub fn exit_code(report: &FileReport) -> u8 {
    match code_of_reply(report.code.as_deref().unwrap_or("")) {
        RUN_FAILED => BAD_INPUT,
        code => code,
    }
}

/// The agents a directory or a bundle defines, as `workflows.validate`
/// takes them (`agents`): workflows are checked as if they were registered.
pub fn overlay(files: &[&DefinitionFile]) -> Vec<Value> {
    files
        .iter()
        .filter(|f| matches!(f.kind, Kind::Agent { .. }))
        .filter_map(|f| f.agent_fields().ok())
        .map(|a| json!({ "name": a["name"], "input_schema": a.get("input_schema"), "output_schema": a.get("output_schema") }))
        .collect()
}

/// `junction sync DIR… [--dry-run]`. Exit 0 when every file was stored or
/// unchanged, else the code of the first failure (2 for a file with errors).
pub async fn run(s: &Session<'_>, dirs: &[PathBuf], dry_run: bool) -> anyhow::Result<ExitCode> {
    let files = discover(dirs)?;
    if files.is_empty() {
        let named: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(BadInput(format!(
            "no *.workflow.* or *.agent.* files in {}",
            named.join(", ")
        ))
        .into());
    }
    let ordered = agents_first(&files);
    let duplicates: HashMap<String, FileReport> =
        store::duplicate_ids(&ordered).into_iter().collect();
    let registered = store::registered_agents(s).await?;
    let agents = if dry_run {
        overlay(&ordered)
    } else {
        Vec::new()
    };
    let style = Style {
        color: use_color(std::io::stdout().is_terminal()),
    };
    let mut reports = Vec::new();
    let mut failed: Option<u8> = None;
    for file in ordered {
        let report = match (duplicates.get(&file.name), file.kind) {
            (Some(duplicate), _) => duplicate.clone(),
            (None, Kind::Agent { .. }) => store::agent(s, file, &registered, dry_run).await?,
            (None, Kind::Workflow(_)) if dry_run => {
                store::check_workflow(s, file, &agents, true).await?
            }
            (None, Kind::Workflow(_)) => store::workflow(s, file).await?,
        };
        if report.is_failed() {
            failed.get_or_insert(exit_code(&report));
        }
        store::print(s, &report, file, style)?;
        reports.push(report);
    }
    match s.output {
        Output::Text => output::line(&summary(&reports))?,
        Output::Json => output::document(Output::Json, &serde_json::to_value(&reports)?)?,
        Output::Jsonl => {}
    }
    Ok(failed.map_or(ExitCode::SUCCESS, ExitCode::from))
}

/// `3 stored, 1 unchanged, 1 failed`.
pub fn summary(reports: &[FileReport]) -> String {
    let count = |status: Status| reports.iter().filter(|r| r.status == status).count();
    let mut parts = Vec::new();
    for (status, label) in [
        (Status::Stored, "stored"),
        (Status::WouldStore, "would be stored"),
        (Status::Valid, "valid"),
        (Status::Unchanged, "unchanged"),
        (Status::Failed, "failed"),
    ] {
        let n = count(status);
        if n > 0 || status == Status::Failed {
            parts.push(format!("{n} {label}"));
        }
    }
    parts.join(", ")
}
