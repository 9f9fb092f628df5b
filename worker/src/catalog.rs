//! The worker's view of the agent registry: which agents exist in which
//! tenant, with their compiled input and output schemas.
//!
//! Every `agent.run` step resolves its agent here before calling it. Entries
//! are kept for [`REGISTRY_TTL`] (2 s) per (tenant, name), including "not
//! registered", so a warm cache adds no database round trip to a step. The
//! price is that a change to the registry (put, delete, new schema) reaches a
//! worker within that TTL, not at once. Schemas are compiled once per
//! revision: a refresh that finds the same schema keeps its validator.
//!
//! When the registry cannot be read, a stale entry is used if there is one;
//! otherwise the lookup is retried for a few seconds before it gives up.

use crate::schema::Schema;
use junction_core::wire::circuit::CircuitPolicy;
use junction_store::{AgentRecord, Store};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a registry lookup is trusted.
pub const REGISTRY_TTL: Duration = Duration::from_secs(2);
/// Lookups tried before giving up when nothing is cached (≈ 3 s in all).
const LOOKUP_TRIES: u32 = 6;

/// A registered agent, as a step needs it.
#[derive(Debug)]
pub struct RegisteredAgent {
    /// Checked before the call: a violation fails the step.
    pub input_schema: Option<Arc<Schema>>,
    /// Checked after the call: a violation is a warning.
    pub output_schema: Option<Arc<Schema>>,
    /// The agent's circuit breaker policy (`crate::circuit`), if any.
    pub circuit: Option<CircuitPolicy>,
}

#[derive(Debug, Clone)]
struct Entry {
    fetched_at: Instant,
    /// `None`: not registered in that tenant.
    agent: Option<Arc<RegisteredAgent>>,
}

type Key = (String, String);

/// Registry lookups with a short-lived cache. Cheap to share.
#[derive(Debug)]
pub struct AgentCatalog {
    store: Store,
    ttl: Duration,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl AgentCatalog {
    pub fn new(store: Store, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The registry's store (the circuit breakers live there too).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The agent `name` of `tenant`: `Ok(None)` when it is not registered
    /// there; `Err` only when the registry could not be read and nothing is
    /// cached.
    pub async fn resolve(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<Arc<RegisteredAgent>>, junction_store::Error> {
        let key = (tenant.to_owned(), name.to_owned());
        let cached = self.cached(&key);
        if let Some(entry) = &cached
            && entry.fetched_at.elapsed() < self.ttl
        {
            return Ok(entry.agent.clone());
        }
        let mut delay = Duration::from_millis(100);
        let mut tries = 0;
        let record = loop {
            tries += 1;
            match self.store.get_agent(tenant, name).await {
                Ok(record) => break record,
                Err(error) => {
                    if let Some(entry) = cached {
                        tracing::warn!(%error, tenant, agent = name, "cannot refresh the agent registry; using the cached entry");
                        self.store_entry(key, entry.agent.clone());
                        return Ok(entry.agent);
                    }
                    if tries >= LOOKUP_TRIES {
                        return Err(error);
                    }
                    tracing::warn!(%error, tenant, agent = name, try_number = tries, "cannot read the agent registry; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        };
        let previous = cached.and_then(|entry| entry.agent);
        let agent = record.map(|record| Arc::new(registered(record, previous.as_deref())));
        self.store_entry(key, agent.clone());
        Ok(agent)
    }

    fn cached(&self, key: &Key) -> Option<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn store_entry(&self, key: Key, agent: Option<Arc<RegisteredAgent>>) {
        let entry = Entry {
            fetched_at: Instant::now(),
            agent,
        };
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, entry);
    }
}

/// The cache form of a record, reusing `previous`'s compiled schemas when
/// their source did not change.
fn registered(record: AgentRecord, previous: Option<&RegisteredAgent>) -> RegisteredAgent {
    RegisteredAgent {
        input_schema: reuse(
            record.input_schema,
            previous.and_then(|p| p.input_schema.as_ref()),
        ),
        output_schema: reuse(
            record.output_schema,
            previous.and_then(|p| p.output_schema.as_ref()),
        ),
        // Checked when it was stored; a row that does not read is logged
        // and leaves the agent unguarded.
        circuit: record
            .circuit
            .filter(|c| !c.is_null())
            .and_then(|c| match CircuitPolicy::from_value(&c) {
                Ok(policy) => Some(policy),
                Err(error) => {
                    tracing::warn!(agent = %record.name, %error, "stored circuit does not read; the agent is unguarded");
                    None
                }
            }),
    }
}

fn reuse(source: Option<Value>, previous: Option<&Arc<Schema>>) -> Option<Arc<Schema>> {
    // A JSON `null` schema column is "no schema", like SQL NULL.
    let source = source.filter(|s| !s.is_null())?;
    match previous {
        Some(schema) if schema.source == source => Some(schema.clone()),
        _ => Some(Arc::new(Schema::compile(source))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(input: Option<Value>, output: Option<Value>) -> AgentRecord {
        AgentRecord {
            name: "a".into(),
            description: None,
            input_schema: input,
            output_schema: output,
            circuit: None,
            updated_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn an_unchanged_schema_keeps_its_compiled_validator() {
        let schema = json!({ "type": "object" });
        let first = registered(record(Some(schema.clone()), None), None);
        let second = registered(record(Some(schema), None), Some(&first));
        let (Some(a), Some(b)) = (&first.input_schema, &second.input_schema) else {
            panic!("both have an input schema");
        };
        assert!(Arc::ptr_eq(a, b));
    }

    #[test]
    fn a_changed_schema_is_compiled_again() {
        let first = registered(record(None, Some(json!({ "type": "object" }))), None);
        let second = registered(record(None, Some(json!({ "type": "array" }))), Some(&first));
        let (Some(a), Some(b)) = (&first.output_schema, &second.output_schema) else {
            panic!("both have an output schema");
        };
        assert!(!Arc::ptr_eq(a, b));
        assert_eq!(b.source, json!({ "type": "array" }));
    }

    /// A store whose database never answers (connections are refused).
    fn unreachable() -> Store {
        Store::new("postgres://postgres@127.0.0.1:1/none", 1).expect("valid url")
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreadable_registry_with_nothing_cached_is_an_error() {
        let catalog = AgentCatalog::new(unreachable(), REGISTRY_TTL);
        assert!(catalog.resolve("default", "echo").await.is_err());
    }

    #[tokio::test]
    async fn an_unreadable_registry_serves_the_stale_entry() {
        let catalog = AgentCatalog::new(unreachable(), Duration::ZERO);
        let agent = Arc::new(registered(record(None, None), None));
        catalog.store_entry(("default".into(), "a".into()), Some(agent.clone()));
        let resolved = catalog.resolve("default", "a").await.expect("stale entry");
        assert!(resolved.is_some_and(|r| Arc::ptr_eq(&r, &agent)));
    }

    #[test]
    fn a_null_schema_is_no_schema() {
        let agent = registered(record(Some(Value::Null), None), None);
        assert!(agent.input_schema.is_none() && agent.output_schema.is_none());
    }
}
