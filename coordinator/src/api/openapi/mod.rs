//! The OpenAPI 3.1 document of the API (`GET /v1/openapi.json`), generated
//! from the control plane's route table (`control::routes::ROUTES`): one
//! operation per HTTP twin of a verb, with the verb's parameters, request
//! body, replies and the error answers its handler can give. The shapes
//! (`components.schemas`) are those the handlers write; the patterns and
//! bounds are those the server enforces (ids, tenants, signal names,
//! `limit`). Schemathesis checks the document against a running
//! coordinator (`deploy/dev/schemathesis.sh`).

use crate::control::routes::{Http, Method, ROUTES};
use junction_bus::ControlVerb;
use junction_core::status::{RunStatus, StepStatus};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::OnceLock;

mod components;
mod operations;
mod views;

use self::components::components;
use self::operations::spec;

/// `[A-Za-z0-9_-]{1,64}`: run and approval ids (`junction_core::ids::is_valid_id`).
pub const ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";
/// `[A-Za-z0-9_.-]{1,128}`: workflow ids.
pub const WORKFLOW_ID_PATTERN: &str = "^[A-Za-z0-9_.-]{1,128}$";
/// A tenant, or empty for none (`?tenant=` and an empty header are absent).
pub const TENANT_PATTERN: &str = "^[A-Za-z0-9_.-]{0,64}$";
/// Dot-separated tokens of `[A-Za-z0-9_-]`, at most 256 characters.
pub const SIGNAL_NAME_PATTERN: &str = "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$";

/// Every control error code.
const ERROR_CODES: &[&str] = &[
    "INVALID_REQUEST",
    "NOT_FOUND",
    "VALIDATION_FAILED",
    "INPUT_SCHEMA",
    "INVALID_STATE",
    "ALREADY_DECIDED",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "CONFLICT",
    "PAYLOAD_TOO_LARGE",
    "UNAVAILABLE",
    "INTERNAL",
];

/// The whole document.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in &ROUTES {
        for http in route.http {
            let entry = paths
                .entry(http.path.to_owned())
                .or_insert_with(|| json!({}));
            entry[method_name(http.method)] = operation(route.verb, http);
        }
    }
    paths.insert("/v1/runs/{id}/stream".into(), stream_path());
    paths.insert("/v1/openapi.json".into(), openapi_path());
    for (path, item) in views::paths() {
        paths.insert(path.into(), item);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Junction HTTP API",
            "version": "1",
            "description": "The NATS control plane over HTTP (docs/http.md, docs/protocol.md). \
    With a tokens file (JUNCTION_AUTH__TOKENS_FILE) every call except this document needs \
    `Authorization: Bearer <token>` (401 UNAUTHENTICATED without a known token, 403 FORBIDDEN for \
    a tenant or approval the token may not act on); without one, auth is off. The tenant is \
    `?tenant=`, else the `X-Junction-Tenant` header, else the body's `tenant`, else `default`; an \
    empty `?tenant=` or header counts as absent. A query parameter an operation does not take, and \
    text holding U+0000 anywhere, are 400 INVALID_REQUEST. Every error answer is \
    `{error:{code,message,details?}}`."
        },
        "security": [{ "bearer": [] }, {}],
        "paths": paths,
        "components": components(),
    })
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "get",
        Method::Post => "post",
        Method::Put => "put",
        Method::Delete => "delete",
    }
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn param_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/parameters/{name}") })
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

fn path_id(pattern: &str, description: &str) -> Value {
    json!({ "name": "id", "in": "path", "required": true,
            "schema": { "type": "string", "pattern": pattern }, "description": description })
}

fn limit() -> Value {
    query(
        "limit",
        json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }),
        "At most this many (1..1000, default 100).",
    )
}

fn json_body(schema: Value, required: bool) -> Value {
    json!({ "required": required, "content": { "application/json": { "schema": schema } } })
}

