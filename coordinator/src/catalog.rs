//! The coordinator's cache of compiled workflow revisions. A stored revision
//! never changes, so entries never go stale.

use junction_core::expr::{Bindings, CompiledExpr};
use junction_core::model::Workflow;
use junction_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A revision ready to run: its IR and its compiled input schema.
#[derive(Debug)]
pub struct CompiledWorkflow {
    pub workflow: Workflow,
    pub version: i32,
    pub input_validator: Option<jsonschema::Validator>,
    /// The trigger's Starlark filter, compiled once.
    pub trigger_filter: Option<CompiledExpr>,
}

impl CompiledWorkflow {
    pub fn from_ir(ir: serde_json::Value, version: i32) -> anyhow::Result<Self> {
        let workflow: Workflow = serde_json::from_value(ir)?;
        let input_validator = match &workflow.input_schema {
            Some(schema) => Some(
                jsonschema::validator_for(schema)
                    .map_err(|e| anyhow::anyhow!("inputSchema: {e}"))?,
            ),
            None => None,
        };
        let trigger_filter = match workflow.trigger.as_ref().and_then(|t| t.filter.as_deref()) {
            Some(filter) => Some(
                CompiledExpr::compile(filter)
                    .map_err(|e| anyhow::anyhow!("trigger.filter: {e}"))?,
            ),
            None => None,
        };
        Ok(Self {
            workflow,
            version,
            input_validator,
            trigger_filter,
        })
    }

    /// Does the trigger filter accept this signal? `signal` (the envelope)
    /// and `data` are bound. No filter accepts everything; a filter that
    /// raises counts as false (docs/language.md), and says why in the log.
    pub fn accepts(&self, envelope: &serde_json::Value, data: &serde_json::Value) -> bool {
        let Some(filter) = &self.trigger_filter else {
            return true;
        };
        let bindings = Bindings::new()
            .with("signal", envelope.clone())
            .with("data", data.clone());
        match filter.evaluate_bool(&bindings) {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(workflow_id = %self.workflow.id, error = %error.in_role("filter"), "trigger filter raised; the signal does not start this workflow");
                false
            }
        }
    }

    /// Checks a run input against `inputSchema`; the message lists every violation.
    pub fn check_input(&self, input: &serde_json::Value) -> Result<(), String> {
        let Some(validator) = &self.input_validator else {
            return Ok(());
        };
        let problems: Vec<String> = validator
            .iter_errors(input)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "input does not match inputSchema: {}",
                problems.join("; ")
            ))
        }
    }
}

impl CompiledWorkflow {
    /// The concurrency key of a run started with `input` (and `signal`),
    /// if the workflow is limited; `Err` says why it does not render.
    pub fn concurrency_key(
        &self,
        input: &serde_json::Value,
        signal: Option<&serde_json::Value>,
    ) -> Result<Option<String>, String> {
        self.workflow
            .concurrency
            .as_ref()
            .map(|c| c.render_key(input, signal))
            .transpose()
    }
}

type Key = (String, String, i32);

/// Compiled revisions by (tenant, workflow id, version).
#[derive(Debug, Clone)]
pub struct Catalog {
    store: Store,
    cache: Arc<RwLock<HashMap<Key, Arc<CompiledWorkflow>>>>,
}

impl Catalog {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            cache: Arc::default(),
        }
    }

    /// The revision, from the cache or the store. `None` if it does not exist.
    pub async fn get(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: i32,
    ) -> anyhow::Result<Option<Arc<CompiledWorkflow>>> {
        let key = (tenant.to_owned(), workflow_id.to_owned(), version);
        if let Some(found) = self.cache.read().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(Some(found));
        }
        let Some(ir) = self
            .store
            .definition_ir(tenant, workflow_id, version)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(self.insert(key, ir)?))
    }

    /// Caches a revision whose IR is already at hand.
    pub fn get_or_compile(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: i32,
        ir: serde_json::Value,
    ) -> anyhow::Result<Arc<CompiledWorkflow>> {
        let key = (tenant.to_owned(), workflow_id.to_owned(), version);
        if let Some(found) = self.cache.read().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(found);
        }
        self.insert(key, ir)
    }

    fn insert(&self, key: Key, ir: serde_json::Value) -> anyhow::Result<Arc<CompiledWorkflow>> {
        let compiled = Arc::new(CompiledWorkflow::from_ir(ir, key.2)?);
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(key, compiled.clone());
        }
        Ok(compiled)
    }
}
