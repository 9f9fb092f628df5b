//! What each control verb's operation says: its id, summary, parameters,
//! request body, replies and the errors its handler can give.

use super::*;

/// What one verb's operation says, besides the path and the tenant.
pub(super) struct Spec {
    pub(super) id: &'static str,
    pub(super) summary: &'static str,
    pub(super) params: Vec<Value>,
    pub(super) body: Option<Value>,
    pub(super) replies: Vec<(&'static str, Value)>,
    pub(super) errors: Vec<(&'static str, &'static str)>,
}

pub(super) fn spec(verb: ControlVerb, http: &Http) -> Spec {
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
        ControlVerb::RunRedrive => Spec {
            errors: vec![
                ("400", bad),
                ("404", "NOT_FOUND: no such run in this tenant"),
                (
                    "409",
                    "INVALID_STATE: the run is not FAILED, TIMED_OUT or CANCELLED",
                ),
            ],
            ..act(
                "redriveRun",
                "Redrive an ended run: it runs again from what failed, in the same run id (wf.ctl.run.<id>.redrive)",
                "RUNNING: the run goes on",
            )
        },
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
