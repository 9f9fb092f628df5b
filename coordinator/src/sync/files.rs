//! The definition files of one directory as the file sync sees them: which
//! files count (`*.workflow.yaml|yml|json|star`, `*.agent.yaml|yml|json`, at
//! the directory's top level), their contents and a SHA-256 of each, so a
//! pass can tell a changed file from an unchanged one without asking the
//! store.

use junction_core::model::SourceFormat;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What a file defines, told by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Workflow(SourceFormat),
    /// An agent registry entry, YAML (`false`) or JSON (`true`).
    Agent {
        json: bool,
    },
}

impl FileKind {
    /// `None` for a file that is neither a workflow nor an agent file.
    pub fn of(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if let Some(format) = SourceFormat::from_file_name(&name) {
            return Some(Self::Workflow(format));
        }
        if name.ends_with(".agent.yaml") || name.ends_with(".agent.yml") {
            Some(Self::Agent { json: false })
        } else if name.ends_with(".agent.json") {
            Some(Self::Agent { json: true })
        } else {
            None
        }
    }
}

/// One file read from a watched directory.
#[derive(Debug, Clone)]
pub struct DefinitionFile {
    pub path: PathBuf,
    pub kind: FileKind,
    pub source: String,
    /// Hex SHA-256 of the bytes read.
    pub sha256: String,
}

/// Why a directory or a file could not be read.
#[derive(Debug)]
pub struct ReadError {
    pub path: String,
    pub source: std::io::Error,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read {}: {}", self.path, self.source)
    }
}

impl std::error::Error for ReadError {}

/// The files of `dir` that `wanted` accepts, sorted by path. A file that
/// cannot be read (or is not UTF-8) is returned as an error beside the others.
pub fn read_dir(
    dir: &Path,
    wanted: impl Fn(FileKind) -> bool,
) -> Result<Vec<Result<DefinitionFile, ReadError>>, ReadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ReadError {
        path: dir.display().to_string(),
        source,
    })?;
    let mut paths: Vec<(PathBuf, FileKind)> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter_map(|path| FileKind::of(&path).map(|kind| (path, kind)))
        .filter(|(path, kind)| wanted(*kind) && path.is_file())
        .collect();
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(paths
        .into_iter()
        .map(|(path, kind)| read_one(path, kind))
        .collect())
}

fn read_one(path: PathBuf, kind: FileKind) -> Result<DefinitionFile, ReadError> {
    let source = std::fs::read_to_string(&path).map_err(|source| ReadError {
        path: path.display().to_string(),
        source,
    })?;
    let sha256 = sha256_hex(source.as_bytes());
    Ok(DefinitionFile {
        path,
        kind,
        source,
        sha256,
    })
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_names() {
        let kind = |n: &str| FileKind::of(Path::new(n));
        assert_eq!(
            kind("d/a.workflow.yml"),
            Some(FileKind::Workflow(SourceFormat::Yaml))
        );
        assert_eq!(
            kind("A.Workflow.STAR"),
            Some(FileKind::Workflow(SourceFormat::Star))
        );
        assert_eq!(kind("x.agent.json"), Some(FileKind::Agent { json: true }));
        assert_eq!(kind("x.agent.yaml"), Some(FileKind::Agent { json: false }));
        assert_eq!(kind("notes.yaml"), None);
        assert_eq!(kind("x.workflow.yaml.swp"), None);
    }

    #[test]
    fn a_directory_lists_its_definition_files_sorted_with_their_hashes() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("b.workflow.yaml"), "id: b\n").expect("write");
        std::fs::write(dir.path().join("a.agent.json"), "{}").expect("write");
        std::fs::write(dir.path().join("readme.md"), "no").expect("write");
        let all = read_dir(dir.path(), |_| true).expect("dir");
        let names: Vec<String> = all
            .iter()
            .flatten()
            .map(|f| {
                f.path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["a.agent.json", "b.workflow.yaml"]);
        assert_eq!(
            all[1].as_ref().map(|f| f.sha256.clone()).ok(),
            Some(sha256_hex(b"id: b\n"))
        );
        let agents = read_dir(dir.path(), |k| matches!(k, FileKind::Agent { .. })).expect("dir");
        assert_eq!(agents.len(), 1);
        assert!(read_dir(&dir.path().join("missing"), |_| true).is_err());
    }

    #[test]
    fn sha256_is_the_standard_one() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
