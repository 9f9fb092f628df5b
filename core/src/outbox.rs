//! Outbox messages: what a transaction writes beside the change that implies
//! it, and what the relay publishes after commit (subject, `Nats-Msg-Id`,
//! payload).

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
