//! The `schedules` table (migration 0009): the next tick of every
//! workflow whose latest revision has an enabled schedule. Rows are
//! replaced in the transaction that stores a revision; any coordinator
//! fires a due row under `FOR UPDATE SKIP LOCKED` and advances it in the
//! same transaction, so two coordinators never fire one row at once.
//! [`Store::listen`] wakes a sleeping coordinator when a put changes them.

use super::{Error, Result, Store};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use junction_core::model::Workflow;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

/// The channel a put that changes a schedule notifies.
pub const SCHEDULES_CHANNEL: &str = "junction_schedules";

/// A schedule whose tick is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSchedule {
    pub tenant: String,
    pub workflow_id: String,
    /// The revision whose schedule this is (the latest).
    pub version: i32,
    /// The tick to fire.
    pub tick: DateTime<Utc>,
}

/// What firing a due schedule decided for its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// The next tick.
    To(DateTime<Utc>),
    /// The schedule fires no more (or its revision cannot be read).
    Remove,
    /// Firing failed: leave the row due, for this or another coordinator.
    Retry,
}

/// A dedicated connection that `LISTEN`s; dropping it stops listening.
#[derive(Debug)]
pub struct Listener {
    _client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Whether the connection is still up (else notifications are lost).
    pub fn is_alive(&self) -> bool {
        !self.task.is_finished()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Replaces the schedule row of a revision just stored (inside its
/// transaction): the first tick after `now`, or no row when the revision
/// has no enabled schedule. Notifies [`SCHEDULES_CHANNEL`] on commit.
pub(crate) async fn replace(
    tx: &tokio_postgres::Transaction<'_>,
    tenant: &str,
    workflow: &Workflow,
    version: i32,
    now: DateTime<Utc>,
) -> Result<()> {
    let next = workflow
        .schedule
        .as_ref()
        .filter(|s| s.enabled)
        .and_then(|s| s.next_after(now));
    let changed = match next {
        Some(next) => {
            tx.execute(
                "INSERT INTO schedules (tenant, workflow_id, version, next_fire_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, workflow_id) DO UPDATE SET version = EXCLUDED.version, next_fire_at = EXCLUDED.next_fire_at",
                &[&tenant, &workflow.id, &version, &next],
            )
            .await?
        }
        None => {
            tx.execute(
                "DELETE FROM schedules WHERE tenant = $1 AND workflow_id = $2",
                &[&tenant, &workflow.id],
            )
            .await?
        }
    };
    if changed > 0 {
        tx.execute("SELECT pg_notify($1, '')", &[&SCHEDULES_CHANNEL])
            .await?;
    }
    Ok(())
}

impl Store {
    /// Fires the earliest schedule due at `now` that no other coordinator
    /// holds: `fire` starts its run (I/O of its own) while the row stays
    /// locked, and its answer moves the row on in the same transaction.
    /// `None` when nothing is due (or every due row is held elsewhere).
    pub async fn fire_due_schedule<F, Fut>(
        &self,
        now: DateTime<Utc>,
        fire: F,
    ) -> Result<Option<(DueSchedule, Advance)>>
    where
        F: FnOnce(DueSchedule) -> Fut,
        Fut: std::future::Future<Output = Advance>,
    {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT tenant, workflow_id, version, next_fire_at FROM schedules
                 WHERE next_fire_at <= $1 ORDER BY next_fire_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                &[&now],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let due = DueSchedule {
            tenant: row.get(0),
            workflow_id: row.get(1),
            version: row.get(2),
            tick: row.get(3),
        };
        let advance = fire(due.clone()).await;
        match advance {
            Advance::Retry => return Ok(Some((due, advance))),
            Advance::To(next) => {
                tx.execute(
                    "UPDATE schedules SET next_fire_at = $3 WHERE tenant = $1 AND workflow_id = $2",
                    &[&due.tenant, &due.workflow_id, &next],
                )
                .await?;
            }
            Advance::Remove => {
                tx.execute(
                    "DELETE FROM schedules WHERE tenant = $1 AND workflow_id = $2",
                    &[&due.tenant, &due.workflow_id],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Some((due, advance)))
    }

    /// The nearest tick of any schedule (held by another coordinator or not).
    pub async fn next_schedule_at(&self) -> Result<Option<DateTime<Utc>>> {
        let client = self.client().await?;
        Ok(client
            .query_one("SELECT min(next_fire_at) FROM schedules", &[])
            .await?
            .get(0))
    }

    /// The next tick of every scheduled workflow of a tenant (or of one
    /// workflow): (workflow id, revision, tick).
    pub async fn schedule_ticks(
        &self,
        tenant: &str,
        workflow_id: Option<&str>,
    ) -> Result<Vec<(String, i32, DateTime<Utc>)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT workflow_id, version, next_fire_at FROM schedules
                 WHERE tenant = $1 AND ($2::text IS NULL OR workflow_id = $2)",
                &[&tenant, &workflow_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Opens a connection of its own that `LISTEN`s on `channel` and wakes
    /// `wake` on every notification.
    pub async fn listen(&self, channel: &str, wake: Arc<Notify>) -> Result<Listener> {
        let (client, mut connection) = self
            .config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(Error::from)?;
        let task = tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(_)) => wake.notify_one(),
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "the listening connection broke");
                        return;
                    }
                }
            }
        });
        let quoted = channel.replace('"', "\"\"");
        client
            .batch_execute(&format!("LISTEN \"{quoted}\""))
            .await?;
        Ok(Listener {
            _client: client,
            task,
        })
    }
}
