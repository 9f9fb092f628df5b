//! Executors: what runs a step task's action. A registry maps an action to
//! its executor; the worker knows nothing about any particular action.

mod agent;
#[allow(
    dead_code,
    unused_imports,
    reason = "called once the registry routes these actions"
)]
mod http;
#[allow(dead_code, reason = "called once the registry routes these actions")]
mod io_common;
#[allow(
    dead_code,
    unused_imports,
    reason = "called once the registry routes these actions"
)]
mod llm;
#[allow(
    dead_code,
    unused_imports,
    reason = "called once the registry routes these actions"
)]
mod shell;
#[cfg(test)]
mod test_server;

pub use agent::{AGENT_NOT_FOUND, AgentExecutor};
#[allow(
    unused_imports,
    reason = "called once the registry routes these actions"
)]
pub use http::HttpExecutor;
#[allow(
    unused_imports,
    reason = "called once the registry routes these actions"
)]
pub use llm::LlmExecutor;
#[allow(
    unused_imports,
    reason = "called once the registry routes these actions"
)]
pub use shell::ShellExecutor;

use chrono::{DateTime, Utc};
use junction_core::status::StepStatus;
use junction_core::wire::{ErrorInfo, StepTask};
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The step succeeded. `warnings` are stored as `workflow.step.warning`
    /// events in the result's transaction, just before `step.completed`.
    Succeeded {
        output: Value,
        warnings: Vec<Warning>,
    },
    /// `status` is `FAILED` or `TIMED_OUT`.
    Failed {
        status: StepStatus,
        error: ErrorInfo,
    },
    /// Nothing was executed and nothing is recorded: something the step
    /// needs (the agent registry) could not be reached. The task is
    /// redelivered and the attempt taken over once its lease expires.
    Deferred { reason: String },
}

impl Outcome {
    pub fn succeeded(output: Value) -> Self {
        Self::Succeeded {
            output,
            warnings: Vec::new(),
        }
    }

    pub fn failed(error: ErrorInfo) -> Self {
        Self::Failed {
            status: StepStatus::Failed,
            error,
        }
    }
}

/// A problem that does not fail the step: the `data` of a
/// `workflow.step.warning` event (PROTOCOL §3).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
}

/// What an executor is told besides the task.
#[derive(Debug, Clone)]
pub struct Execution<'a> {
    pub task: &'a StepTask,
    /// `<run>:<step>:<attempt>`, passed on to whatever is called.
    pub idempotency_key: String,
    /// The claim time plus the step timeout.
    pub deadline: DateTime<Utc>,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs one kind of action.
pub trait Executor: Send + Sync {
    fn execute<'a>(&'a self, execution: Execution<'a>) -> BoxFuture<'a, Outcome>;
}

/// Executors by action name.
pub struct Registry {
    agent: AgentExecutor,
}

impl Registry {
    pub fn new(agent: AgentExecutor) -> Self {
        Self { agent }
    }

    /// The executor for a task's action.
    pub fn for_task(&self, task: &StepTask) -> &dyn Executor {
        match task.action {
            junction_core::wire::TaskAction::AgentRun { .. } => &self.agent,
        }
    }
}
