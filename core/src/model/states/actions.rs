//! The action states of the states form: `operation` (agent.run,
//! human.approval, signal.wait and the generic executors), the `agent` and
//! `human_approval` state types, and the options every operation carries
//! (`timeoutSeconds`, `retry`). [`retry_policy`] is shared with the other
//! front ends. Pure.

use super::{Compiler, join};
use crate::ids::is_valid_agent_name;
use crate::model::argv::shell_argv;
use crate::model::diag::{Diagnostic, Diagnostics};
use crate::model::ir::{
    Action, AgentCall, Approval, ExecutorCall, GENERIC_EXECUTORS, OnReject, Operation, RetryPolicy,
    SignalWait,
};
use crate::model::parse::{is_valid_signal_type, string_field};
use serde_json::{Map, Value};

impl Compiler<'_> {
    pub(super) fn operation(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
    ) -> Option<Operation> {
        let empty = Map::new();
        let params = object
            .get("input")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        // Station writes the action as `input.task: agent.run`.
        let input_task = params
            .get("task")
            .and_then(Value::as_str)
            .filter(|t| *t == "agent.run" || *t == "human.approval" || *t == "signal.wait");
        let action = string_field(object, "action")
            .or_else(|| string_field(object, "operation"))
            .or_else(|| input_task.map(str::to_owned));
        let action = match action.as_deref() {
            Some("agent.run") => Action::AgentRun(self.agent_call(object, params, path)?),
            Some("human.approval") => Action::HumanApproval(self.approval(object, params, path)),
            Some("signal.wait") => Action::SignalWait(self.signal_wait(params, path)?),
            Some(executor) if GENERIC_EXECUTORS.contains(&executor) => {
                let mut params = object
                    .get("input")
                    .cloned()
                    .unwrap_or(Value::Object(Map::new()));
                if executor == "shell.run"
                    && let Some(command) = params.get_mut("command")
                {
                    match shell_argv(command) {
                        Ok(argv) => *command = argv,
                        Err(message) => {
                            self.error("INVALID_VALUE", join(path, "input.command"), message);
                            return None;
                        }
                    }
                }
                Action::Executor(ExecutorCall {
                    executor: executor.to_owned(),
                    params,
                })
            }
            Some(other) => {
                self.error(
                    "UNKNOWN_ACTION",
                    join(path, "action"),
                    format!(
                        "unknown action `{other}` (expected agent.run, human.approval, signal.wait, {})",
                        GENERIC_EXECUTORS.join(", ")
                    ),
                );
                return None;
            }
            None => {
                self.error(
                    "MISSING_FIELD",
                    join(path, "action"),
                    "an operation needs an `action` (for example agent.run)",
                );
                return None;
            }
        };
        Some(self.operation_with(object, action, path))
    }

    pub(super) fn operation_with(
        &mut self,
        object: &Map<String, Value>,
        action: Action,
        path: &str,
    ) -> Operation {
        Operation {
            action,
            timeout_seconds: self
                .seconds(object.get("timeoutSeconds"), &join(path, "timeoutSeconds")),
            retry: self.retry(object.get("retry"), path),
            result_path: self.result_path(object, path),
        }
    }

    /// An agent call. `params` holds its fields: `input` for `type: operation`,
    /// the state itself for the shorthands.
    pub(super) fn agent_call(
        &mut self,
        state: &Map<String, Value>,
        params: &Map<String, Value>,
        path: &str,
    ) -> Option<AgentCall> {
        let on_state = std::ptr::eq(state, params);
        let params_path = if on_state {
            path.to_owned()
        } else {
            join(path, "input")
        };
        let agent = self.agent_name(params, &params_path)?;
        self.legacy_agent_id(params, &params_path);
        // Station writes `task: agent.run` and puts the task text in `agent_task`.
        let task = ["agent_task", "agentTask", "prompt"]
            .iter()
            .find_map(|k| params.get(*k))
            .or_else(|| params.get("task").filter(|t| !is_action_name(t)))
            .cloned();
        let input = if on_state {
            state.get("input").cloned()
        } else {
            params.get("input").cloned()
        };
        Some(AgentCall {
            agent,
            task,
            input,
            variables: params.get("variables").cloned(),
            timeout_seconds: if on_state {
                None
            } else {
                self.seconds(
                    params.get("timeoutSeconds"),
                    &join(&params_path, "timeoutSeconds"),
                )
            },
            default_task: None,
        })
    }

    /// Station's `type: agent`: only `agent` is needed. Its `input` is the
    /// operation's input block, so the agent payload is `input.input` (a
    /// non-mapping `input` can only be the payload itself). The task is the
    /// first given of `task`, `prompt`, `agentTask` (`agent_task`) on the
    /// state, then `input.task` (unless it names the action),
    /// `input.agent_task`, `input.userInput`; with none, it is chosen at run
    /// time from [`AgentCall::default_task`].
    pub(super) fn station_agent(
        &mut self,
        state: &Map<String, Value>,
        path: &str,
        name: &str,
    ) -> Option<AgentCall> {
        let agent = self.agent_name(state, path)?;
        self.legacy_agent_id(state, path);
        let empty = Map::new();
        let block = state.get("input");
        let params = block.and_then(Value::as_object).unwrap_or(&empty);
        let on_state = ["task", "prompt", "agentTask", "agent_task"]
            .iter()
            .find_map(|k| state.get(*k))
            .filter(|t| !is_action_name(t));
        let in_block = || {
            params
                .get("task")
                .filter(|t| !is_action_name(t))
                .or_else(|| params.get("agent_task"))
                .or_else(|| params.get("userInput"))
        };
        let task = on_state.or_else(in_block).cloned();
        let input = match block {
            Some(Value::Object(_)) => params.get("input").cloned(),
            other => other.cloned(),
        };
        Some(AgentCall {
            agent,
            default_task: task
                .is_none()
                .then(|| format!("Execute workflow step: {name}")),
            task,
            input,
            variables: state
                .get("variables")
                .or_else(|| params.get("variables"))
                .cloned(),
            timeout_seconds: self.seconds(
                params.get("timeoutSeconds"),
                &join(path, "input.timeoutSeconds"),
            ),
        })
    }

    /// `agent_id`: a deprecated spelling of `agent`, warned about.
    fn legacy_agent_id(&mut self, params: &Map<String, Value>, params_path: &str) {
        if params.contains_key("agent_id") {
            self.diagnostics.push(Diagnostic::new(
                "UNKNOWN_FIELD",
                join(params_path, "agent_id"),
                if params.contains_key("agent") {
                    "`agent_id` is deprecated and ignored next to `agent`"
                } else {
                    "`agent_id` is deprecated: write `agent: <name>`"
                },
            ));
        }
    }

    /// The agent's name: `agent` (or the deprecated `agent_id`), a valid name.
    fn agent_name(&mut self, params: &Map<String, Value>, params_path: &str) -> Option<String> {
        let agent_path = join(params_path, "agent");
        Some(
            match params.get("agent").or_else(|| params.get("agent_id")) {
                Some(Value::String(agent)) if agent.is_empty() => {
                    self.error("MISSING_FIELD", agent_path, "agent name is required");
                    return None;
                }
                Some(Value::String(agent)) if is_valid_agent_name(agent) => agent.clone(),
                Some(Value::Number(legacy)) => {
                    self.error(
                    "INVALID_AGENT_NAME",
                    join(params_path, "agent_id"),
                    format!(
                        "agents are referenced by name, not by id ({legacy}); write `agent: <name>`"
                    ),
                );
                    return None;
                }
                Some(agent) => {
                    self.error(
                        "INVALID_AGENT_NAME",
                        agent_path,
                        format!("agent name {agent} must match [a-z0-9][a-z0-9_-]{{0,63}}"),
                    );
                    return None;
                }
                None => {
                    self.error("MISSING_FIELD", agent_path, "agent name is required");
                    return None;
                }
            },
        )
    }

    pub(super) fn approval(
        &mut self,
        state: &Map<String, Value>,
        params: &Map<String, Value>,
        path: &str,
    ) -> Approval {
        let on_state = std::ptr::eq(state, params);
        let params_path = if on_state {
            path.to_owned()
        } else {
            join(path, "input")
        };
        let approvers = match params.get("approvers") {
            None => Vec::new(),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(_) => {
                self.error(
                    "INVALID_TYPE",
                    join(&params_path, "approvers"),
                    "approvers must be a list like [\"team:platform\", \"user:alice@example.com\"]",
                );
                Vec::new()
            }
        };
        for (i, approver) in approvers.iter().enumerate() {
            if !(approver.starts_with("user:") || approver.starts_with("team:")) {
                self.error(
                    "INVALID_VALUE",
                    format!("{}[{i}]", join(&params_path, "approvers")),
                    format!("approver {approver:?} must start with `user:` or `team:`"),
                );
            }
        }
        let on_reject = match state.get("onReject").or_else(|| params.get("onReject")) {
            None => OnReject::Fail,
            Some(Value::String(s)) if s == "fail" => OnReject::Fail,
            Some(Value::String(s)) if s == "cancel" => OnReject::Cancel,
            Some(other) => {
                self.error(
                    "INVALID_VALUE",
                    join(path, "onReject"),
                    format!("onReject {other} must be `fail` or `cancel`"),
                );
                OnReject::Fail
            }
        };
        Approval {
            message: params
                .get("message")
                .or_else(|| params.get("prompt"))
                .cloned(),
            summary_path: self.path_field(params, "summaryPath", &params_path),
            approvers,
            timeout_seconds: if on_state {
                None
            } else {
                self.seconds(
                    params.get("timeoutSeconds"),
                    &join(&params_path, "timeoutSeconds"),
                )
            },
            on_reject,
        }
    }

    fn signal_wait(&mut self, params: &Map<String, Value>, path: &str) -> Option<SignalWait> {
        let at = join(path, "input");
        match params.get("signal").and_then(Value::as_str) {
            Some(signal) if is_valid_signal_type(signal) => Some(SignalWait {
                signal: signal.to_owned(),
                filter: string_field(params, "filter"),
                timeout_seconds: self
                    .seconds(params.get("timeoutSeconds"), &join(&at, "timeoutSeconds")),
            }),
            _ => {
                self.error(
                    "MISSING_FIELD",
                    join(&at, "signal"),
                    "signal.wait needs `input.signal`: the dot-separated signal type to wait for",
                );
                None
            }
        }
    }

    pub(super) fn seconds(&mut self, value: Option<&Value>, path: &str) -> Option<u64> {
        let value = value?;
        match value.as_u64() {
            Some(s) if s > 0 => Some(s),
            _ => {
                self.error(
                    "INVALID_VALUE",
                    path,
                    format!("{value} is not a positive whole number of seconds"),
                );
                None
            }
        }
    }

    pub(super) fn retry(&mut self, value: Option<&Value>, path: &str) -> RetryPolicy {
        retry_policy(value, path, self.diagnostics)
    }
}

