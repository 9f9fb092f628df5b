//! Redrive inside fan-outs: only the failed or cancelled items and
//! branches run again; the others keep their values and the join completes.

use super::fanout::FANOUT;
use super::redrive::{Run, owned, redriven_steps};
use super::*;

#[test]
fn only_failed_and_cancelled_items_run_again_and_the_rest_keep_their_values() {
    let (mut run, effects) = Run::new(FANOUT, services(5));
    let mut items = Vec::new();
    for task in owned(&effects) {
        items.extend(owned(&run.succeed(&task, json!({ "branch": task.state }))));
    }
    // The foreach runs items 0 and 1 (maxConcurrency 2).
    let item0 = items[0].clone();
    let item1 = items[1].clone();
    assert_eq!(
        (item0.path.as_str(), item1.path.as_str()),
        ("each[0]/check", "each[1]/check")
    );
    let item2 = owned(&run.succeed(&item0, json!({ "up": 0 })))[0].clone();
    assert_eq!(item2.path, "each[2]/check");
    // Item 1 fails: item 2 is cancelled, the foreach fails, and so does the run.
    let effects = run.fail(&item1, false);
    assert!(events(&effects).contains(&EventType::StepCancelled));
    assert_eq!(run.env.state.status, RunStatus::Failed);

    let outcome = run.redrive();
    let again = owned(&outcome.effects);
    let paths: Vec<(&str, u32)> = again.iter().map(|t| (t.path.as_str(), t.attempt)).collect();
    assert_eq!(paths, vec![("each[1]/check", 2), ("each[2]/check", 2)]);
    let steps = redriven_steps(&outcome.effects);
    assert!(
        steps.contains(&item1.step_id) && steps.contains(&item2.step_id),
        "{steps:?}"
    );
    // The parallel before it is not walked again: its join value is replayed.
    assert!(
        run.env.state.context["steps"]["both"]["a"].is_object(),
        "{}",
        run.env.state.context
    );
    let mut next = Vec::new();
    for task in &again {
        next.extend(owned(&run.succeed(task, json!({ "up": task.path }))));
    }
    // Items 3 and 4 never ran: they start now, at attempt 1.
    let fresh: Vec<(&str, u32)> = next.iter().map(|t| (t.path.as_str(), t.attempt)).collect();
    assert_eq!(fresh, vec![("each[3]/check", 1), ("each[4]/check", 1)]);
    for task in &next {
        run.succeed(task, json!({ "up": task.path }));
    }
    assert_eq!(run.env.state.status, RunStatus::Completed);
    let health = &run.env.state.context["steps"]["health"];
    assert_eq!(
        health[0],
        json!({ "health": { "up": 0 } }),
        "item 0 kept its value"
    );
    assert_eq!(health[1], json!({ "health": { "up": "each[1]/check" } }));
    assert_eq!(health.as_array().map(Vec::len), Some(5));
}

const NESTED: &str = r#"
id: nested
states:
  - name: outer
    type: parallel
    branches:
      - name: left
        states:
          - { name: l1, type: agent, agent: echo, resultPath: out, end: true }
      - name: right
        states:
          - name: loop
            type: foreach
            itemsPath: ctx.items
            itemName: item
            maxConcurrency: 3
            iterator:
              states:
                - { name: work, type: agent, agent: echo, resultPath: r, end: true }
            resultPath: all
            end: true
    resultPath: steps.outer
    end: true
"#;

#[test]
fn a_failed_item_of_a_foreach_inside_a_branch_runs_again_alone() {
    let (mut run, effects) = Run::new(NESTED, json!({ "items": [1, 2, 3] }));
    let tasks = owned(&effects);
    assert_eq!(tasks.len(), 4);
    let failing = by_path(&dispatched(&effects), "outer/right/loop[1]/work").clone();
    for task in tasks.iter().filter(|t| t.step_id != failing.step_id) {
        run.succeed(task, json!({ "at": task.path }));
    }
    run.fail(&failing, false);
    assert_eq!(run.env.state.status, RunStatus::Failed);

    let outcome = run.redrive();
    let again = owned(&outcome.effects);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(
        (again[0].path.as_str(), again[0].attempt),
        ("outer/right/loop[1]/work", 2)
    );
    // The item's step, and the two fan-outs around it, which failed with it.
    let steps = redriven_steps(&outcome.effects);
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert_eq!(steps.last(), Some(&failing.step_id));
    run.succeed(&again[0], json!({ "at": "again" }));
    assert_eq!(run.env.state.status, RunStatus::Completed);
    let outer = &run.env.state.context["steps"]["outer"];
    assert_eq!(outer["left"]["out"], json!({ "at": "outer/left/l1" }));
    assert_eq!(
        outer["right"]["all"],
        json!([
            { "r": { "at": "outer/right/loop[0]/work" } },
            { "r": { "at": "again" } },
            { "r": { "at": "outer/right/loop[2]/work" } },
        ])
    );
}
