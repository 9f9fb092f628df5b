//! The states-form front end: YAML or JSON source → [`Workflow`] IR plus
//! diagnostics. Accepts the Station dialect's `id`/`transition` spellings and
//! `input.task: agent.run`. Pure.

use super::diag::{Diagnostic, Diagnostics};
use super::ir::{
    Action, AgentCall, Operation, RetryPolicy, State, StateKind, Transition, Trigger, Workflow,
};
use crate::ids::is_valid_agent_name;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// Largest accepted definition source, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;
/// Most states in one definition.
pub const MAX_STATES: usize = 10_000;

/// How a source is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceFormat {
    #[default]
    Yaml,
    Json,
}

impl SourceFormat {
    /// From the `format` field of a control request; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "yaml" | "yml" => Some(Self::Yaml),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// From a file name (`*.workflow.yaml|yml|json`).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".workflow.yaml") || lower.ends_with(".workflow.yml") {
            Some(Self::Yaml)
        } else if lower.ends_with(".workflow.json") {
            Some(Self::Json)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yaml => "yaml",
            Self::Json => "json",
        }
    }
}

/// The outcome of compiling one source: the IR when there are no errors, and
/// every diagnostic either way.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub workflow: Option<Workflow>,
    pub diagnostics: Diagnostics,
}

const TOP_LEVEL_FIELDS: &[&str] = &[
    "id",
    "version",
    "name",
    "description",
    "inputSchema",
    "trigger",
    "start",
    "states",
    "outputSchema",
];
const STATE_FIELDS: &[&str] = &[
    "name",
    "id",
    "type",
    "action",
    "operation",
    "input",
    "timeoutSeconds",
    "retry",
    "resultPath",
    "next",
    "transition",
    "end",
    "data",
];
const LATER_STATE_TYPES: &[&str] = &[
    "switch",
    "parallel",
    "foreach",
    "transform",
    "human_approval",
];

/// Compiles a states-form source.
pub fn compile(source: &str, format: SourceFormat) -> Compiled {
    let mut diagnostics = Diagnostics::default();
    if source.len() > MAX_SOURCE_BYTES {
        diagnostics.error(
            "DEFINITION_TOO_LARGE",
            "",
            format!(
                "definition is {} bytes; the limit is {MAX_SOURCE_BYTES}",
                source.len()
            ),
        );
        return Compiled {
            workflow: None,
            diagnostics,
        };
    }
    let document = match parse_document(source, format) {
        Ok(doc) => doc,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return Compiled {
                workflow: None,
                diagnostics,
            };
        }
    };
    let workflow = Compiler {
        diagnostics: &mut diagnostics,
    }
    .workflow(&document);
    let workflow = if diagnostics.has_errors() {
        None
    } else {
        workflow
    };
    Compiled {
        workflow,
        diagnostics,
    }
}

fn parse_document(source: &str, format: SourceFormat) -> Result<Value, Diagnostic> {
    match format {
        SourceFormat::Json => serde_json::from_str::<Value>(source).map_err(|e| {
            Diagnostic::new("PARSE_ERROR", "", format!("invalid JSON: {e}"))
                .at(e.line() as u32, e.column() as u32)
        }),
        SourceFormat::Yaml => yaml_serde::from_str::<Value>(source).map_err(|e| {
            let diagnostic = Diagnostic::new("PARSE_ERROR", "", format!("invalid YAML: {e}"));
            match e.location() {
                Some(loc) => diagnostic.at(loc.line() as u32, loc.column() as u32),
                None => diagnostic,
            }
        }),
    }
}

struct Compiler<'d> {
    diagnostics: &'d mut Diagnostics,
}

