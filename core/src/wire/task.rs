//! The step task message on `wf.task.step.<run>.<step>` (PROTOCOL §1): ids,
//! the step's resolved input and the workflow's metadata, never the whole context.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Which workflow and run a task belongs to (the workflow context runners receive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRef {
    pub id: String,
    pub name: Option<String>,
    pub tenant: String,
    /// The store's integer revision.
    pub version: i32,
    pub definition_version: Option<String>,
    /// The workflow's states by type (`operation`, `switch`, …, and each
    /// action such as `agent.run`), nested graphs and DAG steps included:
    /// the "workflow context" runners receive.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_index: BTreeMap<String, Vec<String>>,
}

/// How long after a step's own deadline (execution start + timeout) the
/// coordinator's backstop fails it with `STEP_TIMEOUT`, when no result came
/// back (the worker holding it is gone and nobody took it over). The worker
/// enforces the deadline itself; this only covers its absence. The backstop
/// is stored by the lazy claim of a step still running at a third of the
/// lease; a shorter step needs none.
pub const STEP_DEADLINE_GRACE_SECONDS: f64 = 30.0;

/// What the worker must do, with every template already resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action")]
pub enum TaskAction {
    #[serde(rename = "agent.run")]
    AgentRun {
        agent: String,
        task: Option<Value>,
        input: Value,
        variables: Value,
    },
}

impl TaskAction {
    /// The action's name on the wire (`agent.run`): the executor that runs it.
    pub fn name(&self) -> &'static str {
        match self {
            TaskAction::AgentRun { .. } => "agent.run",
        }
    }

    /// What `workflow.step.started` reports as the step's input.
    pub fn input(&self) -> &Value {
        match self {
            TaskAction::AgentRun { input, .. } => input,
        }
    }
}

/// One step attempt to execute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTask {
    pub run_id: String,
    pub step_id: String,
    pub state: String,
    pub path: String,
    pub attempt: u32,
    #[serde(flatten)]
    pub action: TaskAction,
    pub timeout_seconds: u64,
    pub workflow: WorkflowRef,
    /// The `traceparent` header the task was delivered with (the span of
    /// the state that dispatched it); not part of the JSON.
    #[serde(skip)]
    pub traceparent: Option<String>,
}

impl StepTask {
    /// `<run>:<step>:<attempt>`: the task's `Nats-Msg-Id` and the agent idempotency key.
    pub fn idempotency_key(&self) -> String {
        crate::ids::idempotency_key(&self.run_id, &self.step_id, self.attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actions_name_is_its_wire_tag() {
        let action = TaskAction::AgentRun {
            agent: "echo".into(),
            task: None,
            input: Value::Null,
            variables: Value::Null,
        };
        let wire = serde_json::to_value(&action).unwrap_or_default();
        assert_eq!(wire["action"], action.name());
    }
}
