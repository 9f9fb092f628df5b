//! The shapes of the document (`components.schemas` and the shared
//! parameters): what the handlers write, with the bounds they enforce.

use super::*;

pub(super) fn components() -> Value {
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
    let next_fire = json!({
        "type": "string", "format": "date-time",
        "description": "The next tick of the workflow's schedule; absent without an enabled schedule"
    });
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
                "required": ["id", "version", "name", "updated_at", "triggers"],
                "properties": {
                    "id": { "type": "string" },
                    "version": { "type": "integer", "minimum": 1 },
                    "name": { "type": ["string", "null"] },
                    "updated_at": time,
                    "triggers": { "type": "array", "items": { "type": "string" } },
                    "next_fire_at": next_fire
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
                        "archived": { "type": "boolean" },
                        "next_fire_at": next_fire
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
                    "input": { "description": "What the attempt was given" },
                    "output": {},
                    "error": { "type": "object" },
                    "started_at": time,
                    "ended_at": time,
                    "waiting_reason": {
                        "type": "string",
                        "description": "Why the step's task waits for a worker, for example \"no live worker offers `shell.run`\""
                    }
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
