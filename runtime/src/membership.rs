//! Cluster membership for any process: a heartbeat row every
//! [`HEARTBEAT`], removed on clean shutdown (stale after 30 s otherwise).

use chrono::{DateTime, Utc};
use junction_store::Store;
use std::time::Duration;
use tokio::sync::watch;

/// How often a member refreshes its row.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// Who this process is in `cluster.members`.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    /// `coordinator` or `worker`.
    pub role: &'static str,
    pub http_addr: Option<String>,
    pub started_at: DateTime<Utc>,
    /// A worker's executors, advertised in `cluster.members`; empty for a
    /// coordinator.
    pub executors: Vec<String>,
}

/// Heartbeats until `stop` flips, then leaves the list.
pub async fn keep(store: Store, member: Member, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(error) = store
            .heartbeat(
                &member.id,
                member.role,
                member.http_addr.as_deref(),
                member.started_at,
                (!member.executors.is_empty()).then_some(member.executors.as_slice()),
            )
            .await
        {
            tracing::warn!(%error, "membership heartbeat failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT) => {}
            _ = stop.changed() => break,
        }
    }
    if let Err(error) = store.leave(&member.id).await {
        tracing::warn!(%error, "could not leave the member list");
    }
}
