//! The DAG step compiler per step type: the action each type runs (an
//! agent, a command, an HTTP request, a Starlark expression, an approval, a
//! signal wait or a generic executor), its `params`, and the fields it ignores.

use super::step_type::{STEP_FIELDS, StepType, TYPED_FIELDS};
use super::{Steps, agent_name, approval, operation_state, step_options};
use crate::model::argv::shell_argv;
use crate::model::diag::Diagnostic;
use crate::model::ir::{Action, AgentCall, ExecutorCall, SignalWait, State};
use crate::model::parse::is_valid_signal_type;
use serde_json::{Map, Value};

impl Steps<'_> {
    pub(super) fn step(
        &mut self,
        object: &Map<String, Value>,
        name: &str,
        path: &str,
    ) -> Option<State> {
        let step_type = self.step_type(object, path)?;
        self.typed_fields(object, step_type, path);
        let params = self.params(object, step_type, path);
        let action = match step_type {
            StepType::Agent | StepType::Persona => self.agent(object, step_type, params, path)?,
            StepType::Llm if object.contains_key("agent") => {
                self.agent(object, StepType::Agent, params, path)?
            }
            StepType::Llm => self.llm(object, params, path)?,
            StepType::Shell => self.shell(object, params, path)?,
            StepType::Http => self.http(object, params, path)?,
            StepType::Starlark => self.starlark(object, params, path)?,
            StepType::Approval => Action::HumanApproval(approval(object, path, self.diagnostics)),
            StepType::SignalWait => self.signal_wait(object, path)?,
            StepType::Generic(name) => executor(name, params, []),
        };
        let options = step_options(object, name, path, self.variables, self.diagnostics);
        Some(operation_state(name, action, options))
    }

    /// `agent` (or `persona`): the agent, given `task`/`prompt` and `params`.
    fn agent(
        &mut self,
        object: &Map<String, Value>,
        step_type: StepType,
        params: Option<Value>,
        path: &str,
    ) -> Option<Action> {
        let key = if step_type == StepType::Persona && object.contains_key("persona") {
            "persona"
        } else {
            "agent"
        };
        let agent = agent_name(object.get(key), &format!("{path}.{key}"), self.diagnostics)?;
        Some(Action::AgentRun(AgentCall {
            agent,
            // A null task is no task (as it reads back from the stored IR).
            task: object
                .get("task")
                .or_else(|| object.get("prompt"))
                .filter(|task| !task.is_null())
                .cloned(),
            input: params,
            variables: None,
            timeout_seconds: None,
            default_task: None,
        }))
    }

    /// An `llm` step without an agent: the `llm` executor, its fields on
    /// top of `params` (`task` is the prompt when there is no `prompt`). It
    /// needs a `prompt` or `messages`, here or in `params`.
    fn llm(
        &mut self,
        object: &Map<String, Value>,
        params: Option<Value>,
        path: &str,
    ) -> Option<Action> {
        let prompt = object.get("prompt").or_else(|| object.get("task"));
        let in_params = |k: &str| params.as_ref().is_some_and(|p| p.get(k).is_some());
        let has_prompt = prompt.is_some()
            || object.contains_key("messages")
            || in_params("prompt")
            || in_params("messages");
        if !has_prompt {
            self.error(
                "MISSING_FIELD",
                format!("{path}.prompt"),
                "an llm step needs an `agent`, or a `prompt` (or `messages`) for the llm executor",
            );
            return None;
        }
        let fields = [
            ("prompt", prompt),
            ("model", object.get("model")),
            ("messages", object.get("messages")),
            ("temperature", object.get("temperature")),
            ("max_tokens", object.get("max_tokens")),
        ];
        Some(executor("llm", params, fields))
    }

    /// The first present of two synonymous fields (`run`/`command`,
    /// `code`/`expression`), or MISSING_FIELD at the first.
    fn either<'o>(
        &mut self,
        object: &'o Map<String, Value>,
        [first, second]: [&'static str; 2],
        path: &str,
        message: &str,
    ) -> Option<(&'static str, &'o Value)> {
        match (object.get(first), object.get(second)) {
            (Some(value), _) => Some((first, value)),
            (None, Some(value)) => Some((second, value)),
            (None, None) => {
                self.error("MISSING_FIELD", format!("{path}.{first}"), message);
                None
            }
        }
    }

    /// `run` (or `command`): a non-empty string or a list of strings.
    fn shell(
        &mut self,
        object: &Map<String, Value>,
        params: Option<Value>,
        path: &str,
    ) -> Option<Action> {
        let (key, command) = self.either(
            object,
            ["run", "command"],
            path,
            "a shell step needs `run` (or `command`)",
        )?;
        let argv = match shell_argv(command) {
            Ok(argv) => argv,
            Err(message) => {
                self.error("INVALID_VALUE", format!("{path}.{key}"), message);
                return None;
            }
        };
        Some(executor("shell.run", params, [("command", Some(&argv))]))
    }

    /// `url` (here or in `params`), `method`, `headers`, `body`.
    fn http(
        &mut self,
        object: &Map<String, Value>,
        params: Option<Value>,
        path: &str,
    ) -> Option<Action> {
        let has_url =
            object.contains_key("url") || params.as_ref().is_some_and(|p| p.get("url").is_some());
        if !has_url {
            self.error(
                "MISSING_FIELD",
                format!("{path}.url"),
                "an http step needs a `url`",
            );
            return None;
        }
        let fields = ["url", "method", "headers", "body"].map(|k| (k, object.get(k)));
        Some(executor("http.request", params, fields))
    }

    /// `code` (or `expression`): a non-empty Starlark expression.
    fn starlark(
        &mut self,
        object: &Map<String, Value>,
        params: Option<Value>,
        path: &str,
    ) -> Option<Action> {
        let (key, code) = self.either(
            object,
            ["code", "expression"],
            path,
            "a python/starlark step needs `code` (or `expression`)",
        )?;
        if code.as_str().is_none_or(|c| c.trim().is_empty()) {
            self.error(
                "INVALID_VALUE",
                format!("{path}.{key}"),
                "code must be a non-empty Starlark expression",
            );
            return None;
        }
        Some(executor(
            "starlark.eval",
            params,
            [("expression", Some(code))],
        ))
    }

    /// `signal` (a signal type) and an optional `filter`.
    fn signal_wait(&mut self, object: &Map<String, Value>, path: &str) -> Option<Action> {
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
        Some(Action::SignalWait(SignalWait {
            signal,
            filter: object
                .get("filter")
                .and_then(Value::as_str)
                .map(str::to_owned),
            timeout_seconds: None,
        }))
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
        let needs_object = !matches!(
            step_type,
            StepType::Agent | StepType::Persona | StepType::Llm
        );
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
