//! The JSON Schemas of `docs/schemas/` against captured traffic: one run
//! from a signal through an agent step that fails once and is retried, an
//! approval (with a pause and a resume while it waits), a signal into the
//! run, to completion; a second run whose approval is rejected, a third
//! cancelled while it waits, redriven and cancelled again; and every
//! control verb. What is validated is what crossed the wire: the signal as
//! published, every message of the `WORKFLOW_EVENTS` stream, every control
//! request sent and reply received (against the envelopes and the verb's own
//! schemas), and every agent request body as the agent received it (the
//! agent here is served by the test and records raw bodies and headers).

use anyhow::Context;
use junction_bus::{ControlSubject, ControlVerb, Decision, RunVerb};
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

mod capture;

use capture::*;

pub(crate) const WAIT: Duration = Duration::from_secs(60);
pub(crate) const BASE: &str = "https://example.invalid/junction/schemas/";

const TOUR: &str = r#"
id: proto-tour
trigger: { signal: proto.go }
inputSchema: { type: object, required: [order_id] }
states:
  - name: pack
    type: operation
    action: agent.run
    input: { agent: rec, task: "pack {{ ctx.order_id }}", input: { order: "{{ ctx.order_id }}" } }
    retry: { maxAttempts: 3, backoffSeconds: 0.2 }
    resultPath: steps.pack
    next: ask
  - name: ask
    type: human_approval
    message: "Ship {{ ctx.order_id }}?"
    next: paid
  - name: paid
    type: operation
    action: signal.wait
    input: { signal: payment.settled }
    resultPath: steps.payment
    next: done
  - { name: done, type: inject, data: { shipped: true }, end: true }
"#;

/// A definition with an error (a dangling target).
const BROKEN: &str = "id: broken\nstates:\n  - { name: a, type: inject, next: nowhere }\n";

/// Scheduled once a year, so `workflows.list` shows its `next_fire_at`.
const SCRATCH: &str = "id: scratch\ntrigger: { schedule: '0 0 1 1 *' }\nstates:\n  - { name: a, type: inject, data: { x: 1 }, end: true }\n";

