//! Definitions from files, kept in sync: the workflow files of
//! `definitions.dir` and the agent files of `agents.dir` are stored (tenant
//! `default`) at startup, then the directories are polled every
//! `definitions.watch_interval_seconds` (0: startup only) and a changed or
//! new file is stored again.
//!
//! - A file is stored through the control plane's handlers ([`apply`]), so
//!   it is checked exactly as `workflows.put` / `agents.put` check it.
//! - A file whose bytes did not change since this coordinator last read it
//!   is not sent again; one whose content equals the latest revision stores
//!   nothing new (the store compares checksums under a per-workflow lock),
//!   so several coordinators watching the same directory add one revision
//!   per change between them.
//! - A broken file is logged with its diagnostics and skipped; the last good
//!   revision stays the one that runs. It is tried again when it changes, or
//!   when an agent file changed (it may have named a missing agent).
//! - Two files defining the same workflow id: the first by path wins, the
//!   other is refused, so revisions never flip between them.
//! - A removed file is logged; what it stored stays (delete a workflow with
//!   `workflows.delete`).
//! - Agents are stored before workflows in every pass.

mod apply;
mod files;

use crate::driver::Driver;
use apply::Applied;
use files::{DefinitionFile, FileKind, ReadError};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// What this coordinator last did with a file.
#[derive(Debug, Clone)]
struct Seen {
    sha256: String,
    kind: FileKind,
    /// The workflow id or agent name it stored; `None` when it is broken.
    id: Option<String>,
    /// Refused because an earlier file defines the same workflow id.
    duplicate: bool,
}

/// Counts of one pass, for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassSummary {
    pub stored: usize,
    pub unchanged: usize,
    pub failed: usize,
    pub removed: usize,
}

/// The file sync of one coordinator.
pub struct FileSync {
    driver: Driver,
    workflows_dir: Option<PathBuf>,
    agents_dir: Option<PathBuf>,
    seen: HashMap<PathBuf, Seen>,
}

impl FileSync {
    pub fn new(
        driver: Driver,
        workflows_dir: Option<PathBuf>,
        agents_dir: Option<PathBuf>,
    ) -> Self {
        Self {
            driver,
            workflows_dir,
            agents_dir,
            seen: HashMap::new(),
        }
    }

    /// Whether any directory is configured.
    pub fn is_configured(&self) -> bool {
        self.workflows_dir.is_some() || self.agents_dir.is_some()
    }

    /// One pass over both directories: agents first, then workflows. A
    /// directory that cannot be read ends the pass with an error.
    pub async fn pass(&mut self) -> Result<PassSummary, ReadError> {
        let mut summary = PassSummary::default();
        let mut listed = HashSet::new();
        let mut agents_changed = false;
        if let Some(dir) = self.agents_dir.clone() {
            for file in files::read_dir(&dir, |k| matches!(k, FileKind::Agent { .. }))? {
                let Some(file) = self.readable(file, &mut summary) else {
                    continue;
                };
                listed.insert(file.path.clone());
                agents_changed |= self.sync_file(file, false, &mut summary).await;
            }
        }
        if let Some(dir) = self.workflows_dir.clone() {
            let workflows: Vec<DefinitionFile> =
                files::read_dir(&dir, |k| matches!(k, FileKind::Workflow(_)))?
                    .into_iter()
                    .filter_map(|file| self.readable(file, &mut summary))
                    .collect();
            listed.extend(workflows.iter().map(|f| f.path.clone()));
            let mut claimed: HashMap<String, PathBuf> = HashMap::new();
            for file in workflows {
                if let Some(owner) = self.claimed_by_another(&file, &mut claimed) {
                    self.refuse_duplicate(file, &owner, &mut summary);
                    continue;
                }
                self.sync_file(file, agents_changed, &mut summary).await;
            }
        }
        self.forget_removed(&listed, &mut summary);
        Ok(summary)
    }

