//! Storing one definition file through the control plane's own handlers
//! (`workflows.put`, `agents.put`), so a file is checked exactly as a
//! request with the same content would be, in tenant `default`. The outcome
//! tells a stored file from an unchanged one, a broken one (its
//! diagnostics are logged) and one the store could not take now (retried
//! on the next pass).

use super::files::{DefinitionFile, FileKind};
use crate::control::{self, Request};
use crate::driver::Driver;
use junction_core::model::SourceFormat;
use junction_core::wire::control::{ControlError, ErrorCode};
use serde_json::{Map, Value, json};

/// The tenant file definitions belong to.
pub const FILE_TENANT: &str = "default";

/// What storing one file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A new workflow revision, or an agent created or replaced.
    Stored { id: String },
    /// The latest stored revision already has this source.
    Unchanged { id: String },
    /// The file does not validate (or does not parse); nothing was stored.
    Broken,
    /// The store could not answer; try again on the next pass.
    Retry,
}

/// Stores `file` (its workflow or its agent).
pub async fn apply(driver: &Driver, file: &DefinitionFile) -> Applied {
    let outcome = match file.kind {
        FileKind::Workflow(format) => put_workflow(driver, file, format).await,
        FileKind::Agent { json } => put_agent(driver, file, json).await,
    };
    match outcome {
        Ok(applied) => applied,
        Err(error) => report_failure(file, &error),
    }
}

async fn put_workflow(
    driver: &Driver,
    file: &DefinitionFile,
    format: SourceFormat,
) -> Result<Applied, ControlError> {
    let fields = json!({ "source": file.source, "format": format.as_str(), "tenant": FILE_TENANT });
    let request = Request::new(object(fields))?;
    let reply = control::workflows::put(driver, &request).await?;
    let id = reply["id"].as_str().unwrap_or_default().to_owned();
    let version = reply["version"].as_i64().unwrap_or_default();
    for warning in reply["warnings"].as_array().into_iter().flatten() {
        tracing::warn!(file = %file.path.display(), workflow_id = %id, code = %warning["code"], path = %warning["path"], line = %warning["line"], "{}", warning["message"].as_str().unwrap_or_default());
    }
    if reply["created"] == json!(true) {
        tracing::info!(file = %file.path.display(), workflow_id = %id, version, "workflow file stored as a new version");
        Ok(Applied::Stored { id })
    } else {
        tracing::info!(file = %file.path.display(), workflow_id = %id, version, "workflow file already stored");
        Ok(Applied::Unchanged { id })
    }
}

async fn put_agent(
    driver: &Driver,
    file: &DefinitionFile,
    json: bool,
) -> Result<Applied, ControlError> {
    let parsed: Result<Value, String> = if json {
        serde_json::from_str(&file.source).map_err(|e| e.to_string())
    } else {
        yaml_serde::from_str(&file.source).map_err(|e| e.to_string())
    };
    let agent =
        parsed.map_err(|e| ControlError::invalid(format!("not a valid agent file: {e}")))?;
    let Value::Object(mut fields) = agent else {
        return Err(ControlError::invalid("an agent file holds one object"));
    };
    // Files belong to the default tenant, whatever they say.
    fields.insert("tenant".to_owned(), json!(FILE_TENANT));
    fields.remove("token");
    let request = Request::new(fields)?;
    let name = request.string("name")?.to_owned();
    control::agents::put(driver, &request).await?;
    tracing::info!(file = %file.path.display(), agent = %name, "agent file stored");
    Ok(Applied::Stored { id: name })
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(fields) => fields,
        _ => Map::new(),
    }
}

/// Logs why a file was not stored: each diagnostic of a definition with
/// errors, or the refusal; a store that did not answer is retried.
fn report_failure(file: &DefinitionFile, error: &ControlError) -> Applied {
    let shown = file.path.display();
    match error.code {
        ErrorCode::Unavailable | ErrorCode::Internal => {
            tracing::warn!(file = %shown, code = ?error.code, error = %error.message, "definition file not stored now; retried on the next pass");
            Applied::Retry
        }
        _ => {
            let diagnostics = error
                .details
                .as_ref()
                .and_then(|d| d["diagnostics"].as_array())
                .cloned()
                .unwrap_or_default();
            for d in diagnostics.iter().filter(|d| d["severity"] == "error") {
                tracing::error!(file = %shown, code = %d["code"].as_str().unwrap_or_default(), path = %d["path"].as_str().unwrap_or_default(), line = %d["line"], column = %d["column"], "{}", d["message"].as_str().unwrap_or_default());
            }
            tracing::error!(file = %shown, code = ?error.code, error = %error.message, "definition file is broken and was skipped; what was stored before stays");
            Applied::Broken
        }
    }
}
