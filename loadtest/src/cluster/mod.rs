//! The protocol client: everything the load test says to, or hears from, a
//! running Junction cluster, over NATS only (PROTOCOL §2–§4).
//!
//! - [`Cluster`] puts workflows and starts runs (control requests on
//!   `wf.ctl.…`) and publishes signals (JetStream publish on `signals.<type>`).
//! - [`Tracker`] consumes one core-NATS subscription to every lifecycle event,
//!   dedupes by `(run_id, seq)`, stamps each event with the local `Instant` of
//!   its arrival, and lets scenarios await per-run milestones.
//!
//! Subject names come from [`Subjects`] only.

mod tracker;

pub use tracker::{Outcome, RunTrace, Tracker};

use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use async_nats::jetstream::message::PublishMessage;
use async_nats::{Client, RequestErrorKind};
use bytes::Bytes;
use junction_bus::{ControlSubject, Subjects};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

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
        // Credentials from `JUNCTION_NATS__USER`… (an operator's, on a
        // locked-down server: it reads events and sends control requests).
        let auth = junction_bus::NatsAuth::from_env();
        auth.validate().map_err(anyhow::Error::msg)?;
        let options = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(REQUEST_TIMEOUT))
            .subscription_capacity(SUBSCRIPTION_CAPACITY);
        let client =
            junction_bus::connect_client(nats_url, "junction-loadtest", &auth, options).await?;
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
        Ok(junction_core::wire::control::coordinator_http_addrs(&reply))
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
