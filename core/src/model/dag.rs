//! The DAG front end (seeds 003 and 004): `steps[]` with `depends_on` (or
//! `dependencies`), `condition`, `retries`, `timeout` and `params`, compiled to
//! one [`StateKind::Dag`] state. Independent steps run in parallel; a step runs
//! when its dependencies succeeded and its condition holds. Pure.
//!
//! The compiled shape: a state [`DAG_STATE`] holding every step, preceded, when
//! the source has `variables`, by an `inject` state [`VARIABLES_STATE`] that
//! writes them at the context root `variables` (so `{{ variables.x }}`
//! resolves). Each step writes its result at `steps.<name>` unless it says
//! otherwise. What the composer front end ([`super::composer`]) shares with
//! this one (header, step options, cycle search, assembly) is in `common`.

mod common;

pub use common::is_valid_step_name;
pub(crate) use common::{
    StepOptions, agent_name, approval, assemble, condition, cycle_message, find_cycles, header,
    operation_state, step_options, unknown_fields,
};

use super::diag::{Diagnostic, Diagnostics};
use super::ir::{Action, AgentCall, DagStep, ExecutorCall, SignalWait, State, Workflow};
use super::parse::{MAX_STATES, is_valid_signal_type};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Name of the state holding the steps.
pub const DAG_STATE: &str = "dag";
/// Name of the `inject` state writing `variables`, and the context root it writes.
pub const VARIABLES_STATE: &str = "variables";
/// Most retries a step may ask for (`retries: n` is `n + 1` attempts).
pub const MAX_RETRIES: u64 = 99;

const TOP_LEVEL_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "version",
    "inputSchema",
    "outputSchema",
    "trigger",
    "variables",
    "steps",
];