impl Compiler<'_> {
    fn error(&mut self, code: &str, path: impl Into<String>, message: impl Into<String>) {
        self.diagnostics.error(code, path, message);
    }

    fn unknown_fields(&mut self, object: &Map<String, Value>, known: &[&str], path: &str) {
        for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
            let at = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            self.diagnostics.push(Diagnostic::new(
                "UNKNOWN_FIELD",
                at,
                format!("unknown field `{key}` is ignored"),
            ));
        }
    }

    fn workflow(&mut self, document: &Value) -> Option<Workflow> {
        let Some(top) = document.as_object() else {
            self.error(
                "INVALID_TYPE",
                "",
                "a workflow definition must be a mapping",
            );
            return None;
        };
        self.unknown_fields(top, TOP_LEVEL_FIELDS, "");
        let id = match top.get("id").and_then(Value::as_str) {
            Some(id) if is_valid_workflow_id(id) => id.to_owned(),
            Some(id) => {
                self.error(
                    "INVALID_ID",
                    "id",
                    format!("workflow id {id:?} must match [A-Za-z0-9_.-]{{1,128}}"),
                );
                String::new()
            }
            None => {
                self.error("MISSING_FIELD", "id", "a workflow needs an `id`");
                String::new()
            }
        };
        let trigger = self.trigger(top.get("trigger"));
        let input_schema = top.get("inputSchema").cloned();
        if input_schema
            .as_ref()
            .is_some_and(|s| !s.is_object() && !s.is_boolean())
        {
            self.error(
                "INVALID_SCHEMA",
                "inputSchema",
                "inputSchema must be a JSON Schema object",
            );
        }
        let states = self.states(top.get("states"));
        let start = self.start(top.get("start"), &states);
        self.check_graph(&states, start.as_deref());
        Some(Workflow {
            id,
            name: string_field(top, "name"),
            description: string_field(top, "description"),
            definition_version: top.get("version").and_then(scalar_to_string),
            input_schema,
            output_schema: top.get("outputSchema").cloned(),
            trigger,
            start: start?,
            states,
        })
    }

    fn trigger(&mut self, value: Option<&Value>) -> Option<Trigger> {
        let value = value?;
        let Some(object) = value.as_object() else {
            self.error(
                "INVALID_TYPE",
                "trigger",
                "trigger must be a mapping with `signal`",
            );
            return None;
        };
        match object.get("signal").and_then(Value::as_str) {
            Some(signal) if is_valid_signal_type(signal) => Some(Trigger {
                signal: signal.to_owned(),
                filter: object
                    .get("filter")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }),
            _ => {
                self.error(
                    "INVALID_TRIGGER",
                    "trigger.signal",
                    "trigger.signal must be a dot-separated signal type",
                );
                None
            }
        }
    }

    fn start(&mut self, value: Option<&Value>, states: &[State]) -> Option<String> {
        match value {
            None => states.first().map(|s| s.name.clone()),
            Some(Value::String(name)) if states.iter().any(|s| &s.name == name) => {
                Some(name.clone())
            }
            Some(other) => {
                self.error(
                    "INVALID_START",
                    "start",
                    format!("start {other} names no state"),
                );
                None
            }
        }
    }

    fn states(&mut self, value: Option<&Value>) -> Vec<State> {
        let Some(items) = value.and_then(Value::as_array) else {
            self.error(
                "MISSING_FIELD",
                "states",
                "a workflow needs a non-empty `states` list",
            );
            return Vec::new();
        };
        if items.is_empty() {
            self.error(
                "MISSING_FIELD",
                "states",
                "a workflow needs a non-empty `states` list",
            );
        }
        if items.len() > MAX_STATES {
            self.error(
                "DEFINITION_TOO_LARGE",
                "states",
                format!("{} states; the limit is {MAX_STATES}", items.len()),
            );
            return Vec::new();
        }
        let mut seen = HashSet::new();
        let mut states = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let path = format!("states[{index}]");
            if let Some(state) = self.state(item, &path) {
                if !seen.insert(state.name.clone()) {
                    self.error(
                        "DUPLICATE_STATE",
                        format!("{path}.name"),
                        format!("state `{}` is defined twice", state.name),
                    );
                }
                states.push(state);
            }
        }
        states
    }

    fn state(&mut self, value: &Value, path: &str) -> Option<State> {
        let Some(object) = value.as_object() else {
            self.error("INVALID_TYPE", path, "a state must be a mapping");
            return None;
        };
        self.unknown_fields(object, STATE_FIELDS, path);
        let name = string_field(object, "name").or_else(|| string_field(object, "id"));
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            self.error(
                "MISSING_FIELD",
                format!("{path}.name"),
                "a state needs a `name`",
            );
            return None;
        };
        let transition = self.transition(object, path);
        let kind = match object.get("type").and_then(Value::as_str) {
            Some("operation") => self.operation(object, path).map(StateKind::Operation),
            Some("agent") => self.agent_call(object, path).map(|call| {
                StateKind::Operation(self.operation_with(object, Action::AgentRun(call), path))
            }),
            Some("inject") => Some(StateKind::Inject {
                data: object
                    .get("data")
                    .cloned()
                    .unwrap_or(Value::Object(Map::new())),
                result_path: self.result_path(object, path),
            }),
            Some(other) if LATER_STATE_TYPES.contains(&other) => {
                self.error(
                    "UNSUPPORTED_STATE_TYPE",
                    format!("{path}.type"),
                    format!("state type `{other}` is part of the language but not supported by this release yet"),
                );
                None
            }
            Some(other) => {
                self.error(
                    "UNKNOWN_STATE_TYPE",
                    format!("{path}.type"),
                    format!("unknown state type `{other}`"),
                );
                None
            }
            None => {
                self.error(
                    "MISSING_FIELD",
                    format!("{path}.type"),
                    "a state needs a `type`",
                );
                None
            }
        }?;
        Some(State {
            name,
            kind,
            transition: transition?,
            catch: Vec::new(),
        })
    }

    fn transition(&mut self, object: &Map<String, Value>, path: &str) -> Option<Transition> {
        let next = string_field(object, "next").or_else(|| string_field(object, "transition"));
        let end = object.get("end").and_then(Value::as_bool).unwrap_or(false);
        match (next, end) {
            (Some(_), true) => {
                self.error(
                    "CONFLICTING_TRANSITION",
                    format!("{path}.end"),
                    "a state cannot have both `next` and `end: true`",
                );
                None
            }
            (Some(next), false) => Some(Transition::Next(next)),
            (None, true) => Some(Transition::End),
            (None, false) => {
                self.error(
                    "MISSING_TRANSITION",
                    path,
                    "a state needs `next` (or `transition`) or `end: true`",
                );
                None
            }
        }
    }

    fn result_path(&mut self, object: &Map<String, Value>, path: &str) -> Option<String> {
        let value = object.get("resultPath")?;
        match value.as_str() {
            Some(p) if super::path::segments(p).is_some() => Some(p.to_owned()),
            _ => {
                self.error(
                    "INVALID_PATH",
                    format!("{path}.resultPath"),
                    format!("resultPath {value} is not a dot-path"),
                );
                None
            }
        }
    }

    fn operation(&mut self, object: &Map<String, Value>, path: &str) -> Option<Operation> {
        let input_task = object
            .get("input")
            .and_then(|i| i.get("task"))
            .and_then(Value::as_str);
        let action = string_field(object, "action")
            .or_else(|| string_field(object, "operation"))
            .or_else(|| (input_task == Some("agent.run")).then(|| "agent.run".to_owned()));
        match action.as_deref() {
            Some("agent.run") => {
                let call = self.agent_call(object, path)?;
                Some(self.operation_with(object, Action::AgentRun(call), path))
            }
            Some(other) => {
                self.error(
                    "UNKNOWN_ACTION",
                    format!("{path}.action"),
                    format!("unknown or not yet supported action `{other}`"),
                );
                None
            }
            None => {
                self.error(
                    "MISSING_FIELD",
                    format!("{path}.action"),
                    "an operation needs an `action`",
                );
                None
            }
        }
    }

    fn operation_with(
        &mut self,
        object: &Map<String, Value>,
        action: Action,
        path: &str,
    ) -> Operation {
        Operation {
            action,
            timeout_seconds: self.seconds(
                object.get("timeoutSeconds"),
                &format!("{path}.timeoutSeconds"),
            ),
            retry: self.retry(object.get("retry"), path),
            result_path: self.result_path(object, path),
        }
    }

    /// The agent call of `type: operation` (fields under `input`) or `type: agent` (fields on the state).
    fn agent_call(&mut self, state: &Map<String, Value>, path: &str) -> Option<AgentCall> {
        let is_agent_type = state.get("type").and_then(Value::as_str) == Some("agent");
        let empty = Map::new();
        let params = if is_agent_type {
            state
        } else {
            state
                .get("input")
                .and_then(Value::as_object)
                .unwrap_or(&empty)
        };
        let agent_path = if is_agent_type {
            format!("{path}.agent")
        } else {
            format!("{path}.input.agent")
        };
        let agent = match params.get("agent").and_then(Value::as_str) {
            Some(agent) if is_valid_agent_name(agent) => agent.to_owned(),
            Some(agent) => {
                self.error(
                    "INVALID_AGENT_NAME",
                    agent_path,
                    format!("agent name {agent:?} must match [a-z0-9][a-z0-9_-]{{0,63}}"),
                );
                return None;
            }
            None => {
                self.error("MISSING_FIELD", agent_path, "agent.run needs an `agent`");
                return None;
            }
        };
        // Station writes `task: agent.run` and puts the task text in `agent_task`.
        let task = ["agent_task", "agentTask", "prompt"]
            .iter()
            .find_map(|k| params.get(*k))
            .or_else(|| {
                params
                    .get("task")
                    .filter(|t| t.as_str() != Some("agent.run"))
            })
            .cloned();
        let input = if is_agent_type {
            state.get("input").cloned()
        } else {
            params.get("input").cloned()
        };
        Some(AgentCall {
            agent,
            task,
            input,
            variables: params.get("variables").cloned(),
            timeout_seconds: self.seconds(
                params.get("timeoutSeconds"),
                &format!("{path}.input.timeoutSeconds"),
            ),
        })
    }

    fn seconds(&mut self, value: Option<&Value>, path: &str) -> Option<u64> {
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

    fn retry(&mut self, value: Option<&Value>, path: &str) -> RetryPolicy {
        let mut policy = RetryPolicy::default();
        let Some(object) = value.and_then(Value::as_object) else {
            if value.is_some() {
                self.error(
                    "INVALID_TYPE",
                    format!("{path}.retry"),
                    "retry must be a mapping",
                );
            }
            return policy;
        };
        if let Some(max) = object.get("maxAttempts") {
            match max.as_u64() {
                Some(n) if (1..=100).contains(&n) => policy.max_attempts = n as u32,
                _ => self.error(
                    "INVALID_VALUE",
                    format!("{path}.retry.maxAttempts"),
                    "maxAttempts must be 1 to 100",
                ),
            }
        }
        let mut number = |key: &str, slot: &mut f64| {
            if let Some(v) = object.get(key) {
                match v.as_f64() {
                    Some(n) if n >= 0.0 => *slot = n,
                    _ => self.diagnostics.error(
                        "INVALID_VALUE",
                        format!("{path}.retry.{key}"),
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
        policy
    }

    /// Dangling targets, unreachable states and graphs with no way to end.
    fn check_graph(&mut self, states: &[State], start: Option<&str>) {
        let index: HashMap<&str, usize> = states
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        for (i, state) in states.iter().enumerate() {
            if let Transition::Next(target) = &state.transition
                && !index.contains_key(target.as_str())
            {
                self.error(
                    "DANGLING_TARGET",
                    format!("states[{i}].next"),
                    format!(
                        "state `{}` goes to `{target}`, which does not exist",
                        state.name
                    ),
                );
            }
        }
        if !states.is_empty() && !states.iter().any(|s| s.transition == Transition::End) {
            self.error(
                "MISSING_END",
                "states",
                "no state has `end: true`, so no run could finish",
            );
        }
        let Some(start) = start else { return };
        let mut reachable = HashSet::new();
        let mut cursor = Some(start);
        while let Some(name) = cursor {
            if !reachable.insert(name) {
                break;
            }
            cursor = match index.get(name).map(|&i| &states[i].transition) {
                Some(Transition::Next(next)) => Some(next.as_str()),
                _ => None,
            };
        }
        for (i, state) in states
            .iter()
            .enumerate()
            .filter(|(_, s)| !reachable.contains(s.name.as_str()))
        {
            self.diagnostics.push(Diagnostic::new(
                "UNREACHABLE_STATE",
                format!("states[{i}]"),
                format!("state `{}` can never be reached from `{start}`", state.name),
            ));
        }
    }
}

fn string_field(object: &Map<String, Value>, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn scalar_to_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `[A-Za-z0-9_.-]{1,128}`.
pub fn is_valid_workflow_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Dot-separated tokens of `[A-Za-z0-9_-]`, as a NATS subject suffix allows.
pub fn is_valid_signal_type(signal: &str) -> bool {
    !signal.is_empty()
        && signal.len() <= 256
        && signal.split('.').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        })
}

#[cfg(test)]
mod tests;
