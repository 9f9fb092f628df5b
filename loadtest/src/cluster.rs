//! The protocol client: everything the load test says to, or hears from, a
//! running Junction cluster, over NATS only (PROTOCOL §2–§4).
//!
//! - [`Cluster`] puts workflows and starts runs (control requests on
//!   `wf.ctl.…`) and publishes signals (JetStream publish on `signals.<type>`).
//! - [`Tracker`] consumes one core-NATS subscription to every lifecycle event,
//!   dedupes by `(run_id, seq)`, stamps each event with the local [`Instant`] of
//!   its arrival, and lets scenarios await per-run milestones.
//!
//! Subject names come from [`Subjects`] only.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use async_nats::jetstream::message::PublishMessage;
use async_nats::{Client, RequestErrorKind};
use bytes::Bytes;
use futures::StreamExt as _;
use junction_bus::{ControlSubject, Subjects};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a control request may go unanswered (coordinators answer within 5 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Room for bursts of events between two polls of the tracker task.
const SUBSCRIPTION_CAPACITY: usize = 1 << 18;
/// The CloudEvent `source` of every signal the load test publishes.
pub const SIGNAL_SOURCE: &str = "junction-loadtest";

/// A connection to one cluster (one NATS server and prefix).
pub struct Cluster {
    client: Client,
    jetstream: async_nats::jetstream::Context,
    subjects: Subjects,
    tracker: Tracker,
    tracker_task: JoinHandle<()>,
}

/// Reply to `wf.ctl.workflows.put`.
#[derive(Debug, Clone, Deserialize)]
pub struct PutReply {
    pub id: String,
    pub version: i64,
    pub created: bool,
    #[serde(default)]
    pub warnings: Vec<Value>,
}

/// Reply to `wf.ctl.run.start`.
#[derive(Debug, Clone, Deserialize)]
struct StartReply {
    run_id: String,
}

impl Cluster {
    /// Connects, and subscribes to every lifecycle event before anything is sent,
    /// so that no event of a run started later can be missed.
    pub async fn connect(nats_url: &str, prefix: &str) -> Result<Self> {
        let subjects = Subjects::new(prefix)?;
        let client = async_nats::ConnectOptions::new()
            .name("junction-loadtest")
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(REQUEST_TIMEOUT))
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .connect(nats_url)
            .await
            .with_context(|| format!("cannot connect to NATS at {nats_url}"))?;
        let events = client
            .subscribe(subjects.events_wildcard())
            .await
            .with_context(|| format!("cannot subscribe to {}", subjects.events_wildcard()))?;
        // Make sure the server has registered the subscription before any run starts.
        client
            .flush()
            .await
            .context("flushing the events subscription")?;
        let (tracker, tracker_task) = Tracker::spawn(events);
        let jetstream = async_nats::jetstream::new(client.clone());
        Ok(Self {
            client,
            jetstream,
            subjects,
            tracker,
            tracker_task,
        })
    }

    /// The event tracker fed by this connection.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// One control request; returns the whole reply object when `ok` is true.
    async fn control(&self, what: &ControlSubject, body: &Value) -> Result<Value> {
        let subject = self.subjects.control_subject(what);
        let payload = Bytes::from(serde_json::to_vec(body)?);
        let reply = match self.client.request(subject.clone(), payload).await {
            Ok(reply) => reply,
            Err(err) => {
                return Err(match err.kind() {
                    RequestErrorKind::NoResponders => anyhow!(
                        "no coordinator answers on {subject}: is the cluster running, with prefix {:?}?",
                        self.subjects.prefix()
                    ),
                    RequestErrorKind::TimedOut => {
                        anyhow!(
                            "no reply on {subject} within {} s",
                            REQUEST_TIMEOUT.as_secs()
                        )
                    }
                    _ => anyhow!("request on {subject} failed: {err}"),
                });
            }
        };
        let value: Value = serde_json::from_slice(&reply.payload).with_context(|| {
            format!(
                "reply on {subject} is not JSON: {}",
                String::from_utf8_lossy(&reply.payload)
            )
        })?;
        match value.get("ok").and_then(Value::as_bool) {
            Some(true) => Ok(value),
            Some(false) => {
                let error = value.get("error");
                let field = |name: &str| {
                    error
                        .and_then(|e| e.get(name))
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned()
                };
                let mut msg = format!("{subject} refused: {}: {}", field("code"), field("message"));
                if let Some(details) = error.and_then(|e| e.get("details")) {
                    msg.push_str(&format!(" (details: {details})"));
                }
                Err(anyhow!(msg))
            }
            None => bail!("reply on {subject} has no boolean `ok`: {value}"),
        }
    }

    /// The HTTP addresses of the live coordinators (`cluster.members`).
    pub async fn coordinator_http_addrs(&self) -> Result<Vec<String>> {
        let reply = self
            .control(&ControlSubject::ClusterMembers, &json!({}))
            .await?;
        Ok(reply["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["role"] == "coordinator")
            .filter_map(|m| m["http_addr"].as_str().map(str::to_owned))
            .collect())
    }

    /// Puts a YAML workflow (idempotent: the same source returns `created:false`).
    pub async fn put_workflow(&self, source: &str) -> Result<PutReply> {
        let reply = self
            .control(
                &ControlSubject::WorkflowsPut,
                &json!({ "source": source, "format": "yaml" }),
            )
            .await?;
        serde_json::from_value(reply).with_context(|| {
            format!(
                "unexpected reply shape from {}",
                ControlSubject::WorkflowsPut
            )
        })
    }

    /// Starts a run of the latest version of `workflow_id`; returns its run id.
    pub async fn start_run(&self, workflow_id: &str, input: Value) -> Result<String> {
        let reply = self
            .control(
                &ControlSubject::RunStart,
                &json!({ "workflow_id": workflow_id, "input": input }),
            )
            .await?;
        let reply: StartReply = serde_json::from_value(reply)
            .with_context(|| format!("unexpected reply shape from {}", ControlSubject::RunStart))?;
        Ok(reply.run_id)
    }

    /// Publishes a CloudEvent signal with JetStream and waits for the stream's ack.
    pub async fn publish_signal(&self, signal_type: &str, id: &str, data: Value) -> Result<()> {
        let subject = self.subjects.signal(signal_type);
        let event = json!({
            "specversion": "1.0",
            "id": id,
            "source": SIGNAL_SOURCE,
            "type": signal_type,
            "data": data,
        });
        let message = PublishMessage::build()
            .payload(Bytes::from(serde_json::to_vec(&event)?))
            .message_id(id);
        self.jetstream
            .send_publish(subject.clone(), message)
            .await
            .with_context(|| format!("publishing a signal to {subject}"))?
            .await
            .with_context(|| format!("no JetStream ack for the signal on {subject}"))?;
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.tracker_task.abort();
    }
}

// ----------------------------------------------------------------------------
// Event tracking
// ----------------------------------------------------------------------------

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
    fn spawn(mut events: async_nats::Subscriber) -> (Self, JoinHandle<()>) {
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

    fn close(&self) {
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
