//! `junction validate`: compiles definition files offline, exactly as the
//! coordinator would, and reports every diagnostic at its line and column.
//! Needs no cluster: no NATS, no Postgres.

use crate::args::Output;
use crate::render::{self, SourceFile, Style};
use anyhow::Context;
use junction_core::model::locate::SourceMap;
use junction_core::model::parse::Compiled;
use junction_core::model::validate::{AgentSpec, against_registry};
use junction_core::model::{Diagnostic, SourceFormat, compile};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code for a file that could not be read, or a bad argument.
const USAGE_ERROR: u8 = 2;

/// How a definition file is written, told by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `*.workflow.yaml|yml|json` (or any `.yaml`, `.yml`, `.json` file).
    Document(SourceFormat),
    /// `*.workflow.star`.
    Starlark,
}

impl SourceKind {
    pub fn of(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".star") {
            return Some(Self::Starlark);
        }
        if let Some(format) = SourceFormat::from_file_name(&name) {
            return Some(Self::Document(format));
        }
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Self::Document(SourceFormat::Yaml)),
            "json" => Some(Self::Document(SourceFormat::Json)),
            _ => None,
        }
    }

    /// A definition file by its full name, for directory listings.
    fn is_definition_name(path: &Path) -> bool {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        SourceFormat::from_file_name(&name).is_some() || name.ends_with(".workflow.star")
    }
}

/// One file, compiled, with what is needed to show its diagnostics.
#[derive(Debug)]
pub struct Checked {
    /// The file as the user named it.
    pub name: String,
    pub source: String,
    /// Positions of the document's paths; `None` for Starlark sources.
    pub map: Option<SourceMap>,
    pub compiled: Compiled,
}

impl Checked {
    pub fn file(&self) -> SourceFile<'_> {
        SourceFile {
            name: &self.name,
            text: &self.source,
            map: self.map.as_ref(),
        }
    }

    /// Every diagnostic, errors first, then the summary line.
    pub fn text(&self, style: Style) -> String {
        let diagnostics = &self.compiled.diagnostics;
        let mut out = String::new();
        for diagnostic in diagnostics.errors.iter().chain(&diagnostics.warnings) {
            out.push_str(&render::diagnostic(style, &self.file(), diagnostic));
        }
        out.push_str(&render::summary(
            &self.name,
            diagnostics.errors.len(),
            diagnostics.warnings.len(),
        ));
        out.push('\n');
        out
    }
}

/// Why a file could not be checked at all.
#[derive(Debug)]
pub struct Unreadable {
    pub name: String,
    /// `READ_ERROR` or `UNKNOWN_FILE_TYPE`, for the JSON report.
    pub code: &'static str,
    pub message: String,
}

/// The agent registry validation resolves names against, by name.
pub type Registry = HashMap<String, AgentSpec>;

/// Reads and compiles one file; with a registry, also checks that its agents
/// exist and that their schemas fit along every path.
pub fn check_file(path: &Path, registry: Option<&Registry>) -> Result<Checked, Unreadable> {
    let name = path.display().to_string();
    let Some(kind) = SourceKind::of(path) else {
        return Err(Unreadable {
            message: format!(
                "cannot tell how {name} is written: expected *.workflow.yaml, *.workflow.yml, \
                 *.workflow.json or *.workflow.star"
            ),
            name,
            code: "UNKNOWN_FILE_TYPE",
        });
    };
    let source = std::fs::read_to_string(path).map_err(|error| Unreadable {
        message: format!("cannot read {name}: {error}"),
        name: name.clone(),
        code: "READ_ERROR",
    })?;
    let (compiled, map) = compile_source(&source, kind, registry);
    Ok(Checked {
        name,
        source,
        map,
        compiled,
    })
}

