//! Row types the store reads and writes. The read models serialize to the
//! exact shapes of PROTOCOL §4 (`run`, run summary, steps).

use chrono::{DateTime, Utc};
use junction_core::status::{RunStatus, StepStatus};
use junction_core::wire::Event;
use serde::Serialize;
use serde_json::Value;

use junction_core::outbox::NewOutboxMessage;

/// A step attempt row to insert with a transition.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub step_id: String,
    pub attempt: u32,
    pub state: String,
    pub path: String,
    pub status: StepStatus,
    /// Executed inline by the coordinator (no worker, no claim).
    pub inline: bool,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<Value>,
    /// For inline rows: the seq of the event that ended them, counted like
    /// the write's events (from 1 in this transition).
    pub completion_seq: Option<i64>,
}

/// A durable timer to insert with a transition.
#[derive(Debug, Clone)]
pub struct NewTimer {
    pub kind: &'static str,
    /// Another run's timer (a child's end, for its parent); `None`: this run.
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    pub attempt: Option<u32>,
    pub fire_at: DateTime<Utc>,
    /// What the timer carries (`start_child`, `child_done`).
    pub payload: Option<serde_json::Value>,
}

/// Everything one run transition writes, in one transaction.
#[derive(Debug, Clone)]
pub struct TransitionWrite {
    pub status: RunStatus,
    /// The serialized [`junction_core::engine::RunState`].
    pub state: super::RawJson,
    pub error: Option<Value>,
    /// Events numbered from 1 in this transition; the store adds the run's
    /// last seq when it commits them.
    pub events: Vec<Event>,
    /// Where each event is published (`wf.event.…`), in `events` order.
    pub event_subjects: Vec<String>,
    /// The span that produced each event (its `traceparent`), in `events` order.
    pub event_traceparents: Vec<Option<String>>,
    pub attempts: Vec<NewAttempt>,
    /// Messages other than events (tasks); every event gets its own outbox row.
    pub outbox: Vec<NewOutboxMessage>,
    pub timers: Vec<NewTimer>,
    /// Ended fan-out children's values: `(fan-out step id, child index, value)`.
    pub child_results: Vec<(String, i32, Value)>,
}

/// One attempt, as `run.steps` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub step_id: String,
    pub state: String,
    pub path: String,
    pub status: StepStatus,
    pub attempt: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// The input the attempt was given (what its task carried).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Why a step whose task no worker has taken waits (for example "no
    /// live worker offers `shell.run`"); filled by `run.get`, not stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_reason: Option<String>,
}

/// A run summary (PROTOCOL §4): the run without `context` and `steps`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub id: String,
    pub workflow_id: String,
    pub version: i32,
    pub tenant: String,
    pub status: RunStatus,
    pub input: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    pub causation_id: Option<String>,
    pub correlation_id: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// The run's trace (32 lowercase hex digits; PROTOCOL §9). Absent only
    /// on runs started before traces were kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// A whole run (PROTOCOL §4 `run`).
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    #[serde(flatten)]
    pub summary: RunSummary,
    /// The whole context document `{ctx, steps, signal}`.
    pub context: Value,
    pub steps: Vec<StepRecord>,
}

/// Filters of `runs.list`.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub tenant: String,
    pub workflow_id: Option<String>,
    pub status: Option<RunStatus>,
    pub causation_id: Option<String>,
    pub correlation_id: Option<String>,
    pub limit: i64,
    /// The last run id of the previous page.
    pub cursor: Option<String>,
}
