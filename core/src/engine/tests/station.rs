//! The Station dialect's run-time rules (docs/language.md, "The Station
//! dialect"): join values and `outputAggregation`, shorthand bodies, the
//! previous output, `transform`, `type: agent` tasks, approvals a switch can
//! test, `$` paths, and what the context never holds.

use super::*;
use crate::wire::StepTask;

/// Runs every dispatched task to success with `output(task)`, until none is left.
fn run_out(
    env: &mut Env,
    first: Vec<Effect>,
    output: impl Fn(&StepTask) -> Value,
) -> Vec<StepTask> {
    let mut seen = Vec::new();
    let mut queue: Vec<StepTask> = dispatched(&first).into_iter().cloned().collect();
    while let Some(task) = queue.pop() {
        let effects = succeed(env, &task, output(&task));
        queue.extend(dispatched(&effects).into_iter().cloned());
        seen.push(task);
    }
    seen
}

fn agent_input(task: &StepTask) -> &Value {
    let TaskAction::AgentRun { input, .. } = &task.action else {
        panic!("not an agent task: {:?}", task.action);
    };
    input
}

fn agent_task(task: &StepTask) -> Option<&Value> {
    let TaskAction::AgentRun { task, .. } = &task.action else {
        panic!("not an agent task: {:?}", task.action);
    };
    task.as_ref()
}

/// An agent output that tells the steps apart.
fn out_of(task: &StepTask) -> Value {
    json!({ "by": task.path })
}

fn fanouts(aggregation: &str) -> String {
    format!(
        r#"
id: joins
states:
  - name: fan
    type: parallel
    {aggregation}
    branches:
      - {{ name: b, agent: echo, task: "b" }}
      - name: a
        states:
          - {{ name: a1, type: agent, agent: echo, task: "a1", resultPath: wrote, end: true }}
    resultPath: steps.fan
    next: each
  - name: each
    type: foreach
    itemsPath: $.services
    itemVariable: svc
    agent: echo
    {each_aggregation}
    resultPath: steps.each
    end: true
"#,
        each_aggregation = if aggregation.contains("array") {
            "outputAggregation: array"
        } else {
            ""
        }
    )
}

#[test]
fn a_parallel_joins_branch_values_by_name_or_in_declaration_order() {
    for aggregation in ["", "outputAggregation: merge", "outputAggregation: array"] {
        let mut env = Env::new(&fanouts(aggregation));
        let first = env.start(json!({ "services": [] }));
        let tasks = run_out(&mut env, first, out_of);
        assert_eq!(env.state.status, RunStatus::Completed, "{aggregation}");
        let paths: Vec<&str> = tasks.iter().map(|t| t.path.as_str()).collect();
        assert!(paths.contains(&"fan/b/b"), "shorthand path: {paths:?}");
        let b = json!({ "by": "fan/b/b" });
        let a = json!({ "wrote": { "by": "fan/a/a1" } });
        let expected = if aggregation.contains("array") {
            json!([b, a])
        } else {
            json!({ "b": b, "a": a })
        };
        assert_eq!(env.state.context["steps"]["fan"], expected, "{aggregation}");
    }
}

#[test]
fn a_foreach_joins_item_values_or_item_records_in_item_order() {
    for aggregation in ["", "outputAggregation: array"] {
        let mut env = Env::new(&fanouts(aggregation));
        let first = env.start(json!({ "services": ["x", "y"] }));
        let tasks = run_out(&mut env, first, out_of);
        assert_eq!(env.state.status, RunStatus::Completed, "{aggregation}");
        for (i, item) in ["x", "y"].iter().enumerate() {
            let task = tasks
                .iter()
                .find(|t| t.path == format!("each[{i}]/each"))
                .expect("the shorthand state is named after the foreach");
            assert_eq!(
                agent_input(task),
                &json!(item),
                "the first agent gets the item"
            );
        }
        let value = |i: usize| json!({ "by": format!("each[{i}]/each") });
        let expected = if aggregation.is_empty() {
            json!([value(0), value(1)])
        } else {
            json!([
                { "item": "x", "index": 0, "output": value(0) },
                { "item": "y", "index": 1, "output": value(1) },
            ])
        };
        assert_eq!(
            env.state.context["steps"]["each"], expected,
            "{aggregation}"
        );
    }
}

