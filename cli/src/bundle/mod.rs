//! Bundles: the workflow and agent files of a directory packed into one
//! `.tar.gz` with a `manifest.json` (format version, creation time, and per
//! file its path, kind, id, definition version and SHA-256). This module is
//! the offline half: `bundle create` (checks every file first and refuses a
//! directory with broken ones), `bundle inspect`, and [`Bundle::open`],
//! which verifies a bundle before `bundle install` sends anything.

pub mod archive;

use crate::args::Output;
use crate::commands::store::{FileReport, duplicate_ids};
use crate::definitions::{DefinitionFile, Kind, discover_relative};
use crate::exit::BadInput;
use crate::output;
use crate::render::Style;
use crate::validate::{SourceKind, compile_source};
use junction_core::model::SourceFormat;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::ExitCode;

/// `format` of every manifest.
pub const FORMAT: &str = "junction-bundle";
/// The manifest version this CLI writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// RFC 3339.
    pub created_at: String,
    pub files: Vec<ManifestEntry>,
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Relative to the bundled directory, `/`-separated.
    pub path: String,
    /// `workflow` or `agent`.
    pub kind: String,
    /// The workflow id or the agent name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The workflow's own `version` field, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// A bundle read and verified: its manifest and its files, in manifest order.
#[derive(Debug)]
pub struct Bundle {
    pub manifest: Manifest,
    pub files: Vec<DefinitionFile>,
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn bad(file: &Path, why: impl std::fmt::Display) -> anyhow::Error {
    BadInput(format!("{}: {why}", file.display())).into()
}

impl Bundle {
    /// Reads `file` and verifies it: the manifest is there and of a known
    /// format, every file it lists is in the archive with its checksum and
    /// a definition file's name, and the archive holds nothing else.
    pub fn open(file: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(file).map_err(|e| bad(file, e))?;
        let mut entries = archive::unpack(&bytes).map_err(|e| bad(file, e))?;
        let manifest = entries
            .remove(archive::MANIFEST)
            .ok_or_else(|| bad(file, "no manifest.json: not a Junction bundle"))?;
        let manifest: Manifest = serde_json::from_slice(&manifest)
            .map_err(|e| bad(file, format!("manifest.json is not a bundle manifest: {e}")))?;
        if manifest.format != FORMAT {
            return Err(bad(
                file,
                format!(
                    "manifest.json has format {:?}, not {FORMAT:?}",
                    manifest.format
                ),
            ));
        }
        if manifest.format_version != FORMAT_VERSION {
            return Err(bad(
                file,
                format!(
                    "bundle format version {} is not supported (this junction reads version {FORMAT_VERSION})",
                    manifest.format_version
                ),
            ));
        }
        let mut files = Vec::new();
        for entry in &manifest.files {
            archive::check_path(&entry.path).map_err(|e| bad(file, e))?;
            let data = entries.remove(&entry.path).ok_or_else(|| {
                bad(
                    file,
                    format!("{} is listed in the manifest but missing", entry.path),
                )
            })?;
            if sha256_hex(&data) != entry.sha256 {
                return Err(bad(
                    file,
                    format!(
                        "{}: checksum mismatch: the file was changed after the bundle was made; nothing was installed",
                        entry.path
                    ),
                ));
            }
            let kind = Kind::of_name(&entry.path)
                .filter(|k| k.label() == entry.kind)
                .ok_or_else(|| {
                    bad(
                        file,
                        format!(
                            "{} is listed as kind `{}`, which its file name does not match",
                            entry.path, entry.kind
                        ),
                    )
                })?;
            let source = String::from_utf8(data)
                .map_err(|_| bad(file, format!("{} is not UTF-8 text", entry.path)))?;
            files.push(DefinitionFile {
                name: entry.path.clone(),
                kind,
                source,
            });
        }
        if let Some(extra) = entries.keys().next() {
            return Err(bad(
                file,
                format!("{extra} is in the archive but not in the manifest"),
            ));
        }
        Ok(Self { manifest, files })
    }
}

/// A file's problems found offline: an agent file that does not parse, or
/// a workflow that does not compile (registry checks need the cluster).
fn check_offline(file: &DefinitionFile) -> Option<FileReport> {
    match file.kind {
        Kind::Agent { .. } => file
            .agent_fields()
            .err()
            .map(|error| FileReport::failed(file, "INVALID_AGENT_FILE", error)),
        Kind::Workflow(format) => {
            let kind = match format {
                SourceFormat::Star => SourceKind::Starlark,
                other => SourceKind::Document(other),
            };
            let (compiled, _) = compile_source(&file.source, kind, None);
            if !compiled.diagnostics.has_errors() {
                return None;
            }
            let errors = compiled.diagnostics.errors;
            let mut report = FileReport::failed(
                file,
                "VALIDATION_FAILED",
                format!("the definition has {} error(s)", errors.len()),
            );
            report.diagnostics = errors;
            Some(report)
        }
    }
}

/// The manifest entry of a file.
fn entry_of(file: &DefinitionFile) -> ManifestEntry {
    let (id, version) = match file.kind {
        Kind::Workflow(format) => {
            let workflow = junction_core::model::compile(&file.source, format).workflow;
            (
                workflow.as_ref().map(|w| w.id.clone()),
                workflow.and_then(|w| w.definition_version),
            )
        }
        Kind::Agent { .. } => {
            let name = file
                .agent_fields()
                .ok()
                .and_then(|a| a["name"].as_str().map(str::to_owned));
            (name, None)
        }
    };
    ManifestEntry {
        path: file.name.clone(),
        kind: file.kind.label().to_owned(),
        id,
        version,
        sha256: sha256_hex(file.source.as_bytes()),
    }
}

/// `junction bundle create DIR --out FILE`: checks every file of DIR
/// offline, then writes the bundle. A directory with broken files is
/// refused (each is reported, then listed in the error).
pub fn create(dir: &Path, out: &Path, format: Output) -> anyhow::Result<ExitCode> {
    let files = discover_relative(dir)?;
    if files.is_empty() {
        return Err(bad(dir, "holds no *.workflow.* or *.agent.* files"));
    }
    let ordered: Vec<&DefinitionFile> = files.iter().collect();
    let mut broken: Vec<FileReport> = files.iter().filter_map(check_offline).collect();
    broken.extend(duplicate_ids(&ordered).into_iter().map(|(_, r)| r));
    if !broken.is_empty() {
        for report in &broken {
            if let Some(file) = files.iter().find(|f| f.name == report.file) {
                eprint!("{}", report.text(file, Style::default()));
            }
        }
        let names: Vec<&str> = broken.iter().map(|r| r.file.as_str()).collect();
        return Err(bad(
            dir,
            format!(
                "refusing to bundle: {} file(s) do not validate: {}",
                broken.len(),
                names.join(", ")
            ),
        ));
    }
    let now = chrono::Utc::now();
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        files: files.iter().map(entry_of).collect(),
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
    let mut entries: Vec<(&str, &[u8])> = vec![(archive::MANIFEST, &manifest_bytes)];
    entries.extend(files.iter().map(|f| (f.name.as_str(), f.source.as_bytes())));
    let packed = archive::pack(&entries, now.timestamp().max(0) as u64)?;
    std::fs::write(out, &packed).map_err(|e| bad(out, e))?;
    let count = |kind: &str| manifest.files.iter().filter(|f| f.kind == kind).count();
    match format {
        Output::Text => output::line(&format!(
            "{}: {} workflow(s), {} agent(s)",
            out.display(),
            count("workflow"),
            count("agent")
        ))?,
        other => output::document(
            other,
            &serde_json::json!({ "bundle": out.display().to_string(), "manifest": manifest }),
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `junction bundle inspect FILE`: the verified manifest.
pub fn inspect(file: &Path, format: Output) -> anyhow::Result<ExitCode> {
    let bundle = Bundle::open(file)?;
    let manifest = &bundle.manifest;
    match format {
        Output::Text => {
            output::line(&format!(
                "{}: bundle format {}, created {}, {} file(s), checksums verified",
                file.display(),
                manifest.format_version,
                manifest.created_at,
                manifest.files.len()
            ))?;
            let rows: Vec<Vec<String>> = manifest
                .files
                .iter()
                .map(|f| {
                    vec![
                        f.kind.clone(),
                        f.id.clone().unwrap_or_default(),
                        f.version.clone().unwrap_or_default(),
                        f.sha256.chars().take(12).collect(),
                        f.path.clone(),
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(&["KIND", "ID", "VERSION", "SHA256", "PATH"], &rows)
            );
        }
        other => output::document(other, &serde_json::to_value(manifest)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_of(dir: &Path, entries: &[(&str, &[u8])]) -> std::path::PathBuf {
        let path = dir.join("b.tar.gz");
        let packed = archive::pack(entries, 0).expect("pack");
        std::fs::write(&path, packed).expect("write");
        path
    }

    fn manifest(version: u32, files: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "format": FORMAT, "format_version": version,
            "created_at": "2026-01-01T00:00:00Z", "files": files
        }))
        .expect("json")
    }

    #[test]
    fn a_bundle_is_verified_before_it_is_used() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = b"id: a\n";
        let entry = |sha: &str, kind: &str| serde_json::json!([{ "path": "a.workflow.yaml", "kind": kind, "sha256": sha }]);
        let good = manifest(1, entry(&sha256_hex(source), "workflow"));
        let path = bundle_of(
            dir.path(),
            &[("manifest.json", &good), ("a.workflow.yaml", source)],
        );
        let bundle = Bundle::open(&path).expect("a good bundle opens");
        assert_eq!(bundle.files[0].source, "id: a\n");

        let error = |entries: &[(&str, &[u8])]| {
            format!(
                "{:#}",
                Bundle::open(&bundle_of(dir.path(), entries)).expect_err("refused")
            )
        };
        assert!(error(&[("a.workflow.yaml", source)]).contains("no manifest.json"));
        let newer = manifest(2, entry(&sha256_hex(source), "workflow"));
        assert!(
            error(&[("manifest.json", &newer), ("a.workflow.yaml", source)])
                .contains("version 2 is not supported")
        );
        let wrong = manifest(1, entry(&sha256_hex(b"other"), "workflow"));
        assert!(
            error(&[("manifest.json", &wrong), ("a.workflow.yaml", source)])
                .contains("checksum mismatch")
        );
        let agent = manifest(1, entry(&sha256_hex(source), "agent"));
        assert!(
            error(&[("manifest.json", &agent), ("a.workflow.yaml", source)])
                .contains("which its file name does not match")
        );
        assert!(error(&[("manifest.json", &good)]).contains("missing"));
        assert!(
            error(&[("manifest.json", b"{}"), ("a.workflow.yaml", source)])
                .contains("not a bundle manifest")
        );
    }
}
