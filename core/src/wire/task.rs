//! The step task message (PROTOCOL §1): ids, the step's resolved input and
//! the workflow's metadata, never the whole context (a `starlark.eval` task
//! carries the names its expression reads, see [`StepTask::bindings`]).
//! `agent.run` tasks go on `wf.task.step.<run>.<step>`, every other
//! executor's on `wf.task.<executor token>.<run>.<step>` (docs/protocol.md,
//! "Executors and routing").

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
    /// An HTTP call (the `http.request` executor).
    #[serde(rename = "http.request")]
    HttpRequest { input: Value },
    /// A command, never through a shell (the `shell.run` executor).
    #[serde(rename = "shell.run")]
    ShellRun { input: Value },
    /// A CloudEvent published on `signals.<type>` (the `signal.emit` executor).
    #[serde(rename = "signal.emit")]
    SignalEmit { input: Value },
    /// A Starlark expression (the `starlark.eval` executor).
    #[serde(rename = "starlark.eval")]
    StarlarkEval { input: Value },
    /// A chat-completions call (the `llm` executor).
    #[serde(rename = "llm")]
    Llm { input: Value },
}

/// Every executor a task can name, in the order workers list them.
pub const EXECUTORS: &[&str] = &[
    "agent.run",
    "http.request",
    "shell.run",
    "signal.emit",
    "starlark.eval",
    "llm",
];

/// The executors a worker runs when `JUNCTION_WORKER__EXECUTORS` is unset:
/// `shell.run` and `llm` only where an operator lists them.
pub const DEFAULT_EXECUTORS: &[&str] =
    &["agent.run", "http.request", "signal.emit", "starlark.eval"];

impl TaskAction {
    /// The action's name on the wire (`agent.run`): the executor that runs it.
    pub fn name(&self) -> &'static str {
        match self {
            TaskAction::AgentRun { .. } => "agent.run",
            TaskAction::HttpRequest { .. } => "http.request",
            TaskAction::ShellRun { .. } => "shell.run",
            TaskAction::SignalEmit { .. } => "signal.emit",
            TaskAction::StarlarkEval { .. } => "starlark.eval",
            TaskAction::Llm { .. } => "llm",
        }
    }

    /// The task for `executor` (one of [`EXECUTORS`] but `agent.run`) with
    /// its rendered parameters; `None` for a name no task carries.
    pub fn for_executor(executor: &str, input: Value) -> Option<Self> {
        Some(match executor {
            "http.request" => TaskAction::HttpRequest { input },
            "shell.run" => TaskAction::ShellRun { input },
            "signal.emit" => TaskAction::SignalEmit { input },
            "starlark.eval" => TaskAction::StarlarkEval { input },
            "llm" => TaskAction::Llm { input },
            _ => return None,
        })
    }

    /// What `workflow.step.started` reports as the step's input.
    pub fn input(&self) -> &Value {
        match self {
            TaskAction::AgentRun { input, .. }
            | TaskAction::HttpRequest { input }
            | TaskAction::ShellRun { input }
            | TaskAction::SignalEmit { input }
            | TaskAction::StarlarkEval { input }
            | TaskAction::Llm { input } => input,
        }
    }

    /// The input, to replace (a lost task built again carries the input its
    /// dispatch stored).
    pub fn input_mut(&mut self) -> &mut Value {
        match self {
            TaskAction::AgentRun { input, .. }
            | TaskAction::HttpRequest { input }
            | TaskAction::ShellRun { input }
            | TaskAction::SignalEmit { input }
            | TaskAction::StarlarkEval { input }
            | TaskAction::Llm { input } => input,
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
    /// The run's correlation id, on `signal.emit` tasks only (the emitted
    /// CloudEvent's `correlationid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// On `starlark.eval` tasks only: `{ctx, steps, signal, input}`, the
    /// names the expression reads, as conditions see them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bindings: Option<Value>,
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

    #[test]
    fn every_executor_but_agent_run_has_a_task_of_its_name() {
        for name in EXECUTORS.iter().filter(|n| **n != "agent.run") {
            let action = TaskAction::for_executor(name, serde_json::json!({"k": 1}))
                .unwrap_or_else(|| panic!("no task for {name}"));
            assert_eq!(action.name(), *name);
            let wire = serde_json::to_value(&action).unwrap_or_default();
            assert_eq!(wire, serde_json::json!({"action": name, "input": {"k": 1}}));
            let back: TaskAction = serde_json::from_value(wire).unwrap_or(action.clone());
            assert_eq!(back, action);
        }
        assert!(TaskAction::for_executor("workflow.run", Value::Null).is_none());
        assert!(DEFAULT_EXECUTORS.iter().all(|d| EXECUTORS.contains(d)));
    }
}