#[test]
fn a_join_value_without_result_path_is_stored_nowhere_but_is_the_previous_output() {
    let mut env = Env::new(
        r#"
id: unstored
states:
  - name: fan
    type: parallel
    branches: [{ name: only, agent: echo }]
    next: marker
  - { name: marker, type: inject, data: { seen: true }, next: after }
  - { name: after, type: agent, agent: echo, end: true }
"#,
    );
    let first = env.start(json!({ "q": 1 }));
    let tasks = run_out(&mut env, first, |t| json!({ "from": t.path }));
    let after = tasks.iter().find(|t| t.path == "after").expect("after ran");
    assert_eq!(
        agent_input(after),
        &json!({ "only": { "from": "fan/only/only" } }),
        "the join value, past an inject"
    );
    let roots: Vec<&String> = env.state.context.as_object().expect("doc").keys().collect();
    assert_eq!(roots, ["ctx", "signal", "steps"], "stored nowhere");
    assert_eq!(env.state.context["steps"], json!({}));
}

#[test]
fn the_previous_output_skips_inject_switch_and_approval_and_starts_as_ctx() {
    let mut env = Env::new(
        r#"
id: previous
states:
  - { name: first, type: agent, agent: echo, next: set }
  - { name: set, type: inject, data: { k: 1 }, next: route }
  - name: route
    type: switch
    conditions: [{ if: "ctx.k == 1", next: gate }]
  - { name: gate, type: human_approval, prompt: "go?", resultPath: steps.gate, next: second }
  - { name: second, type: agent, agent: echo, end: true }
"#,
    );
    let effects = env.start(json!({ "start": true }));
    let first = dispatched(&effects)[0].clone();
    assert_eq!(
        agent_input(&first),
        &json!({ "start": true }),
        "ctx at first"
    );
    succeed(&mut env, &first, json!({ "made": "first" }));
    let approval = env.state.active[0].step_ref();
    let effects = env.apply(Input::ApprovalDecided {
        step_id: approval.step_id,
        attempt: 1,
        approved: true,
        actor: Some("ada".into()),
        comment: None,
        decided_at: "2027-01-15T08:00:00.000Z".into(),
    });
    let second = dispatched(&effects)[0].clone();
    assert_eq!(agent_input(&second), &json!({ "made": "first" }));
}

#[test]
fn a_switch_tests_an_approvals_approved_flag() {
    let mut env = Env::new(
        r#"
id: gate
states:
  - { id: ask, type: human_approval, message: "Ship?", resultPath: decision, transition: route }
  - id: route
    type: switch
    dataPath: decision
    conditions: [{ if: "approved == True", next: ship }]
    defaultNext: hold
  - { id: ship, type: inject, data: { shipped: true }, end: true }
  - { id: hold, type: inject, data: { shipped: false }, end: true }
"#,
    );
    env.start(json!({}));
    let approval = env.state.active[0].step_ref();
    env.apply(Input::ApprovalDecided {
        step_id: approval.step_id,
        attempt: 1,
        approved: true,
        actor: Some("ada".into()),
        comment: Some("go".into()),
        decided_at: "2027-01-15T08:00:00.000Z".into(),
    });
    assert_eq!(env.state.status, RunStatus::Completed);
    assert_eq!(
        env.state.context["decision"],
        json!({ "decision": "approved", "approved": true, "actor": "ada", "comment": "go", "decided_at": "2027-01-15T08:00:00.000Z" })
    );
    assert_eq!(env.state.context["ctx"]["shipped"], json!(true));
}