    /// Polls until `stop` flips.
    pub async fn watch(mut self, interval: Duration, mut stop: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => return,
            }
            match self.pass().await {
                Ok(summary) if summary.stored + summary.failed + summary.removed > 0 => {
                    tracing::info!(
                        stored = summary.stored,
                        failed = summary.failed,
                        removed = summary.removed,
                        "definition files changed"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "definition directory not readable; retried on the next pass")
                }
            }
        }
    }

    fn readable(
        &self,
        file: Result<DefinitionFile, ReadError>,
        summary: &mut PassSummary,
    ) -> Option<DefinitionFile> {
        match file {
            Ok(file) => Some(file),
            Err(error) => {
                tracing::warn!(file = %error.path, error = %error.source, "definition file unreadable; skipped");
                summary.failed += 1;
                None
            }
        }
    }

    /// Stores `file` unless this coordinator already handled these bytes
    /// (`retry_broken`: a broken file is tried again anyway). Returns
    /// whether something new was stored.
    async fn sync_file(
        &mut self,
        file: DefinitionFile,
        retry_broken: bool,
        summary: &mut PassSummary,
    ) -> bool {
        if let Some(seen) = self.seen.get(&file.path)
            && seen.sha256 == file.sha256
            && !seen.duplicate
            && !(retry_broken && seen.id.is_none())
        {
            summary.unchanged += 1;
            return false;
        }
        let applied = apply::apply(&self.driver, &file).await;
        let (id, stored) = match applied {
            Applied::Stored { id } => (Some(id), true),
            Applied::Unchanged { id } => (Some(id), false),
            Applied::Broken => (None, false),
            Applied::Retry => {
                summary.failed += 1;
                return false;
            }
        };
        match (&id, stored) {
            (None, _) => summary.failed += 1,
            (Some(_), true) => summary.stored += 1,
            (Some(_), false) => summary.unchanged += 1,
        }
        self.seen.insert(
            file.path,
            Seen {
                sha256: file.sha256,
                kind: file.kind,
                id,
                duplicate: false,
            },
        );
        stored
    }

    /// The file (earlier by path) that already defines this file's
    /// workflow id in this pass, if any; otherwise this file claims it.
    fn claimed_by_another(
        &self,
        file: &DefinitionFile,
        claimed: &mut HashMap<String, PathBuf>,
    ) -> Option<PathBuf> {
        let id = match self.seen.get(&file.path) {
            Some(seen) if seen.sha256 == file.sha256 && !seen.duplicate => seen.id.clone(),
            _ => match file.kind {
                FileKind::Workflow(format) => junction_core::model::compile(&file.source, format)
                    .workflow
                    .map(|w| w.id),
                FileKind::Agent { .. } => None,
            },
        }?;
        match claimed.get(&id) {
            Some(owner) => Some(owner.clone()),
            None => {
                claimed.insert(id, file.path.clone());
                None
            }
        }
    }

    fn refuse_duplicate(
        &mut self,
        file: DefinitionFile,
        owner: &std::path::Path,
        summary: &mut PassSummary,
    ) {
        let reported = self
            .seen
            .get(&file.path)
            .is_some_and(|s| s.sha256 == file.sha256 && s.duplicate);
        if !reported {
            summary.failed += 1;
            tracing::error!(file = %file.path.display(), other = %owner.display(), "definition file defines the same workflow id as another file; skipped");
        }
        self.seen.insert(
            file.path,
            Seen {
                sha256: file.sha256,
                kind: file.kind,
                id: None,
                duplicate: true,
            },
        );
    }

    /// Files seen before and gone now: logged once; what they stored stays.
    fn forget_removed(&mut self, listed: &HashSet<PathBuf>, summary: &mut PassSummary) {
        let gone: Vec<PathBuf> = self
            .seen
            .keys()
            .filter(|path| !listed.contains(*path))
            .cloned()
            .collect();
        for path in gone {
            let Some(seen) = self.seen.remove(&path) else {
                continue;
            };
            summary.removed += 1;
            match (seen.kind, seen.id) {
                (FileKind::Workflow(_), Some(id)) => {
                    tracing::info!(file = %path.display(), workflow_id = %id, "workflow file removed; the stored workflow stays (`junction workflows delete` removes it)")
                }
                (FileKind::Agent { .. }, Some(id)) => {
                    tracing::info!(file = %path.display(), agent = %id, "agent file removed; the registered agent stays (`junction agents delete` removes it)")
                }
                (_, None) => {
                    tracing::info!(file = %path.display(), "broken definition file removed")
                }
            }
        }
    }
}
