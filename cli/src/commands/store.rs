//! Storing and checking definition files one at a time through the control
//! plane, for `sync` and `bundle install`: each file ends as a
//! [`FileReport`] (stored, unchanged, would be stored, or failed with its
//! diagnostics), printed as text (diagnostics at their line and column,
//! with the source line) or as JSON.

use super::Session;
use crate::args::Output;
use crate::client::refusal;
use crate::definitions::{DefinitionFile, Kind};
use crate::output;
use crate::render::{self, SourceFile, Style};
use junction_bus::ControlSubject;
use junction_core::model::Diagnostic;
use junction_core::model::locate::SourceMap;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// What became of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A new workflow revision, or an agent registered or replaced.
    Stored,
    /// The cluster already has exactly this.
    Unchanged,
    /// `--dry-run`: valid, and different from what the cluster has.
    WouldStore,
    /// Valid (a bundle checked before it is installed).
    Valid,
    Failed,
}

/// One file's outcome, as `-o json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: String,
    pub kind: &'static str,
    pub status: Status,
    /// The workflow id or the agent name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The stored workflow revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The refusal's code (`VALIDATION_FAILED`, `INVALID_REQUEST`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
}

impl FileReport {
    pub fn new(file: &DefinitionFile, status: Status) -> Self {
        Self {
            file: file.name.clone(),
            kind: file.kind.label(),
            status,
            id: None,
            version: None,
            code: None,
            error: None,
            diagnostics: Vec::new(),
        }
    }

    /// A failure before or without a reply (the file does not parse).
    pub fn failed(file: &DefinitionFile, code: &str, error: impl Into<String>) -> Self {
        let mut report = Self::new(file, Status::Failed);
        report.code = Some(code.to_owned());
        report.error = Some(error.into());
        report
    }

    /// A failure from an error reply, with its diagnostics.
    fn refused(file: &DefinitionFile, reply: &Value) -> Self {
        let refused = refusal(reply);
        let mut report = Self::new(file, Status::Failed);
        report.diagnostics = diagnostics_of(&reply["error"]["details"]["diagnostics"]);
        report.error = Some(
            reply["error"]["message"]
                .as_str()
                .unwrap_or(&refused.message)
                .to_owned(),
        );
        report.code = Some(refused.code);
        report
    }

    pub fn is_failed(&self) -> bool {
        self.status == Status::Failed
    }

    /// The file's line of the text report, then its diagnostics.
    pub fn text(&self, file: &DefinitionFile, style: Style) -> String {
        let what = match (&self.id, self.version) {
            (Some(id), Some(version)) => format!("{} {id} version {version}", self.kind),
            (Some(id), None) => format!("{} {id}", self.kind),
            _ => self.kind.to_owned(),
        };
        let status = match self.status {
            Status::Stored => "stored",
            Status::Unchanged => "unchanged",
            Status::WouldStore => "would be stored",
            Status::Valid => "valid",
            Status::Failed => "failed",
        };
        let mut out = format!("{}: {what} {status}", self.file);
        if let Some(error) = &self.error {
            out.push_str(&format!(": {error}"));
        }
        out.push('\n');
        let map = file.format().map(|f| SourceMap::build(&file.source, f));
        let source = SourceFile {
            name: &file.name,
            text: &file.source,
            map: map.as_ref(),
        };
        for diagnostic in &self.diagnostics {
            out.push_str(&render::diagnostic(style, &source, diagnostic));
        }
        out
    }
}

/// The id a workflow file defines, when it compiles.
pub fn workflow_id(file: &DefinitionFile) -> Option<String> {
    let format = file.format()?;
    junction_core::model::compile(&file.source, format)
        .workflow
        .map(|w| w.id)
}

/// Workflow files that define an id an earlier file (by order) already
/// defines, each as a failed report naming the earlier file.
pub fn duplicate_ids(files: &[&DefinitionFile]) -> Vec<(String, FileReport)> {
    let mut owners: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    let mut duplicates = Vec::new();
    for file in files.iter().filter(|f| matches!(f.kind, Kind::Workflow(_))) {
        let Some(id) = workflow_id(file) else {
            continue;
        };
        match owners.get(id.as_str()) {
            Some(owner) => {
                let message = format!("workflow id `{id}` is also defined by {owner}");
                let mut report = FileReport::failed(file, "DUPLICATE_WORKFLOW_ID", message);
                report.id = Some(id);
                duplicates.push((file.name.clone(), report));
            }
            None => {
                owners.insert(id, &file.name);
            }
        }
    }
    duplicates
}

fn diagnostics_of(value: &Value) -> Vec<Diagnostic> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| serde_json::from_value(d.clone()).ok())
        .collect()
}

