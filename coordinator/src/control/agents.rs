//! `wf.ctl.agents.*`: put, list, delete.

use super::{Reply, Request};
use crate::driver::Driver;
use junction_core::ids::is_valid_agent_name;
use junction_core::wire::circuit::CircuitPolicy;
use junction_core::wire::control::ControlError;
use serde_json::{Value, json};

fn schema<'r>(request: &'r Request, key: &str) -> Result<Option<&'r Value>, ControlError> {
    match request.fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(schema @ (Value::Object(_) | Value::Bool(_))) => {
            jsonschema::validator_for(schema).map_err(|e| {
                ControlError::invalid(format!("`{key}` is not a valid JSON Schema: {e}"))
            })?;
            Ok(Some(schema))
        }
        Some(_) => Err(ControlError::invalid(format!(
            "`{key}` must be a JSON Schema object"
        ))),
    }
}

/// `circuit: {failures, cooldownSeconds}` (docs/protocol.md §10), checked.
fn circuit(request: &Request) -> Result<Option<&Value>, ControlError> {
    match request.fields.get("circuit") {
        None | Some(Value::Null) => Ok(None),
        Some(circuit) => {
            CircuitPolicy::from_value(circuit).map_err(ControlError::invalid)?;
            Ok(Some(circuit))
        }
    }
}

pub async fn put(driver: &Driver, request: &Request) -> Reply {
    let name = request.string("name")?;
    if !is_valid_agent_name(name) {
        return Err(ControlError::invalid(format!(
            "agent name {name:?} must match [a-z0-9][a-z0-9_-]{{0,63}}"
        )));
    }
    let description = request.optional_string("description")?;
    let input_schema = schema(request, "input_schema")?;
    let output_schema = schema(request, "output_schema")?;
    let circuit = circuit(request)?;
    let created = driver
        .store
        .put_agent(
            &request.tenant,
            name,
            description,
            input_schema,
            output_schema,
            circuit,
        )
        .await?;
    Ok(json!({ "created": created }))
}

pub async fn list(driver: &Driver, request: &Request) -> Reply {
    let agents = driver.store.list_agents(&request.tenant).await?;
    Ok(json!({ "agents": agents }))
}

pub async fn delete(driver: &Driver, request: &Request) -> Reply {
    let name = request.string("name")?;
    if driver.store.delete_agent(&request.tenant, name).await? {
        Ok(json!({}))
    } else {
        Err(ControlError::not_found(format!("agent `{name}` not found")))
    }
}
