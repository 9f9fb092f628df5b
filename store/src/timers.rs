//! Durable timers (ARCHITECTURE.md, durability): written with a transition, claimed by any
//! coordinator with `FOR UPDATE SKIP LOCKED`, and fired in the same
//! transaction as the transition they cause.

use super::runs::{LockedRun, PendingWrite, load, write_advance};
use super::{Error, Result, Store};
use chrono::{DateTime, Utc};
use junction_core::outbox::OutboxMessage;

/// A timer that is due.
#[derive(Debug, Clone)]
pub struct DueTimer {
    pub id: i64,
    pub run_id: String,
    pub kind: String,
    pub step_id: Option<String>,
    pub attempt: Option<u32>,
    pub tenant: String,
    pub workflow_id: String,
    pub version: i32,
    pub payload: Option<serde_json::Value>,
}

/// What firing the next due timer did.
#[derive(Debug)]
pub enum FireOutcome {
    /// No timer is due (or another coordinator holds it).
    Idle,
    /// A timer fired; publish these messages (possibly none).
    Fired(Vec<OutboxMessage>),
}

impl Store {
    /// The earliest pending deadline, if any.
    pub async fn next_timer_at(&self) -> Result<Option<DateTime<Utc>>> {
        let client = self.client().await?;
        Ok(client
            .query_one("SELECT min(fire_at) FROM timers", &[])
            .await?
            .get(0))
    }

    /// The earliest due timer, read without claiming it: the caller may
    /// need I/O (loading a workflow, starting a child run) before firing it
    /// with [`Store::fire_timer`].
    pub async fn peek_due_timer(&self) -> Result<Option<DueTimer>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT t.id, t.run_id, t.kind, t.step_id, t.attempt, r.tenant, r.workflow_id, r.version, t.payload
                 FROM timers t JOIN runs r ON r.id = t.run_id
                 WHERE t.fire_at <= now() ORDER BY t.fire_at, t.id LIMIT 1",
                &[],
            )
            .await?;
        Ok(row.map(|row| due_timer(&row)))
    }

    /// Moves timer `id`, which failed for good, later: by its age (how
    /// long it has existed), at least a second and at most ten minutes, so
    /// a timer that keeps failing is tried less and less often and is never
    /// lost. Returns when it is due next (`None`: it is gone).
    pub async fn postpone_timer(&self, id: i64) -> Result<Option<DateTime<Utc>>> {
        let client = self.client().await?;
        Ok(client
            .query_opt(
                "UPDATE timers SET fire_at = now() + least(greatest(now() - created_at, interval '1 second'), interval '10 minutes')
                 WHERE id = $1 RETURNING fire_at",
                &[&id],
            )
            .await?
            .map(|row| row.get(0)))
    }

    /// Claims timer `id` (unless another coordinator holds or fired it),
    /// lets `decide` turn it into a transition of its run (locked for the
    /// duration), commits the transition and deletes the timer, all in one
    /// transaction.
    pub async fn fire_timer<F>(&self, id: i64, decide: F) -> Result<FireOutcome>
    where
        F: FnOnce(&DueTimer, &LockedRun) -> Option<super::TransitionWrite>,
    {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT t.id, t.run_id, t.kind, t.step_id, t.attempt, r.tenant, r.workflow_id, r.version, t.payload
                 FROM timers t JOIN runs r ON r.id = t.run_id
                 WHERE t.id = $1 FOR UPDATE OF t SKIP LOCKED",
                &[&id],
            )
            .await?;
        let Some(row) = row else {
            return Ok(FireOutcome::Idle);
        };
        let timer = due_timer(&row);
        let mut published = Vec::new();
        if let Some(run) = load(&tx, &timer.run_id, true).await?
            && let Some(write) = decide(&timer, &run)
        {
            // The run is locked, so the optimistic check cannot fail here.
            let pending = PendingWrite {
                run_id: run.run_id.clone(),
                revision: run.revision,
                write,
            };
            published = write_advance(&tx, &pending)
                .await?
                .map(|c| c.messages)
                .ok_or_else(|| {
                    // Rolled back with the timer kept: it fires again.
                    Error::Conflict(format!(
                        "run {}: revision {} moved on under its row lock",
                        run.run_id, run.revision
                    ))
                })?;
        }
        tx.execute("DELETE FROM timers WHERE id = $1", &[&timer.id])
            .await?;
        tx.commit().await?;
        Ok(FireOutcome::Fired(published))
    }
}

fn due_timer(row: &tokio_postgres::Row) -> DueTimer {
    DueTimer {
        id: row.get(0),
        run_id: row.get(1),
        kind: row.get(2),
        step_id: row.get(3),
        attempt: row.get::<_, Option<i32>>(4).map(|a| a as u32),
        tenant: row.get(5),
        workflow_id: row.get(6),
        version: row.get(7),
        payload: row.get(8),
    }
}
