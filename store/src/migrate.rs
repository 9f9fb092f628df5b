//! Schema migrations from `migrations/`, compiled into the binary and applied
//! in one transaction under a Postgres advisory lock, so any number of
//! coordinators may start at once. Each applied file's checksum is kept, and
//! an edited, already applied file is refused.

use super::{Error, Result, Store};

/// `(name, sql)` in the order they apply.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../../migrations/0001_init.sql")),
    (
        "0002_timer_payloads",
        include_str!("../../migrations/0002_timer_payloads.sql"),
    ),
    (
        "0003_approvals",
        include_str!("../../migrations/0003_approvals.sql"),
    ),
    (
        "0004_step_deadlines",
        include_str!("../../migrations/0004_step_deadlines.sql"),
    ),
    (
        "0005_run_counters",
        include_str!("../../migrations/0005_run_counters.sql"),
    ),
    (
        "0006_fanout_results",
        include_str!("../../migrations/0006_fanout_results.sql"),
    ),
    (
        "0007_active_runs",
        include_str!("../../migrations/0007_active_runs.sql"),
    ),
    (
        "0008_traces",
        include_str!("../../migrations/0008_traces.sql"),
    ),
    (
        "0009_schedules",
        include_str!("../../migrations/0009_schedules.sql"),
    ),
    (
        "0010_concurrency",
        include_str!("../../migrations/0010_concurrency.sql"),
    ),
    (
        "0012_agent_circuits",
        include_str!("../../migrations/0012_agent_circuits.sql"),
    ),
    (
        "0013_member_executors",
        include_str!("../../migrations/0013_member_executors.sql"),
    ),
];

/// Arbitrary, fixed key of the migration advisory lock ("junction" in ASCII).
const LOCK_KEY: i64 = 0x6a75_6e63_7469_6f6e;

fn checksum(sql: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, sql.as_bytes())
        .simple()
        .to_string()
}

impl Store {
    /// Applies every pending migration; returns the names applied now.
    pub async fn migrate(&self) -> Result<Vec<String>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS junction_migrations (
                name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
        let rows = tx
            .query("SELECT name, checksum FROM junction_migrations", &[])
            .await?;
        let applied: std::collections::HashMap<String, String> =
            rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let mut newly = Vec::new();
        for (name, sql) in MIGRATIONS {
            let sum = checksum(sql);
            match applied.get(*name) {
                Some(existing) if *existing == sum => continue,
                Some(_) => {
                    return Err(Error::Migration {
                        name: (*name).into(),
                        message: "was edited after it was applied; add a new migration instead"
                            .into(),
                    });
                }
                None => {}
            }
            tx.batch_execute(sql).await.map_err(|e| Error::Migration {
                name: (*name).into(),
                message: e.to_string(),
            })?;
            tx.execute(
                "INSERT INTO junction_migrations (name, checksum) VALUES ($1, $2)",
                &[name, &sum],
            )
            .await?;
            newly.push((*name).to_owned());
        }
        tx.commit().await?;
        Ok(newly)
    }

    /// Whether every migration this build knows has been applied.
    pub async fn is_migrated(&self) -> Result<bool> {
        let client = self.client().await?;
        let exists: bool = client
            .query_one("SELECT to_regclass('junction_migrations') IS NOT NULL", &[])
            .await?
            .get(0);
        if !exists {
            return Ok(false);
        }
        let names: Vec<String> = client
            .query("SELECT name FROM junction_migrations", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        Ok(MIGRATIONS
            .iter()
            .all(|(name, _)| names.iter().any(|n| n == name)))
    }
}
