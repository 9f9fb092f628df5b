//! States-form tests for the control-flow states, error policies, the
//! Station dialect and its complete example.

use crate::model::ir::*;
use crate::model::validate::{AgentSpec, against_registry};
use crate::model::{Diagnostics, SourceFormat, compile};
use std::collections::HashMap;

fn ok(source: &str) -> Workflow {
    let compiled = compile(source, SourceFormat::Yaml);
    assert!(
        compiled.diagnostics.errors.is_empty(),
        "{:#?}",
        compiled.diagnostics.errors
    );
    compiled.workflow.expect("workflow")
}

fn errors(source: &str) -> Vec<(String, String)> {
    compile(source, SourceFormat::Yaml)
        .diagnostics
        .errors
        .into_iter()
        .map(|d| (d.code, d.path))
        .collect()
}

#[test]
fn the_prd_appendix_example_validates_cleanly() {
    let source = include_str!("../../../../examples/station/incident-triage.workflow.yaml");
    let compiled = compile(source, SourceFormat::Yaml);
    assert!(
        compiled.diagnostics.errors.is_empty(),
        "{:#?}",
        compiled.diagnostics
    );
    assert!(
        compiled.diagnostics.warnings.is_empty(),
        "{:#?}",
        compiled.diagnostics
    );
    let workflow = compiled.workflow.expect("workflow");
    let agents: HashMap<String, AgentSpec> = [
        include_str!("../../../../examples/station/agents/k8s-pod-checker.agent.yaml"),
        include_str!("../../../../examples/station/agents/slo-analyzer.agent.yaml"),
        include_str!("../../../../examples/station/agents/k8s-remediator.agent.yaml"),
        include_str!("../../../../examples/station/agents/notification-sender.agent.yaml"),
    ]
    .iter()
    .map(|text| {
        let value: serde_json::Value = yaml_serde::from_str(text).expect("agent yaml");
        let name = value["name"].as_str().expect("name").to_owned();
        let spec = AgentSpec {
            name: name.clone(),
            input_schema: value.get("input_schema").cloned(),
            output_schema: value.get("output_schema").cloned(),
        };
        (name, spec)
    })
    .collect();
    let mut diagnostics = Diagnostics::default();
    against_registry(&workflow, &agents, &mut diagnostics);
    assert!(diagnostics.errors.is_empty(), "{:#?}", diagnostics);

    // The shapes the appendix exercises.
    let StateKind::Parallel(parallel) = &workflow.state("diagnostics").expect("state").kind else {
        panic!("parallel expected");
    };
    assert_eq!(parallel.branches.len(), 2);
    assert_eq!(parallel.branches[1].name, "errors");
    assert_eq!(parallel.join, JoinMode::All);
    assert_eq!(parallel.result_path.as_deref(), Some("steps.diagnostics"));
    let decide = workflow.state("decide").expect("state");
    assert_eq!(decide.transition, Transition::Decided);
    let StateKind::Switch(switch) = &decide.kind else {
        panic!("switch expected");
    };
    assert_eq!(
        switch.data_path.as_deref(),
        Some("steps.diagnostics.errors.result")
    );
    assert_eq!(switch.conditions[0].next, "request_approval");
    assert_eq!(switch.default_next.as_deref(), Some("report_ok"));
    let StateKind::Operation(gate) = &workflow.state("request_approval").expect("state").kind
    else {
        panic!("operation expected");
    };
    let Action::HumanApproval(approval) = &gate.action else {
        panic!("approval expected");
    };
    assert_eq!(approval.summary_path.as_deref(), Some("steps.diagnostics"));
    assert_eq!(gate.effective_timeout_seconds(), 3600);
}

