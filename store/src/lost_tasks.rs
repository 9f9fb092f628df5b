//! Attempts whose task may be lost in JetStream: still `PENDING` (no worker
//! claimed them) long after their dispatch, in a run that is moving
//! (RUNNING or waiting; a PAUSED run's tasks are held on purpose). Read
//! through the partial index of active runs, so the scan stays as small as
//! the set of live runs, and no index is added to the attempts themselves
//! (their claim updates stay HOT). An attempt whose task still waits in
//! the outbox (NATS was away) is not lost: the relay will publish it.

use super::{Result, Store};

/// An attempt dispatched long ago that no worker has claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnclaimedAttempt {
    pub run_id: String,
    pub step_id: String,
    pub attempt: u32,
    /// The input its dispatch stored, which a task built again must carry.
    pub input: Option<serde_json::Value>,
}

impl Store {
    /// Up to `limit` worker attempts still `PENDING` more than
    /// `older_than_seconds` after they were dispatched, oldest first.
    pub async fn long_unclaimed_attempts(
        &self,
        older_than_seconds: f64,
        limit: i64,
    ) -> Result<Vec<UnclaimedAttempt>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT a.run_id, a.step_id, a.attempt, a.input
                 FROM runs r JOIN step_attempts a ON a.run_id = r.id
                 WHERE r.status IN ('RUNNING', 'WAITING_APPROVAL', 'WAITING_SIGNAL')
                   AND a.status = 'PENDING' AND NOT a.inline
                   AND a.created_at < now() - make_interval(secs => $1)
                   AND NOT EXISTS (SELECT 1 FROM outbox o
                       WHERE o.msg_id = a.run_id || ':' || a.step_id || ':' || a.attempt)
                 ORDER BY a.created_at LIMIT $2",
                &[&older_than_seconds, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| UnclaimedAttempt {
                run_id: row.get(0),
                step_id: row.get(1),
                attempt: row.get::<_, i32>(2) as u32,
                input: row.get(3),
            })
            .collect())
    }
}
