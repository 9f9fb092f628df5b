//! A record of every call and cancel the server received, for tests to assert
//! on: how often an agent ran, with which idempotency keys, and whether the
//! worker sent the protocol headers.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use junction_core::wire::agent::{AgentCancel, AgentRequest};

/// One `agents.<name>.run` request that parsed, recorded before its handler ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// Which agent was called.
    pub agent: String,
    pub run_id: String,
    pub step_id: String,
    /// From the body; starts at 1.
    pub attempt: u32,
    /// The body's `idempotency_key`.
    pub idempotency_key: String,
    /// The `Junction-Idempotency-Key` header, so tests can check the worker sets
    /// it and that it matches the body.
    pub header_idempotency_key: Option<String>,
    /// The `traceparent` header, so tests can check trace propagation.
    pub traceparent: Option<String>,
}

impl CallRecord {
    /// The record of `request` to `agent`, with the headers as received.
    pub fn new(
        agent: &str,
        request: &AgentRequest,
        header_idempotency_key: Option<String>,
        traceparent: Option<String>,
    ) -> Self {
        Self {
            agent: agent.to_owned(),
            run_id: request.run_id.clone(),
            step_id: request.step_id.clone(),
            attempt: request.attempt,
            idempotency_key: request.idempotency_key.clone(),
            header_idempotency_key,
            traceparent,
        }
    }
}

/// One `agents.<name>.cancel` message that parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct CancelRecord {
    /// Which agent the cancel was addressed to.
    pub agent: String,
    pub cancel: AgentCancel,
}

/// Shared, append-only log of calls and cancels. Clones share the same log.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<CallRecord>>>,
    cancels: Arc<Mutex<Vec<CancelRecord>>>,
}

impl CallLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a call.
    pub fn record(&self, record: CallRecord) {
        lock(&self.calls).push(record);
    }

    /// Appends a cancel.
    pub fn record_cancel(&self, record: CancelRecord) {
        lock(&self.cancels).push(record);
    }

    /// Every call so far, in arrival order.
    pub fn records(&self) -> Vec<CallRecord> {
        lock(&self.calls).clone()
    }

    /// How many calls `agent` received.
    pub fn count_for(&self, agent: &str) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|record| record.agent == agent)
            .count()
    }

    /// The body idempotency keys of every call so far, in arrival order.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.calls)
            .iter()
            .map(|record| record.idempotency_key.clone())
            .collect()
    }

    /// Every cancel so far, in arrival order.
    pub fn cancels(&self) -> Vec<CancelRecord> {
        lock(&self.cancels).clone()
    }
}

/// Locks `list`. A panic while holding the lock cannot leave a `Vec` half
/// pushed, so a poisoned lock is still usable.
fn lock<T>(list: &Mutex<Vec<T>>) -> MutexGuard<'_, Vec<T>> {
    list.lock().unwrap_or_else(PoisonError::into_inner)
}
