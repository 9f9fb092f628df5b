//! What each step type compiles to, and the step options: result paths,
//! timeouts (numbers and durations) and retries.

use super::super::common::parse_duration;
use super::*;
use crate::model::ir::{Action, Approval, OnReject, SignalWait};
use serde_json::json;

/// One step of each type.
const EVERY_TYPE: &str = r#"
id: types
steps:
  - name: sh
    type: shell
    command: ["ls", "-l"]
    params: { cwd: /tmp }
  - name: web
    type: http
    url: https://example.com/hook
    method: POST
    headers: { X-Token: abc }
    body: { ok: true }
  - name: py
    type: python
    code: "[x * 2 for x in ctx.items]"
  - name: star
    type: starlark
    expression: "1 + 1"
  - name: gate
    type: human_approval
    message: "Ship it?"
    approvers: team:release
    summaryPath: steps.web
    onReject: cancel
    timeout: 1h
  - name: wait
    type: signal.wait
    signal: build.finished
    filter: 'signal.data.ok'
  - name: emit
    type: signal.emit
    params: { type: build.started, data: { n: 1 } }
  - name: child
    type: workflow.run
    params: { workflow_id: other }
  - name: inferred
    agent: echo
    input: { text: hi }
"#;

#[test]
fn every_executor_step_type_compiles_to_its_executor() {
    let workflow = ok(EVERY_TYPE);
    assert_eq!(
        params(&workflow, "sh"),
        (
            "shell.run",
            &json!({"cwd": "/tmp", "command": ["ls", "-l"]})
        )
    );
    assert_eq!(
        params(&workflow, "web"),
        (
            "http.request",
            &json!({"url": "https://example.com/hook", "method": "POST",
                    "headers": {"X-Token": "abc"}, "body": {"ok": true}})
        )
    );
    assert_eq!(
        params(&workflow, "py"),
        (
            "starlark.eval",
            &json!({"expression": "[x * 2 for x in ctx.items]"})
        )
    );
    assert_eq!(
        params(&workflow, "star"),
        ("starlark.eval", &json!({"expression": "1 + 1"}))
    );
    assert_eq!(
        params(&workflow, "emit"),
        (
            "signal.emit",
            &json!({"type": "build.started", "data": {"n": 1}})
        )
    );
    assert_eq!(
        params(&workflow, "child"),
        ("workflow.run", &json!({"workflow_id": "other"}))
    );
}

#[test]
fn approval_signal_wait_and_agent_steps_compile_to_their_actions() {
    let workflow = ok(EVERY_TYPE);
    let gate = operation(&workflow, "gate");
    assert_eq!(gate.timeout_seconds, Some(3600));
    assert_eq!(
        gate.action,
        Action::HumanApproval(Approval {
            message: Some(json!("Ship it?")),
            summary_path: Some("steps.web".into()),
            approvers: vec!["team:release".into()],
            timeout_seconds: None,
            on_reject: OnReject::Cancel,
        })
    );
    assert_eq!(
        operation(&workflow, "wait").action,
        Action::SignalWait(SignalWait {
            signal: "build.finished".into(),
            filter: Some("signal.data.ok".into()),
            timeout_seconds: None,
        })
    );
    let Action::AgentRun(call) = &operation(&workflow, "inferred").action else {
        panic!("agent.run expected")
    };
    assert_eq!(call.input, Some(json!({"text": "hi"})));
}

#[test]
fn result_paths_default_to_steps_name() {
    let workflow = ok(r#"
id: paths
steps:
  - { name: a, type: bash, run: "true" }
  - { name: b, type: bash, run: "true", resultPath: ctx.custom }
"#);
    assert_eq!(
        operation(&workflow, "a").result_path.as_deref(),
        Some("steps.a")
    );
    assert_eq!(
        operation(&workflow, "b").result_path.as_deref(),
        Some("ctx.custom")
    );
    has_error(
        r#"
id: paths
steps: [{ name: a, type: bash, run: "true", resultPath: "a..b" }]
"#,
        "INVALID_PATH",
        "steps[0].resultPath",
    );
}

#[test]
fn timeouts_accept_numbers_and_durations() {
    for (written, seconds) in [
        ("90", 90),
        ("'90'", 90),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("2d", 172_800),
        ("1h30m", 5400),
        ("60.0", 60),
    ] {
        let workflow = ok(&format!(
            "id: t\nsteps: [{{ name: a, type: bash, run: x, timeout: {written} }}]"
        ));
        assert_eq!(
            operation(&workflow, "a").timeout_seconds,
            Some(seconds),
            "{written}"
        );
    }
    for written in [
        "0",
        "-5",
        "soon",
        "5x",
        "'m'",
        "1.5",
        "''",
        "true",
        "'{{ variables.nope }}'",
    ] {
        has_error(
            &format!("id: t\nsteps: [{{ name: a, type: bash, run: x, timeout: {written} }}]"),
            "INVALID_VALUE",
            "steps[0].timeout",
        );
    }
}

#[test]
fn retries_become_attempts() {
    let workflow = ok(r#"
id: r
variables: { n: 4 }
steps:
  - { name: a, type: bash, run: x, retries: 0 }
  - { name: b, type: bash, run: x, retries: "{{ variables.n }}" }
  - { name: c, type: bash, run: x, retries: "${variables.n}" }
"#);
    assert_eq!(operation(&workflow, "a").retry.max_attempts, 1);
    assert_eq!(operation(&workflow, "b").retry.max_attempts, 5);
    assert_eq!(operation(&workflow, "c").retry.max_attempts, 5);
    for written in ["-1", "100", "'lots'", "1.5"] {
        has_error(
            &format!("id: r\nsteps: [{{ name: a, type: bash, run: x, retries: {written} }}]"),
            "INVALID_VALUE",
            "steps[0].retries",
        );
    }
    // A variable that is itself a template is not known when the workflow loads.
    has_error(
        r#"
id: r
variables: { n: "{{ ctx.n }}" }
steps: [{ name: a, type: bash, run: x, retries: "{{ variables.n }}" }]
"#,
        "INVALID_VALUE",
        "steps[0].retries",
    );
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("1h1m1s"), Some(3661));
    assert_eq!(parse_duration("  45 "), Some(45));
    assert_eq!(parse_duration("h"), None);
    assert_eq!(parse_duration("1h 30m"), None);
    assert_eq!(parse_duration("99999999999999999999d"), None);
    assert_eq!(parse_duration("9999999999999999d"), None);
}

#[test]
fn an_llm_step_runs_an_agent_when_it_names_one_and_the_llm_executor_otherwise() {
    let workflow = ok(r#"
id: llms
steps:
  - name: review
    type: llm
    agent: reviewer
    prompt: Review it
  - name: summary
    type: llm
    model: small
    prompt: "Summarise {{ ctx.text }}"
    temperature: 0.2
    params: { max_tokens: 64 }
"#);
    assert!(matches!(
        operation(&workflow, "review").action,
        Action::AgentRun(_)
    ));
    let (executor, params) = params(&workflow, "summary");
    assert_eq!(executor, "llm");
    assert_eq!(
        params,
        &json!({"model": "small", "prompt": "Summarise {{ ctx.text }}", "temperature": 0.2, "max_tokens": 64})
    );
}
