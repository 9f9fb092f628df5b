//! The Station dialect as settled from a reading of Station's runtime
//! (docs/language.md, "The Station dialect"): `type: agent` and its task
//! order, `type: human_approval`'s `prompt`, shorthand bodies,
//! `outputAggregation`, `$` paths, block transforms, and templates that are
//! not paths.

use crate::model::ir::*;
use crate::model::{SourceFormat, compile};
use serde_json::json;

fn ok(source: &str) -> Workflow {
    let compiled = compile(source, SourceFormat::Yaml);
    assert!(
        compiled.diagnostics.errors.is_empty(),
        "{:#?}",
        compiled.diagnostics.errors
    );
    compiled.workflow.expect("workflow")
}

fn errors(source: &str) -> Vec<(String, String, String)> {
    compile(source, SourceFormat::Yaml)
        .diagnostics
        .errors
        .into_iter()
        .map(|d| (d.code, d.path, d.message))
        .collect()
}

fn call(state: &State) -> &AgentCall {
    match &state.kind {
        StateKind::Operation(Operation {
            action: Action::AgentRun(call),
            ..
        }) => call,
        other => panic!("agent.run expected, got {other:?}"),
    }
}

#[test]
fn type_agent_needs_only_agent_and_its_input_is_the_operation_input_block() {
    let wf = ok(r#"
id: agents
states:
  - { id: bare, type: agent, agent: echo, transition: block }
  - id: block
    type: agent
    agent: echo
    input:
      task: "Summarise {{ ctx.topic }}"
      input: { topic: "{{ ctx.topic }}" }
      variables: { tone: dry }
      timeoutSeconds: 40
    transition: payload
  - { id: payload, type: agent, agent: echo, input: "{{ ctx }}", end: true }
"#);
    let bare = call(&wf.states[0]);
    assert_eq!(bare.task, None);
    assert_eq!(bare.input, None, "no input: the previous output");
    assert_eq!(
        bare.default_task.as_deref(),
        Some("Execute workflow step: bare")
    );
    let block = call(&wf.states[1]);
    assert_eq!(block.task, Some(json!("Summarise {{ ctx.topic }}")));
    assert_eq!(block.input, Some(json!({ "topic": "{{ ctx.topic }}" })));
    assert_eq!(block.variables, Some(json!({ "tone": "dry" })));
    assert_eq!(block.timeout_seconds, Some(40));
    assert_eq!(block.default_task, None);
    assert_eq!(
        call(&wf.states[2]).input,
        Some(json!("{{ ctx }}")),
        "an input that is not a mapping can only be the payload"
    );
}

#[test]
fn type_agent_takes_the_first_task_given_in_station_order() {
    let cases = [
        ("task: t, prompt: p, agentTask: a, input: { task: i }", "t"),
        ("prompt: p, agentTask: a, input: { task: i }", "p"),
        ("agentTask: a, input: { task: i, agent_task: at }", "a"),
        ("input: { task: i, agent_task: at, userInput: u }", "i"),
        (
            "input: { task: agent.run, agent_task: at, userInput: u }",
            "at",
        ),
        ("input: { userInput: u }", "u"),
    ];
    for (fields, task) in cases {
        let wf = ok(&format!(
            "id: order\nstates:\n  - {{ id: s, type: agent, agent: echo, {fields}, end: true }}\n"
        ));
        let call = call(&wf.states[0]);
        assert_eq!(call.task, Some(json!(task)), "{fields}");
        assert_eq!(call.default_task, None, "{fields}");
    }
}

#[test]
fn the_default_task_is_the_payloads_task_else_the_step_text() {
    let wf = ok("id: d\nstates:\n  - { id: s, type: agent, agent: echo, end: true }\n");
    let call = call(&wf.states[0]);
    assert_eq!(
        call.task_or_default(None, &json!({ "task": "from payload" })),
        Some(json!("from payload"))
    );
    assert_eq!(
        call.task_or_default(None, &json!({ "task": 3 })),
        Some(json!("Execute workflow step: s"))
    );
    assert_eq!(
        call.task_or_default(Some(json!("given")), &json!({ "task": "x" })),
        Some(json!("given"))
    );
}

#[test]
fn human_approval_takes_message_or_prompt() {
    let wf = ok(r#"
id: gates
states:
  - { id: a, type: human_approval, prompt: "Ship {{ ctx.v }}?", transition: b }
  - { id: b, type: human_approval, message: "m", prompt: "p", end: true }
"#);
    let message = |i: usize| match &wf.states[i].kind {
        StateKind::Operation(Operation {
            action: Action::HumanApproval(a),
            ..
        }) => a.message.clone(),
        other => panic!("approval expected, got {other:?}"),
    };
    assert_eq!(message(0), Some(json!("Ship {{ ctx.v }}?")));
    assert_eq!(message(1), Some(json!("m")), "message wins over prompt");
}

#[test]
fn shorthand_bodies_are_one_agent_state_named_after_their_container() {
    let wf = ok(r#"
id: shorthands
states:
  - name: fan
    type: parallel
    outputAggregation: merge
    branches:
      - { name: left, agent: echo, task: "l" }
    next: each
  - name: each
    type: foreach
    itemsPath: $.items
    itemVariable: it
    agent: echo
    agentTask: "do {{ it }}"
    outputAggregation: array
    end: true
"#);
    let StateKind::Parallel(fan) = &wf.states[0].kind else {
        panic!("parallel")
    };
    assert_eq!(fan.aggregation, Aggregation::Merge);
    let branch = &fan.branches[0].graph;
    assert_eq!(branch.start, "left");
    assert_eq!(branch.states[0].name, "left");
    let StateKind::Operation(op) = &branch.states[0].kind else {
        panic!("operation")
    };
    assert_eq!(
        op.result_path, None,
        "the branch's value is the agent output"
    );
    let StateKind::Foreach(each) = &wf.states[1].kind else {
        panic!("foreach")
    };
    assert_eq!(each.iterator.start, "each");
    assert_eq!(each.iterator.states[0].name, "each");
    assert_eq!(each.aggregation, Aggregation::Array);
    assert_eq!(
        call(&each.iterator.states[0]).task,
        Some(json!("do {{ it }}"))
    );
}

#[test]
fn merge_is_for_parallels_only() {
    let found = errors(
        "id: m\nstates:\n  - { name: f, type: foreach, itemsPath: ctx.xs, agent: echo, outputAggregation: merge, end: true }\n",
    );
    assert!(
        found
            .iter()
            .any(|(c, p, _)| c == "INVALID_VALUE" && p == "states[0].outputAggregation"),
        "{found:?}"
    );
    let found = errors(
        "id: m\nstates:\n  - { name: p, type: parallel, branches: [{ name: a, agent: echo }], outputAggregation: sum, end: true }\n",
    );
    assert!(
        found
            .iter()
            .any(|(c, p, _)| c == "INVALID_VALUE" && p == "states[0].outputAggregation"),
        "{found:?}"
    );
}

#[test]
fn dollar_paths_are_path_fields() {
    let wf = ok(r#"
id: dollars
states:
  - { name: all, type: inject, data: { n: 1 }, resultPath: $, next: look }
  - name: look
    type: switch
    dataPath: $
    conditions: [{ if: "n == 1", next: each }]
    defaultNext: each
  - { name: each, type: foreach, itemsPath: $.services, agent: echo, resultPath: $.checked, end: true }
"#);
    let StateKind::Inject { result_path, .. } = &wf.states[0].kind else {
        panic!("inject")
    };
    assert_eq!(result_path.as_deref(), Some("$"));
    let StateKind::Foreach(each) = &wf.states[2].kind else {
        panic!("foreach")
    };
    assert_eq!(each.items_path, "$.services");
}

#[test]
fn a_transform_may_be_a_multi_line_dict_or_statements_ending_in_one() {
    ok(r#"
id: blocks
states:
  - name: dict
    type: transform
    expression: |
      {
        "count": len(input),
        "names": [s["name"] for s in input],
      }
    next: statements
  - name: statements
    type: transform
    expression: |
      names = []
      for s in ctx.services:
          if s.get("up"):
              names.append(s["name"])
      {"up": names, "count": len(names)}
    end: true
"#);
    let found = errors(
        "id: b\nstates:\n  - { name: t, type: transform, expression: \"x = 1\", end: true }\n",
    );
    assert!(
        found.iter().any(|(c, p, m)| c == "STARLARK_SYNTAX"
            && p == "states[0].expression"
            && m.contains("ending in one")),
        "{found:?}"
    );
}

#[test]
fn a_template_whose_body_is_not_a_path_is_refused() {
    let found = errors(
        "id: t\nstates:\n  - { name: s, type: agent, agent: echo, task: \"{{ ctx.n + 1 }}\", end: true }\n",
    );
    assert!(
        found
            .iter()
            .any(|(c, _, m)| c == "TEMPLATE_PATH" && m.contains("not a path")),
        "{found:?}"
    );
    let found = errors(
        "id: t\nstates:\n  - { name: s, type: human_approval, message: \"ok ${len(ctx)}\", end: true }\n",
    );
    assert!(
        found
            .iter()
            .any(|(c, _, m)| c == "TEMPLATE_PATH" && m.contains("not a path")),
        "{found:?}"
    );
}
