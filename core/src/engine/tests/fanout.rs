//! Parallel branches and foreach items: joins, bounds, cancellation.

use super::*;

pub(super) const FANOUT: &str = r#"
id: fanout
states:
  - name: both
    type: parallel
    branches:
      - name: a
        states:
          - { name: a1, type: agent, agent: echo, task: "a for {{ ctx.who }}", resultPath: result, end: true }
      - name: b
        states:
          - { name: b1, type: agent, agent: echo, resultPath: out, next: b2 }
          - { name: b2, type: inject, data: { seen: true }, resultPath: flag, end: true }
    resultPath: steps.both
    catch: [{ next: rescued, resultPath: steps.error }]
    next: each
  - name: each
    type: foreach
    itemsPath: ctx.services
    itemName: service
    maxConcurrency: 2
    iterator:
      states:
        - { name: check, type: agent, agent: echo, task: "check {{ service.name }}", resultPath: health, end: true }
    resultPath: steps.health
    end: true
  - { name: rescued, type: inject, data: { rescued: true }, end: true }
"#;

#[test]
fn parallel_branches_run_together_and_join_keyed_by_branch() {
    let mut env = Env::new(FANOUT);
    let effects = env.start(services(0));
    let tasks = dispatched(&effects);
    assert_eq!(tasks.len(), 2);
    let a1 = by_path(&tasks, "both/a/a1").clone();
    let b1 = by_path(&tasks, "both/b/b1").clone();
    assert_ne!(a1.step_id, b1.step_id);
    let TaskAction::AgentRun { task, input, .. } = &a1.action else {
        panic!("an agent.run task")
    };
    assert_eq!(task, &Some(json!("a for ada")));
    assert_eq!(
        input["who"],
        json!("ada"),
        "a branch's first agent gets the output from before it"
    );
    // b finishes first: nothing joins yet.
    assert!(dispatched(&succeed(&mut env, &b1, json!({ "b": 1 }))).is_empty());
    assert_eq!(env.state.status, RunStatus::Running);
    assert!(env.state.context["steps"].get("both").is_none());
    let effects = succeed(&mut env, &a1, json!({ "a": 1 }));
    assert_eq!(
        env.state.context["steps"]["both"],
        json!({ "a": { "result": { "a": 1 } }, "b": { "out": { "b": 1 }, "flag": { "seen": true } } })
    );
    // The foreach over no items joins at once with [] and the run completes.
    assert_eq!(env.state.context["steps"]["health"], json!([]));
    assert_eq!(env.state.status, RunStatus::Completed, "{effects:?}");
    assert!(env.state.frames.is_empty() && env.state.fanouts.is_empty());
    // Branch writes stay in the branch: the run context has no `result` root.
    assert!(env.state.context.get("result").is_none());
}

#[test]
fn foreach_bounds_items_in_flight_and_collects_in_index_order() {
    let mut env = Env::new(FANOUT);
    let tasks: Vec<_> = dispatched(&env.start(services(5)))
        .into_iter()
        .cloned()
        .collect();
    for task in &tasks {
        succeed(&mut env, task, json!({}));
    }
    // Past the parallel: the foreach started items 0 and 1 only.
    let mut running: Vec<crate::wire::StepTask> = env
        .state
        .active
        .iter()
        .map(|a| a.path.clone())
        .map(|path| crate::wire::StepTask {
            path,
            ..tasks[0].clone()
        })
        .collect();
    running.sort_by(|x, y| x.path.cmp(&y.path));
    let paths: Vec<&str> = running.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(paths, ["each[0]/check", "each[1]/check"]);
    let mut seen_ids = std::collections::HashSet::new();
    // Finish items newest first, as workers please; each end starts the next.
    let mut finished = 0;
    while env.state.status == RunStatus::Running {
        let active = env.state.active.last().cloned().expect("an item in flight");
        assert!(
            env.state.active.len() <= 2,
            "maxConcurrency bounds items in flight"
        );
        assert!(
            seen_ids.insert(active.step_id.clone()),
            "every item has its own step id"
        );
        let index: usize = active.path["each[".len()..active.path.find(']').expect("index")]
            .parse()
            .expect("number");
        env.apply(Input::StepSucceeded {
            step_id: active.step_id.clone(),
            attempt: active.attempt,
            output: json!({ "item": index }),
        });
        finished += 1;
    }
    assert_eq!(finished, 5);
    assert_eq!(env.state.status, RunStatus::Completed);
    let health = env.state.context["steps"]["health"]
        .as_array()
        .cloned()
        .expect("a list");
    let order: Vec<Value> = health.iter().map(|h| h["health"]["item"].clone()).collect();
    assert_eq!(order, [json!(0), json!(1), json!(2), json!(3), json!(4)]);
}

#[test]
fn foreach_items_are_bound_and_are_the_first_agents_input() {
    let mut env = Env::new(FANOUT);
    let tasks: Vec<_> = dispatched(&env.start(services(1)))
        .into_iter()
        .cloned()
        .collect();
    succeed(&mut env, &tasks[0], json!({}));
    let effects = succeed(&mut env, &tasks[1], json!({}));
    let item = dispatched(&effects)[0].clone();
    assert_eq!(item.path, "each[0]/check");
    let TaskAction::AgentRun { task, .. } = &item.action else {
        panic!("an agent.run task")
    };
    assert_eq!(task, &Some(json!("check s0")));
}

