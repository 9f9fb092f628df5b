//! A small client for the control plane (docs/protocol.md) and signals.
//! Failures carry their kind for the exit code ([`crate::exit`]): an error
//! reply is a [`Refusal`], no answer is [`Unreachable`].

use crate::exit::{BadInput, Refusal, Unreachable};
use anyhow::Context;
use bytes::Bytes;
use junction_bus::{ControlSubject, NatsAuth, RunVerb, Subjects};
use serde_json::{Value, json};
use std::time::Duration;

/// The refusal an error reply carries: its code, and its message with each
/// diagnostic of `details.diagnostics` on a line of its own.
pub fn refusal(reply: &Value) -> Refusal {
    let error = &reply["error"];
    let mut message = error["message"].as_str().unwrap_or("").to_owned();
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
    Refusal {
        code: error["code"].as_str().unwrap_or("ERROR").to_owned(),
        message,
    }
}

/// Talks to a cluster over NATS.
pub struct Client {
    pub nats: async_nats::Client,
    pub subjects: Subjects,
    /// Sent as `token` with every control request, when set.
    pub token: Option<String>,
    /// Sent as `tenant` with every control request that names none, when set.
    pub tenant: Option<String>,
}

impl Client {
    /// Connects with `auth`: refused credentials are a refusal
    /// (`UNAUTHENTICATED`, exit 4), an unusable credentials file bad input.
    pub async fn connect(url: &str, prefix: &str, auth: &NatsAuth) -> anyhow::Result<Self> {
        let subjects = Subjects::new(prefix)?;
        auth.validate().map_err(BadInput)?;
        let options = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(Duration::from_secs(10)));
        let nats = junction_bus::connect_client(url, "junction-cli", auth, options)
            .await
            .map_err(|e| -> anyhow::Error {
                match e {
                    junction_bus::Error::Refused { .. } => Refusal {
                        code: "UNAUTHENTICATED".into(),
                        message: e.to_string(),
                    }
                    .into(),
                    junction_bus::Error::Credentials(_) => BadInput(e.to_string()).into(),
                    _ => Unreachable(e.to_string()).into(),
                }
            })?;
        Ok(Self {
            nats,
            subjects,
            token: None,
            tenant: None,
        })
    }

    /// The same client, sending `token` with every control request.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// The same client, acting in `tenant` unless a request names another.
    pub fn in_tenant(mut self, tenant: Option<String>) -> Self {
        self.tenant = tenant;
        self
    }

    /// Sends a control request and returns the reply's fields, or an error
    /// carrying the reply's code and message.
    pub async fn request(&self, what: &ControlSubject, body: Value) -> anyhow::Result<Value> {
        let reply = self.reply(what, body).await?;
        if reply["ok"] == json!(true) {
            return Ok(reply);
        }
        Err(refusal(&reply).into())
    }

    /// Sends a control request and returns the whole reply, `ok` or not
    /// (for callers that read an error's `details`); only a request that
    /// got no reply is an error.
    pub async fn reply(&self, what: &ControlSubject, body: Value) -> anyhow::Result<Value> {
        let subject = self.subjects.control_subject(what);
        let mut body = body;
        if let Some(fields) = body.as_object_mut() {
            if let Some(token) = &self.token {
                fields.insert("token".to_owned(), json!(token));
            }
            if let Some(tenant) = &self.tenant
                && fields.get("tenant").is_none_or(Value::is_null)
            {
                fields.insert("tenant".to_owned(), json!(tenant));
            }
        }
        let payload = Bytes::from(serde_json::to_vec(&body)?);
        let reply = match self.nats.request(subject.clone(), payload).await {
            Ok(reply) => reply,
            Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                return Err(Unreachable(format!(
                    "no coordinator answers on {subject}: is the cluster running with prefix {:?}?",
                    self.subjects.prefix()
                ))
                .into());
            }
            Err(e) => return Err(Unreachable(format!("request {subject}: {e}")).into()),
        };
        let reply: Value = serde_json::from_slice(&reply.payload).context("unreadable reply")?;
        Ok(reply)
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
        ack.await
            .map_err(|e| Unreachable(format!("the signal was not stored by JetStream: {e}")))?;
        Ok(())
    }

    /// Every stored event of a run, in order.
    pub async fn all_events(&self, run_id: &str) -> anyhow::Result<Vec<Value>> {
        self.events_after(run_id, 0).await
    }

    /// The stored events of a run after `after` (a seq), in order.
    pub async fn events_after(&self, run_id: &str, after: i64) -> anyhow::Result<Vec<Value>> {
        let mut events = Vec::new();
        let mut after = after;
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