/// Prints one report as `-o` says (text and `jsonl` at once; `json` at the end).
pub fn print(
    s: &Session<'_>,
    report: &FileReport,
    file: &DefinitionFile,
    style: Style,
) -> anyhow::Result<()> {
    match s.output {
        Output::Text => {
            let text = report.text(file, style);
            output::line(text.trim_end())
        }
        Output::Jsonl => output::json_line(&serde_json::to_value(report)?),
        Output::Json => Ok(()),
    }
}

/// Whether the registered agent `current` already says what `fields` says.
fn same_agent(fields: &Map<String, Value>, current: &Value) -> bool {
    let keys = ["description", "input_schema", "output_schema"];
    keys.iter()
        .copied()
        .chain(fields.keys().map(String::as_str))
        .all(|key| fields.get(key).unwrap_or(&Value::Null) == &current[key])
}

/// The registered agents of the session's tenant, by name.
pub async fn registered_agents(s: &Session<'_>) -> anyhow::Result<Map<String, Value>> {
    let reply = s
        .client
        .request(&ControlSubject::AgentsList, s.with_tenant(json!({})))
        .await?;
    Ok(reply["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| Some((a["name"].as_str()?.to_owned(), a.clone())))
        .collect())
}

/// Registers an agent file unless the registry already has it as written
/// (`dry_run`: only says which).
pub async fn agent(
    s: &Session<'_>,
    file: &DefinitionFile,
    registered: &Map<String, Value>,
    dry_run: bool,
) -> anyhow::Result<FileReport> {
    let fields = match file.agent_fields() {
        Ok(fields) => fields,
        Err(error) => return Ok(FileReport::failed(file, "INVALID_AGENT_FILE", error)),
    };
    let name = fields["name"].as_str().unwrap_or_default().to_owned();
    let unchanged = registered
        .get(&name)
        .is_some_and(|current| same_agent(&fields, current));
    let status = if unchanged {
        Status::Unchanged
    } else if dry_run {
        Status::WouldStore
    } else {
        let reply = s
            .client
            .reply(
                &ControlSubject::AgentsPut,
                s.with_tenant(Value::Object(fields)),
            )
            .await?;
        if reply["ok"] != json!(true) {
            return Ok(FileReport::refused(file, &reply));
        }
        Status::Stored
    };
    let mut report = FileReport::new(file, status);
    report.id = Some(name);
    Ok(report)
}

/// Stores a workflow file (`workflows.put`: a changed source is a new
/// revision, the same source is unchanged).
pub async fn workflow(s: &Session<'_>, file: &DefinitionFile) -> anyhow::Result<FileReport> {
    let format = file.format().map_or("yaml", |f| f.as_str());
    let body = json!({ "source": file.source, "format": format });
    let reply = s
        .client
        .reply(&ControlSubject::WorkflowsPut, s.with_tenant(body))
        .await?;
    if reply["ok"] != json!(true) {
        return Ok(FileReport::refused(file, &reply));
    }
    let status = if reply["created"] == json!(true) {
        Status::Stored
    } else {
        Status::Unchanged
    };
    let mut report = FileReport::new(file, status);
    report.id = reply["id"].as_str().map(str::to_owned);
    report.version = reply["version"].as_i64();
    Ok(report)
}

/// Checks a workflow file against the cluster (`workflows.validate`), as
/// if `agents` (a directory's or a bundle's) were registered too; stores
/// nothing. `compare`: also say whether the latest stored revision has
/// this very source (`Unchanged`) or not (`WouldStore`).
pub async fn check_workflow(
    s: &Session<'_>,
    file: &DefinitionFile,
    agents: &[Value],
    compare: bool,
) -> anyhow::Result<FileReport> {
    let format = file.format().map_or("yaml", |f| f.as_str());
    let body = json!({ "source": file.source, "format": format, "agents": agents });
    let reply = s
        .client
        .reply(&ControlSubject::WorkflowsValidate, s.with_tenant(body))
        .await?;
    if reply["ok"] != json!(true) {
        return Ok(FileReport::refused(file, &reply));
    }
    let errors = diagnostics_of(&reply["errors"]);
    if !errors.is_empty() {
        let mut report = FileReport::new(file, Status::Failed);
        report.code = Some("VALIDATION_FAILED".to_owned());
        report.error = Some(format!("the definition has {} error(s)", errors.len()));
        report.diagnostics = errors;
        return Ok(report);
    }
    let id = workflow_id(file);
    let mut report = FileReport::new(file, Status::Valid);
    if compare && let Some(id) = &id {
        let latest = s
            .client
            .reply(
                &ControlSubject::WorkflowsGet,
                s.with_tenant(json!({ "id": id })),
            )
            .await?;
        let stored = &latest["workflow"];
        let same = latest["ok"] == json!(true)
            && stored["source"] == json!(file.source)
            && stored["format"] == json!(format);
        report.status = if same {
            Status::Unchanged
        } else {
            Status::WouldStore
        };
        report.version = same.then(|| stored["version"].as_i64()).flatten();
    }
    report.id = id;
    Ok(report)
}
