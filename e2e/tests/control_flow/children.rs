//! Child workflows: a `workflow.run` step starts one child run, whose
//! context becomes the step's output; a child that cannot start fails it.

use crate::WAIT;
use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::json;

const PARENT: &str = r#"
id: parent
states:
  - name: prepare
    type: agent
    agent: upper
    task: "{{ ctx.name }}"
    resultPath: steps.prepare
    next: spawn
  - name: spawn
    type: operation
    action: workflow.run
    input: { workflow: child, input: { shout: "{{ steps.prepare.text }}" } }
    resultPath: steps.child
    next: after
  - { name: after, type: agent, agent: echo, task: "got {{ steps.child.steps.greet.text }}", resultPath: steps.after, end: true }
"#;

const CHILD: &str = r#"
id: child
inputSchema: { type: object, properties: { shout: { type: string } }, required: [shout] }
states:
  - { name: greet, type: agent, agent: upper, task: "hello {{ ctx.shout }}", resultPath: steps.greet, next: keep }
  - { name: keep, type: transform, expression: "{'steps': steps}", end: true }
"#;

#[tokio::test]
async fn a_child_workflow_runs_and_its_result_lands_in_the_parent() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(CHILD).await?;
    env.put_workflow(PARENT).await?;
    let run_id = env.start_run("parent", json!({ "name": "ada" })).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let steps = &run["context"]["steps"];
    assert_eq!(
        steps["child"]["shout"], "ADA",
        "the child's ctx is the step output"
    );
    assert_eq!(steps["child"]["steps"]["greet"]["text"], "HELLO ADA");
    assert_eq!(steps["after"]["task"], "got HELLO ADA");

    // Exactly one child, caused by the parent, and finished.
    let children = env
        .control(
            ControlSubject::RunsList,
            json!({ "workflow_id": "child", "causation_id": run_id }),
        )
        .await?;
    let children = children["runs"].as_array().cloned().unwrap_or_default();
    assert_eq!(children.len(), 1, "{children:?}");
    assert_eq!(children[0]["status"], "COMPLETED");
    // The child is part of its parent's trace.
    assert_eq!(children[0]["trace_id"], run["trace_id"], "{children:?}");

    // A child that cannot start fails the parent step clearly.
    env.put_workflow(
        &PARENT
            .replace("id: parent", "id: orphan")
            .replace("workflow: child", "workflow: nowhere"),
    )
    .await?;
    let run_id = env.start_run("orphan", json!({ "name": "bob" })).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(run["error"]["code"], "CHILD_FAILED");
    assert!(
        run["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nowhere")),
        "{run}"
    );
    Ok(())
}
