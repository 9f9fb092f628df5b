//! Cluster membership: each process upserts its row on a heartbeat and
//! removes it on clean shutdown; rows older than 30 s are ignored.

use super::{Result, Store};
use chrono::{DateTime, Utc};
use junction_core::wire::time;
use serde::Serialize;

/// How long a member stays listed after its last heartbeat.
pub const MEMBER_TTL_SECONDS: f64 = 30.0;

/// A live process (PROTOCOL §4 `cluster.members`).
#[derive(Debug, Clone, Serialize)]
pub struct MemberRecord {
    pub id: String,
    pub role: String,
    pub started_at: String,
    pub last_seen_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<String>,
    /// A worker's executors (`worker.executors`); absent for coordinators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executors: Option<Vec<String>>,
}

impl Store {
    /// Upserts this process's row; `executors` for workers.
    pub async fn heartbeat(
        &self,
        id: &str,
        role: &str,
        http_addr: Option<&str>,
        started_at: DateTime<Utc>,
        executors: Option<&[String]>,
    ) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO cluster_members (id, role, http_addr, started_at, last_seen_at, executors) VALUES ($1, $2, $3, $4, now(), $5)
                 ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, http_addr = EXCLUDED.http_addr,
                     executors = EXCLUDED.executors, last_seen_at = now()",
                &[&id, &role, &http_addr, &started_at, &executors],
            )
            .await?;
        Ok(())
    }

    pub async fn leave(&self, id: &str) -> Result<()> {
        self.client()
            .await?
            .execute("DELETE FROM cluster_members WHERE id = $1", &[&id])
            .await?;
        Ok(())
    }

    pub async fn members(&self) -> Result<Vec<MemberRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, role, started_at, last_seen_at, http_addr, executors FROM cluster_members
                 WHERE last_seen_at > now() - make_interval(secs => $1) ORDER BY role, id",
                &[&MEMBER_TTL_SECONDS],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| MemberRecord {
                id: r.get(0),
                role: r.get(1),
                started_at: time::format(r.get(2)),
                last_seen_at: time::format(r.get(3)),
                http_addr: r.get(4),
                executors: r.get(5),
            })
            .collect())
    }

    /// The executors some live worker runs (a worker of a release that did
    /// not advertise them counts as running `agent.run` only).
    pub async fn live_executors(&self) -> Result<std::collections::BTreeSet<String>> {
        let members = self.members().await?;
        Ok(members
            .into_iter()
            .filter(|m| m.role == "worker")
            .flat_map(|m| m.executors.unwrap_or_else(|| vec!["agent.run".to_owned()]))
            .collect())
    }
}
