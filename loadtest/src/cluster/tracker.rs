//! The event tracker: one core-NATS subscription to every lifecycle event,
//! deduped by `(run_id, seq)`, each event stamped with the local [`Instant`]
//! of its arrival, and per-run milestones the scenarios await.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Result, anyhow, bail};
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// `failed`, `timed_out` or `cancelled`, with the event type and its error.
    Failed {
        event_type: String,
        error: String,
    },
}

/// The terminal event of a run and when it arrived.
#[derive(Debug, Clone)]
pub struct RunEnd {
    pub at: Instant,
    pub outcome: Outcome,
}

/// What was heard about one run so far, stamped with local arrival times.
#[derive(Debug, Clone, Default)]
pub struct RunTrace {
    pub run_id: String,
    /// Arrival of `workflow.run.started`.
    pub started: Option<Instant>,
    /// `data.causation_id` of `workflow.run.started` (the signal id, if any).
    pub causation_id: Option<String>,
    /// Arrival of the first `workflow.step.started`.
    pub first_step_started: Option<Instant>,
    /// Arrivals of each distinct `workflow.step.completed`, in arrival order.
    pub step_completed: Vec<Instant>,
    /// Arrival of the terminal run event.
    pub end: Option<RunEnd>,
}

/// One lifecycle event as far as the tracker cares (PROTOCOL §3).
#[derive(Debug, Deserialize)]
struct WireEvent {
    run_id: String,
    seq: u64,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    workflow_id: Option<String>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Default)]
struct Entry {
    trace: RunTrace,
    seen: HashSet<u64>,
}

#[derive(Default)]
struct TrackerState {
    /// Workflows whose runs are recorded; events of other workflows are ignored.
    workflows: HashSet<String>,
    runs: HashMap<String, Entry>,
    by_causation: HashMap<String, String>,
    end_waiters: HashMap<String, Vec<oneshot::Sender<RunTrace>>>,
    causation_waiters: HashMap<String, Vec<oneshot::Sender<String>>>,
    /// Set once the subscription has ended; no waiter can be satisfied after that.
    closed: bool,
    duplicates: u64,
    malformed: u64,
}

/// Records lifecycle events and hands out per-run milestones. Cheap to clone.
#[derive(Clone, Default)]
pub struct Tracker {
    state: Arc<Mutex<TrackerState>>,
}

impl Tracker {
    /// Starts the task that drains `events` into a new tracker.
    pub(super) fn spawn(mut events: async_nats::Subscriber) -> (Self, JoinHandle<()>) {
        let tracker = Self::default();
        let feed = tracker.clone();
        let task = tokio::spawn(async move {
            while let Some(message) = events.next().await {
                let arrived = Instant::now();
                feed.ingest(&message.payload, arrived);
            }
            feed.close();
        });
        (tracker, task)
    }

    fn lock(&self) -> MutexGuard<'_, TrackerState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records runs of `workflow_id` from now on.
    pub fn track_workflow(&self, workflow_id: &str) {
        self.lock().workflows.insert(workflow_id.to_owned());
    }

    /// Events seen more than once, and payloads that were not events.
    pub fn counters(&self) -> (u64, u64) {
        let state = self.lock();
        (state.duplicates, state.malformed)
    }

    /// What is known about `run_id` right now.
    pub fn snapshot(&self, run_id: &str) -> Option<RunTrace> {
        self.lock().runs.get(run_id).map(|e| e.trace.clone())
    }

    /// Waits for the terminal event of `run_id` and returns the run's trace.
    pub async fn run_end(&self, run_id: &str) -> Result<RunTrace> {
        let rx = {
            let mut state = self.lock();
            if let Some(entry) = state.runs.get(run_id)
                && entry.trace.end.is_some()
            {
                return Ok(entry.trace.clone());
            }
            if state.closed {
                bail!("the event subscription has ended");
            }
            let (tx, rx) = oneshot::channel();
            state
                .end_waiters
                .entry(run_id.to_owned())
                .or_default()
                .push(tx);
            rx
        };
        rx.await
            .map_err(|_| anyhow!("the event subscription ended before run {run_id} did"))
    }

    /// Waits for the `workflow.run.started` whose `data.causation_id` is
    /// `causation_id` (among tracked workflows) and returns its run id.
    pub async fn run_for_causation(&self, causation_id: &str) -> Result<String> {
        let rx = {
            let mut state = self.lock();
            if let Some(run_id) = state.by_causation.get(causation_id) {
                return Ok(run_id.clone());
            }
            if state.closed {
                bail!("the event subscription has ended");
            }
            let (tx, rx) = oneshot::channel();
            state
                .causation_waiters
                .entry(causation_id.to_owned())
                .or_default()
                .push(tx);
            rx
        };
        rx.await.map_err(|_| {
            anyhow!("the event subscription ended before a run for signal {causation_id} started")
        })
    }