#[test]
fn foreach_with_iterator_and_shorthands() {
    let wf = ok(r#"
id: each
states:
  - name: check_all
    type: foreach
    itemsPath: ctx.services
    itemName: service
    maxConcurrency: 4
    iterator:
      start: health_check
      states:
        - name: health_check
          type: operation
          action: agent.run
          input: { agent: echo, task: "Check {{ service.name }}" }
          resultPath: result
          end: true
    resultPath: steps.health
    next: quick
  - name: quick
    type: foreach
    itemsPath: ctx.services
    itemVariable: svc
    agent: echo
    agentTask: "ping {{ svc }}"
    outputAggregation: array
    next: both
  - name: both
    type: parallel
    join: { mode: any }
    outputAggregation: merge
    branches:
      - { name: a, agent: echo, task: "a" }
      - name: b
        states:
          - { name: b1, type: agent, agent: upper, task: "b", end: true }
    end: true
"#);
    let StateKind::Foreach(each) = &wf.states[0].kind else {
        panic!("foreach")
    };
    assert_eq!(each.item_name, "service");
    assert_eq!(each.max_concurrency, 4);
    assert_eq!(each.iterator.start, "health_check");
    assert_eq!(each.aggregation, Aggregation::Keyed);
    let StateKind::Foreach(quick) = &wf.states[1].kind else {
        panic!("foreach")
    };
    assert_eq!(quick.item_name, "svc");
    assert_eq!(quick.max_concurrency, 1);
    assert_eq!(quick.aggregation, Aggregation::Array);
    assert_eq!(quick.iterator.states.len(), 1);
    let StateKind::Parallel(both) = &wf.states[2].kind else {
        panic!("parallel")
    };
    assert_eq!(both.join, JoinMode::Any);
    assert_eq!(both.aggregation, Aggregation::Merge);
    assert_eq!(both.branches[0].graph.start, "a");
}

#[test]
fn transform_catch_and_executors() {
    let wf = ok(r#"
id: policy
states:
  - name: shape
    type: transform
    expression: "{'n': len(ctx.items)}"
    resultPath: steps.shape
    next: call
  - name: call
    type: operation
    action: agent.run
    input: { agent: flaky }
    retry: { maxAttempts: 3, backoffSeconds: 0.5 }
    catch:
      - { errors: [STEP_TIMEOUT, AGENT_UNAVAILABLE], next: fallback, resultPath: steps.error }
      - { next: give_up }
    next: hook
  - name: hook
    type: operation
    action: http.request
    input: { url: "http://127.0.0.1:9/hook", body: "{{ steps.shape }}" }
    onError: give_up
    next: wait
  - name: wait
    type: operation
    action: signal.wait
    input: { signal: order.paid, filter: "signal.data.ok", timeoutSeconds: 60 }
    end: true
  - { name: fallback, type: inject, data: { degraded: true }, end: true }
  - { name: give_up, type: inject, data: { failed: true }, end: true }
"#);
    let StateKind::Transform(t) = &wf.states[0].kind else {
        panic!("transform")
    };
    assert!(t.expression.contains("len("));
    assert_eq!(wf.states[1].catch.len(), 2);
    assert_eq!(
        wf.states[1].catch[0].errors,
        ["STEP_TIMEOUT", "AGENT_UNAVAILABLE"]
    );
    assert_eq!(
        wf.states[1].catch[0].result_path.as_deref(),
        Some("steps.error")
    );
    assert!(wf.states[1].catch[1].errors.is_empty());
    assert_eq!(wf.states[2].catch[0].next, "give_up");
    let StateKind::Operation(hook) = &wf.states[2].kind else {
        panic!("op")
    };
    assert_eq!(hook.action.name(), "http.request");
    let StateKind::Operation(wait) = &wf.states[3].kind else {
        panic!("op")
    };
    assert_eq!(wait.effective_timeout_seconds(), 60);
}

#[test]
fn station_types_agent_and_human_approval() {
    let wf = ok(r#"
id: station
states:
  - { id: triage, type: agent, agent: echo, prompt: "triage {{ ctx.ip }}", input: { ip: "{{ ip }}" }, transition: approve }
  - id: approve
    type: human_approval
    message: "Block {{ ctx.ip }}?"
    approvers: ["team:secops"]
    onReject: cancel
    timeoutSeconds: 600
    transition: done
  - { id: done, type: operation, input: { task: agent.run, agent: echo, agent_task: "report" }, end: true }
"#);
    let StateKind::Operation(op) = &wf.states[1].kind else {
        panic!("op")
    };
    let Action::HumanApproval(approval) = &op.action else {
        panic!("approval")
    };
    assert_eq!(approval.approvers, ["team:secops"]);
    assert_eq!(approval.on_reject, OnReject::Cancel);
    assert_eq!(op.effective_timeout_seconds(), 600);
    let StateKind::Operation(done) = &wf.states[2].kind else {
        panic!("op")
    };
    let Action::AgentRun(call) = &done.action else {
        panic!("agent")
    };
    assert_eq!(call.task, Some(serde_json::json!("report")));
}

#[test]
fn control_flow_mistakes_have_codes_and_paths() {
    let cases: &[(&str, (&str, &str))] = &[
        (
            "id: x\nstates:\n  - { name: f, type: foreach, itemsPath: ctx.items, end: true }\n",
            ("MISSING_ITERATOR", "states[0]"),
        ),
        (
            "id: x\nstates:\n  - { name: f, type: foreach, iterator: { states: [] }, end: true }\n",
            ("MISSING_FIELD", "states[0].itemsPath"),
        ),
        (
            "id: x\nstates:\n  - { name: s, type: switch, dataPath: a }\n",
            ("MISSING_FIELD", "states[0].conditions"),
        ),
        (
            "id: x\nstates:\n  - { name: s, type: switch, conditions: [{ if: 'true', next: nope }], defaultNext: s2 }\n  - { name: s2, type: inject, data: {}, end: true }\n",
            ("DANGLING_TARGET", "states[0].conditions[0].next"),
        ),
        (
            "id: x\nstates:\n  - { name: p, type: parallel, branches: [], end: true }\n",
            ("MISSING_FIELD", "states[0].branches"),
        ),
        (
            "id: x\nstates:\n  - name: p\n    type: parallel\n    branches:\n      - { name: a, states: [{ name: a1, type: inject, data: {}, next: outside }] }\n    next: outside\n  - { name: outside, type: inject, data: {}, end: true }\n",
            ("DANGLING_TARGET", "states[0].branches[0].states[0].next"),
        ),
        (
            "id: x\nstates:\n  - name: p\n    type: parallel\n    branches:\n      - { name: a, agent: echo }\n      - { name: a, agent: echo }\n    end: true\n",
            ("DUPLICATE_BRANCH", "states[0].branches[1].name"),
        ),
        (
            "id: x\nstates:\n  - { name: p, type: parallel, join: some, branches: [{ name: a, agent: echo }], end: true }\n",
            ("INVALID_VALUE", "states[0].join"),
        ),
        (
            "id: x\nstates:\n  - { name: t, type: transform, end: true }\n",
            ("MISSING_FIELD", "states[0].expression"),
        ),
        (
            "id: x\nstates:\n  - { name: o, type: operation, action: teleport, end: true }\n",
            ("UNKNOWN_ACTION", "states[0].action"),
        ),
        (
            "id: x\nstates:\n  - { name: o, type: agent, agent: echo, catch: [{ errors: [X] }], end: true }\n",
            ("MISSING_FIELD", "states[0].catch[0].next"),
        ),
        (
            "id: x\nstates:\n  - { name: o, type: agent, agent: echo, onError: nowhere, end: true }\n",
            ("DANGLING_TARGET", "states[0].catch[0]"),
        ),
        (
            "id: x\nstates:\n  - { name: o, type: human_approval, approvers: [alice], end: true }\n",
            ("INVALID_VALUE", "states[0].approvers[0]"),
        ),
        (
            "id: x\nstates:\n  - { name: w, type: operation, action: signal.wait, input: {}, end: true }\n",
            ("MISSING_FIELD", "states[0].input.signal"),
        ),
    ];
    for (source, expected) in cases {
        let found = errors(source);
        assert!(
            found
                .iter()
                .any(|(c, p)| c == expected.0 && p == expected.1),
            "expected {expected:?} for\n{source}\ngot {found:?}"
        );
    }
}

#[test]
fn nesting_is_bounded() {
    let mut source = String::from("{ name: leaf, type: inject, data: {}, end: true }");
    for depth in 0..(crate::model::states::MAX_NESTING + 2) {
        source = format!(
            "{{ name: p{depth}, type: parallel, branches: [{{ name: b, states: [{source}] }}], end: true }}"
        );
    }
    let found = errors(&format!("id: deep\nstates: [{source}]\n"));
    assert!(
        found.iter().any(|(c, _)| c == "DEFINITION_TOO_LARGE"),
        "{found:?}"
    );
}