/// Is `value` an action name Station writes as `task` (`agent.run`)?
fn is_action_name(value: &Value) -> bool {
    matches!(
        value.as_str(),
        Some("agent.run" | "human.approval" | "signal.wait")
    )
}

/// Parses a `retry` mapping (`maxAttempts`, `backoffSeconds`, `multiplier`,
/// `maxBackoffSeconds`); shared with the other front ends.
pub fn retry_policy(
    value: Option<&Value>,
    path: &str,
    diagnostics: &mut Diagnostics,
) -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    let Some(object) = value.and_then(Value::as_object) else {
        if value.is_some() {
            diagnostics.error(
                "INVALID_TYPE",
                join(path, "retry"),
                "retry must be a mapping",
            );
        }
        return policy;
    };
    if let Some(max) = object.get("maxAttempts") {
        match max.as_u64() {
            Some(n) if (1..=100).contains(&n) => policy.max_attempts = n as u32,
            _ => diagnostics.error(
                "INVALID_VALUE",
                join(path, "retry.maxAttempts"),
                "maxAttempts must be 1 to 100",
            ),
        }
    }
    let mut number = |key: &str, slot: &mut f64| {
        if let Some(v) = object.get(key) {
            match v.as_f64() {
                Some(n) if n >= 0.0 && n.is_finite() => *slot = n,
                _ => diagnostics.error(
                    "INVALID_VALUE",
                    join(path, &format!("retry.{key}")),
                    format!("{key} must be a non-negative number"),
                ),
            }
        }
    };
    number("backoffSeconds", &mut policy.backoff_seconds);
    number("multiplier", &mut policy.multiplier);
    let mut cap = f64::INFINITY;
    number("maxBackoffSeconds", &mut cap);
    policy.max_backoff_seconds = cap.is_finite().then_some(cap);
    match object.get("retryOn") {
        None => {}
        Some(Value::Array(codes)) if codes.iter().all(Value::is_string) => {
            policy.retry_on = codes
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
        }
        Some(_) => diagnostics.error(
            "INVALID_TYPE",
            join(path, "retry.retryOn"),
            "retryOn must be a list of error codes, like [STEP_TIMEOUT, AGENT_UNAVAILABLE]",
        ),
    }
    policy
}
