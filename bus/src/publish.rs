//! Publishing outbox rows to JetStream with their deterministic `Nats-Msg-Id`.

use super::Bus;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use junction_core::outbox::OutboxMessage;

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
            let ack = self
                .jetstream
                .send_publish(m.subject.clone(), publish)
                .await
                .map_err(|e| e.to_string())?;
            ack.await.map_err(|e| e.to_string())?;
            Ok::<_, String>(m.id)
        });
        let mut published = Vec::with_capacity(messages.len());
        for (result, message) in futures::future::join_all(sends)
            .await
            .into_iter()
            .zip(messages)
        {
            match result {
                Ok(id) => published.push(id),
                Err(error) => {
                    tracing::warn!(subject = %message.subject, msg_id = %message.msg_id, %error, "publish failed; the outbox relay will retry")
                }
            }
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