#[tokio::test]
async fn captured_traffic_of_a_full_run_matches_the_published_schemas() -> anyhow::Result<()> {
    let mut schemas = Schemas::new()?;
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let received = serve_recording_agent(&env).await?;
    let s = &mut schemas;

    // Definitions and agents: every workflows.* and agents.* verb.
    control(
        &env,
        s,
        ControlSubject::AgentsPut,
        json!({ "name": "rec", "description": "records", "input_schema": { "type": "object" } }),
    )
    .await?;
    control(
        &env,
        s,
        ControlSubject::AgentsPut,
        json!({ "name": "doomed" }),
    )
    .await?;
    control(&env, s, ControlSubject::AgentsList, json!({})).await?;
    control(
        &env,
        s,
        ControlSubject::AgentsDelete,
        json!({ "name": "doomed" }),
    )
    .await?;
    let validated = control(
        &env,
        s,
        ControlSubject::WorkflowsValidate,
        json!({ "source": TOUR }),
    )
    .await?;
    assert_eq!(validated["errors"], json!([]), "{validated}");
    let broken = control(
        &env,
        s,
        ControlSubject::WorkflowsValidate,
        json!({ "source": "id: x\nstates:\n  - { name: a, type: inject, next: nowhere }\n" }),
    )
    .await?;
    assert!(
        broken["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{broken}"
    );
    let refused = control(
        &env,
        s,
        ControlSubject::WorkflowsPut,
        json!({ "source": BROKEN }),
    )
    .await?;
    assert_eq!(refused["error"]["code"], "VALIDATION_FAILED", "{refused}");
    let put = control(
        &env,
        s,
        ControlSubject::WorkflowsPut,
        json!({ "source": TOUR }),
    )
    .await?;
    assert_eq!(put["ok"], true, "{put}");
    control(
        &env,
        s,
        ControlSubject::WorkflowsPut,
        json!({ "source": SCRATCH, "format": "yaml" }),
    )
    .await?;
    control(
        &env,
        s,
        ControlSubject::WorkflowsGet,
        json!({ "id": "proto-tour" }),
    )
    .await?;
    control(&env, s, ControlSubject::WorkflowsList, json!({})).await?;
    let deleted = control(
        &env,
        s,
        ControlSubject::WorkflowsDelete,
        json!({ "id": "scratch" }),
    )
    .await?;
    assert_eq!(deleted["deleted"], true, "{deleted}");
    let missing = control(
        &env,
        s,
        ControlSubject::WorkflowsGet,
        json!({ "id": "scratch" }),
    )
    .await?;
    assert_eq!(missing["error"]["code"], "NOT_FOUND", "{missing}");

    // The run, from a signal.
    let signal = json!({
        "specversion": "1.0", "id": "tour-1", "source": "e2e", "type": "proto.go",
        "time": "2026-12-05T10:00:00Z", "correlationid": "order-7", "tenant": "default",
        "datacontenttype": "application/json", "data": { "order_id": "A-7" }
    });
    s.check("signal.json", &signal, "the signal published")?;
    env.publish_raw_signal("proto.go", serde_json::to_vec(&signal)?)
        .await?;
    let run_id = env.wait_for_signal_run("tour-1", WAIT).await?;
    env.wait_for_status(&run_id, "WAITING_APPROVAL").await?;
    // The approval row is written just after the transition that asks for it.
    env.pending_approval(&run_id).await?;
    let listed = control(
        &env,
        s,
        ControlSubject::ApprovalsList,
        json!({ "run_id": run_id, "status": "PENDING" }),
    )
    .await?;
    let approval_id = listed["approvals"][0]["id"]
        .as_str()
        .context("approval id")?
        .to_owned();
    let paused = control(
        &env,
        s,
        ControlSubject::run(&run_id, RunVerb::Pause),
        json!({ "actor": "alice", "reason": "lunch" }),
    )
    .await?;
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    let resumed = control(
        &env,
        s,
        ControlSubject::run(&run_id, RunVerb::Resume),
        json!({ "actor": "alice" }),
    )
    .await?;
    assert_eq!(resumed["status"], "WAITING_APPROVAL", "{resumed}");
    let approved = control(
        &env,
        s,
        ControlSubject::approval(&approval_id, Decision::Approve),
        json!({ "actor": "bob", "comment": "ship it" }),
    )
    .await?;
    assert_eq!(approved["status"], "APPROVED", "{approved}");
    let again = control(
        &env,
        s,
        ControlSubject::approval(&approval_id, Decision::Reject),
        json!({ "actor": "bob" }),
    )
    .await?;
    assert_eq!(again["error"]["code"], "ALREADY_DECIDED", "{again}");
    env.wait_for_status(&run_id, "WAITING_SIGNAL").await?;
    control(
        &env,
        s,
        ControlSubject::run(&run_id, RunVerb::Signal),
        json!({ "name": "payment.settled", "data": { "amount": 42 } }),
    )
    .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");

    // A second run, started on demand, whose approval is rejected: it fails.
    let started = control(&env, s, ControlSubject::RunStart, json!({ "workflow_id": "proto-tour", "input": { "order_id": "B-1" }, "idempotency_key": "b-1", "correlation_id": "order-b" })).await?;
    let second = started["run_id"].as_str().context("run_id")?.to_owned();
    let repeated = control(&env, s, ControlSubject::RunStart, json!({ "workflow_id": "proto-tour", "input": { "order_id": "B-1" }, "idempotency_key": "b-1" })).await?;
    assert_eq!(
        (repeated["run_id"].as_str(), repeated["created"].as_bool()),
        (Some(second.as_str()), Some(false))
    );
    let bad_input = control(
        &env,
        s,
        ControlSubject::RunStart,
        json!({ "workflow_id": "proto-tour", "input": {} }),
    )
    .await?;
    assert_eq!(bad_input["error"]["code"], "INPUT_SCHEMA", "{bad_input}");
    env.wait_for_status(&second, "WAITING_APPROVAL").await?;
    let pending = env.pending_approval(&second).await?;
    let approval = pending["id"].as_str().context("approval id")?;
    let rejected = control(
        &env,
        s,
        ControlSubject::approval(approval, Decision::Reject),
        json!({ "actor": "bob", "comment": "out of stock" }),
    )
    .await?;
    assert_eq!(rejected["status"], "REJECTED", "{rejected}");
    let failed = env.wait_for_end(&second, WAIT).await?;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["error"]["code"], "APPROVAL_REJECTED", "{failed}");

    // A third, cancelled while it waits for a person.
    let third = env
        .start_run("proto-tour", json!({ "order_id": "C-1" }))
        .await?;
    env.wait_for_status(&third, "WAITING_APPROVAL").await?;
    let cancelled = control(
        &env,
        s,
        ControlSubject::run(&third, RunVerb::Cancel),
        json!({ "actor": "carol", "reason": "duplicate order" }),
    )
    .await?;
    assert_eq!(cancelled["status"], "CANCELLED", "{cancelled}");
    // Redriven: it asks for its approval again; then cancelled for good.
    let redriven = control(
        &env,
        s,
        ControlSubject::run(&third, RunVerb::Redrive),
        json!({ "actor": "carol", "reason": "not a duplicate after all" }),
    )
    .await?;
    assert_eq!(redriven["status"], "RUNNING", "{redriven}");
    env.wait_for_status(&third, "WAITING_APPROVAL").await?;
    control(
        &env,
        s,
        ControlSubject::run(&third, RunVerb::Cancel),
        json!({ "actor": "carol", "reason": "duplicate order" }),
    )
    .await?;
    let completed = refuse(
        &env,
        s,
        ControlSubject::run(&run_id, RunVerb::Redrive),
        json!({}),
    )
    .await?;
    assert_eq!(completed["error"]["code"], "INVALID_STATE", "{completed}");

    // Reads: runs, one run, events, approvals, members, and refusals.
    let page = control(
        &env,
        s,
        ControlSubject::RunsList,
        json!({ "workflow_id": "proto-tour", "limit": 1 }),
    )
    .await?;
    assert!(page["next_cursor"].is_string(), "{page}");
    control(
        &env,
        s,
        ControlSubject::RunsList,
        json!({ "status": "COMPLETED" }),
    )
    .await?;
    control(
        &env,
        s,
        ControlSubject::run(&run_id, RunVerb::Get),
        json!({}),
    )
    .await?;
    control(
        &env,
        s,
        ControlSubject::run(&second, RunVerb::Get),
        json!({}),
    )
    .await?;
    let mut stored = 0;
    for id in [&run_id, &second, &third] {
        let events = control(
            &env,
            s,
            ControlSubject::run(id, RunVerb::Events),
            json!({ "after_seq": 0, "limit": 1000 }),
        )
        .await?;
        stored += events["events"].as_array().map_or(0, Vec::len);
    }
    control(
        &env,
        s,
        ControlSubject::ApprovalsList,
        json!({ "limit": 10 }),
    )
    .await?;
    control(&env, s, ControlSubject::ClusterMembers, json!({})).await?;
    let unknown = control(
        &env,
        s,
        ControlSubject::run("nope", RunVerb::Get),
        json!({}),
    )
    .await?;
    assert_eq!(unknown["error"]["code"], "NOT_FOUND", "{unknown}");
    let bad = refuse(&env, s, ControlSubject::RunsList, json!({ "limit": 0 })).await?;
    assert_eq!(bad["error"]["code"], "INVALID_REQUEST", "{bad}");

    // Every verb was exercised.
    let verbs: BTreeSet<String> = ControlVerb::ALL.iter().map(|v| verb_file(*v)).collect();
    for file in &verbs {
        let reply = format!("{file}#/$defs/reply");
        anyhow::ensure!(
            s.checked.contains_key(&reply),
            "no ok reply checked against {reply}"
        );
    }

    // Every event on the stream, by its subject.
    let events = stream_events(&env, stored as u64).await?;
    assert_eq!(events.len(), stored, "the stream holds what Postgres holds");
    let mut types = BTreeSet::new();
    for (subject, event) in &events {
        s.check("event.json", event, subject)?;
        let run = event["run_id"].as_str().unwrap_or_default();
        let expected = match event["step_id"].as_str() {
            Some(step) => env.subjects.event(run, Some(step)),
            None => env.subjects.event(run, None),
        };
        assert_eq!(subject, &expected, "{event}");
        types.insert(event["type"].as_str().unwrap_or_default().to_owned());
    }
    for expected in [
        "workflow.run.started",
        "workflow.step.started",
        "workflow.step.failed",
        "workflow.step.retrying",
        "workflow.step.completed",
        "workflow.run.waiting",
        "workflow.approval.requested",
        "workflow.run.paused",
        "workflow.run.resumed",
        "workflow.approval.approved",
        "workflow.signal.received",
        "workflow.run.completed",
        "workflow.step.cancelled",
        "workflow.run.cancelled",
        "workflow.run.redriven",
        "workflow.approval.rejected",
        "workflow.run.failed",
    ] {
        assert!(types.contains(expected), "no {expected} among {types:?}");
    }

    // Every agent request as the agent got it.
    let received = received.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(
        received.len() >= 4,
        "two attempts of run 1, one each of runs 2 and 3: {received:?}"
    );
    for call in &received {
        let body: Value = serde_json::from_slice(&call.body).context("agent request JSON")?;
        s.check("agent-request.json", &body, "an agent request")?;
        assert_eq!(
            call.idempotency_key.as_deref(),
            body["idempotency_key"].as_str(),
            "{body}"
        );
        let key = format!(
            "{}:{}:{}",
            body["run_id"].as_str().unwrap_or(""),
            body["step_id"].as_str().unwrap_or(""),
            body["attempt"]
        );
        assert_eq!(body["idempotency_key"], key, "{body}");
        assert!(
            call.traceparent
                .as_deref()
                .is_some_and(|t| t.starts_with("00-")),
            "{call:?}"
        );
    }
    for reply in [
        json!({ "output": { "packed": true } }),
        json!({ "error": { "code": "WAREHOUSE_BUSY", "message": "try again", "retryable": true } }),
    ] {
        s.check("agent-reply.json", &reply, "the agent's reply")?;
    }
    s.check("run.json", &run, "the run")?;
    eprintln!("validated: {:?}", s.checked);
    Ok(())
}

