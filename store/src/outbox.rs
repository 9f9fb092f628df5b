//! The transactional outbox: messages written with the change that implies
//! them, published after commit, deleted once acknowledged.

use super::{Result, Store};
use junction_core::outbox::OutboxMessage;

impl Store {
    /// Messages left unpublished for longer than `grace_ms`, oldest first.
    /// Rows that point at a stored event get that event's JSON rebuilt.
    pub async fn stale_outbox(&self, grace_ms: i64, limit: i64) -> Result<Vec<OutboxMessage>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT o.id, o.subject, o.msg_id, o.payload,
                        e.run_id, e.seq, e.type, e.time, r.workflow_id, r.version, r.tenant,
                        e.step_id, e.state, e.path, e.attempt, e.worker_id, e.data, o.traceparent
                 FROM outbox o
                 LEFT JOIN events e ON e.run_id = o.run_id AND e.seq = o.seq
                 LEFT JOIN runs r ON r.id = o.run_id
                 WHERE o.created_at < now() - make_interval(secs => $1::double precision / 1000)
                 ORDER BY o.id LIMIT $2",
                &[&(grace_ms as f64), &limit],
            )
            .await?;
        let mut messages = Vec::with_capacity(rows.len());
        for row in &rows {
            let (id, subject, msg_id): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
            let traceparent: Option<String> = row.get(17);
            let message = match row.get::<_, Option<Vec<u8>>>(3) {
                Some(payload) => OutboxMessage {
                    id,
                    subject,
                    msg_id,
                    payload,
                    traceparent,
                },
                None if row.get::<_, Option<String>>(4).is_some() => {
                    let event = super::reads::event_from_offset(row, 4)?;
                    OutboxMessage::event(id, subject, &event, event.seq, traceparent).map_err(
                        |e| super::Error::Corrupt(format!("outbox row {id} ({msg_id}): {e}")),
                    )?
                }
                // The run (and its events) were deleted: nothing left to
                // publish but the row, which an empty message acknowledges.
                None => OutboxMessage {
                    id,
                    subject,
                    msg_id,
                    payload: Vec::new(),
                    traceparent: None,
                },
            };
            messages.push(message);
        }
        Ok(messages)
    }

    /// Removes published messages.
    pub async fn delete_outbox(&self, ids: &[i64]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let client = self.client().await?;
        let statement = client
            .prepare_cached("DELETE FROM outbox WHERE id = ANY($1)")
            .await?;
        Ok(client.execute(&statement, &[&ids]).await?)
    }

    /// How long the oldest unpublished message has waited, in seconds (0
    /// when the outbox is empty). One index lookup: ids grow with time.
    pub async fn outbox_oldest_age_seconds(&self) -> Result<f64> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT EXTRACT(EPOCH FROM now() - created_at)::float8 FROM outbox ORDER BY id LIMIT 1",
                &[],
            )
            .await?;
        Ok(row.map_or(0.0, |row| row.get::<_, f64>(0).max(0.0)))
    }
}
