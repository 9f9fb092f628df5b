//! `junction bundle install FILE`: the online half of bundles. The bundle
//! is verified offline first (manifest, checksums: [`Bundle::open`]); then
//! every file is checked against the cluster, its workflows as if the
//! bundle's agents were registered (`workflows.validate` with `agents`); a
//! bundle with any file that does not validate is refused whole and nothing
//! is stored. Only then are its agents stored, then its workflows.

use super::Session;
use super::store::{self, FileReport, Status};
use super::sync::{exit_code, overlay, summary};
use crate::args::Output;
use crate::bundle::Bundle;
use crate::definitions::{DefinitionFile, Kind, agents_first};
use crate::output;
use crate::render::Style;
use crate::validate::use_color;
use serde_json::json;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

/// Checks every file of the bundle against the cluster; stores nothing.
async fn check_all(s: &Session<'_>, files: &[&DefinitionFile]) -> anyhow::Result<Vec<FileReport>> {
    let duplicates: HashMap<String, FileReport> = store::duplicate_ids(files).into_iter().collect();
    let agents = overlay(files);
    let mut reports = Vec::new();
    for file in files {
        let report = match (duplicates.get(&file.name), file.kind) {
            (Some(duplicate), _) => duplicate.clone(),
            (None, Kind::Agent { .. }) => match file.agent_fields() {
                Ok(fields) => {
                    let mut report = FileReport::new(file, Status::Valid);
                    report.id = fields["name"].as_str().map(str::to_owned);
                    report
                }
                Err(error) => FileReport::failed(file, "INVALID_AGENT_FILE", error),
            },
            (None, Kind::Workflow(_)) => store::check_workflow(s, file, &agents, false).await?,
        };
        reports.push(report);
    }
    Ok(reports)
}

fn print_all(
    s: &Session<'_>,
    bundle: &Path,
    files: &[&DefinitionFile],
    reports: &[FileReport],
    installed: bool,
) -> anyhow::Result<()> {
    let style = Style {
        color: use_color(std::io::stdout().is_terminal()),
    };
    for (file, report) in files.iter().zip(reports) {
        if s.output != Output::Text || report.is_failed() || installed {
            store::print(s, report, file, style)?;
        }
    }
    match s.output {
        Output::Text => output::line(&summary(reports)),
        Output::Json => output::document(
            Output::Json,
            &json!({ "bundle": bundle.display().to_string(), "installed": installed, "files": reports }),
        ),
        Output::Jsonl => Ok(()),
    }
}

/// `junction bundle install FILE`. Exit 0 when installed; 2 when the
/// bundle is damaged or any file does not validate (nothing stored).
pub async fn install(s: &Session<'_>, file: &Path) -> anyhow::Result<ExitCode> {
    let bundle = Bundle::open(file)?;
    let ordered = agents_first(&bundle.files);
    let checked = check_all(s, &ordered).await?;
    if let Some(failed) = checked.iter().find(|r| r.is_failed()) {
        print_all(s, file, &ordered, &checked, false)?;
        let broken = checked.iter().filter(|r| r.is_failed()).count();
        eprintln!(
            "error: {}: bundle refused: {broken} file(s) do not validate; nothing was stored",
            file.display()
        );
        return Ok(ExitCode::from(exit_code(failed)));
    }
    let registered = store::registered_agents(s).await?;
    let mut reports = Vec::new();
    for (stored, definition) in ordered.iter().enumerate() {
        let report = match definition.kind {
            Kind::Agent { .. } => store::agent(s, definition, &registered, false).await?,
            Kind::Workflow(_) => store::workflow(s, definition).await?,
        };
        let failed = report.is_failed().then(|| exit_code(&report));
        reports.push(report);
        if let Some(code) = failed {
            print_all(s, file, &ordered[..reports.len()], &reports, true)?;
            eprintln!(
                "error: {}: stopped after {stored} of {} file(s); installing again stores the rest (what is stored stays unchanged)",
                file.display(),
                ordered.len()
            );
            return Ok(ExitCode::from(code));
        }
    }
    print_all(s, file, &ordered, &reports, true)?;
    Ok(ExitCode::SUCCESS)
}
