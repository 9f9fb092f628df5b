//! The step types of the DAG form: which executor a step runs (from its
//! `type`, or inferred from its fields), and which fields each type reads.

use super::Steps;
use serde_json::{Map, Value};

/// Fields every step may have, whatever its type.
pub(super) const STEP_FIELDS: &[&str] = &[
    "name",
    "id",
    "description",
    "type",
    "depends_on",
    "dependencies",
    "condition",
    "retries",
    "timeout",
    "timeoutSeconds",
    "params",
    "input",
    "resultPath",
];

/// The executor a step runs, from its `type` (or its fields when it has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StepType {
    /// `agent`, `agent.run`: an agent with `agent` and `task`/`prompt`.
    Agent,
    /// `llm`: an agent when the step names one (`agent`), else the `llm`
    /// executor with `prompt` (or `task`), `model`, `messages`, ….
    Llm,
    /// Seed 004's `persona-request`: an agent named by `persona`.
    Persona,
    /// `bash`, `shell`, `shell.run`: a command.
    Shell,
    /// `http`, `http.request`.
    Http,
    /// `approval`, `human_approval`, `human.approval`.
    Approval,
    /// `python`, `starlark`, `starlark.eval`: a Starlark expression.
    Starlark,
    /// `signal.wait`, `wait`.
    SignalWait,
    /// `signal.emit` and `workflow.run`: `params` passed through.
    Generic(&'static str),
}

impl StepType {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "agent" | "agent.run" => Self::Agent,
            "llm" => Self::Llm,
            "persona-request" | "persona_request" => Self::Persona,
            "bash" | "shell" | "shell.run" => Self::Shell,
            "http" | "http.request" => Self::Http,
            "approval" | "human_approval" | "human.approval" => Self::Approval,
            "python" | "starlark" | "starlark.eval" => Self::Starlark,
            "signal.wait" | "wait" => Self::SignalWait,
            "signal.emit" | "emit" => Self::Generic("signal.emit"),
            "workflow.run" | "workflow" => Self::Generic("workflow.run"),
            _ => return None,
        })
    }

    /// Without `type`: from the fields present, if they say it unambiguously.
    fn infer(object: &Map<String, Value>) -> Option<Self> {
        let has = |k: &str| object.contains_key(k);
        if has("agent") {
            Some(Self::Agent)
        } else if has("persona") {
            Some(Self::Persona)
        } else if has("run") || has("command") {
            Some(Self::Shell)
        } else if has("code") || has("expression") {
            Some(Self::Starlark)
        } else if has("url") {
            Some(Self::Http)
        } else {
            None
        }
    }

    /// The type-specific fields this type reads.
    pub(super) fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Agent => &["agent", "task", "prompt"],
            Self::Llm => &[
                "agent",
                "task",
                "prompt",
                "model",
                "messages",
                "temperature",
                "max_tokens",
            ],
            Self::Persona => &["persona", "agent", "task", "prompt"],
            Self::Shell => &["run", "command"],
            Self::Http => &["url", "method", "headers", "body"],
            Self::Approval => &["message", "approvers", "summaryPath", "onReject"],
            Self::Starlark => &["code", "expression"],
            Self::SignalWait => &["signal", "filter"],
            Self::Generic(_) => &[],
        }
    }

    /// Whether `params`/`input` mean anything to this type.
    pub(super) fn takes_params(self) -> bool {
        !matches!(self, Self::Approval | Self::SignalWait)
    }
}

/// Every type-specific field of any step type.
pub(super) const TYPED_FIELDS: &[&str] = &[
    "agent",
    "task",
    "prompt",
    "model",
    "messages",
    "temperature",
    "max_tokens",
    "persona",
    "run",
    "command",
    "url",
    "method",
    "headers",
    "body",
    "message",
    "approvers",
    "summaryPath",
    "onReject",
    "code",
    "expression",
    "signal",
    "filter",
];

impl Steps<'_> {
    /// The step's type: its `type`, or inferred from its fields.
    pub(super) fn step_type(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
    ) -> Option<StepType> {
        Some(match object.get("type") {
            Some(Value::String(t)) => match StepType::parse(t) {
                Some(step_type) => step_type,
                None => {
                    let hint = match t.as_str() {
                        "conditional" | "parallel" => {
                            "; write branches as steps with `condition` and `depends_on`"
                        }
                        _ => "",
                    };
                    self.error(
                        "UNKNOWN_STEP_TYPE",
                        format!("{path}.type"),
                        format!(
                            "unknown step type `{t}` (known: agent, llm, persona-request, bash, \
                             shell, http, approval, python, starlark, signal.wait, signal.emit, \
                             workflow.run){hint}"
                        ),
                    );
                    return None;
                }
            },
            Some(other) => {
                self.error(
                    "INVALID_TYPE",
                    format!("{path}.type"),
                    format!("step type {other} must be a string"),
                );
                return None;
            }
            None => match StepType::infer(object) {
                Some(step_type) => step_type,
                None => {
                    self.error(
                        "MISSING_FIELD",
                        format!("{path}.type"),
                        "a step needs a `type` (bash, llm, http, approval, python, …) or an `agent`",
                    );
                    return None;
                }
            },
        })
    }
}
