//! `wf.ctl.workflows.*`: put, validate, get, list, delete.

use super::{Reply, Request};
use crate::driver::Driver;
use junction_core::ids::is_valid_agent_name;
use junction_core::model::parse::{Compiled, attach_positions};
use junction_core::model::validate::{AgentSpec, against_registry};
use junction_core::model::{Diagnostic, Diagnostics, SourceFormat, compile};
use junction_core::wire::control::{ControlError, ErrorCode};
use junction_core::wire::time;
use junction_store::{Error as StoreError, NewDefinition, RunFilter, Store};
use serde_json::{Value, json};
use std::collections::HashMap;

fn source_of(request: &Request) -> Result<(&str, SourceFormat), ControlError> {
    let source = request.string("source")?;
    let format = match request.optional_string("format")? {
        None => SourceFormat::Yaml,
        Some(name) => SourceFormat::parse(name).ok_or_else(|| {
            ControlError::invalid(format!(
                "format `{name}` is not supported (yaml, json or star)"
            ))
        })?,
    };
    Ok((source, format))
}

/// Compiles, then adds the checks that need more than the source: the input
/// schema must compile, and every agent must be in the tenant's registry with
/// schemas compatible along every path.
pub async fn check(
    store: &Store,
    tenant: &str,
    source: &str,
    format: SourceFormat,
) -> Result<Compiled, StoreError> {
    check_with_agents(store, tenant, source, format, &[]).await
}

/// [`check`], as if the agents of `overlay` were registered too (replacing
/// registered ones of the same name): how a bundle's workflows are checked
/// before its agents are stored.
pub async fn check_with_agents(
    store: &Store,
    tenant: &str,
    source: &str,
    format: SourceFormat,
    overlay: &[AgentSpec],
) -> Result<Compiled, StoreError> {
    let mut compiled = compile(source, format);
    if let Some(workflow) = &compiled.workflow {
        let mut extra = Diagnostics::default();
        for (key, schema) in [
            ("inputSchema", &workflow.input_schema),
            ("outputSchema", &workflow.output_schema),
        ] {
            if let Some(schema) = schema
                && let Err(e) = jsonschema::validator_for(schema)
            {
                extra.push(Diagnostic::new(
                    "INVALID_SCHEMA",
                    key,
                    format!("{key} is not a valid JSON Schema: {e}"),
                ));
            }
        }
        // The source's escapes (YAML `"\0"`, JSON `"\u0000"`) can put a
        // NUL in the definition that the request's text does not hold.
        let ir = serde_json::to_value(workflow).unwrap_or_default();
        if let Some(at) = junction_core::wire::storable::nul_path(&ir) {
            extra.push(Diagnostic::new(
                "INVALID_VALUE",
                "",
                format!("the definition holds U+0000 (NUL) at {at}, which cannot be stored"),
            ));
        }
        let agents: HashMap<String, AgentSpec> = store
            .list_agents(tenant)
            .await?
            .into_iter()
            .map(|a| {
                let spec = AgentSpec {
                    name: a.name.clone(),
                    input_schema: a.input_schema,
                    output_schema: a.output_schema,
                };
                (a.name, spec)
            })
            .collect();
        let mut agents = agents;
        agents.extend(overlay.iter().map(|a| (a.name.clone(), a.clone())));
        against_registry(workflow, &agents, &mut extra);
        attach_positions(source, format, &mut extra);
        if extra.has_errors() {
            compiled.workflow = None;
        }
        compiled.diagnostics.errors.extend(extra.errors);
        compiled.diagnostics.warnings.extend(extra.warnings);
    }
    Ok(compiled)
}

pub async fn put(driver: &Driver, request: &Request) -> Reply {
    let (source, format) = source_of(request)?;
    let compiled = check(&driver.store, &request.tenant, source, format).await?;
    let Some(workflow) = compiled.workflow else {
        let all: Vec<_> = compiled
            .diagnostics
            .errors
            .iter()
            .chain(&compiled.diagnostics.warnings)
            .collect();
        return Err(ControlError::new(
            ErrorCode::ValidationFailed,
            format!(
                "the definition has {} error(s)",
                compiled.diagnostics.errors.len()
            ),
        )
        .with_details(json!({ "diagnostics": all })));
    };
    // An update of a named workflow (HTTP `PUT /v1/workflows/{id}`) must keep its id.
    if let Some(expected) = request.optional_string("id")?
        && expected != workflow.id
    {
        return Err(ControlError::invalid(format!(
            "the definition's id is `{}`, not `{expected}`",
            workflow.id
        )));
    }
    let outcome = driver
        .store
        .put_definition(&NewDefinition {
            tenant: &request.tenant,
            workflow: &workflow,
            source,
            format: format.as_str(),
        })
        .await?;
    if outcome.created {
        tracing::info!(workflow_id = %workflow.id, version = outcome.version, tenant = %request.tenant, "workflow stored");
    }
    Ok(
        json!({ "id": workflow.id, "version": outcome.version, "created": outcome.created, "warnings": compiled.diagnostics.warnings }),
    )
}

pub async fn validate(driver: &Driver, request: &Request) -> Reply {
    let (source, format) = source_of(request)?;
    let overlay = overlay_agents(request)?;
    let compiled =
        check_with_agents(&driver.store, &request.tenant, source, format, &overlay).await?;
    Ok(json!({ "errors": compiled.diagnostics.errors, "warnings": compiled.diagnostics.warnings }))
}

