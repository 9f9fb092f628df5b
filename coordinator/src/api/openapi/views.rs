//! The HTTP-only routes in the document: the web UI's read-only views
//! (`api/views.rs`) and the signal publish (`api/publish.rs`), with their
//! reply schemas.

use super::{
    SIGNAL_NAME_PATTERN, WORKFLOW_ID_PATTERN, common_errors, error, json_body, param_ref, path_id,
    query, reply,
};
use serde_json::{Map, Value, json};

/// `(path, path item)` of each view.
pub(super) fn paths() -> Vec<(&'static str, Value)> {
    vec![
        ("/v1/session", session()),
        ("/v1/workflows/{id}/versions", versions()),
        ("/v1/workflows/{id}/graph", graph()),
        ("/v1/signals/{type}", publish()),
    ]
}

fn publish() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "202".into(),
        reply(
            "Stored in the signals stream; intake starts the runs it triggers",
            json!({
                "type": "object",
                "required": ["id", "type"],
                "properties": { "id": { "type": "string" }, "type": { "type": "string" } }
            }),
        ),
    );
    responses.insert(
        "400".into(),
        error("INVALID_REQUEST: a bad type or field, or what intake would reject (the reason is in the message)"),
    );
    responses.insert(
        "413".into(),
        error("PAYLOAD_TOO_LARGE: over limits.signal_bytes"),
    );
    common_errors(&mut responses);
    // null is absent, as everywhere in the API.
    let text = json!({ "type": ["string", "null"], "minLength": 1 });
    json!({ "post": {
        "operationId": "publishSignal",
        "summary": "Publish a CloudEvent on signals.<type> (what `junction signal` does)",
        "parameters": [
            param_ref("tenant"),
            param_ref("tenantHeader"),
            { "name": "type", "in": "path", "required": true,
              "schema": { "type": "string", "pattern": SIGNAL_NAME_PATTERN, "maxLength": 256 },
              "description": "The signal type." }
        ],
        "requestBody": json_body(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "data": { "type": ["object", "null"], "description": "The event's data (default {})" },
                "id": text,
                "subject": text,
                "correlationid": text,
                "tenant": { "type": ["string", "null"] }
            }
        }), false),
        "responses": responses,
    }})
}

fn get(id: &str, summary: &str, params: Vec<Value>, ok: Value, not_found: bool) -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), ok);
    responses.insert("400".into(), error("INVALID_REQUEST"));
    if not_found {
        responses.insert(
            "404".into(),
            error("NOT_FOUND: no such workflow or version"),
        );
    }
    common_errors(&mut responses);
    let mut parameters = vec![param_ref("tenant"), param_ref("tenantHeader")];
    parameters.extend(params);
    json!({ "get": {
        "operationId": id,
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
    }})
}

fn session() -> Value {
    let nullable_list = json!({ "type": ["array", "null"], "items": { "type": "string" } });
    get(
        "session",
        "Who the bearer token is (auth on), or that auth is off",
        vec![],
        reply(
            "The caller",
            json!({
                "type": "object",
                "required": ["auth", "identity", "tenants", "groups"],
                "properties": {
                    "auth": { "type": "boolean" },
                    "identity": { "type": ["string", "null"] },
                    "tenants": nullable_list,
                    "groups": nullable_list,
                }
            }),
        ),
        false,
    )
}

fn versions() -> Value {
    get(
        "workflowVersions",
        "Every revision of a workflow, newest first",
        vec![path_id(WORKFLOW_ID_PATTERN, "The workflow's id.")],
        reply(
            "The revisions",
            json!({
                "type": "object",
                "required": ["versions"],
                "properties": { "versions": { "type": "array", "items": {
                    "type": "object",
                    "required": ["version", "definition_version", "created_at", "archived"],
                    "properties": {
                        "version": { "type": "integer", "minimum": 1 },
                        "definition_version": { "type": ["string", "null"] },
                        "created_at": { "type": "string", "format": "date-time" },
                        "archived": { "type": "boolean" },
                    }
                }}}
            }),
        ),
        true,
    )
}

fn graph() -> Value {
    let text = json!({ "type": "string" });
    let node = json!({
        "type": "object",
        "required": ["id", "kind", "label", "parent", "path"],
        "properties": {
            "id": text,
            "kind": { "type": "string", "enum": [
                "start", "end", "operation", "inject", "transform", "switch",
                "parallel", "branch", "foreach", "dag"
            ] },
            "label": { "type": "array", "items": text },
            "parent": { "type": ["string", "null"] },
            "path": { "type": ["string", "null"] },
        }
    });
    let edge = json!({
        "type": "object",
        "required": ["from", "to", "label", "catch"],
        "properties": {
            "from": text, "to": text,
            "label": { "type": ["string", "null"] },
            "catch": { "type": "boolean" },
        }
    });
    get(
        "workflowGraph",
        "A revision's graph (what `junction graph` draws), with its Mermaid text",
        vec![
            path_id(WORKFLOW_ID_PATTERN, "The workflow's id."),
            query(
                "version",
                json!({ "type": "integer", "minimum": 1, "maximum": i32::MAX }),
                "The revision (default: the latest).",
            ),
        ],
        reply(
            "The graph",
            json!({
                "type": "object",
                "required": ["version", "graph", "mermaid"],
                "properties": {
                    "version": { "type": "integer", "minimum": 1 },
                    "mermaid": text,
                    "graph": {
                        "type": "object",
                        "required": ["nodes", "edges"],
                        "properties": {
                            "nodes": { "type": "array", "items": node },
                            "edges": { "type": "array", "items": edge },
                        }
                    }
                }
            }),
        ),
        true,
    )
}
