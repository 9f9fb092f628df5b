//! Workflow sources and agent registries that several test files share.

use junction_example_agents::{Registry, Reply};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Waits for a person, then ends with an `inject` state.
pub const SHIP: &str = r#"
id: ship
states:
  - name: ask
    type: human_approval
    message: "Ship {{ ctx.v }}?"
    next: done
  - { name: done, type: inject, data: { shipped: true }, end: true }
"#;

/// Three agent steps, `echo` → `block` → `echo`, also started by the signal
/// `go`.
pub const THREE_STEPS: &str = r#"
id: three
trigger: { signal: go }
states:
  - name: first
    type: operation
    action: agent.run
    input: { agent: echo, task: "one" }
    resultPath: steps.first
    next: middle
  - name: middle
    type: operation
    action: agent.run
    input: { agent: block, task: "two" }
    resultPath: steps.middle
    next: last
  - name: last
    type: operation
    action: agent.run
    input: { agent: echo, task: "three" }
    resultPath: steps.last
    end: true
"#;

/// `block` hangs on its first call (until the test ends) and answers later calls.
pub fn registry_with_block(calls: Arc<AtomicUsize>) -> Registry {
    Registry::builtin().with(
        "block",
        move |request: junction_core::wire::agent::AgentRequest| {
            let calls = calls.clone();
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Reply::output(json!({ "unblocked": request.task }))
            }
        },
    )
}

/// An n-step chain of `agent` calls, each writing to `steps.s<i>`.
pub fn chain_yaml(id: &str, agent: &str, steps: usize, trigger: Option<&str>) -> String {
    let mut yaml = format!("id: {id}\n");
    if let Some(signal) = trigger {
        yaml.push_str(&format!("trigger:\n  signal: {signal}\n"));
    }
    yaml.push_str("states:\n");
    for i in 1..=steps {
        yaml.push_str(&format!("  - name: s{i}\n    type: operation\n    action: agent.run\n    input:\n      agent: {agent}\n      task: \"step {i}\"\n    resultPath: steps.s{i}\n"));
        if i == steps {
            yaml.push_str("    end: true\n");
        } else {
            yaml.push_str(&format!("    next: s{}\n", i + 1));
        }
    }
    yaml
}
