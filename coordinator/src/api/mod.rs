//! The REST API (`/v1/…`, docs/http.md): the same behaviour as the NATS
//! control plane. Each handler maps method, path, query and body to a
//! control [`Request`] and calls the very function that answers the NATS
//! subject; the reply becomes the JSON body and its error code the status.
//! `GET /v1/runs/{id}/stream` adds Server-Sent Events (`sse.rs`).

mod sse;

use crate::control::{Reply, Request, approvals, runs, workflows};
use crate::driver::Driver;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use junction_core::wire::control::{ControlError, ErrorCode, parse_request};
use runs::RunAction;
use serde_json::{Map, Value};
use tokio::sync::watch;

/// The header that names the tenant when `?tenant=` is absent.
pub const TENANT_HEADER: &str = "x-junction-tenant";

/// Query keys whose values are integers in the control requests.
const INTEGER_KEYS: &[&str] = &["limit", "after_seq", "version"];

const OPENAPI: &str = include_str!("openapi.json");

#[derive(Clone)]
pub struct Api {
    pub driver: Driver,
    /// Flips at shutdown: open event streams end.
    pub stop: watch::Receiver<bool>,
}

/// Every `/v1` route.
pub fn router(driver: Driver, stop: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/workflows", get(list_workflows).post(put_workflow))
        .route("/v1/workflows/validate", post(validate_workflow))
        .route(
            "/v1/workflows/{id}",
            get(get_workflow)
                .put(update_workflow)
                .delete(delete_workflow),
        )
        .route("/v1/runs", get(list_runs).post(start_run))
        .route("/v1/runs/{id}", get(get_run))
        .route("/v1/runs/{id}/events", get(run_events))
        .route("/v1/runs/{id}/stream", get(sse::stream))
        .route("/v1/runs/{id}/cancel", post(cancel_run))
        .route("/v1/runs/{id}/pause", post(pause_run))
        .route("/v1/runs/{id}/resume", post(resume_run))
        .route("/v1/runs/{id}/signal", post(signal_run))
        .route("/v1/approvals", get(list_approvals))
        .route("/v1/approvals/{id}/approve", post(approve))
        .route("/v1/approvals/{id}/reject", post(reject))
        .with_state(Api { driver, stop })
}

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::from(bytes),
    )
        .into_response()
}

/// The HTTP status of a control error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidRequest | ErrorCode::ValidationFailed => StatusCode::BAD_REQUEST,
        ErrorCode::InputSchema => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::InvalidState | ErrorCode::AlreadyDecided | ErrorCode::Conflict => {
            StatusCode::CONFLICT
        }
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `{"error":{code,message,details?}}` with the code's status.
pub fn error_response(error: &ControlError) -> Response {
    if error.code == ErrorCode::Internal {
        tracing::error!(error = %error.message, "http request failed");
    }
    let mut body = error.to_reply();
    if let Value::Object(map) = &mut body {
        map.remove("ok");
    }
    let mut response = json_response(status_of(error.code), &body);
    if error.code == ErrorCode::Unauthenticated {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// A control reply as a response: `ok` when it succeeded, `created` (201)
/// when the reply says `created: true`.
fn respond(reply: Reply) -> Response {
    match reply {
        Ok(fields) => {
            let status = if fields.get("created") == Some(&Value::Bool(true)) {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            json_response(status, &fields)
        }
        Err(error) => error_response(&error),
    }
}

fn percent_decode(text: &str) -> Result<String, ControlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| ControlError::invalid("malformed percent-encoding in query"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ControlError::invalid("query is not UTF-8"))
}

/// Parses a query string into request fields: integers for [`INTEGER_KEYS`],
/// strings otherwise; empty values are absent.
pub fn query_fields(raw: Option<&str>) -> Result<Map<String, Value>, ControlError> {
    let mut fields = Map::new();
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(key)?, percent_decode(value)?);
        if value.is_empty() {
            continue;
        }
        let value = if INTEGER_KEYS.contains(&key.as_str()) {
            let n: i64 = value
                .parse()
                .map_err(|_| ControlError::invalid(format!("`{key}` must be an integer")))?;
            Value::from(n)
        } else {
            Value::String(value)
        };
        fields.insert(key, value);
    }
    Ok(fields)
}