/// Fields every step may have, whatever its type.
const STEP_FIELDS: &[&str] = &[
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
enum StepType {
    /// `agent`, `agent.run`, `llm`: an agent with `agent` and `task`/`prompt`.
    Agent,
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
            "agent" | "agent.run" | "llm" => Self::Agent,
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
    fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Agent => &["agent", "task", "prompt"],
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
    fn takes_params(self) -> bool {
        !matches!(self, Self::Approval | Self::SignalWait)
    }
}

/// Every type-specific field of any step type.
const TYPED_FIELDS: &[&str] = &[
    "agent",
    "task",
    "prompt",
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

/// Compiles a DAG-form document. Returns `None` when this call reported an
/// error; warnings alone still yield the workflow.
pub fn compile(document: &Map<String, Value>, diagnostics: &mut Diagnostics) -> Option<Workflow> {
    let errors_before = diagnostics.errors.len();
    unknown_fields(document, TOP_LEVEL_FIELDS, "", diagnostics);
    let header = header(document, diagnostics);
    let variables = match document.get("variables") {
        None => None,
        Some(Value::Object(map)) => Some(Value::Object(map.clone())),
        Some(_) => {
            diagnostics.error(
                "INVALID_TYPE",
                "variables",
                "variables must be a mapping of names to values",
            );
            None
        }
    };
    let steps = Steps {
        diagnostics: &mut *diagnostics,
        variables: variables.as_ref(),
    }
    .compile(document.get("steps"));
    let workflow = assemble(header, variables, steps?);
    (diagnostics.errors.len() == errors_before).then_some(workflow)
}

/// The DAG-form step compiler.
struct Steps<'a> {
    diagnostics: &'a mut Diagnostics,
    /// The top-level `variables`, for `timeout`/`retries` written as `{{ variables.x }}`.
    variables: Option<&'a Value>,
}

impl Steps<'_> {
    fn error(&mut self, code: &str, path: impl Into<String>, message: impl Into<String>) {
        self.diagnostics.error(code, path, message);
    }

    fn compile(&mut self, value: Option<&Value>) -> Option<Vec<DagStep>> {
        let items = match value {
            Some(Value::Array(items)) if !items.is_empty() => items,
            Some(Value::Array(_)) | None => {
                self.error(
                    "MISSING_FIELD",
                    "steps",
                    "a DAG workflow needs a non-empty `steps` list",
                );
                return None;
            }
            Some(_) => {
                self.error("INVALID_TYPE", "steps", "steps must be a list of steps");
                return None;
            }
        };
        if items.len() > MAX_STATES {
            self.error(
                "DEFINITION_TOO_LARGE",
                "steps",
                format!("{} steps; the limit is {MAX_STATES}", items.len()),
            );
            return None;
        }
        // Names first, so a step that fails to compile still counts as a
        // dependency target and does not cascade into DANGLING_TARGET.
        let names: Vec<Option<(String, &'static str)>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.step_name(item, i))
            .collect();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, named) in names.iter().enumerate() {
            let Some((name, key)) = named else { continue };
            if index.contains_key(name.as_str()) {
                self.error(
                    "DUPLICATE_STATE",
                    format!("steps[{i}].{key}"),
                    format!("step `{name}` is defined twice"),
                );
            } else {
                index.insert(name, i);
            }
        }
        let mut deps: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
        let mut compiled = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let (Some(object), Some((name, _))) = (item.as_object(), &names[i]) else {
                continue;
            };
            let path = format!("steps[{i}]");
            let depends_on = self.dependencies(object, &path, name, &index, &mut deps[i]);
            if let Some(state) = self.step(object, name, &path) {
                compiled.push(DagStep {
                    condition: condition(object, &path, self.diagnostics),
                    state,
                    depends_on,
                });
            }
        }
        for cycle in find_cycles(&deps) {
            let first = cycle[0];
            let named = |i: usize| names[i].as_ref().map_or("?", |(n, _)| n.as_str());
            let key = if items[first].get("depends_on").is_some() {
                "depends_on"
            } else {
                "dependencies"
            };
            self.error(
                "DAG_CYCLE",
                format!("steps[{first}].{key}"),
                cycle_message(&cycle, named),
            );
        }
        Some(compiled)
    }

    /// The step's name (`id` wins over `name`, which seed 004 uses as a
    /// display label) and the key it came from.
    fn step_name(&mut self, item: &Value, i: usize) -> Option<(String, &'static str)> {
        let Some(object) = item.as_object() else {
            self.error(
                "INVALID_TYPE",
                format!("steps[{i}]"),
                "a step must be a mapping",
            );
            return None;
        };
        let key = if object.contains_key("id") {
            "id"
        } else {
            "name"
        };
        let path = format!("steps[{i}].{key}");
        match object.get(key) {
            Some(Value::String(name)) if is_valid_step_name(name) => Some((name.clone(), key)),
            Some(other) => {
                self.error(
                    "INVALID_ID",
                    path,
                    format!("step name {other} must match [A-Za-z0-9_-]{{1,128}}"),
                );
                None
            }
            None => {
                self.error("MISSING_FIELD", path, "a step needs a `name` (or `id`)");
                None
            }
        }
    }

    /// `depends_on` and `dependencies` (either, or both merged), resolved to
    /// step indices in `out`; unknown names are DANGLING_TARGET and a step
    /// naming itself is DAG_CYCLE.
    fn dependencies(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        name: &str,
        index: &HashMap<&str, usize>,
        out: &mut Vec<usize>,
    ) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for key in ["depends_on", "dependencies"] {
            let entries: Vec<(String, &Value)> = match object.get(key) {
                None | Some(Value::Null) => continue,
                Some(Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .map(|(j, v)| (format!("{path}.{key}[{j}]"), v))
                    .collect(),
                Some(single @ Value::String(_)) => vec![(format!("{path}.{key}"), single)],
                Some(_) => {
                    self.error(
                        "INVALID_TYPE",
                        format!("{path}.{key}"),
                        format!("{key} must be a list of step names"),
                    );
                    continue;
                }
            };
            for (at, entry) in entries {
                let Some(dep) = entry.as_str() else {
                    self.error("INVALID_TYPE", at, format!("{entry} is not a step name"));
                    continue;
                };
                if dep == name {
                    self.error("DAG_CYCLE", at, format!("step `{name}` depends on itself"));
                    continue;
                }
                match index.get(dep) {
                    Some(&j) => {
                        if !names.iter().any(|n| n == dep) {
                            names.push(dep.to_owned());
                            out.push(j);
                        }
                    }
                    None => self.error(
                        "DANGLING_TARGET",
                        at,
                        format!("step `{name}` depends on `{dep}`, which does not exist"),
                    ),
                }
            }
        }
        names
    }

    fn step(&mut self, object: &Map<String, Value>, name: &str, path: &str) -> Option<State> {
        let step_type = match object.get("type") {
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
        };
        self.typed_fields(object, step_type, path);
        let params = self.params(object, step_type, path);
        let action = match step_type {
            StepType::Agent | StepType::Persona => {
                let key = if step_type == StepType::Persona && object.contains_key("persona") {
                    "persona"
                } else {
                    "agent"
                };
                let agent =
                    agent_name(object.get(key), &format!("{path}.{key}"), self.diagnostics)?;
                Action::AgentRun(AgentCall {
                    agent,
                    task: object.get("task").or_else(|| object.get("prompt")).cloned(),
                    input: params,
                    variables: None,
                    timeout_seconds: None,
                })
            }
            StepType::Shell => {
                let (key, command) = match (object.get("run"), object.get("command")) {
                    (Some(run), _) => ("run", run),
                    (None, Some(command)) => ("command", command),
                    (None, None) => {
                        self.error(
                            "MISSING_FIELD",
                            format!("{path}.run"),
                            "a shell step needs `run` (or `command`)",
                        );
                        return None;
                    }
                };
                let is_command = command.as_str().is_some_and(|c| !c.trim().is_empty())
                    || command.as_array().is_some_and(|parts| {
                        !parts.is_empty() && parts.iter().all(Value::is_string)
                    });
                if !is_command {
                    self.error(
                        "INVALID_VALUE",
                        format!("{path}.{key}"),
                        "a command is a non-empty string or a list of strings",
                    );
                    return None;
                }
                executor("shell.run", params, [("command", Some(command))])
            }
            StepType::Http => {
                let has_url = object.contains_key("url")
                    || params.as_ref().is_some_and(|p| p.get("url").is_some());
                if !has_url {
                    self.error(
                        "MISSING_FIELD",
                        format!("{path}.url"),
                        "an http step needs a `url`",
                    );
                    return None;
                }
                let fields = ["url", "method", "headers", "body"].map(|k| (k, object.get(k)));
                executor("http.request", params, fields)
            }
            StepType::Starlark => {
                let (key, code) = match (object.get("code"), object.get("expression")) {
                    (Some(code), _) => ("code", code),
                    (None, Some(expression)) => ("expression", expression),
                    (None, None) => {
                        self.error(
                            "MISSING_FIELD",
                            format!("{path}.code"),
                            "a python/starlark step needs `code` (or `expression`)",
                        );
                        return None;
                    }
                };
                if code.as_str().is_none_or(|c| c.trim().is_empty()) {
                    self.error(
                        "INVALID_VALUE",
                        format!("{path}.{key}"),
                        "code must be a non-empty Starlark expression",
                    );
                    return None;
                }
                executor("starlark.eval", params, [("expression", Some(code))])
            }
            StepType::Approval => Action::HumanApproval(approval(object, path, self.diagnostics)),
            StepType::SignalWait => {
                let signal = match object.get("signal") {
                    Some(Value::String(s)) if is_valid_signal_type(s) => s.clone(),
                    _ => {
                        self.error(
                            "MISSING_FIELD",
                            format!("{path}.signal"),
                            "a signal.wait step needs `signal`: the dot-separated signal type",
                        );
                        return None;
                    }
                };
                Action::SignalWait(SignalWait {
                    signal,
                    filter: object
                        .get("filter")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    timeout_seconds: None,
                })
            }
            StepType::Generic(name) => executor(name, params, []),
        };
        let options = step_options(object, name, path, self.variables, self.diagnostics);
        Some(operation_state(name, action, options))
    }

    /// UNKNOWN_FIELD for keys no step reads, or that this step's type ignores.
    fn typed_fields(&mut self, object: &Map<String, Value>, step_type: StepType, path: &str) {
        for key in object.keys() {
            let key = key.as_str();
            if STEP_FIELDS.contains(&key) || step_type.fields().contains(&key) {
                continue;
            }
            let message = if TYPED_FIELDS.contains(&key) {
                format!("`{key}` is ignored by this step's type")
            } else {
                format!("unknown field `{key}` is ignored")
            };
            self.diagnostics.push(Diagnostic::new(
                "UNKNOWN_FIELD",
                format!("{path}.{key}"),
                message,
            ));
        }
    }

    /// `params` (or `input`): passed to the executor.
    fn params(
        &mut self,
        object: &Map<String, Value>,
        step_type: StepType,
        path: &str,
    ) -> Option<Value> {
        let (key, value) = match (object.get("params"), object.get("input")) {
            (Some(_), Some(_)) => {
                self.error(
                    "INVALID_VALUE",
                    format!("{path}.input"),
                    "write the step's parameters as `params` or `input`, not both",
                );
                return None;
            }
            (Some(params), None) => ("params", params),
            (None, Some(input)) => ("input", input),
            (None, None) => return None,
        };
        if !step_type.takes_params() {
            self.diagnostics.push(Diagnostic::new(
                "UNKNOWN_FIELD",
                format!("{path}.{key}"),
                format!("`{key}` is ignored by this step's type"),
            ));
            return None;
        }
        let needs_object = !matches!(step_type, StepType::Agent | StepType::Persona);
        if needs_object && !value.is_object() {
            self.error(
                "INVALID_TYPE",
                format!("{path}.{key}"),
                format!("{key} must be a mapping for this step's type"),
            );
            return None;
        }
        Some(value.clone())
    }
}

/// An executor call: `params` (an object, or nothing) with `fields` set on top.
fn executor<const N: usize>(
    name: &str,
    params: Option<Value>,
    fields: [(&str, Option<&Value>); N],
) -> Action {
    let mut map = match params {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (key, value) in fields {
        if let Some(value) = value {
            map.insert(key.to_owned(), value.clone());
        }
    }
    Action::Executor(ExecutorCall {
        executor: name.to_owned(),
        params: Value::Object(map),
    })
}

#[cfg(test)]
mod tests;
