//! `operation` states in the IR: the action each runs (an agent call, an
//! approval, a signal wait, a pass-through executor), its retry policy and
//! its step timeout.

use super::DEFAULT_STEP_TIMEOUT_SECONDS;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An `operation` state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub action: Action,
    /// Step timeout; the agent deadline is the claim time plus this.
    pub timeout_seconds: Option<u64>,
    pub retry: RetryPolicy,
    pub result_path: Option<String>,
}

/// The executor an operation runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// `agent.run`: a NATS request to `agents.<agent>.run`.
    AgentRun(AgentCall),
    /// `human.approval`: the step waits (WAITING_APPROVAL) for a decision.
    HumanApproval(Approval),
    /// `signal.wait`: the step waits (WAITING_SIGNAL) for a matching signal.
    SignalWait(SignalWait),
    /// `signal.emit`, `http.request`, `shell.run`, `starlark.eval`, `llm`
    /// and `workflow.run`: executors whose parameters (templated JSON) are
    /// passed through to the workers that enable them (`workflow.run` runs
    /// in the coordinator: it starts a child run).
    Executor(ExecutorCall),
}

/// Executors taken by [`Action::Executor`].
pub const GENERIC_EXECUTORS: &[&str] = &[
    "signal.emit",
    "http.request",
    "shell.run",
    "starlark.eval",
    "llm",
    "workflow.run",
];

impl Action {
    /// The wire name of the action (`agent.run`).
    pub fn name(&self) -> &str {
        match self {
            Action::AgentRun(_) => "agent.run",
            Action::HumanApproval(_) => "human.approval",
            Action::SignalWait(_) => "signal.wait",
            Action::Executor(call) => &call.executor,
        }
    }
}

/// Parameters of an `agent.run` call; string leaves may hold templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentCall {
    pub agent: String,
    pub task: Option<Value>,
    /// `input.input`: the agent input. Without it the agent gets the previous output.
    pub input: Option<Value>,
    pub variables: Option<Value>,
    /// `input.timeoutSeconds`, used when the state has none.
    pub timeout_seconds: Option<u64>,
    /// Station's `type: agent` with no task given: the task is then the
    /// payload's `task` when it is a string, else this text
    /// (`Execute workflow step: <state>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_task: Option<String>,
}

impl AgentCall {
    /// The task sent: the rendered `task`, else (Station's `type: agent`)
    /// the payload's `task` when it is a string, else [`Self::default_task`].
    pub fn task_or_default(&self, rendered: Option<Value>, payload: &Value) -> Option<Value> {
        rendered.or_else(|| {
            let fallback = self.default_task.as_ref()?;
            Some(
                payload
                    .get("task")
                    .filter(|task| task.is_string())
                    .cloned()
                    .unwrap_or_else(|| Value::String(fallback.clone())),
            )
        })
    }
}

/// Parameters of a `human.approval` gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// Shown to the approver; may hold templates.
    pub message: Option<Value>,
    /// Context path whose value is shown with the request.
    pub summary_path: Option<String>,
    /// Who may decide (`team:platform`, `user:alice@example.com`); empty: anyone.
    pub approvers: Vec<String>,
    pub timeout_seconds: Option<u64>,
    /// What a rejection does to the run (PROTOCOL §8.4).
    #[serde(default)]
    pub on_reject: OnReject,
}

/// What a rejected approval does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnReject {
    /// The run ends FAILED with `APPROVAL_REJECTED`.
    #[default]
    Fail,
    /// The run ends CANCELLED.
    Cancel,
}

/// Parameters of a `signal.wait` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalWait {
    /// The signal type waited for.
    pub signal: String,
    /// Starlark filter over the arriving `signal`.
    pub filter: Option<String>,
    pub timeout_seconds: Option<u64>,
}

/// Parameters of a pass-through executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorCall {
    /// One of [`GENERIC_EXECUTORS`].
    pub executor: String,
    /// The templated parameters (the state's `input`).
    pub params: Value,
}

/// How often and how fast a failed step is tried again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Total attempts, at least 1 (the default: no retry).
    pub max_attempts: u32,
    pub backoff_seconds: f64,
    pub multiplier: f64,
    pub max_backoff_seconds: Option<f64>,
    /// Error codes worth retrying; empty: every retryable error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry_on: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 1,
            backoff_seconds: 0.0,
            multiplier: 2.0,
            max_backoff_seconds: None,
            retry_on: Vec::new(),
        }
    }
}

impl RetryPolicy {
    /// Is `error` worth another attempt under this policy (attempts aside)?
    pub fn retries(&self, code: &str, retryable: Option<bool>) -> bool {
        retryable != Some(false)
            && (self.retry_on.is_empty() || self.retry_on.iter().any(|c| c == code))
    }

    /// Delay before `next_attempt` (2 for the first retry), in seconds.
    pub fn delay_before(&self, next_attempt: u32) -> f64 {
        let exponent = next_attempt.saturating_sub(2).min(30) as i32;
        let delay = self.backoff_seconds * self.multiplier.max(1.0).powi(exponent);
        self.max_backoff_seconds
            .map_or(delay, |cap| delay.min(cap))
            .max(0.0)
    }
}

impl Operation {
    /// The step timeout: the state's, else the call's (an executor's
    /// numeric `timeoutSeconds` parameter), else 300 s.
    pub fn effective_timeout_seconds(&self) -> u64 {
        let from_action = match &self.action {
            Action::AgentRun(call) => call.timeout_seconds,
            Action::HumanApproval(approval) => approval.timeout_seconds,
            Action::SignalWait(wait) => wait.timeout_seconds,
            // `input.timeoutSeconds` of `http.request` and `shell.run`,
            // when written as a number.
            Action::Executor(call) => call.params.get("timeoutSeconds").and_then(Value::as_u64),
        };
        self.timeout_seconds
            .or(from_action)
            .unwrap_or(DEFAULT_STEP_TIMEOUT_SECONDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            max_attempts: 5,
            backoff_seconds: 1.0,
            multiplier: 2.0,
            max_backoff_seconds: Some(3.0),
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay_before(2), 1.0);
        assert_eq!(p.delay_before(3), 2.0);
        assert_eq!(p.delay_before(4), 3.0);
        assert!(p.retries("ANY", None));
        assert!(!p.retries("ANY", Some(false)));
        let only = RetryPolicy {
            retry_on: vec!["STEP_TIMEOUT".into()],
            ..p
        };
        assert!(only.retries("STEP_TIMEOUT", Some(true)));
        assert!(!only.retries("CARD_DECLINED", Some(true)));
    }
}
