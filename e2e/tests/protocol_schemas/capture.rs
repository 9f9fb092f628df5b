//! The capture side of the schema test: the schemas loaded from
//! `docs/schemas/`, a control client that validates every request and
//! reply it sends, an agent that records raw request bodies and headers,
//! and the events read back from the stream.

use super::{BASE, WAIT};
use anyhow::{Context, bail};
use futures::StreamExt;
use junction_bus::{ControlSubject, ControlVerb};
use junction_core::wire::agent::IDEMPOTENCY_HEADER;
use junction_e2e::{TestEnv, repo_root};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Every schema file of `docs/schemas/`, by its `$id`.
pub(crate) fn load_schemas() -> anyhow::Result<BTreeMap<String, Value>> {
    pub(crate) fn walk(dir: &Path, out: &mut BTreeMap<String, Value>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path)?;
                let schema: Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", path.display()))?;
                let id = schema["$id"]
                    .as_str()
                    .with_context(|| format!("{} has no $id", path.display()))?;
                anyhow::ensure!(
                    schema["$schema"] == "https://json-schema.org/draft/2020-12/schema",
                    "{} is not draft 2020-12",
                    path.display()
                );
                out.insert(id.to_owned(), schema);
            }
        }
        Ok(())
    }
    let mut schemas = BTreeMap::new();
    walk(&repo_root().join("docs/schemas"), &mut schemas)?;
    Ok(schemas)
}

/// Validates values against schemas named relative to [`BASE`].
pub(crate) struct Schemas {
    pub(crate) registry: jsonschema::Registry<'static>,
    pub(crate) checked: BTreeMap<String, usize>,
}

impl Schemas {
    pub(crate) fn new() -> anyhow::Result<Self> {
        let schemas = load_schemas()?;
        anyhow::ensure!(schemas.len() >= 30, "schemas: {:?}", schemas.keys());
        let registry = jsonschema::Registry::new()
            .extend(schemas)
            .context("register the schemas")?
            .prepare()
            .context("prepare the schemas")?;
        Ok(Self {
            registry,
            checked: BTreeMap::new(),
        })
    }

    /// Fails unless `value` is valid against `reference` (`event.json`,
    /// `control/run.get.json#/$defs/reply`), naming `what`.
    pub(crate) fn check(
        &mut self,
        reference: &str,
        value: &Value,
        what: &str,
    ) -> anyhow::Result<()> {
        let validator = jsonschema::options()
            .with_registry(&self.registry)
            .build(&json!({ "$ref": format!("{BASE}{reference}") }))
            .map_err(|e| anyhow::anyhow!("schema {reference}: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if !errors.is_empty() {
            bail!(
                "{what} does not match {reference}:\n  {}\n{value:#}",
                errors.join("\n  ")
            );
        }
        *self.checked.entry(reference.to_owned()).or_default() += 1;
        Ok(())
    }
}

/// The schema file of a control verb: its pattern without `<id>.`.
pub(crate) fn verb_file(verb: ControlVerb) -> String {
    format!("control/{}.json", verb.pattern().replace("<id>.", ""))
}

/// A control request sent on purpose with a bad field: only its reply is
/// validated (against the envelope; it must be a refusal).
pub(crate) async fn refuse(
    env: &TestEnv,
    schemas: &mut Schemas,
    subject: ControlSubject,
    body: Value,
) -> anyhow::Result<Value> {
    let what = format!("{subject} {body}");
    let reply = env.try_control(subject, body).await?;
    schemas.check("control-reply.json", &reply, &format!("reply to {what}"))?;
    anyhow::ensure!(
        reply["ok"] == json!(false),
        "{what} was not refused: {reply}"
    );
    Ok(reply)
}

/// A control request whose request and reply are both validated.
pub(crate) async fn control(
    env: &TestEnv,
    schemas: &mut Schemas,
    subject: ControlSubject,
    body: Value,
) -> anyhow::Result<Value> {
    let verb = subject.verb();
    let what = format!("{subject} {body}");
    schemas.check("control-request.json", &body, &what)?;
    schemas.check(&format!("{}#/$defs/request", verb_file(verb)), &body, &what)?;
    let reply = env.try_control(subject.clone(), body).await?;
    schemas.check("control-reply.json", &reply, &format!("reply to {what}"))?;
    if reply["ok"] == json!(true) {
        schemas.check(
            &format!("{}#/$defs/reply", verb_file(verb)),
            &reply,
            &format!("reply to {what}"),
        )?;
    }
    Ok(reply)
}

/// One agent request as it arrived: its raw body and its headers.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) body: Vec<u8>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) traceparent: Option<String>,
}

/// Serves `rec` on the raw subscription: records each request, fails the
/// first call (retryable), answers the others with `{output}`.
pub(crate) async fn serve_recording_agent(
    env: &TestEnv,
) -> anyhow::Result<Arc<Mutex<Vec<Received>>>> {
    let received = Arc::new(Mutex::new(Vec::new()));
    let mut requests = env.nats.subscribe(env.subjects.agent_run("rec")).await?;
    env.nats.flush().await?;
    let (client, log) = (env.nats.clone(), received.clone());
    tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            let header = |name: &str| {
                message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .map(|v| v.as_str().to_owned())
            };
            let calls = {
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                log.push(Received {
                    body: message.payload.to_vec(),
                    idempotency_key: header(IDEMPOTENCY_HEADER),
                    traceparent: header("traceparent"),
                });
                log.len()
            };
            let reply = if calls == 1 {
                json!({ "error": { "code": "WAREHOUSE_BUSY", "message": "try again", "retryable": true } })
            } else {
                json!({ "output": { "packed": true, "call": calls } })
            };
            if let Some(reply_to) = message.reply {
                let _ = client.publish(reply_to, reply.to_string().into()).await;
            }
        }
    });
    Ok(received)
}

/// Every message of the events stream, once `count` are there.
pub(crate) async fn stream_events(
    env: &TestEnv,
    count: u64,
) -> anyhow::Result<Vec<(String, Value)>> {
    let jetstream = async_nats::jetstream::new(env.nats.clone());
    let mut stream = jetstream.get_stream(env.subjects.events_stream()).await?;
    let name = env.subjects.events_stream();
    env.eventually(&format!("{count} events on the stream"), WAIT, || {
        let (jetstream, name) = (jetstream.clone(), name.clone());
        async move {
            let mut stream = jetstream.get_stream(name).await?;
            Ok((stream.info().await?.state.messages >= count).then_some(()))
        }
    })
    .await?;
    let last = stream.info().await?.state.last_sequence;
    let mut events = Vec::new();
    for sequence in 1..=last {
        let message = stream.get_raw_message(sequence).await?;
        let event: Value = serde_json::from_slice(&message.payload)
            .with_context(|| format!("event #{sequence} is not JSON"))?;
        events.push((message.subject.to_string(), event));
    }
    Ok(events)
}
