//! Read-only views for the web UI beside the control plane's verbs
//! (docs/http.md, "Views"), authorized like every route, HTTP only:
//!
//! - `GET /v1/session`: who the caller is, and whether auth is on;
//! - `GET /v1/workflows/{id}/versions`: every revision of a workflow;
//! - `GET /v1/workflows/{id}/graph?version=`: a revision's graph, the one
//!   `junction graph` draws (`junction_core::graph`), and its Mermaid text.

use super::Api;
use super::request::{authorized_request, check_query_keys};
use super::response::{error_response, respond};
use crate::control::Request;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use junction_core::wire::control::ControlError;
use serde_json::json;

/// The request of a view: only `allowed` query keys (and `tenant`), the
/// caller authorized, the path's id checked.
fn view_request(
    api: &Api,
    headers: &HeaderMap,
    query: Option<&str>,
    allowed: &[&str],
    id: Option<&str>,
) -> Result<Request, ControlError> {
    check_query_keys(query, allowed)?;
    let request = authorized_request(api, headers, query, b"")?;
    if let Some(id) = id {
        crate::control::check_subject_id(Some(id))?;
        crate::control::workflows::check_workflow_id(id)?;
    }
    Ok(request)
}

/// `GET /v1/session`: `{auth, identity, tenants, groups}`; with auth off
/// `{auth: false}` and nulls. A missing or unknown token with auth on is
/// `401 UNAUTHENTICATED`, as everywhere.
pub async fn session(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let request = match view_request(&api, &headers, query.as_deref(), &[], None) {
        Ok(request) => request,
        Err(error) => return error_response(&error),
    };
    respond(Ok(match &request.caller {
        Some(caller) => json!({
            "auth": true,
            "identity": caller.identity,
            "tenants": caller.tenants,
            "groups": caller.groups,
        }),
        None => json!({
            "auth": api.driver.auth.is_some(),
            "identity": null,
            "tenants": null,
            "groups": null,
        }),
    }))
}

/// `GET /v1/workflows/{id}/versions`: `{versions: [{version,
/// definition_version, created_at, archived}]}`, newest first; `404` for an
/// unknown workflow.
pub async fn versions(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let request = match view_request(&api, &headers, query.as_deref(), &[], Some(&id)) {
        Ok(request) => request,
        Err(error) => return error_response(&error),
    };
    let reply = async {
        let versions = api
            .driver
            .store
            .definition_versions(&request.tenant, &id)
            .await?;
        if versions.is_empty() {
            return Err(ControlError::not_found(format!(
                "workflow `{id}` not found"
            )));
        }
        let versions: Vec<_> = versions
            .into_iter()
            .map(|(version, definition_version, created_at, archived)| {
                json!({
                    "version": version,
                    "definition_version": definition_version,
                    "created_at": created_at,
                    "archived": archived,
                })
            })
            .collect();
        Ok(json!({ "versions": versions }))
    };
    respond(reply.await)
}

/// `GET /v1/workflows/{id}/graph?version=`: `{version, graph: {nodes,
/// edges}, mermaid}` of a revision (the latest without `version`).
pub async fn graph(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let request = match view_request(&api, &headers, query.as_deref(), &["version"], Some(&id)) {
        Ok(request) => request,
        Err(error) => return error_response(&error),
    };
    let reply = async {
        let version = request.optional_version()?;
        let record = api
            .driver
            .store
            .get_definition(&request.tenant, &id, version)
            .await?
            .ok_or_else(|| ControlError::not_found(format!("workflow `{id}` not found")))?;
        let compiled = api
            .driver
            .catalog
            .get(&request.tenant, &id, record.version)
            .await
            .map_err(|error| ControlError::internal(error.to_string()))?
            .ok_or_else(|| ControlError::not_found(format!("workflow `{id}` not found")))?;
        let graph = junction_core::graph::graph(&compiled.workflow);
        Ok(json!({
            "version": record.version,
            "mermaid": junction_core::graph::mermaid(&graph),
            "graph": graph,
        }))
    };
    respond(reply.await)
}