/// Compiles a source of the given kind; positions are attached to every
/// diagnostic the front end left without one.
pub fn compile_source(
    source: &str,
    kind: SourceKind,
    registry: Option<&Registry>,
) -> (Compiled, Option<SourceMap>) {
    let (mut compiled, map) = match kind {
        SourceKind::Document(format) => (
            compile(source, format),
            Some(SourceMap::build(source, format)),
        ),
        SourceKind::Starlark => (compile_starlark(source), None),
    };
    if let (Some(workflow), Some(registry)) = (&compiled.workflow, registry) {
        against_registry(workflow, registry, &mut compiled.diagnostics);
        if compiled.diagnostics.has_errors() {
            compiled.workflow = None;
        }
    }
    if let Some(map) = &map {
        map.attach(&mut compiled.diagnostics);
    }
    (compiled, map)
}

/// A `*.workflow.star` plan, through the Starlark front end.
fn compile_starlark(source: &str) -> Compiled {
    junction_core::model::star::compile(source)
}

/// Loads every `*.agent.yaml|yml|json` file of `dir`, sorted by file name.
pub fn load_agents(dir: &Path) -> anyhow::Result<Vec<AgentSpec>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the agents directory {}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| agent_format(path).is_some() && path.is_file())
        .collect();
    files.sort();
    files.iter().map(|path| load_agent(path)).collect()
}

fn agent_format(path: &Path) -> Option<SourceFormat> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if name.ends_with(".agent.yaml") || name.ends_with(".agent.yml") {
        Some(SourceFormat::Yaml)
    } else if name.ends_with(".agent.json") {
        Some(SourceFormat::Json)
    } else {
        None
    }
}

fn load_agent(path: &Path) -> anyhow::Result<AgentSpec> {
    let source = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read agent file {}", path.display()))?;
    let agent: Value = match agent_format(path) {
        Some(SourceFormat::Json) => serde_json::from_str(&source)
            .with_context(|| format!("{} is not valid JSON", path.display()))?,
        _ => yaml_serde::from_str(&source)
            .with_context(|| format!("{} is not valid YAML", path.display()))?,
    };
    let name = agent
        .get("name")
        .and_then(Value::as_str)
        .with_context(|| format!("{}: an agent file needs a `name`", path.display()))?;
    Ok(AgentSpec {
        name: name.to_owned(),
        input_schema: agent.get("input_schema").cloned(),
        output_schema: agent.get("output_schema").cloned(),
    })
}

/// The files to check: each named file, and the definition files directly
/// inside each named directory.
fn expand(paths: &[PathBuf]) -> Vec<Result<PathBuf, Unreadable>> {
    let mut out = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push(Ok(path.clone()));
            continue;
        }
        let name = path.display().to_string();
        match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|entry| entry.ok().map(|e| e.path()))
                    .filter(|p| p.is_file() && SourceKind::is_definition_name(p))
                    .collect();
                files.sort();
                if files.is_empty() {
                    out.push(Err(Unreadable {
                        message: format!("{name} holds no *.workflow.* files"),
                        name,
                        code: "READ_ERROR",
                    }));
                } else {
                    out.extend(files.into_iter().map(Ok));
                }
            }
            Err(error) => out.push(Err(Unreadable {
                message: format!("cannot read {name}: {error}"),
                name,
                code: "READ_ERROR",
            })),
        }
    }
    out
}

