//! A small client for the control plane (PROTOCOL §4) and signals (§2).

use anyhow::{Context, bail};
use bytes::Bytes;
use junction_bus::{ControlSubject, RunVerb, Subjects};
use serde_json::{Value, json};
use std::time::Duration;

/// Talks to a cluster over NATS.
pub struct Client {
    pub nats: async_nats::Client,
    pub subjects: Subjects,
    /// Sent as `token` with every control request (PROTOCOL §6), when set.
    pub token: Option<String>,
}

impl Client {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let subjects = Subjects::new(prefix)?;
        let nats = async_nats::ConnectOptions::new()
            .name("junction-cli")
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(Duration::from_secs(10)))
            .connect(url)
            .await
            .with_context(|| format!("cannot connect to NATS at {url}"))?;
        Ok(Self {
            nats,
            subjects,
            token: None,
        })
    }

    /// The same client, sending `token` with every control request.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// Sends a control request and returns the reply's fields, or an error
    /// carrying the reply's code and message.
    pub async fn request(&self, what: &ControlSubject, body: Value) -> anyhow::Result<Value> {
        let subject = self.subjects.control_subject(what);
        let mut body = body;
        if let (Some(token), Some(fields)) = (&self.token, body.as_object_mut()) {
            fields.insert("token".to_owned(), json!(token));
        }
        let payload = Bytes::from(serde_json::to_vec(&body)?);
        let reply = match self.nats.request(subject.clone(), payload).await {
            Ok(reply) => reply,
            Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                bail!(
                    "no coordinator answers on {subject}: is the cluster running with prefix {:?}?",
                    self.subjects.prefix()
                )
            }
            Err(e) => return Err(e).with_context(|| format!("request {subject}")),
        };
        let reply: Value = serde_json::from_slice(&reply.payload).context("unreadable reply")?;
        if reply["ok"] == json!(true) {
            return Ok(reply);
        }
        let error = &reply["error"];
        let mut message = format!(
            "{}: {}",
            error["code"].as_str().unwrap_or("ERROR"),
            error["message"].as_str().unwrap_or("")
        );
        if let Some(diagnostics) = error["details"]["diagnostics"].as_array() {
            for d in diagnostics {
                message.push_str(&format!(
                    "\n  {} at {}: {}",
                    d["code"].as_str().unwrap_or(""),
                    d["path"].as_str().unwrap_or(""),
                    d["message"].as_str().unwrap_or("")
                ));
            }
        }
        bail!(message)
    }

    /// Publishes a CloudEvent to `signals.<type>` through JetStream.
    pub async fn publish_signal(
        &self,
        signal_type: &str,
        id: &str,
        data: Value,
        tenant: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut event = json!({ "specversion": "1.0", "id": id, "source": "junction-cli", "type": signal_type, "data": data });
        if let Some(tenant) = tenant {
            event["tenant"] = json!(tenant);
        }
        let jetstream = async_nats::jetstream::new(self.nats.clone());
        let ack = jetstream
            .publish(
                self.subjects.signal(signal_type),
                Bytes::from(serde_json::to_vec(&event)?),
            )
            .await?;
        ack.await.context("signal was not stored by JetStream")?;
        Ok(())
    }

    /// Every stored event of a run, in order.
    pub async fn all_events(&self, run_id: &str) -> anyhow::Result<Vec<Value>> {
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let reply = self
                .request(
                    &ControlSubject::run(run_id, RunVerb::Events),
                    json!({ "after_seq": after, "limit": 1000 }),
                )
                .await?;
            let page = reply["events"]
                .as_array()
                .context("the coordinator's reply has no events")?
                .clone();
            let done = page.len() < 1000;
            after = page.last().and_then(|e| e["seq"].as_i64()).unwrap_or(after);
            events.extend(page);
            if done {
                return Ok(events);
            }
        }
    }
}