/// The token of `Authorization: Bearer <token>`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Builds the control request of a call (PROTOCOL §6): with auth on, the
/// bearer token must be known (`UNAUTHENTICATED`, checked before anything
/// else) and list the request's tenant (`FORBIDDEN`). A `token` in the body
/// or query is ignored: HTTP takes tokens only as `Authorization: Bearer`.
pub fn authorized_request(
    api: &Api,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Request, ControlError> {
    let tokens = api.driver.auth.as_deref();
    let token = bearer(headers);
    if let Some(tokens) = tokens {
        tokens.caller(token)?;
    }
    Request::authorized(request_fields(headers, query, body)?, tokens, token)
}

/// Builds the control request, trusted as sent (auth off).
#[cfg(test)]
pub fn build_request(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Request, ControlError> {
    Request::new(request_fields(headers, query, body)?)
}

/// The fields of a call: body fields, then query fields (which win), then
/// the tenant from `?tenant=`, else `X-Junction-Tenant`, else the body's
/// `tenant` (as over NATS), else `default`.
fn request_fields(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, ControlError> {
    let mut fields = parse_request(body)?;
    let query = query_fields(query)?;
    let header_tenant = headers
        .get(TENANT_HEADER)
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| ControlError::invalid("X-Junction-Tenant is not valid text"))
        })
        .transpose()?;
    let query_tenant = query.contains_key("tenant");
    fields.extend(query);
    if !query_tenant && let Some(tenant) = header_tenant {
        fields.insert("tenant".into(), Value::String(tenant));
    }
    Ok(fields)
}

/// Reads the body up to the payload limit (`limits.payload_bytes` plus room
/// for the envelope): a larger one is `PAYLOAD_TOO_LARGE`.
async fn read_body(api: &Api, headers: &HeaderMap, body: Body) -> Result<Bytes, ControlError> {
    let limit = api.driver.payload_limit + 16 * 1024;
    let too_large = || {
        ControlError::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let mut source: Option<&dyn std::error::Error> = Some(&error);
        while let Some(e) = source {
            if e.to_string().contains("length limit") {
                return too_large();
            }
            source = e.source();
        }
        ControlError::invalid(format!("cannot read the request body: {error}"))
    })
}

/// The request of a call with a JSON body.
async fn body_request(
    api: &Api,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
) -> Result<Request, ControlError> {
    if let Some(tokens) = api.driver.auth.as_deref() {
        tokens.caller(bearer(headers))?;
    }
    let bytes = read_body(api, headers, body).await?;
    authorized_request(api, headers, query, &bytes)
}

macro_rules! try_reply {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(error) => return error_response(&error),
        }
    };
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::from_static(OPENAPI.as_bytes()),
    )
        .into_response()
}

async fn list_workflows(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let request = try_reply!(authorized_request(&api, &headers, query.as_deref(), b""));
    respond(workflows::list(&api.driver, &request).await)
}

async fn put_workflow(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let request = try_reply!(body_request(&api, &headers, query.as_deref(), body).await);
    respond(workflows::put(&api.driver, &request).await)
}

/// `PUT /v1/workflows/{id}`: a new version of that workflow (the body's
/// definition must carry the same id).
async fn update_workflow(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let mut request = try_reply!(body_request(&api, &headers, query.as_deref(), body).await);
    request.fields.insert("id".into(), Value::String(id));
    respond(workflows::put(&api.driver, &request).await)
}

async fn validate_workflow(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let request = try_reply!(body_request(&api, &headers, query.as_deref(), body).await);
    respond(workflows::validate(&api.driver, &request).await)
}

async fn get_workflow(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut request = try_reply!(authorized_request(&api, &headers, query.as_deref(), b""));
    request.fields.insert("id".into(), Value::String(id));
    respond(workflows::get(&api.driver, &request).await)
}

/// The store keeps every revision and has no delete: a workflow with runs is
/// `CONFLICT` (as the PRD asks), and one without runs is `CONFLICT` too, with
/// a message saying deletion is not supported.
async fn delete_workflow(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut request = try_reply!(authorized_request(&api, &headers, query.as_deref(), b""));
    request
        .fields
        .insert("id".into(), Value::String(id.clone()));
    try_reply!(workflows::get(&api.driver, &request).await);
    let mut fields = Map::new();
    fields.insert("tenant".into(), Value::String(request.tenant.clone()));
    fields.insert("workflow_id".into(), Value::String(id.clone()));
    fields.insert("limit".into(), Value::from(1));
    let runs_request = try_reply!(Request::new(fields));
    let listed = try_reply!(runs::list(&api.driver, &runs_request).await);
    let has_runs = listed["runs"].as_array().is_some_and(|r| !r.is_empty());
    let conflict = || {
        error_response(&ControlError::new(
            ErrorCode::Conflict,
            format!("workflow `{id}` has runs and cannot be deleted"),
        ))
    };
    if has_runs {
        return conflict();
    }
    // One statement re-checks for runs, so a run started meanwhile wins.
    match api
        .driver
        .store
        .delete_definition(&request.tenant, &id)
        .await
    {
        Ok(true) => {
            tracing::info!(workflow_id = %id, tenant = %request.tenant, "workflow deleted");
            respond(Ok(serde_json::json!({ "id": id, "deleted": true })))
        }
        Ok(false) => conflict(),
        Err(error) => error_response(&crate::control::internal(error)),
    }
}

