//! Outbox messages: what a transaction writes beside the change that implies
//! it, and what the relay publishes after commit (subject, `Nats-Msg-Id`,
//! payload, and the `traceparent` of the span that produced it).

/// A message to write into the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxMessage {
    pub subject: String,
    pub msg_id: String,
    pub payload: Vec<u8>,
    /// The span that produced the message (PROTOCOL §9), sent as the
    /// `traceparent` header.
    pub traceparent: Option<String>,
}

/// A stored outbox message, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: i64,
    pub subject: String,
    pub msg_id: String,
    pub payload: Vec<u8>,
    pub traceparent: Option<String>,
}

use crate::wire::{Event, StepTask};

impl OutboxMessage {
    /// The one constructor of an event's message: the subject the bus names
    /// for it, `Nats-Msg-Id` `<run>:<seq>` and the event's JSON, numbered
    /// `seq` (a transition numbers its events only once they are committed,
    /// so `seq` may differ from `event.seq`). `id` is the outbox row, or 0
    /// for a message published outside the outbox (a re-emit).
    pub fn event(
        id: i64,
        subject: String,
        event: &Event,
        seq: i64,
        traceparent: Option<String>,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id,
            subject,
            msg_id: format!("{}:{seq}", event.run_id),
            payload: event.to_json_with_seq(seq)?,
            traceparent,
        })
    }

    /// A message written as `message` and stored under row `id`.
    pub fn stored(id: i64, message: NewOutboxMessage) -> Self {
        Self {
            id,
            subject: message.subject,
            msg_id: message.msg_id,
            payload: message.payload,
            traceparent: message.traceparent,
        }
    }
}

impl NewOutboxMessage {
    /// The one constructor of a task's message: the subject the bus names for
    /// it, `Nats-Msg-Id` `<run>:<step>:<attempt>` and the task's JSON.
    pub fn task(
        subject: String,
        task: &StepTask,
        traceparent: Option<String>,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            subject,
            msg_id: task.idempotency_key(),
            payload: serde_json::to_vec(task)?,
            traceparent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::EventType;

    fn event() -> Event {
        Event {
            run_id: "r1".into(),
            seq: 3,
            kind: EventType::RunStarted,
            time: "2026-01-01T00:00:00Z".into(),
            workflow_id: "wf".into(),
            version: 1,
            tenant: "default".into(),
            step_id: None,
            state: None,
            path: None,
            attempt: None,
            worker_id: None,
            data: None,
        }
    }

    #[test]
    fn an_event_message_is_numbered_by_the_seq_it_is_given() {
        let message =
            OutboxMessage::event(7, "events.r1".into(), &event(), 42, None).expect("serializes");
        assert_eq!(message.id, 7);
        assert_eq!(message.msg_id, "r1:42");
        let body: serde_json::Value = serde_json::from_slice(&message.payload).expect("json");
        assert_eq!(body["seq"], 42);
        assert_eq!(body["run_id"], "r1");
    }
}