#[test]
fn a_failed_branch_cancels_its_siblings_and_the_catch_takes_over() {
    let mut env = Env::new(FANOUT);
    let tasks: Vec<_> = dispatched(&env.start(services(0)))
        .into_iter()
        .cloned()
        .collect();
    let a1 = by_path(&tasks.iter().collect::<Vec<_>>(), "both/a/a1").clone();
    let b1 = by_path(&tasks.iter().collect::<Vec<_>>(), "both/b/b1").clone();
    let effects = fail(&mut env, &a1);
    assert!(
        events(&effects).contains(&EventType::StepCancelled),
        "b1 is cancelled"
    );
    assert_eq!(env.state.status, RunStatus::Completed);
    assert_eq!(env.state.context["ctx"]["rescued"], json!(true));
    assert_eq!(env.state.context["steps"]["error"]["code"], json!("BOOM"));
    // b1's late result changes nothing.
    assert!(succeed(&mut env, &b1, json!({})).is_empty());
}

#[test]
fn join_any_continues_with_the_first_branch_and_cancels_the_rest() {
    let source = FANOUT.replace(
        "    resultPath: steps.both\n",
        "    join: { mode: any }\n    resultPath: steps.both\n",
    );
    let mut env = Env::new(&source);
    let tasks: Vec<_> = dispatched(&env.start(services(0)))
        .into_iter()
        .cloned()
        .collect();
    let a1 = tasks
        .iter()
        .find(|t| t.path == "both/a/a1")
        .expect("a1")
        .clone();
    let effects = succeed(&mut env, &a1, json!({ "first": true }));
    assert!(events(&effects).contains(&EventType::StepCancelled));
    assert_eq!(
        env.state.context["steps"]["both"],
        json!({ "a": { "result": { "first": true } } })
    );
    assert_eq!(env.state.status, RunStatus::Completed);
}

#[test]
fn a_foreach_over_something_else_than_a_list_fails_clearly() {
    let mut env = Env::new(FANOUT);
    let tasks: Vec<_> = dispatched(&env.start(json!({ "who": "x", "services": "nope" })))
        .into_iter()
        .cloned()
        .collect();
    for task in &tasks {
        succeed(&mut env, task, json!({}));
    }
    assert_eq!(env.state.status, RunStatus::Failed);
    let error = env.state.error.clone().expect("error");
    assert_eq!(error.code, "FOREACH_ITEMS");
    assert!(error.message.contains("a string"), "{}", error.message);
}

#[test]
fn the_prd_appendix_runs_its_parallel_and_switch() {
    let source = include_str!("../../../../examples/station/incident-triage.workflow.yaml");
    let mut env = Env::new(source);
    let tasks: Vec<_> = dispatched(&env.start(json!({ "namespace": "prod", "service": "api" })))
        .into_iter()
        .cloned()
        .collect();
    let paths: Vec<&str> = tasks.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "diagnostics/pods/check_pods",
            "diagnostics/errors/check_errors"
        ]
    );
    succeed(&mut env, &tasks[0], json!({ "pods": [] }));
    let effects = succeed(&mut env, &tasks[1], json!({ "error_rate": 0.01 }));
    // error_rate ≤ threshold: the switch reads steps.diagnostics.errors.result and goes to report_ok.
    let next = dispatched(&effects);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].path, "report_ok");
}

#[test]
fn tasks_carry_the_workflow_context_with_a_node_index_by_type() {
    let mut env = Env::new(FANOUT);
    let task = dispatched(&env.start(services(0)))[0].clone();
    let index = &task.workflow.node_index;
    assert_eq!(index["parallel"], ["both"]);
    assert_eq!(index["foreach"], ["each"]);
    assert_eq!(index["agent.run"], ["a1", "b1", "check"]);
    assert_eq!(index["inject"], ["b2", "rescued"]);
    assert_eq!(task.workflow.id, "fanout");
    assert_eq!(task.workflow.tenant, "default");
}

/// PROTOCOL §8.8: without an explicit `input`, the first agent of a foreach
/// item gets the item, and the first agent of a parallel branch the output
/// from before the parallel state, not the run's `ctx`.
#[test]
fn first_agents_of_items_and_branches_get_the_item_and_the_previous_output() {
    let mut env = Env::new(
        r#"
id: inputs
states:
  - { name: before, type: agent, agent: echo, resultPath: steps.before, next: each }
  - name: each
    type: foreach
    itemsPath: ctx.items
    itemName: it
    maxConcurrency: 2
    iterator:
      states:
        - { name: work, type: agent, agent: echo, end: true }
    next: both
  - name: both
    type: parallel
    branches:
      - { name: a, states: [ { name: a1, type: agent, agent: echo, end: true } ] }
    end: true
"#,
    );
    let tasks: Vec<_> = dispatched(&env.start(json!({ "items": [{ "n": 1 }, { "n": 2 }] })))
        .into_iter()
        .cloned()
        .collect();
    let before = by_path(&tasks.iter().collect::<Vec<_>>(), "before").clone();
    let tasks: Vec<_> = dispatched(&succeed(&mut env, &before, json!({ "prev": true })))
        .into_iter()
        .cloned()
        .collect();
    for (i, n) in [(0, 1), (1, 2)] {
        let refs: Vec<_> = tasks.iter().collect();
        let task = by_path(&refs, &format!("each[{i}]/work"));
        let TaskAction::AgentRun { input, .. } = &task.action else {
            panic!("an agent.run task")
        };
        assert_eq!(input, &json!({ "n": n }), "item {i} gets its item");
    }
    let mut next = Vec::new();
    for task in &tasks {
        next.extend(
            dispatched(&succeed(&mut env, task, json!({})))
                .into_iter()
                .cloned(),
        );
    }
    let refs: Vec<_> = next.iter().collect();
    let a1 = by_path(&refs, "both/a/a1");
    let TaskAction::AgentRun { input, .. } = &a1.action else {
        panic!("an agent.run task")
    };
    assert_eq!(
        input,
        &json!([{}, {}]),
        "a branch gets the output before the parallel: the foreach's join value"
    );
}