async fn start_run(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let request = try_reply!(body_request(&api, &headers, query.as_deref(), body).await);
    respond(runs::start(&api.driver, &request).await)
}

async fn list_runs(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let request = try_reply!(authorized_request(&api, &headers, query.as_deref(), b""));
    respond(runs::list(&api.driver, &request).await)
}

async fn get_run(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let request = try_reply!(authorized_request(&api, &headers, query.as_deref(), b""));
    respond(runs::get(&api.driver, &id, &request).await)
}

async fn run_events(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let request = try_reply!(authorized_request(&api, &headers, query.as_deref(), b""));
    respond(runs::events(&api.driver, &id, &request).await)
}

async fn act(
    api: Api,
    id: String,
    headers: HeaderMap,
    query: Option<String>,
    body: Body,
    action: RunAction,
) -> Response {
    let request = try_reply!(body_request(&api, &headers, query.as_deref(), body).await);
    respond(runs::act(&api.driver, &id, &request, action).await)
}

async fn cancel_run(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    act(api, id, headers, query, body, RunAction::Cancel).await
}

async fn pause_run(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    act(api, id, headers, query, body, RunAction::Pause).await
}

async fn resume_run(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    act(api, id, headers, query, body, RunAction::Resume).await
}

async fn signal_run(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let request = try_reply!(body_request(&api, &headers, query.as_deref(), body).await);
    respond(runs::signal(&api.driver, &id, &request).await)
}

async fn list_approvals(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let request = try_reply!(authorized_request(&api, &headers, query.as_deref(), b""));
    respond(approvals::list(&api.driver, &request).await)
}

async fn decide(
    api: Api,
    id: String,
    headers: HeaderMap,
    query: Option<String>,
    body: Body,
    approved: bool,
) -> Response {
    let request = try_reply!(body_request(&api, &headers, query.as_deref(), body).await);
    respond(approvals::decide(&api.driver, &id, &request, approved).await)
}

async fn approve(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    decide(api, id, headers, query, body, true).await
}

async fn reject(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    decide(api, id, headers, query, body, false).await
}

/// `404` for a path no route matches, in the API's error shape.
pub async fn not_found() -> Response {
    error_response(&ControlError::not_found("no such endpoint"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn queries_become_fields() {
        let fields = query_fields(Some("workflow_id=a%20b&limit=5&status=&x=1+2")).unwrap();
        assert_eq!(
            Value::Object(fields),
            json!({"workflow_id": "a b", "limit": 5, "x": "1 2"})
        );
        assert!(query_fields(Some("limit=abc")).is_err());
        assert!(query_fields(Some("a=%zz")).is_err());
    }

    #[test]
    fn the_tenant_comes_from_the_query_then_the_header() {
        let mut headers = HeaderMap::new();
        headers.insert(TENANT_HEADER, "acme".parse().unwrap());
        let r = build_request(&headers, Some("tenant=other"), b"{}").unwrap();
        assert_eq!(r.tenant, "other");
        let r = build_request(&headers, None, b"{\"tenant\":\"body\"}").unwrap();
        assert_eq!(r.tenant, "acme");
        let r = build_request(&HeaderMap::new(), None, b"{\"tenant\":\"body\"}").unwrap();
        assert_eq!(r.tenant, "body");
        let r = build_request(&HeaderMap::new(), None, b"").unwrap();
        assert_eq!(r.tenant, "default");
        let bad = build_request(&HeaderMap::new(), None, b"{").map_err(|e| e.code);
        assert_eq!(bad.err(), Some(ErrorCode::InvalidRequest));
    }

    #[test]
    fn bearer_tokens_come_from_the_authorization_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "bearer  xyz ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("xyz"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn codes_map_to_statuses() {
        assert_eq!(
            status_of(ErrorCode::InputSchema),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(status_of(ErrorCode::AlreadyDecided), StatusCode::CONFLICT);
        assert_eq!(
            status_of(ErrorCode::PayloadTooLarge),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn the_openapi_document_is_json() {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/v1/runs/{id}/stream"].is_object());
    }
}