/// One file in the JSON report.
#[derive(Serialize)]
struct FileReport {
    file: String,
    ok: bool,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl FileReport {
    fn new(file: &str, errors: &[Diagnostic], warnings: &[Diagnostic]) -> Self {
        Self {
            file: file.to_owned(),
            ok: errors.is_empty(),
            errors: errors.to_vec(),
            warnings: warnings.to_vec(),
        }
    }
}

/// Colour only for a terminal, and never under `NO_COLOR`.
pub fn use_color(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `junction validate FILES… [-o json|jsonl] [--agents DIR]`. Exit code 0
/// when every file compiles, 1 when any has errors, 2 when a file or the
/// agents directory cannot be read. `json` prints one array of file
/// reports, `jsonl` one report per line.
pub fn run(files: &[PathBuf], format: Output, agents: Option<&Path>) -> ExitCode {
    let registry: Option<Registry> = match agents.map(load_agents).transpose() {
        Ok(list) => list.map(|agents| {
            agents
                .into_iter()
                .map(|agent| (agent.name.clone(), agent))
                .collect()
        }),
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let style = Style {
        color: use_color(std::io::stdout().is_terminal()),
    };
    let mut failed = false;
    let mut unreadable = false;
    let mut reports: Vec<FileReport> = Vec::new();
    for target in expand(files) {
        let checked = target.and_then(|path| check_file(&path, registry.as_ref()));
        match checked {
            Ok(checked) => {
                let diagnostics = &checked.compiled.diagnostics;
                failed |= diagnostics.has_errors();
                match format {
                    Output::Text => print!("{}", checked.text(style)),
                    Output::Json | Output::Jsonl => reports.push(FileReport::new(
                        &checked.name,
                        &diagnostics.errors,
                        &diagnostics.warnings,
                    )),
                }
            }
            Err(error) => {
                unreadable = true;
                eprintln!("error: {}", error.message);
                if format != Output::Text {
                    let diagnostic = Diagnostic::new(error.code, "", error.message);
                    reports.push(FileReport::new(&error.name, &[diagnostic], &[]));
                }
            }
        }
    }
    let written = match format {
        Output::Text => Ok(()),
        Output::Json => serde_json::to_string_pretty(&reports).map(|text| println!("{text}")),
        Output::Jsonl => reports
            .iter()
            .try_for_each(|report| serde_json::to_string(report).map(|text| println!("{text}"))),
    };
    if let Err(error) = written {
        eprintln!("error: cannot write the report: {error}");
        return ExitCode::from(USAGE_ERROR);
    }
    if unreadable {
        ExitCode::from(USAGE_ERROR)
    } else if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_names() {
        let kind = |n: &str| SourceKind::of(Path::new(n));
        assert_eq!(
            kind("a/x.workflow.yaml"),
            Some(SourceKind::Document(SourceFormat::Yaml))
        );
        assert_eq!(
            kind("X.Workflow.JSON"),
            Some(SourceKind::Document(SourceFormat::Json))
        );
        assert_eq!(
            kind("plain.yml"),
            Some(SourceKind::Document(SourceFormat::Yaml))
        );
        assert_eq!(kind("plan.workflow.star"), Some(SourceKind::Starlark));
        assert_eq!(kind("notes.txt"), None);
        assert_eq!(kind(""), None);
    }

    #[test]
    fn positions_are_attached_once() {
        let source = "id: x\nstates:\n  - name: a\n    type: inject\n    next: zz\n";
        let (compiled, map) =
            compile_source(source, SourceKind::Document(SourceFormat::Yaml), None);
        assert!(map.is_some());
        let dangling = compiled
            .diagnostics
            .errors
            .iter()
            .find(|d| d.code == "DANGLING_TARGET")
            .expect("dangling target");
        assert_eq!((dangling.line, dangling.column), (Some(5), Some(5)));
    }

    #[test]
    fn registry_checks_run_when_agents_are_given() {
        let source = "\
id: x
states:
  - name: a
    type: operation
    action: agent.run
    input: { agent: ghost }
    end: true
";
        let kind = SourceKind::Document(SourceFormat::Yaml);
        let (compiled, _) = compile_source(source, kind, None);
        assert!(compiled.workflow.is_some(), "{:?}", compiled.diagnostics);
        let (compiled, _) = compile_source(source, kind, Some(&Registry::new()));
        assert!(compiled.workflow.is_none());
        assert!(
            compiled
                .diagnostics
                .errors
                .iter()
                .any(|d| d.code == "AGENT_NOT_FOUND" && (d.line, d.column) == (Some(6), Some(14))),
            "{:?}",
            compiled.diagnostics
        );
    }

    #[test]
    fn agents_load_from_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("b.agent.yaml"),
            "name: b\ninput_schema: {type: object}\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("a.agent.json"), r#"{"name": "a"}"#).expect("write");
        std::fs::write(dir.path().join("notes.md"), "not an agent").expect("write");
        let agents = load_agents(dir.path()).expect("agents");
        let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            agents[1].input_schema,
            Some(serde_json::json!({"type": "object"}))
        );
        std::fs::write(dir.path().join("c.agent.yaml"), "description: nameless\n").expect("write");
        assert!(load_agents(dir.path()).is_err());
        assert!(load_agents(&dir.path().join("missing")).is_err());
    }
}
