//! Publishing outbox rows to JetStream with their deterministic `Nats-Msg-Id`.
//!
//! A server of a NATS cluster that has just restarted may not know the
//! streams for a while: publishes through it fail "no stream found" although
//! the other servers store them (a chaos run saw minutes of it). When that
//! happens on a connection given several servers, [`LaggingServer`] makes the
//! client reconnect, to a server picked at random, at most once per
//! [`RECONNECT_EVERY`]; the rows stay in the outbox meanwhile.

use super::Bus;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use junction_core::outbox::OutboxMessage;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Least time between two reconnects away from a lagging server.
pub const RECONNECT_EVERY: Duration = Duration::from_secs(5);

/// Whether the connection has other servers to move to, and when it last did.
#[derive(Debug, Clone, Default)]
pub struct LaggingServer {
    servers: usize,
    last_reconnect_ms: Arc<AtomicI64>,
}

impl LaggingServer {
    pub fn new(servers: usize) -> Self {
        Self {
            servers,
            last_reconnect_ms: Arc::default(),
        }
    }

    /// Reconnects `client` elsewhere, unless it has one server or moved recently.
    async fn move_off(&self, client: &async_nats::Client) {
        if self.servers < 2 {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let last = self.last_reconnect_ms.load(Ordering::Relaxed);
        let every = RECONNECT_EVERY.as_millis() as i64;
        if now - last < every
            || self
                .last_reconnect_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        tracing::warn!(
            "the NATS server of this connection knows no stream for a publish; reconnecting to another server of the cluster"
        );
        if let Err(error) = client.force_reconnect().await {
            tracing::warn!(%error, "could not reconnect to another NATS server");
        }
    }
}

impl Bus {
    /// Publishes `messages` concurrently and waits for JetStream's acks.
    /// Returns the ids of the rows that are now safely in a stream (duplicates
    /// included); the others stay in the outbox for the relay.
    pub async fn publish_outbox(&self, messages: &[OutboxMessage]) -> Vec<i64> {
        let sends = messages.iter().map(|m| async move {
            let mut publish = PublishMessage::build()
                .payload(Bytes::copy_from_slice(&m.payload))
                .message_id(&m.msg_id);
            if let Some(traceparent) = &m.traceparent {
                publish = publish.header("traceparent", traceparent.as_str());
            }
            let no_stream = |e: &async_nats::jetstream::context::PublishError| {
                (e.to_string(), e.kind() == PublishErrorKind::StreamNotFound)
            };
            let ack = self
                .jetstream
                .send_publish(m.subject.clone(), publish)
                .await
                .map_err(|e| no_stream(&e))?;
            ack.await.map_err(|e| no_stream(&e))?;
            Ok::<_, (String, bool)>(m.id)
        });
        let mut published = Vec::with_capacity(messages.len());
        let mut stream_unknown = false;
        for (result, message) in futures::future::join_all(sends)
            .await
            .into_iter()
            .zip(messages)
        {
            match result {
                Ok(id) => published.push(id),
                Err((error, no_stream)) => {
                    stream_unknown |= no_stream;
                    tracing::warn!(subject = %message.subject, msg_id = %message.msg_id, %error, "publish failed; the outbox relay will retry")
                }
            }
        }
        if stream_unknown {
            self.lagging.move_off(&self.client).await;
        }
        published
    }

    /// Publishes a CloudEvent (structured JSON) on `signals.<type>` with
    /// `Nats-Msg-Id` = `id` (PROTOCOL §1), and waits for JetStream's ack:
    /// the same id published again within the duplicate window is stored once.
    pub async fn publish_signal(
        &self,
        signal_type: &str,
        id: &str,
        body: Vec<u8>,
    ) -> Result<(), super::Error> {
        let subject = self.subjects.signal(signal_type);
        let unavailable = |message: String| super::Error::Unavailable {
            asset: subject.clone(),
            message,
        };
        let publish = PublishMessage::build()
            .payload(Bytes::from(body))
            .message_id(id);
        let ack = self
            .jetstream
            .send_publish(subject.clone(), publish)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        ack.await.map_err(|e| unavailable(e.to_string()))?;
        Ok(())
    }
}