    pub(super) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        // Dropping the senders wakes every waiter with an error.
        state.end_waiters.clear();
        state.causation_waiters.clear();
    }

    fn ingest(&self, payload: &[u8], arrived: Instant) {
        match serde_json::from_slice::<WireEvent>(payload) {
            Ok(event) => self.apply(event, arrived),
            Err(_) => self.lock().malformed += 1,
        }
    }

    fn apply(&self, event: WireEvent, arrived: Instant) {
        let mut state = self.lock();
        let state = &mut *state;
        let tracked = match &event.workflow_id {
            Some(id) => state.workflows.contains(id),
            None => true,
        };
        if !tracked {
            return;
        }
        let entry = state
            .runs
            .entry(event.run_id.clone())
            .or_insert_with(|| Entry {
                trace: RunTrace {
                    run_id: event.run_id.clone(),
                    ..RunTrace::default()
                },
                seen: HashSet::new(),
            });
        if !entry.seen.insert(event.seq) {
            state.duplicates += 1;
            return;
        }
        let trace = &mut entry.trace;
        match event.event_type.as_str() {
            "workflow.run.started" => {
                trace.started = Some(arrived);
                let causation = event
                    .data
                    .as_ref()
                    .and_then(|d| d.get("causation_id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if let Some(causation) = causation {
                    trace.causation_id = Some(causation.clone());
                    for tx in state
                        .causation_waiters
                        .remove(&causation)
                        .unwrap_or_default()
                    {
                        let _ = tx.send(event.run_id.clone());
                    }
                    state
                        .by_causation
                        .entry(causation)
                        .or_insert_with(|| event.run_id.clone());
                }
            }
            "workflow.step.started" => {
                trace.first_step_started.get_or_insert(arrived);
            }
            "workflow.step.completed" => trace.step_completed.push(arrived),
            other => {
                let outcome = match other {
                    "workflow.run.completed" => Some(Outcome::Completed),
                    "workflow.run.failed" | "workflow.run.timed_out" | "workflow.run.cancelled" => {
                        Some(Outcome::Failed {
                            event_type: other.to_owned(),
                            error: describe_error(event.data.as_ref()),
                        })
                    }
                    _ => None,
                };
                if let Some(outcome) = outcome
                    && trace.end.is_none()
                {
                    trace.end = Some(RunEnd {
                        at: arrived,
                        outcome,
                    });
                    let snapshot = trace.clone();
                    for tx in state.end_waiters.remove(&event.run_id).unwrap_or_default() {
                        let _ = tx.send(snapshot.clone());
                    }
                }
            }
        }
    }
}

/// `CODE: message` from an event's `data.error` (PROTOCOL §5), or the raw data.
fn describe_error(data: Option<&Value>) -> String {
    let Some(error) = data.and_then(|d| d.get("error")) else {
        return data.map_or_else(|| "no error data".to_owned(), Value::to_string);
    };
    let code = error.get("code").and_then(Value::as_str).unwrap_or("?");
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    match error.get("step_id").and_then(Value::as_str) {
        Some(step) => format!("{code}: {message} (step {step})"),
        None => format!("{code}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(run: &str, seq: u64, ty: &str, data: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "run_id": run, "seq": seq, "type": ty, "time": "2025-01-01T00:00:00.000Z",
            "workflow_id": "lt-x", "version": 1, "tenant": "default", "data": data,
        }))
        .expect("serializable")
    }

    #[tokio::test]
    async fn dedupes_and_reports_milestones() {
        let tracker = Tracker::default();
        tracker.track_workflow("lt-x");
        let t = Instant::now();
        tracker.ingest(
            &event(
                "r1",
                1,
                "workflow.run.started",
                json!({"causation_id": "sig"}),
            ),
            t,
        );
        tracker.ingest(&event("r1", 2, "workflow.step.started", json!({})), t);
        tracker.ingest(&event("r1", 3, "workflow.step.completed", json!({})), t);
        tracker.ingest(&event("r1", 3, "workflow.step.completed", json!({})), t);
        tracker.ingest(b"not json", t);
        // Another workflow's events are ignored.
        tracker.ingest(
            &serde_json::to_vec(&json!({"run_id":"r2","seq":1,"type":"workflow.run.started",
                "workflow_id":"other"}))
            .expect("serializable"),
            t,
        );
        assert!(tracker.snapshot("r2").is_none());
        assert_eq!(tracker.run_for_causation("sig").await.expect("known"), "r1");

        let waiter = tokio::spawn({
            let tracker = tracker.clone();
            async move { tracker.run_end("r1").await }
        });
        tokio::task::yield_now().await;
        tracker.ingest(
            &event(
                "r1",
                4,
                "workflow.run.failed",
                json!({"error": {"code": "X", "message": "m"}}),
            ),
            t,
        );
        let trace = waiter.await.expect("joined").expect("ended");
        assert_eq!(trace.step_completed.len(), 1);
        assert!(trace.first_step_started.is_some());
        assert_eq!(
            trace.end.map(|e| e.outcome),
            Some(Outcome::Failed {
                event_type: "workflow.run.failed".into(),
                error: "X: m".into()
            })
        );
        assert_eq!(tracker.counters(), (1, 1));
    }
}
