//! The transactional outbox: messages written with the change that implies
//! them, published after commit, deleted once acknowledged.

use super::{Result, Store};
use deadpool_postgres::Transaction;

/// A message to write into the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxMessage {
    pub subject: String,
    pub msg_id: String,
    pub payload: Vec<u8>,
}

/// A stored outbox message, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: i64,
    pub subject: String,
    pub msg_id: String,
    pub payload: Vec<u8>,
}

/// Inserts `messages` in `tx`, returning them with their ids.
pub(super) async fn insert(
    tx: &Transaction<'_>,
    messages: Vec<NewOutboxMessage>,
) -> Result<Vec<OutboxMessage>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO outbox (subject, msg_id, payload)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[]) RETURNING id, msg_id",
        )
        .await?;
    let subjects: Vec<&str> = messages.iter().map(|m| m.subject.as_str()).collect();
    let ids: Vec<&str> = messages.iter().map(|m| m.msg_id.as_str()).collect();
    let payloads: Vec<&[u8]> = messages.iter().map(|m| m.payload.as_slice()).collect();
    let rows = tx.query(&statement, &[&subjects, &ids, &payloads]).await?;
    let mut by_msg_id: std::collections::HashMap<String, i64> = rows
        .iter()
        .map(|r| (r.get::<_, String>(1), r.get::<_, i64>(0)))
        .collect();
    Ok(messages
        .into_iter()
        .map(|m| OutboxMessage {
            id: by_msg_id.remove(&m.msg_id).unwrap_or_default(),
            subject: m.subject,
            msg_id: m.msg_id,
            payload: m.payload,
        })
        .collect())
}

impl Store {
    /// Messages left unpublished for longer than `grace_ms`, oldest first.
    pub async fn stale_outbox(&self, grace_ms: i64, limit: i64) -> Result<Vec<OutboxMessage>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, subject, msg_id, payload FROM outbox
                 WHERE created_at < now() - make_interval(secs => $1::double precision / 1000)
                 ORDER BY id LIMIT $2",
                &[&(grace_ms as f64), &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| OutboxMessage {
                id: r.get(0),
                subject: r.get(1),
                msg_id: r.get(2),
                payload: r.get(3),
            })
            .collect())
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

    /// Unpublished messages, for metrics and tests.
    pub async fn outbox_len(&self) -> Result<i64> {
        Ok(self
            .client()
            .await?
            .query_one("SELECT count(*) FROM outbox", &[])
            .await?
            .get(0))
    }
}