/// `agents`: agents to check against as if registered (a bundle's, before
/// it is installed): `[{name, input_schema?, output_schema?}]`, each schema
/// a valid JSON Schema.
fn overlay_agents(request: &Request) -> Result<Vec<AgentSpec>, ControlError> {
    let items = match request.fields.get("agents") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ControlError::invalid("`agents` must be an array")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let name = item["name"]
                .as_str()
                .filter(|n| is_valid_agent_name(n))
                .ok_or_else(|| {
                    ControlError::invalid(format!(
                        "agents[{i}].name must match [a-z0-9][a-z0-9_-]{{0,63}}"
                    ))
                })?;
            let mut schemas = [None, None];
            for (slot, key) in schemas.iter_mut().zip(["input_schema", "output_schema"]) {
                match &item[key] {
                    Value::Null => {}
                    schema @ (Value::Object(_) | Value::Bool(_)) => {
                        jsonschema::validator_for(schema).map_err(|e| {
                            ControlError::invalid(format!(
                                "agents[{i}].{key} is not a valid JSON Schema: {e}"
                            ))
                        })?;
                        *slot = Some(schema.clone());
                    }
                    _ => {
                        return Err(ControlError::invalid(format!(
                            "agents[{i}].{key} must be a JSON Schema object"
                        )));
                    }
                }
            }
            let [input_schema, output_schema] = schemas;
            Ok(AgentSpec {
                name: name.to_owned(),
                input_schema,
                output_schema,
            })
        })
        .collect()
}

/// `INVALID_REQUEST` unless `id` can name a workflow.
pub fn check_workflow_id(id: &str) -> Result<(), ControlError> {
    if junction_core::model::parse::is_valid_workflow_id(id) {
        Ok(())
    } else {
        Err(ControlError::invalid(format!(
            "workflow id {id:?} must match [A-Za-z0-9_.-]{{1,128}}"
        )))
    }
}

pub async fn get(driver: &Driver, request: &Request) -> Reply {
    let id = request.string("id")?;
    check_workflow_id(id)?;
    let version = request.optional_version()?;
    let found = driver
        .store
        .get_definition(&request.tenant, id, version)
        .await?;
    let record =
        found.ok_or_else(|| ControlError::not_found(format!("workflow `{id}` not found")))?;
    let mut workflow = json!({
        "id": record.workflow_id,
        "version": record.version,
        "definition_version": record.definition_version,
        "source": record.source,
        "format": record.format,
        "created_at": record.created_at,
        "archived": record.archived,
    });
    let ticks = driver
        .store
        .schedule_ticks(&request.tenant, Some(id))
        .await?;
    if let Some((_, _, tick)) = ticks.iter().find(|(_, v, _)| *v == record.version) {
        workflow["next_fire_at"] = json!(time::format(*tick));
    }
    Ok(json!({ "workflow": workflow }))
}

/// `workflows.list`: the latest revision of each workflow, with what
/// starts it (`triggers`) and the next tick of those with an enabled
/// schedule (`next_fire_at`).
pub async fn list(driver: &Driver, request: &Request) -> Reply {
    let rows = driver.store.list_definitions(&request.tenant).await?;
    let ticks: HashMap<String, _> = driver
        .store
        .schedule_ticks(&request.tenant, None)
        .await?
        .into_iter()
        .map(|(id, _, tick)| (id, tick))
        .collect();
    let workflows: Vec<_> = rows
        .into_iter()
        .map(|row| {
            let mut entry = json!({
                "id": row.workflow_id, "version": row.version, "name": row.name,
                "updated_at": row.updated_at, "triggers": row.triggers,
            });
            if let Some(tick) = ticks.get(&row.workflow_id) {
                entry["next_fire_at"] = json!(time::format(*tick));
            }
            entry
        })
        .collect();
    Ok(json!({ "workflows": workflows }))
}

/// `workflows.delete {id}` (`DELETE /v1/workflows/{id}`): removes every
/// revision of a workflow that no run was ever started from. An unknown
/// workflow is `NOT_FOUND`; one with runs is `CONFLICT`, since its runs stay
/// pinned to their revisions. The deleting statement checks for runs again,
/// so a run started meanwhile wins.
pub async fn delete(driver: &Driver, request: &Request) -> Reply {
    get(driver, request).await?;
    let id = request.string("id")?;
    let has_runs = || {
        ControlError::new(
            ErrorCode::Conflict,
            format!("workflow `{id}` has runs and cannot be deleted"),
        )
    };
    let filter = RunFilter {
        tenant: request.tenant.clone(),
        workflow_id: Some(id.to_owned()),
        status: None,
        causation_id: None,
        correlation_id: None,
        limit: 1,
        cursor: None,
    };
    let (runs, _) = driver.store.list_runs(&filter).await?;
    if !runs.is_empty() {
        return Err(has_runs());
    }
    let store = &driver.store;
    if !store.delete_definition(&request.tenant, id).await? {
        return Err(has_runs());
    }
    tracing::info!(workflow_id = %id, tenant = %request.tenant, "workflow deleted");
    Ok(json!({ "id": id, "deleted": true }))
}
