//! Definition files on disk, as `sync` and `bundle` see them: the
//! `*.workflow.yaml|yml|json|star` and `*.agent.yaml|yml|json` files of a
//! directory and its subdirectories (hidden ones skipped), sorted by path,
//! with what each defines. Pure reading and parsing; no cluster.

use crate::exit::BadInput;
use junction_core::ids::is_valid_agent_name;
use junction_core::model::SourceFormat;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Directory levels followed below a named directory.
const MAX_DEPTH: usize = 8;

/// What a file defines, told by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Workflow(SourceFormat),
    /// An agent registry entry, YAML (`json: false`) or JSON.
    Agent {
        json: bool,
    },
}

impl Kind {
    /// `None` for a file that is neither.
    pub fn of_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if let Some(format) = SourceFormat::from_file_name(&lower) {
            return Some(Self::Workflow(format));
        }
        if lower.ends_with(".agent.yaml") || lower.ends_with(".agent.yml") {
            Some(Self::Agent { json: false })
        } else if lower.ends_with(".agent.json") {
            Some(Self::Agent { json: true })
        } else {
            None
        }
    }

    /// `workflow` or `agent`, as manifests and reports spell it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Workflow(_) => "workflow",
            Self::Agent { .. } => "agent",
        }
    }
}

/// One definition file, read.
#[derive(Debug, Clone)]
pub struct DefinitionFile {
    /// As shown to the user: the path as found, or the path in a bundle.
    pub name: String,
    pub kind: Kind,
    pub source: String,
}

impl DefinitionFile {
    /// An agent file's fields as `agents.put` takes them (any `tenant` or
    /// `token` dropped: the command line decides those), with a valid
    /// `name`.
    pub fn agent_fields(&self) -> Result<Map<String, Value>, String> {
        let Kind::Agent { json } = self.kind else {
            return Err(format!("{} is not an agent file", self.name));
        };
        let parsed: Result<Value, String> = if json {
            serde_json::from_str(&self.source).map_err(|e| e.to_string())
        } else {
            yaml_serde::from_str(&self.source).map_err(|e| e.to_string())
        };
        let Value::Object(mut fields) = parsed? else {
            return Err("an agent file holds one object".to_owned());
        };
        fields.remove("tenant");
        fields.remove("token");
        match fields.get("name").and_then(Value::as_str) {
            Some(name) if is_valid_agent_name(name) => {}
            Some(name) => {
                return Err(format!(
                    "agent name {name:?} must match [a-z0-9][a-z0-9_-]{{0,63}}"
                ));
            }
            None => return Err("an agent file needs a `name`".to_owned()),
        }
        for key in ["input_schema", "output_schema"] {
            if !matches!(
                fields.get(key),
                None | Some(Value::Null | Value::Object(_) | Value::Bool(_))
            ) {
                return Err(format!("`{key}` must be a JSON Schema object"));
            }
        }
        Ok(fields)
    }

    /// The workflow's format, for a workflow file.
    pub fn format(&self) -> Option<SourceFormat> {
        match self.kind {
            Kind::Workflow(format) => Some(format),
            Kind::Agent { .. } => None,
        }
    }
}

/// The definition files under each of `dirs`, each directory's sorted by
/// path. A directory that cannot be read, or a file that is not UTF-8, is
/// bad input.
pub fn discover(dirs: &[PathBuf]) -> anyhow::Result<Vec<DefinitionFile>> {
    let mut found = Vec::new();
    for dir in dirs {
        if !dir.is_dir() {
            return Err(BadInput(format!("{} is not a directory", dir.display())).into());
        }
        let mut paths = Vec::new();
        walk(dir, 0, &mut paths)?;
        paths.sort();
        for path in paths {
            found.push(read(&path, path.display().to_string())?);
        }
    }
    Ok(found)
}

/// The files under `dir` by their path relative to it (`/`-separated), for
/// a bundle.
pub fn discover_relative(dir: &Path) -> anyhow::Result<Vec<DefinitionFile>> {
    let mut files = discover(&[dir.to_path_buf()])?;
    for file in &mut files {
        let relative = Path::new(&file.name)
            .strip_prefix(dir)
            .map(|p| {
                p.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_else(|_| file.name.clone());
        file.name = relative;
    }
    Ok(files)
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| BadInput(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if depth < MAX_DEPTH {
                walk(&path, depth + 1, out)?;
            }
        } else if path.is_file() && Kind::of_name(&name).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

fn read(path: &Path, name: String) -> anyhow::Result<DefinitionFile> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let kind = Kind::of_name(file_name)
        .ok_or_else(|| BadInput(format!("{name} is not a definition file")))?;
    let source =
        std::fs::read_to_string(path).map_err(|e| BadInput(format!("cannot read {name}: {e}")))?;
    Ok(DefinitionFile { name, kind, source })
}

/// Agents before workflows, each group in its order: the order they are
/// stored in, so workflows find their agents registered.
pub fn agents_first(files: &[DefinitionFile]) -> Vec<&DefinitionFile> {
    let (agents, workflows): (Vec<_>, Vec<_>) = files
        .iter()
        .partition(|f| matches!(f.kind, Kind::Agent { .. }));
    agents.into_iter().chain(workflows).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn files_are_found_in_subdirectories_sorted_and_hidden_ones_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "workflows/b.workflow.yaml", "id: b\n");
        write(dir.path(), "agents/a.agent.json", r#"{"name":"a"}"#);
        write(dir.path(), "z.workflow.star", "x");
        write(dir.path(), ".git/c.workflow.yaml", "id: c\n");
        write(dir.path(), "notes.yaml", "no");
        let files = discover_relative(dir.path()).expect("files");
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "agents/a.agent.json",
                "workflows/b.workflow.yaml",
                "z.workflow.star"
            ]
        );
        assert_eq!(files[2].kind, Kind::Workflow(SourceFormat::Star));
        let ordered: Vec<&str> = agents_first(&files)
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(ordered[0], "agents/a.agent.json");
        assert!(discover(&[dir.path().join("missing")]).is_err());
    }

    #[test]
    fn agent_files_are_checked() {
        let agent = |source: &str| DefinitionFile {
            name: "x.agent.yaml".into(),
            kind: Kind::Agent { json: false },
            source: source.into(),
        };
        let fields = agent("name: ok\ntenant: other\ncircuit: {failures: 3}\n")
            .agent_fields()
            .expect("valid");
        assert!(!fields.contains_key("tenant"));
        assert!(fields.contains_key("circuit"));
        for (source, expected) in [
            ("description: x\n", "needs a `name`"),
            ("name: Bad Name\n", "must match"),
            ("name: a\ninput_schema: 3\n", "JSON Schema"),
            ("- a\n", "one object"),
            ("name: [unclosed\n", ""),
        ] {
            let error = agent(source).agent_fields().expect_err(source);
            assert!(error.contains(expected), "{source}: {error}");
        }
    }
}