fn reply(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn error(description: &str) -> Value {
    reply(description, schema_ref("Error"))
}

/// The query keys an operation takes besides `tenant` (others are
/// refused), read off its operation once per process.
pub fn query_keys(verb: ControlVerb, method: Method, has_id: bool) -> &'static [String] {
    static KEYS: OnceLock<HashMap<(ControlVerb, Method, bool), Vec<String>>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        ROUTES
            .iter()
            .flat_map(|route| route.http.iter().map(move |http| (route.verb, http)))
            .map(|(verb, http)| {
                let keys = spec(verb, http)
                    .params
                    .iter()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect();
                ((verb, http.method, http.has_id()), keys)
            })
            .collect()
    });
    keys.get(&(verb, method, has_id)).map_or(&[], Vec::as_slice)
}

pub(super) fn after_seq() -> Value {
    json!({ "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX })
}

pub(super) fn run_statuses() -> Vec<&'static str> {
    RunStatus::ALL.iter().map(|s| s.as_str()).collect()
}

pub(super) fn approval_statuses() -> Vec<&'static str> {
    crate::control::approvals::STATUSES.to_vec()
}

/// Answers every operation can give: auth (with a tokens file), the
/// database away, a bug.
fn common_errors(responses: &mut Map<String, Value>) {
    for (status, description) in [
        ("401", "UNAUTHENTICATED: no known bearer token (auth on)"),
        (
            "403",
            "FORBIDDEN: the token may not act in this tenant (auth on)",
        ),
        ("500", "INTERNAL"),
        ("503", "UNAVAILABLE: the database is away"),
    ] {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| error(description));
    }
}

fn operation(verb: ControlVerb, http: &Http) -> Value {
    let spec = spec(verb, http);
    let mut params = vec![param_ref("tenant"), param_ref("tenantHeader")];
    params.extend(spec.params);
    let mut responses = Map::new();
    for (status, body) in spec.replies {
        responses.insert(status.to_owned(), body);
    }
    for (status, description) in spec.errors {
        responses.insert(status.to_owned(), error(description));
    }
    common_errors(&mut responses);
    let mut op = json!({
        "operationId": spec.id,
        "summary": spec.summary,
        "parameters": params,
        "responses": responses,
    });
    if let Some(body) = spec.body {
        op["requestBody"] = body;
    }
    op
}

fn stream_path() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "text/event-stream; each message has `id: <seq>`, `event: <type>`, `data: <event JSON>`",
            "content": { "text/event-stream": { "schema": {
                "type": "object",
                "description": "One Server-Sent Event: `data` is an Event as JSON",
                "required": ["id", "event", "data"],
                "properties": {
                    "id": { "type": "string", "pattern": "^[0-9]+$" },
                    "event": { "type": "string", "enum": junction_core::wire::EventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>() },
                    "data": { "type": "string", "contentMediaType": "application/json" }
                }
            } } }
        }),
    );
    responses.insert("400".into(), error("INVALID_REQUEST"));
    responses.insert("404".into(), error("NOT_FOUND: no such run in this tenant"));
    common_errors(&mut responses);
    json!({ "get": {
        "operationId": "streamRun",
        "summary": "Server-Sent Events of the run: stored events after Last-Event-ID or after_seq, then live ones; ends after the terminal event",
        "parameters": [
            param_ref("tenant"),
            param_ref("tenantHeader"),
            path_id(ID_PATTERN, "The run's id."),
            query("after_seq", after_seq(), "Only events after this seq."),
            { "name": "Last-Event-ID", "in": "header", "required": false,
              "schema": { "type": "string", "pattern": "^[0-9]{1,18}$" },
              "description": "The last seq received, when reconnecting." }
        ],
        "responses": responses,
    }})
}

fn openapi_path() -> Value {
    json!({ "get": {
        "operationId": "openapi",
        "summary": "This document",
        "security": [],
        "responses": { "200": reply("The OpenAPI document", json!({ "type": "object" })) }
    }})
}
