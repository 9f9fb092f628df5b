//! A lost task built again from the run ([`lost_task`]): the same task its
//! dispatch sent, at the top level and inside a branch and a foreach item;
//! nothing for an attempt the run no longer waits on a worker for.

use super::fanout::FANOUT;
use super::*;
use crate::engine::lost_task;

fn rebuilt(env: &Env, task: &crate::wire::StepTask) -> Option<crate::wire::StepTask> {
    let cx = ApplyContext {
        now: now(),
        payload_limit: env.payload_limit,
    };
    lost_task(
        &env.workflow,
        &env.meta,
        &env.state,
        &StepId::new(task.step_id.clone()),
        task.attempt,
        &cx,
    )
}

#[test]
fn a_lost_task_is_built_again_as_its_dispatch_sent_it() {
    let mut env = Env::new(FANOUT);
    let tasks: Vec<_> = dispatched(&env.start(services(2)))
        .into_iter()
        .cloned()
        .collect();
    let before = env.state.clone();
    for task in &tasks {
        assert_eq!(rebuilt(&env, task).as_ref(), Some(task), "{}", task.path);
    }
    assert_eq!(env.state, before, "building a task again changes nothing");

    // Inside a foreach item, with the item's own binding.
    for task in &tasks {
        succeed(&mut env, task, json!({}));
    }
    let effects = env.apply(Input::StepSucceeded {
        step_id: StepId::new(tasks[1].step_id.clone()),
        attempt: 1,
        output: json!({}),
    });
    assert!(effects.is_empty(), "a late duplicate changes nothing");
    let items: Vec<crate::wire::StepTask> = env
        .state
        .active
        .iter()
        .map(|active| {
            let task = crate::wire::StepTask {
                step_id: active.step_id.to_string(),
                attempt: active.attempt,
                ..tasks[0].clone()
            };
            rebuilt(&env, &task).expect("an item's task")
        })
        .collect();
    assert_eq!(items.len(), 2);
    for (index, item) in items.iter().enumerate() {
        assert_eq!(item.path, format!("each[{index}]/check"));
        let TaskAction::AgentRun { task, .. } = &item.action else {
            panic!("an agent.run task")
        };
        let name = &services(2)["services"][index]["name"];
        assert_eq!(
            task,
            &Some(json!(format!(
                "check {}",
                name.as_str().unwrap_or_default()
            )))
        );
    }

    // An attempt that ended, or another attempt number: nothing.
    assert_eq!(rebuilt(&env, &tasks[0]), None);
    let wrong_attempt = crate::wire::StepTask {
        attempt: 2,
        ..items[0].clone()
    };
    assert_eq!(rebuilt(&env, &wrong_attempt), None);
}
