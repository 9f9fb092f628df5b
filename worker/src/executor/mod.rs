//! Executors: what runs a step task's action. A [`Registry`] maps each
//! action name the worker enables (`worker.executors`) to its executor;
//! the task pipeline knows nothing about any particular action.
//!
//! Adding an executor: a module here, a struct that implements
//! [`Executor`] (or has `async fn run(&self, input: &Value, deadline:
//! DateTime<Utc>) -> Outcome` and is named in [`input_executor!`]), and
//! one arm in [`Registry::build`].

mod agent;
mod http;
mod io_common;
mod llm;
mod shell;
mod signal_emit;
mod starlark_eval;
#[cfg(test)]
mod test_server;

pub use agent::{AGENT_NOT_FOUND, AgentExecutor};
pub use http::HttpExecutor;
pub use llm::LlmExecutor;
pub use shell::ShellExecutor;
pub use signal_emit::SignalEmitExecutor;
pub use starlark_eval::StarlarkEvalExecutor;

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

    /// The outcome as it can be stored: one whose output, error or
    /// warnings hold U+0000 in a string (which Postgres cannot store)
    /// becomes an `INVALID_OUTPUT` failure, never retried, whatever the
    /// executor. Checked before the result is written, so a bad value
    /// never reaches the database.
    pub fn storable(self) -> Self {
        use junction_core::wire::storable::invalid_output;
        let refused = match &self {
            Self::Succeeded { output, warnings } => {
                invalid_output("output", output).or_else(|| {
                    warnings.iter().find_map(|warning| {
                        invalid_output("warning", &Value::String(warning.message.clone()))
                    })
                })
            }
            Self::Failed { error, .. } => {
                invalid_output("error", &serde_json::to_value(error).unwrap_or_default())
            }
            Self::Deferred { .. } => None,
        };
        match refused {
            Some(error) => {
                tracing::warn!(code = %error.code, message = %error.message, "the step's result cannot be stored");
                Self::failed(error)
            }
            None => self,
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

/// Implements [`Executor`] for a struct whose only need is the task's
/// input and deadline: `async fn run(&self, input: &Value, deadline:
/// DateTime<Utc>) -> Outcome`.
macro_rules! input_executor {
    ($executor:ty) => {
        impl $crate::executor::Executor for $executor {
            fn execute<'a>(
                &'a self,
                execution: $crate::executor::Execution<'a>,
            ) -> $crate::executor::BoxFuture<'a, $crate::executor::Outcome> {
                Box::pin(self.run(execution.task.action.input(), execution.deadline))
            }
        }
    };
}
input_executor!(HttpExecutor);
input_executor!(LlmExecutor);
input_executor!(ShellExecutor);

/// The worker's one `http.request` executor, built on first use.
fn http_client<'h>(
    http: &'h mut Option<HttpExecutor>,
    config: &junction_runtime::config::Config,
) -> Result<&'h HttpExecutor, String> {
    if http.is_none() {
        *http = Some(HttpExecutor::from_config(config).map_err(|e| format!("{e:#}"))?);
    }
    http.as_ref().ok_or_else(|| "no HTTP client".to_owned())
}

/// What building the executors may use.
pub struct Parts<'a> {
    pub config: &'a junction_runtime::config::Config,
    pub bus: &'a junction_bus::Bus,
    pub store: &'a junction_store::Store,
    /// The agent executor (its registry cache is shared with the worker).
    pub agent: AgentExecutor,
}

/// Executors by action name: the ones this worker enables and has.
pub struct Registry {
    executors: Vec<(&'static str, Box<dyn Executor>)>,
}

impl Registry {
    /// The executors of `enabled` (names from `worker.executors`). An
    /// executor this build does not contain is left out with a warning:
    /// its tasks wait for a worker that runs it. An error: an executor's
    /// own configuration is wrong.
    pub fn build(enabled: &[&'static str], parts: Parts<'_>) -> Result<Self, String> {
        let Parts {
            config,
            bus,
            store,
            agent,
        } = parts;
        let mut agent = Some(agent);
        // One HTTP client (one connection pool) for `http.request` and `llm`.
        let mut http = None;
        let mut executors: Vec<(&'static str, Box<dyn Executor>)> = Vec::new();
        for &name in enabled {
            let executor: Box<dyn Executor> = match name {
                "agent.run" => match agent.take() {
                    Some(agent) => Box::new(agent),
                    None => continue,
                },
                "signal.emit" => Box::new(SignalEmitExecutor {
                    bus: bus.clone(),
                    store: store.clone(),
                    signal_limit: config.limits.signal_bytes,
                }),
                "starlark.eval" => Box::new(StarlarkEvalExecutor),
                "http.request" => Box::new(http_client(&mut http, config)?.clone()),
                "llm" => Box::new(
                    LlmExecutor::from_config(config, http_client(&mut http, config)?)
                        .map_err(|e| e.to_string())?,
                ),
                "shell.run" => Box::new(ShellExecutor::from_config(config)),
                other => {
                    tracing::warn!(
                        executor = other,
                        "this worker build has no such executor; its tasks wait for a worker that runs it"
                    );
                    continue;
                }
            };
            executors.push((name, executor));
        }
        Ok(Self { executors })
    }

    /// The names of the executors this worker runs, in configured order.
    pub fn names(&self) -> Vec<&'static str> {
        self.executors.iter().map(|(name, _)| *name).collect()
    }

    /// The executor for a task's action, if this worker runs it (a task
    /// only reaches the consumers of the worker's executors).
    pub fn for_task(&self, task: &StepTask) -> Option<&dyn Executor> {
        let name = task.action.name();
        self.executors
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, executor)| executor.as_ref())
    }
}
