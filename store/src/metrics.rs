//! The reads behind the coordinator's `/metrics`: runs in flight by status
//! and stored workflows by tenant (cluster-wide, read at scrape), and an
//! ended run's stored duration (for a run whose id carries no creation
//! time). The outbox's age is in `outbox.rs`.

use crate::{Error, Result, Store};
use junction_core::status::RunStatus;

/// Counts the runs of each non-terminal status through the partial index
/// `runs_active_by_status` (migration 0007), whose predicate this `IN`
/// list repeats word for word so the planner uses it.
const RUNS_ACTIVE_SQL: &str = "SELECT status, count(*) FROM runs
     WHERE status IN ('PENDING', 'RUNNING', 'WAITING_APPROVAL', 'WAITING_SIGNAL', 'PAUSED')
     GROUP BY status";

impl Store {
    /// Every non-terminal run status with how many runs have it now, in
    /// the order of [`RunStatus::ALL`] (0 for a status no run has).
    pub async fn runs_active(&self) -> Result<Vec<(RunStatus, i64)>> {
        let client = self.client().await?;
        let statement = client.prepare_cached(RUNS_ACTIVE_SQL).await?;
        let mut counts: Vec<(RunStatus, i64)> = RunStatus::ALL
            .iter()
            .filter(|status| !status.is_terminal())
            .map(|status| (*status, 0))
            .collect();
        for row in client.query(&statement, &[]).await? {
            let status: &str = row.get(0);
            let status: RunStatus = status
                .parse()
                .map_err(|_| Error::Corrupt(format!("unknown run status {status:?}")))?;
            if let Some(entry) = counts.iter_mut().find(|(s, _)| *s == status) {
                entry.1 = row.get(1);
            }
        }
        Ok(counts)
    }

    /// How many workflows each tenant has stored and not archived (a
    /// workflow counts once, whatever its revisions).
    pub async fn workflows_per_tenant(&self) -> Result<Vec<(String, i64)>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT tenant, count(DISTINCT workflow_id) FROM definitions
                 WHERE NOT archived GROUP BY tenant ORDER BY tenant",
            )
            .await?;
        Ok(client
            .query(&statement, &[])
            .await?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect())
    }

    /// An ended run's duration, `created_at` to `ended_at`, in seconds;
    /// `None` if the run is not stored or has not ended.
    pub async fn run_duration_seconds(&self, run_id: &str) -> Result<Option<f64>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT EXTRACT(EPOCH FROM ended_at - created_at)::float8 FROM runs
                 WHERE id = $1 AND ended_at IS NOT NULL",
            )
            .await?;
        Ok(client
            .query_opt(&statement, &[&run_id])
            .await?
            .map(|row| row.get::<_, f64>(0).max(0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query's `IN` list (and so the index's predicate, which repeats
    /// it) names exactly the non-terminal statuses.
    #[test]
    fn the_active_statuses_are_the_non_terminal_ones() {
        let listed: Vec<&str> = RUNS_ACTIVE_SQL
            .split_once("IN (")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(list, _)| list.split(", ").map(|s| s.trim_matches('\'')).collect())
            .unwrap_or_default();
        let active: Vec<&str> = RunStatus::ALL
            .iter()
            .filter(|s| !s.is_terminal())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(listed, active);
        let migration = include_str!("../../migrations/0007_active_runs.sql");
        let predicate = format!(
            "WHERE status IN ({})",
            active
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert!(migration.contains(&predicate), "{predicate}");
    }
}
