//! The coordinator's cache of run snapshots, as this process last wrote
//! them. It saves the read before each transition. A stale entry (another
//! coordinator or a worker event moved the run) costs one failed optimistic
//! write, after which the run is read from Postgres: the cache is never
//! trusted for correctness.

use junction_shared::store::LockedRun;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most snapshots kept; beyond it the cache is cleared (cheap, and rare).
const CAPACITY: usize = 4096;

#[derive(Debug, Clone, Default)]
pub struct Snapshots {
    runs: Arc<Mutex<HashMap<String, LockedRun>>>,
}

impl Snapshots {
    /// Takes the snapshot of `run_id`, updated with the seq of the event that
    /// brought us here (the worker wrote events since our last write).
    pub fn take(&self, run_id: &str, event_seq: Option<i64>) -> Option<LockedRun> {
        let mut snapshot = self.runs.lock().ok()?.remove(run_id)?;
        if let Some(seq) = event_seq {
            if seq < snapshot.last_seq {
                return None;
            }
            snapshot.last_seq = seq;
        }
        Some(snapshot)
    }

    /// Remembers a run as just written; ended runs are forgotten.
    pub fn put(&self, snapshot: LockedRun) {
        let Ok(mut runs) = self.runs.lock() else {
            return;
        };
        if snapshot.status.is_terminal() {
            runs.remove(&snapshot.run_id);
            return;
        }
        if runs.len() >= CAPACITY {
            runs.clear();
        }
        runs.insert(snapshot.run_id.clone(), snapshot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use junction_shared::status::RunStatus;

    fn snapshot(last_seq: i64, status: RunStatus) -> LockedRun {
        LockedRun {
            run_id: "r".into(),
            tenant: "default".into(),
            workflow_id: "w".into(),
            version: 1,
            status,
            state: serde_json::Value::Null,
            last_seq,
            revision: 3,
        }
    }

    #[test]
    fn snapshots_follow_the_event_seq_and_forget_ended_runs() {
        let cache = Snapshots::default();
        cache.put(snapshot(4, RunStatus::Running));
        assert_eq!(cache.take("r", Some(6)).map(|s| s.last_seq), Some(6));
        assert!(cache.take("r", None).is_none(), "taking removes the entry");
        cache.put(snapshot(4, RunStatus::Running));
        assert!(
            cache.take("r", Some(2)).is_none(),
            "an older event means the snapshot is not for it"
        );
        cache.put(snapshot(9, RunStatus::Completed));
        assert!(cache.take("r", None).is_none());
    }
}
