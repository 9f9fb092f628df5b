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

/// What one verb's operation says, besides the path and the tenant.
struct Spec {
    id: &'static str,
    summary: &'static str,
    params: Vec<Value>,
    body: Option<Value>,
    replies: Vec<(&'static str, Value)>,
    errors: Vec<(&'static str, &'static str)>,
}

fn spec(verb: ControlVerb, http: &Http) -> Spec {
    let source_body = json_body(schema_ref("DefinitionSource"), true);
    let put_replies = vec![
        (
            "201",
            reply("Stored as a new revision", schema_ref("PutWorkflowReply")),
        ),
        (
            "200",
            reply(
                "Unchanged: the latest revision has this source",
                schema_ref("PutWorkflowReply"),
            ),
        ),
    ];
    let run_id = || path_id(ID_PATTERN, "The run's id.");
    let approval_id = || path_id(ID_PATTERN, "The approval's id.");
    let bad = "INVALID_REQUEST: a malformed body or query, or a field that breaks its pattern";
    let act = |id, summary, done| Spec {
        id,
        summary,
        params: vec![run_id()],
        body: Some(json_body(schema_ref("OperatorAction"), false)),
        replies: vec![("200", reply(done, schema_ref("RunStatusReply")))],
        errors: vec![
            ("400", bad),
            ("404", "NOT_FOUND: no such run in this tenant"),
            ("409", "INVALID_STATE: the run's status does not allow it"),
        ],
    };
    match verb {
        ControlVerb::WorkflowsList => Spec {
            id: "listWorkflows",
            summary: "List workflows: the latest revision of each (wf.ctl.workflows.list)",
            params: vec![],
            body: None,
            replies: vec![(
                "200",
                reply("The workflows", schema_ref("WorkflowsListReply")),
            )],
            errors: vec![("400", bad)],
        },
        ControlVerb::WorkflowsPut if http.has_id() => Spec {
            id: "updateWorkflow",
            summary: "Store a new revision of this workflow; the definition must carry the same id (wf.ctl.workflows.put)",
            params: vec![path_id(
                WORKFLOW_ID_PATTERN,
                "The workflow's id, as the definition names it.",
            )],
            body: Some(source_body),
            replies: put_replies,
            errors: vec![
                (
                    "400",
                    "VALIDATION_FAILED with details.diagnostics, or INVALID_REQUEST (a malformed body, or a definition with another id)",
                ),
                ("413", "PAYLOAD_TOO_LARGE"),
            ],
        },
        ControlVerb::WorkflowsPut => Spec {
            id: "putWorkflow",
            summary: "Store a workflow definition (wf.ctl.workflows.put)",
            params: vec![],
            body: Some(source_body),
            replies: put_replies,
            errors: vec![
                (
                    "400",
                    "VALIDATION_FAILED with details.diagnostics, or INVALID_REQUEST",
                ),
                ("413", "PAYLOAD_TOO_LARGE"),
            ],
        },
        ControlVerb::WorkflowsValidate => Spec {
            id: "validateWorkflow",
            summary: "Compile a definition without storing it (wf.ctl.workflows.validate)",
            params: vec![],
            body: Some(source_body),
            replies: vec![("200", reply("The diagnostics", schema_ref("ValidateReply")))],
            errors: vec![("400", bad), ("413", "PAYLOAD_TOO_LARGE")],
        },
        ControlVerb::WorkflowsGet => Spec {
            id: "getWorkflow",
            summary: "Get a workflow revision with its source (wf.ctl.workflows.get)",
            params: vec![
                path_id(WORKFLOW_ID_PATTERN, "The workflow's id."),
                query(
                    "version",
                    json!({ "type": "integer", "minimum": 1, "maximum": 2147483647 }),
                    "This revision (default: the latest).",
                ),
            ],
            body: None,
            replies: vec![("200", reply("The revision", schema_ref("WorkflowReply")))],
            errors: vec![("400", bad), ("404", "NOT_FOUND")],
        },
        ControlVerb::WorkflowsDelete => Spec {
            id: "deleteWorkflow",
            summary: "Delete every revision of a workflow that never ran (wf.ctl.workflows.delete)",
            params: vec![path_id(WORKFLOW_ID_PATTERN, "The workflow's id.")],
            body: None,
            replies: vec![("200", reply("Deleted", schema_ref("DeleteWorkflowReply")))],
            errors: vec![
                ("400", bad),
                ("404", "NOT_FOUND"),
                ("409", "CONFLICT: the workflow has runs"),
            ],
        },
        ControlVerb::RunStart => Spec {
            id: "startRun",
            summary: "Start a run (wf.ctl.run.start)",
            params: vec![],
            body: Some(json_body(schema_ref("StartRun"), true)),
            replies: vec![
                ("201", reply("Started", schema_ref("StartRunReply"))),
                (
                    "200",
                    reply(
                        "The idempotency key was seen before: that run",
                        schema_ref("StartRunReply"),
                    ),
                ),
            ],
            errors: vec![
                ("400", bad),
                ("404", "NOT_FOUND: no such workflow (or revision)"),
                ("413", "PAYLOAD_TOO_LARGE"),
                (
                    "422",
                    "INPUT_SCHEMA: the input does not match the workflow's inputSchema",
                ),
            ],
        },
        ControlVerb::RunsList => Spec {
            id: "listRuns",
            summary: "List runs, newest first, a page at a time (wf.ctl.runs.list)",
            params: vec![
                query(
                    "workflow_id",
                    json!({ "type": "string" }),
                    "Only runs of this workflow.",
                ),
                query(
                    "status",
                    json!({ "type": "string", "enum": run_statuses() }),
                    "Only runs with this status.",
                ),
                query(
                    "causation_id",
                    json!({ "type": "string" }),
                    "Only runs started by this signal (its CloudEvent id).",
                ),
                query(
                    "correlation_id",
                    json!({ "type": "string" }),
                    "Only runs with this correlation id.",
                ),
                limit(),
                query(
                    "cursor",
                    json!({ "type": "string" }),
                    "The `next_cursor` of the previous page.",
                ),
            ],
            body: None,
            replies: vec![("200", reply("A page of runs", schema_ref("RunsListReply")))],
            errors: vec![("400", bad)],
        },
        ControlVerb::RunGet => Spec {
            id: "getRun",
            summary: "Get a run with its context and steps (wf.ctl.run.<id>.get)",
            params: vec![run_id()],
            body: None,
            replies: vec![("200", reply("The run", schema_ref("RunReply")))],
            errors: vec![
                ("400", bad),
                ("404", "NOT_FOUND: no such run in this tenant"),
            ],
        },
        ControlVerb::RunEvents => Spec {
            id: "runEvents",
            summary: "A page of the run's stored events (wf.ctl.run.<id>.events)",
            params: vec![
                run_id(),
                query(
                    "after_seq",
                    after_seq(),
                    "Only events after this seq (default 0).",
                ),
                limit(),
            ],
            body: None,
            replies: vec![("200", reply("The events", schema_ref("EventsReply")))],
            errors: vec![
                ("400", bad),
                ("404", "NOT_FOUND: no such run in this tenant"),
            ],
        },
        ControlVerb::RunCancel => act(
            "cancelRun",
            "Cancel a run: it ends CANCELLED (wf.ctl.run.<id>.cancel)",
            "The run's status after the cancel",
        ),
        ControlVerb::RunPause => act(
            "pauseRun",
            "Pause a run: no new step starts (wf.ctl.run.<id>.pause)",
            "The run's status after the pause",
        ),
        ControlVerb::RunResume => act(
            "resumeRun",
            "Resume a paused run (wf.ctl.run.<id>.resume)",
            "The run's status after the resume",
        ),
        ControlVerb::RunSignal => Spec {
            id: "signalRun",
            summary: "Deliver a named signal into a run, for its signal.wait states (wf.ctl.run.<id>.signal)",
            params: vec![run_id()],
            body: Some(json_body(schema_ref("RunSignal"), true)),
            replies: vec![(
                "200",
                reply(
                    "Delivered (or kept for the next signal.wait)",
                    schema_ref("Empty"),
                ),
            )],
            errors: vec![
                ("400", bad),
                ("404", "NOT_FOUND: no such run in this tenant"),
                ("409", "INVALID_STATE: the run has ended"),
            ],
        },
        ControlVerb::ApprovalsList => Spec {
            id: "listApprovals",
            summary: "List approvals, newest first (wf.ctl.approvals.list)",
            params: vec![
                query(
                    "run_id",
                    json!({ "type": "string" }),
                    "Only this run's approvals.",
                ),
                query(
                    "status",
                    json!({ "type": "string", "enum": approval_statuses() }),
                    "Only approvals with this status.",
                ),
                limit(),
            ],
            body: None,
            replies: vec![(
                "200",
                reply("The approvals", schema_ref("ApprovalsListReply")),
            )],
            errors: vec![("400", bad)],
        },
        ControlVerb::ApprovalApprove | ControlVerb::ApprovalReject => {
            let approve = verb == ControlVerb::ApprovalApprove;
            Spec {
                id: if approve { "approve" } else { "reject" },
                summary: if approve {
                    "Approve a pending approval: its run goes on (wf.ctl.approval.<id>.approve)"
                } else {
                    "Reject a pending approval (wf.ctl.approval.<id>.reject)"
                },
                params: vec![approval_id()],
                body: Some(json_body(schema_ref("Decision"), false)),
                replies: vec![(
                    "200",
                    reply("The approval's new status", schema_ref("DecisionReply")),
                )],
                errors: vec![
                    ("400", bad),
                    (
                        "403",
                        "FORBIDDEN: the token's identity is not among the approvers",
                    ),
                    ("404", "NOT_FOUND: no such approval in this tenant"),
                    ("409", "ALREADY_DECIDED"),
                ],
            }
        }
        // Verbs without an HTTP twin never get here.
        ControlVerb::AgentsPut
        | ControlVerb::AgentsList
        | ControlVerb::AgentsDelete
        | ControlVerb::ClusterMembers => Spec {
            id: verb.pattern(),
            summary: verb.pattern(),
            params: vec![],
            body: None,
            replies: vec![],
            errors: vec![],
        },
    }
}

/// The query keys an operation takes besides `tenant` (others are refused).
pub fn query_keys(verb: ControlVerb, method: Method, has_id: bool) -> Vec<String> {
    let Some(http) = ROUTES
        .iter()
        .filter(|r| r.verb == verb)
        .flat_map(|r| r.http)
        .find(|h| h.method == method && h.has_id() == has_id)
    else {
        return Vec::new();
    };
    spec(verb, http)
        .params
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

fn after_seq() -> Value {
    json!({ "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX })
}

fn run_statuses() -> Vec<&'static str> {
    RunStatus::ALL.iter().map(|s| s.as_str()).collect()
}

fn approval_statuses() -> Vec<&'static str> {
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

fn components() -> Value {
    let diagnostic = json!({
        "type": "object",
        "required": ["code", "message", "path", "severity"],
        "properties": {
            "code": { "type": "string" },
            "message": { "type": "string" },
            "path": { "type": "string" },
            "line": { "type": "integer", "minimum": 0 },
            "column": { "type": "integer", "minimum": 0 },
            "severity": { "type": "string", "enum": ["error", "warning"] }
        }
    });
    let diagnostics = json!({ "type": "array", "items": schema_ref("Diagnostic") });
    let time = json!({ "type": "string", "format": "date-time" });
    let run_summary_properties = json!({
        "id": { "type": "string" },
        "workflow_id": { "type": "string" },
        "version": { "type": "integer" },
        "tenant": { "type": "string" },
        "status": { "type": "string", "enum": run_statuses() },
        "input": { "type": "object" },
        "error": { "type": "object" },
        "causation_id": { "type": ["string", "null"] },
        "correlation_id": { "type": "string" },
        "created_at": time,
        "ended_at": time,
        "trace_id": { "type": "string", "pattern": "^[0-9a-f]{32}$" }
    });
    let summary_required = json!([
        "id",
        "workflow_id",
        "version",
        "tenant",
        "status",
        "input",
        "correlation_id",
        "created_at"
    ]);
    let mut run_properties = run_summary_properties.clone();
    run_properties["context"] =
        json!({ "type": "object", "description": "The context document {ctx, steps, signal}" });
    run_properties["steps"] = json!({ "type": "array", "items": schema_ref("Step") });
    let mut run_required = summary_required.clone();
    if let Some(list) = run_required.as_array_mut() {
        list.push(json!("context"));
        list.push(json!("steps"));
    }
    let step_statuses: Vec<&str> = StepStatus::ALL.iter().map(|s| s.as_str()).collect();
    let event_types: Vec<&str> = junction_core::wire::EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    json!({
        "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
        "parameters": {
            "tenant": { "name": "tenant", "in": "query", "required": false,
                "schema": { "type": "string", "pattern": TENANT_PATTERN },
                "description": "The tenant to act in; wins over X-Junction-Tenant and the body's `tenant`. Empty: absent." },
            "tenantHeader": { "name": "X-Junction-Tenant", "in": "header", "required": false,
                "schema": { "type": "string", "pattern": TENANT_PATTERN },
                "description": "The tenant, when `?tenant=` is absent; wins over the body's `tenant`. Empty: absent." }
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": { "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": { "type": "string", "enum": ERROR_CODES },
                        "message": { "type": "string" },
                        "details": { "type": "object", "properties": { "diagnostics": diagnostics } }
                    }
                }}
            },
            "Empty": { "type": "object", "maxProperties": 0 },
            "Diagnostic": diagnostic,
            "DefinitionSource": {
                "type": "object",
                "required": ["source"],
                "properties": {
                    "source": { "type": "string", "description": "The definition, as written" },
                    "format": { "type": ["string", "null"], "enum": ["yaml", "json", "star", null], "default": "yaml" },
                    "tenant": { "type": ["string", "null"], "pattern": TENANT_PATTERN }
                }
            },
            "PutWorkflowReply": {
                "type": "object",
                "required": ["id", "version", "created", "warnings"],
                "properties": {
                    "id": { "type": "string" },
                    "version": { "type": "integer", "minimum": 1 },
                    "created": { "type": "boolean" },
                    "warnings": diagnostics
                }
            },
            "ValidateReply": {
                "type": "object",
                "required": ["errors", "warnings"],
                "properties": { "errors": diagnostics, "warnings": diagnostics }
            },
            "WorkflowSummary": {
                "type": "object",
                "required": ["id", "version", "name", "updated_at"],
                "properties": {
                    "id": { "type": "string" },
                    "version": { "type": "integer", "minimum": 1 },
                    "name": { "type": ["string", "null"] },
                    "updated_at": time
                }
            },
            "WorkflowsListReply": {
                "type": "object",
                "required": ["workflows"],
                "properties": { "workflows": { "type": "array", "items": schema_ref("WorkflowSummary") } }
            },
            "WorkflowReply": {
                "type": "object",
                "required": ["workflow"],
                "properties": { "workflow": {
                    "type": "object",
                    "required": ["id", "version", "definition_version", "source", "format", "created_at", "archived"],
                    "properties": {
                        "id": { "type": "string" },
                        "version": { "type": "integer", "minimum": 1 },
                        "definition_version": { "type": ["string", "null"] },
                        "source": { "type": "string" },
                        "format": { "type": "string", "enum": ["yaml", "json", "star"] },
                        "created_at": time,
                        "archived": { "type": "boolean" }
                    }
                }}
            },
            "DeleteWorkflowReply": {
                "type": "object",
                "required": ["id", "deleted"],
                "properties": { "id": { "type": "string" }, "deleted": { "const": true } }
            },
            "StartRun": {
                "type": "object",
                "required": ["workflow_id"],
                "properties": {
                    "workflow_id": { "type": "string", "pattern": WORKFLOW_ID_PATTERN },
                    "input": { "type": ["object", "null"], "description": "Checked against the workflow's inputSchema (null: {})" },
                    "version": { "type": ["integer", "null"], "minimum": 1, "maximum": 2147483647 },
                    "idempotency_key": { "type": ["string", "null"], "description": "Starting twice with one key starts one run" },
                    "correlation_id": { "type": ["string", "null"] },
                    "tenant": { "type": ["string", "null"], "pattern": TENANT_PATTERN }
                }
            },
            "StartRunReply": {
                "type": "object",
                "required": ["run_id", "created"],
                "properties": { "run_id": { "type": "string" }, "created": { "type": "boolean" } }
            },
            "RunSummary": {
                "type": "object",
                "required": summary_required,
                "properties": run_summary_properties
            },
            "Run": { "type": "object", "required": run_required, "properties": run_properties },
            "Step": {
                "type": "object",
                "required": ["step_id", "state", "path", "status", "attempt"],
                "properties": {
                    "step_id": { "type": "string" },
                    "state": { "type": "string" },
                    "path": { "type": "string" },
                    "status": { "type": "string", "enum": step_statuses },
                    "attempt": { "type": "integer", "minimum": 1 },
                    "worker_id": { "type": "string" },
                    "output": {},
                    "error": { "type": "object" },
                    "started_at": time,
                    "ended_at": time
                }
            },
            "RunsListReply": {
                "type": "object",
                "required": ["runs"],
                "properties": {
                    "runs": { "type": "array", "items": schema_ref("RunSummary") },
                    "next_cursor": { "type": "string", "description": "Present when there are more runs: pass it as `cursor`" }
                }
            },
            "RunReply": { "type": "object", "required": ["run"], "properties": { "run": schema_ref("Run") } },
            "Event": {
                "type": "object",
                "required": ["run_id", "seq", "type", "time", "workflow_id", "version", "tenant"],
                "properties": {
                    "run_id": { "type": "string" },
                    "seq": { "type": "integer", "minimum": 1 },
                    "type": { "type": "string", "enum": event_types },
                    "time": time,
                    "workflow_id": { "type": "string" },
                    "version": { "type": "integer" },
                    "tenant": { "type": "string" },
                    "step_id": { "type": "string" },
                    "state": { "type": "string" },
                    "path": { "type": "string" },
                    "attempt": { "type": "integer", "minimum": 1 },
                    "worker_id": { "type": "string" },
                    "data": {}
                }
            },
            "EventsReply": {
                "type": "object",
                "required": ["events"],
                "properties": { "events": { "type": "array", "items": schema_ref("Event") } }
            },
            "OperatorAction": {
                "type": "object",
                "properties": {
                    "actor": { "type": ["string", "null"], "description": "Recorded with auth off; with auth on the token's identity is" },
                    "reason": { "type": ["string", "null"] },
                    "tenant": { "type": ["string", "null"], "pattern": TENANT_PATTERN }
                }
            },
            "RunStatusReply": {
                "type": "object",
                "required": ["status"],
                "properties": { "status": { "type": "string", "enum": run_statuses() } }
            },
            "RunSignal": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": { "type": "string", "pattern": SIGNAL_NAME_PATTERN, "maxLength": 256 },
                    "data": { "type": ["object", "null"] },
                    "tenant": { "type": ["string", "null"], "pattern": TENANT_PATTERN }
                }
            },
            "Approval": {
                "type": "object",
                "required": ["id", "run_id", "step_id", "state", "status", "message", "summary", "approvers", "created_at"],
                "properties": {
                    "id": { "type": "string" },
                    "run_id": { "type": "string" },
                    "step_id": { "type": "string" },
                    "state": { "type": "string" },
                    "status": { "type": "string", "enum": approval_statuses() },
                    "message": { "type": ["string", "null"] },
                    "summary": {},
                    "approvers": {},
                    "created_at": time,
                    "expires_at": time,
                    "decided_at": time,
                    "actor": { "type": "string" },
                    "comment": { "type": "string" }
                }
            },
            "ApprovalsListReply": {
                "type": "object",
                "required": ["approvals"],
                "properties": { "approvals": { "type": "array", "items": schema_ref("Approval") } }
            },
            "Decision": {
                "type": "object",
                "properties": {
                    "actor": { "type": ["string", "null"] },
                    "comment": { "type": ["string", "null"] },
                    "tenant": { "type": ["string", "null"], "pattern": TENANT_PATTERN }
                }
            },
            "DecisionReply": {
                "type": "object",
                "required": ["status"],
                "properties": { "status": { "type": "string", "enum": approval_statuses() } }
            }
        }
    })
}
