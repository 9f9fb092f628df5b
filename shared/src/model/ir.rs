//! The intermediate representation: what every front end compiles to and the
//! only thing the runtime reads. Serialized as JSON into `definitions.ir`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A compiled workflow definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    /// Stable identifier (`id` in the source).
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// The source's own `version` field (PROTOCOL calls it `definition_version`).
    pub definition_version: Option<String>,
    /// JSON Schema the run input must satisfy.
    pub input_schema: Option<Value>,
    pub trigger: Option<Trigger>,
    /// Name of the first state.
    pub start: String,
    pub states: Vec<State>,
}

/// What starts runs of this workflow besides `run.start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// The signal type (`signals.<type>`) that starts a run.
    pub signal: String,
    /// A Starlark filter over `signal` and `data` (evaluated from the language issue on).
    pub filter: Option<String>,
}

/// One state of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    pub kind: StateKind,
    pub transition: Transition,
}

/// Where a state goes when it is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Next(String),
    End,
}

/// What a state does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    /// Runs one action on a worker.
    Operation(Operation),
    /// Writes static data into the context, inline in the coordinator.
    Inject {
        data: Value,
        result_path: Option<String>,
    },
}

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
}

impl Action {
    /// The wire name of the action (`agent.run`).
    pub fn name(&self) -> &'static str {
        match self {
            Action::AgentRun(_) => "agent.run",
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
}

/// How often and how fast a failed step is tried again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Total attempts, at least 1 (the default: no retry).
    pub max_attempts: u32,
    pub backoff_seconds: f64,
    pub multiplier: f64,
    pub max_backoff_seconds: Option<f64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 1,
            backoff_seconds: 0.0,
            multiplier: 2.0,
            max_backoff_seconds: None,
        }
    }
}

impl RetryPolicy {
    /// Delay before `next_attempt` (2 for the first retry), in seconds.
    pub fn delay_before(&self, next_attempt: u32) -> f64 {
        let exponent = next_attempt.saturating_sub(2).min(30) as i32;
        let delay = self.backoff_seconds * self.multiplier.max(1.0).powi(exponent);
        self.max_backoff_seconds
            .map_or(delay, |cap| delay.min(cap))
            .max(0.0)
    }
}

/// Default step timeout when neither the state nor the call sets one (PROTOCOL §5).
pub const DEFAULT_STEP_TIMEOUT_SECONDS: u64 = 300;

impl Workflow {
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.iter().find(|s| s.name == name)
    }
}

impl Operation {
    /// The step timeout: the state's, else the call's, else 300 s.
    pub fn effective_timeout_seconds(&self) -> u64 {
        let Action::AgentRun(call) = &self.action;
        self.timeout_seconds
            .or(call.timeout_seconds)
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
        };
        assert_eq!(p.delay_before(2), 1.0);
        assert_eq!(p.delay_before(3), 2.0);
        assert_eq!(p.delay_before(4), 3.0);
    }
}
