//! Run and step errors (PROTOCOL §5): `{code, message, state?, step_id?, attempt?, cause?, details?}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Engine error codes (the agent's own codes pass through as they are).
pub mod codes {
    pub const STEP_TIMEOUT: &str = "STEP_TIMEOUT";
    pub const AGENT_UNAVAILABLE: &str = "AGENT_UNAVAILABLE";
    pub const BAD_AGENT_REPLY: &str = "BAD_AGENT_REPLY";
    pub const SCHEMA_VALIDATION_INPUT: &str = "SCHEMA_VALIDATION_INPUT";
    pub const TEMPLATE_PATH: &str = "TEMPLATE_PATH";
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    pub const CANCELLED: &str = "CANCELLED";
    pub const INTERNAL: &str = "INTERNAL";
    /// Warning: the final `ctx` does not match the workflow's `outputSchema`.
    pub const OUTPUT_SCHEMA: &str = "OUTPUT_SCHEMA";
    /// A switch condition raised (the run fails).
    pub const CONDITION_ERROR: &str = "CONDITION_ERROR";
    /// No switch condition held and there is no `defaultNext`.
    pub const NO_MATCHING_CONDITION: &str = "NO_MATCHING_CONDITION";
    /// A `human.approval` was rejected (`onReject: fail`).
    pub const APPROVAL_REJECTED: &str = "APPROVAL_REJECTED";
    /// A `human.approval` was not decided before its timeout.
    pub const APPROVAL_TIMED_OUT: &str = "APPROVAL_TIMED_OUT";
    /// A `workflow.run` child could not start, or ended without completing.
    pub const CHILD_FAILED: &str = "CHILD_FAILED";
    /// The run-level `timeoutSeconds` passed (the run is TIMED_OUT).
    pub const RUN_TIMEOUT: &str = "RUN_TIMEOUT";
    /// A foreach `itemsPath` that does not name a list.
    pub const FOREACH_ITEMS: &str = "FOREACH_ITEMS";
    /// A `transform` expression raised.
    pub const TRANSFORM_ERROR: &str = "TRANSFORM_ERROR";
    /// A value the step produced cannot be stored (U+0000 in a string):
    /// never retried, the same step gives the same value.
    pub const INVALID_OUTPUT: &str = "INVALID_OUTPUT";
    /// A state type or action the runtime of this release cannot execute.
    pub const UNSUPPORTED: &str = "UNSUPPORTED";
    /// The agent's circuit breaker is open: the step failed without a call
    /// (retryable).
    pub const CIRCUIT_OPEN: &str = "CIRCUIT_OPEN";
    /// An executor's input is malformed (no `url`, an empty `command`, …).
    pub const INVALID_INPUT: &str = "INVALID_INPUT";
    /// An executor is not allowed to do this (a host off the allow-list).
    pub const EXECUTOR_FORBIDDEN: &str = "EXECUTOR_FORBIDDEN";
    /// An executor this worker runs lacks its configuration (`llm` without
    /// a base URL).
    pub const EXECUTOR_NOT_CONFIGURED: &str = "EXECUTOR_NOT_CONFIGURED";
    /// An HTTP status ≥ 400 (`details.status`); retryable for 429 and 5xx.
    pub const HTTP_STATUS: &str = "HTTP_STATUS";
    /// An HTTP request that got no response: refused, reset, DNS, TLS.
    pub const HTTP_UNAVAILABLE: &str = "HTTP_UNAVAILABLE";
    /// An `llm` endpoint's reply that is not a chat completion.
    pub const LLM_BAD_REPLY: &str = "LLM_BAD_REPLY";
    /// A `shell.run` command that exited non-zero (`details.exit_code`).
    pub const SHELL_EXIT: &str = "SHELL_EXIT";
    /// A `shell.run` command that could not be started (no such binary or
    /// directory, not executable).
    pub const SHELL_SPAWN: &str = "SHELL_SPAWN";
    /// A `starlark.eval` expression raised, or hit its bounds (never retried:
    /// the same bindings give the same error).
    pub const STARLARK_ERROR: &str = "STARLARK_ERROR";
    /// `signal.emit` could not publish its CloudEvent (retryable).
    pub const SIGNAL_EMIT_FAILED: &str = "SIGNAL_EMIT_FAILED";
}

/// An error attached to a step attempt or a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Whether trying again could help. `Some(false)` stops retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Value>,
    /// Facts about the failure, an object (`{status}` of `HTTP_STATUS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ErrorInfo {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            state: None,
            step_id: None,
            attempt: None,
            retryable: None,
            cause: None,
            details: None,
        }
    }

    pub fn not_retryable(mut self) -> Self {
        self.retryable = Some(false);
        self
    }

    /// Marks the error worth retrying (`retryable: true`).
    pub fn retryable(mut self) -> Self {
        self.retryable = Some(true);
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}