/// The schemas are not vacuous: shapes the protocol refuses fail them.
#[test]
fn the_schemas_refuse_what_the_protocol_refuses() -> anyhow::Result<()> {
    let mut schemas = Schemas::new()?;
    let event = json!({
        "run_id": "r1", "seq": 3, "type": "workflow.step.retrying",
        "time": "2026-12-05T10:00:00.000Z", "workflow_id": "w", "version": 1,
        "tenant": "default", "step_id": "s1", "state": "a", "path": "a", "attempt": 1,
        "data": { "next_attempt": 2, "delay_seconds": 0.5,
                  "error": { "code": "X", "message": "m" } }
    });
    schemas.check("event.json", &event, "a valid event")?;
    let mut refused = Vec::new();
    let mut no_next = event.clone();
    no_next["data"]
        .as_object_mut()
        .map(|d| d.remove("next_attempt"));
    refused.push(("event.json", no_next));
    let mut no_step = event.clone();
    no_step.as_object_mut().map(|e| e.remove("step_id"));
    refused.push(("event.json", no_step));
    let mut unknown = event.clone();
    unknown["type"] = json!("workflow.step.exploded");
    refused.push(("event.json", unknown));
    let mut bad_time = event;
    bad_time["time"] = json!("2026-12-05 10:00");
    refused.push(("event.json", bad_time));
    let signal = json!({ "specversion": "1.0", "id": "i", "source": "s", "type": "t" });
    schemas.check("signal.json", &signal, "a valid signal")?;
    let mut bad_name = signal.clone();
    bad_name["my_ext"] = json!("x");
    refused.push(("signal.json", bad_name));
    let mut both = signal.clone();
    both["data"] = json!({});
    both["data_base64"] = json!("e30=");
    refused.push(("signal.json", both));
    let mut old = signal;
    old["specversion"] = json!("0.3");
    refused.push(("signal.json", old));
    refused.push((
        "control-reply.json",
        json!({ "ok": false, "error": { "code": "TEAPOT", "message": "m" } }),
    ));
    refused.push(("agent-reply.json", json!({ "result": 1 })));
    refused.push(("agent-reply.json", json!({ "error": "flat" })));
    refused.push((
        "control/runs.list.json#/$defs/request",
        json!({ "limit": 0 }),
    ));
    for (reference, value) in refused {
        anyhow::ensure!(
            schemas.check(reference, &value, "refused").is_err(),
            "{reference} accepts {value}"
        );
    }
    Ok(())
}