#[test]
fn a_transform_reads_the_previous_output_as_input_and_may_be_statements() {
    let mut env = Env::new(
        r#"
id: shape
states:
  - { name: list, type: agent, agent: echo, next: count }
  - name: count
    type: transform
    expression: |
      {
        "names": [s["name"] for s in input["services"]],
        "total": len(input["services"]),
      }
    resultPath: steps.count
    next: up
  - name: up
    type: transform
    expression: |
      up = []
      for name in input.names:
          if name != "b":
              up.append(name)
      {"up": up, "of": input.total}
    next: after
  - { name: after, type: agent, agent: echo, end: true }
"#,
    );
    let services = json!({ "services": [{ "name": "a" }, { "name": "b" }] });
    let effects = env.start(json!({ "ignored": true }));
    let list = dispatched(&effects)[0].clone();
    let effects = succeed(&mut env, &list, services);
    assert_eq!(
        env.state.context["steps"]["count"],
        json!({ "names": ["a", "b"], "total": 2 })
    );
    assert_eq!(
        env.state.context["ctx"],
        json!({ "ignored": true, "up": ["a"], "of": 2 }),
        "without resultPath an object merges into ctx"
    );
    let after = dispatched(&effects)[0].clone();
    assert_eq!(agent_input(&after), &json!({ "up": ["a"], "of": 2 }));
}

#[test]
fn a_transform_error_names_the_state_and_the_expression() {
    let mut env = Env::new(
        "id: t\nstates:\n  - { name: broken, type: transform, expression: \"input.nope + 1\", end: true }\n",
    );
    env.start(json!({ "a": 1 }));
    let error = env.state.error.clone().expect("error");
    assert_eq!(error.code, "TRANSFORM_ERROR");
    assert!(
        error.message.contains("transform `broken`"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("input.nope + 1"),
        "{}",
        error.message
    );
}

#[test]
fn type_agent_sends_its_task_from_the_input_block_or_a_default() {
    let mut env = Env::new(
        r#"
id: tasks
states:
  - id: told
    type: agent
    agent: echo
    input: { task: "Summarise {{ ctx.topic }}", input: { t: "{{ ctx.topic }}" } }
    transition: payload
  - { id: payload, type: agent, agent: echo, transition: untold }
  - { id: untold, type: agent, agent: echo, end: true }
"#,
    );
    let effects = env.start(json!({ "topic": "rust" }));
    let told = dispatched(&effects)[0].clone();
    assert_eq!(agent_task(&told), Some(&json!("Summarise rust")));
    assert_eq!(agent_input(&told), &json!({ "t": "rust" }));
    let effects = succeed(&mut env, &told, json!({ "task": "carried" }));
    let payload = dispatched(&effects)[0].clone();
    assert_eq!(
        agent_task(&payload),
        Some(&json!("carried")),
        "the payload's task"
    );
    let effects = succeed(&mut env, &payload, json!({ "task": 7 }));
    let untold = dispatched(&effects)[0].clone();
    assert_eq!(
        agent_task(&untold),
        Some(&json!("Execute workflow step: untold"))
    );
}

#[test]
fn dollar_paths_read_like_names_and_write_roots() {
    let mut env = Env::new(
        r#"
id: dollars
states:
  - { name: everything, type: inject, data: { flat: { n: 2 } }, resultPath: $, next: look }
  - name: look
    type: switch
    dataPath: $.flat
    conditions: [{ if: "n == 2", next: each }]
  - { name: each, type: foreach, itemsPath: $.services, agent: echo, resultPath: $.checked, end: true }
"#,
    );
    let first = env.start(json!({ "services": ["s1"] }));
    run_out(&mut env, first, |t| json!({ "ok": t.path }));
    assert_eq!(env.state.status, RunStatus::Completed);
    assert_eq!(env.state.context["flat"], json!({ "n": 2 }));
    assert_eq!(
        env.state.context["checked"],
        json!([{ "ok": "each[0]/each" }])
    );
}

#[test]
fn inject_data_is_literal_and_no_hidden_metadata_appears() {
    let mut env = Env::new(
        r#"
id: literal
states:
  - { name: set, type: inject, data: { note: "{{ ctx.x }}" }, next: call }
  - { name: call, type: agent, agent: echo, resultPath: steps.call, next: shape }
  - { name: shape, type: transform, expression: "{'y': 1}", end: true }
"#,
    );
    let first = env.start(json!({ "x": 1 }));
    run_out(&mut env, first, |_| json!({ "r": 1 }));
    assert_eq!(env.state.context["ctx"]["note"], json!("{{ ctx.x }}"));
    let text = env.state.context.to_string();
    assert!(!text.contains("\"_"), "no `_` keys: {text}");
    assert_eq!(env.state.context["steps"], json!({ "call": { "r": 1 } }));
}
