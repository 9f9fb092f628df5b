//! The states-form front end (docs/language.md §3, Station dialect included):
//! a parsed document → [`Workflow`] IR plus diagnostics. Graph checks
//! (targets, reachability, cycles) live in [`super::graph`]; checks that need
//! more than one state (templates, agents, schemas) in [`super::validate`]. Pure.
//!
//! This file holds the `Compiler` walk: the workflow header, `states` lists,
//! the per-state dispatch, transitions, error handlers (`onError`/`catch`) and
//! the path helpers every part uses. The state bodies are in `actions`
//! (operations, agent calls, approvals, signal waits, timeouts and retry) and
//! `control` (switch, parallel, foreach, shorthands, transform).

mod actions;
mod control;
pub mod cron;

pub use super::trigger::trigger;
pub use actions::retry_policy;

use super::diag::Diagnostics;
use super::ir::{Action, CatchRule, State, StateKind, SubGraph, Transition, Workflow};
use super::parse::{MAX_STATES, is_valid_workflow_id, scalar_to_string, string_field};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Deepest nesting of parallel branches and foreach bodies.
pub const MAX_NESTING: usize = 8;

const TOP_LEVEL_FIELDS: &[&str] = &[
    "id",
    "version",
    "name",
    "description",
    "inputSchema",
    "outputSchema",
    "timeoutSeconds",
    "trigger",
    "concurrency",
    "start",
    "states",
];

/// Every field some state type reads; a key outside this list is `UNKNOWN_FIELD`.
const STATE_FIELDS: &[&str] = &[
    "name",
    "id",
    "type",
    "description",
    "comment",
    "action",
    "operation",
    "input",
    "timeoutSeconds",
    "retry",
    "resultPath",
    "next",
    "transition",
    "end",
    "onError",
    "catch",
    // inject
    "data",
    // agent / human_approval shorthands
    "agent",
    "agent_id",
    "task",
    "prompt",
    "agentTask",
    "agent_task",
    "variables",
    "message",
    "summaryPath",
    "approvers",
    "onReject",
    // switch
    "dataPath",
    "conditions",
    "defaultNext",
    "default",
    // parallel and foreach
    "branches",
    "join",
    "outputAggregation",
    "itemsPath",
    "itemName",
    "itemVariable",
    "maxConcurrency",
    "iterator",
    // transform
    "expression",
];

/// Compiles a states-form document.
pub fn compile(top: &Map<String, Value>, diagnostics: &mut Diagnostics) -> Option<Workflow> {
    let mut compiler = Compiler {
        diagnostics,
        total_states: 0,
        schedule: None,
    };
    compiler.workflow(top)
}

struct Compiler<'d> {
    diagnostics: &'d mut Diagnostics,
    /// States compiled so far at every depth, against [`MAX_STATES`].
    total_states: usize,
    /// The schedule of a `type: cron` start state, once read.
    schedule: Option<super::schedule::Schedule>,
}

impl Compiler<'_> {
    fn error(&mut self, code: &str, path: impl Into<String>, message: impl Into<String>) {
        self.diagnostics.error(code, path, message);
    }

    fn unknown_fields(&mut self, object: &Map<String, Value>, known: &[&str], path: &str) {
        self.diagnostics.unknown_fields(object, known, path);
    }

    fn workflow(&mut self, top: &Map<String, Value>) -> Option<Workflow> {
        self.unknown_fields(top, TOP_LEVEL_FIELDS, "");
        let id = match top.get("id") {
            Some(Value::String(id)) if is_valid_workflow_id(id) => id.clone(),
            Some(other) => {
                self.error(
                    "INVALID_ID",
                    "id",
                    format!(
                        "workflow id {other} must be a string matching [A-Za-z0-9_.-]{{1,128}}"
                    ),
                );
                String::new()
            }
            None => {
                self.error("MISSING_FIELD", "id", "a workflow needs an `id`");
                String::new()
            }
        };
        let trigger = trigger(top.get("trigger"), self.diagnostics);
        let input_schema = self.schema(top, "inputSchema");
        let output_schema = self.schema(top, "outputSchema");
        let graph = self.graph(top.get("start"), top.get("states"), "", 0);
        let from_trigger = super::schedule::from_trigger(top.get("trigger"), self.diagnostics);
        let schedule =
            cron::merge_trigger_schedule(self.schedule.take(), from_trigger, self.diagnostics);
        Some(Workflow {
            id,
            name: string_field(top, "name"),
            description: string_field(top, "description"),
            definition_version: top.get("version").and_then(scalar_to_string),
            input_schema,
            output_schema,
            timeout_seconds: self.seconds(top.get("timeoutSeconds"), "timeoutSeconds"),
            trigger,
            schedule,
            concurrency: None,
            start: graph.as_ref()?.start.clone(),
            states: graph?.states,
        })
    }

    fn schema(&mut self, top: &Map<String, Value>, key: &str) -> Option<Value> {
        let schema = top.get(key)?;
        if !schema.is_object() && !schema.is_boolean() {
            self.error(
                "INVALID_SCHEMA",
                key,
                format!("{key} must be a JSON Schema object"),
            );
            return None;
        }
        Some(schema.clone())
    }

    /// A `states` list with its `start`: the top level, a branch or a foreach body.
    /// `prefix` is the path of the object holding them (empty at the top level).
    fn graph(
        &mut self,
        start: Option<&Value>,
        states: Option<&Value>,
        prefix: &str,
        depth: usize,
    ) -> Option<SubGraph> {
        let states_path = join(prefix, "states");
        let Some(items) = states.and_then(Value::as_array) else {
            let message = if states.is_some() {
                "`states` must be a list of states"
            } else {
                "workflow has no states"
            };
            self.error("MISSING_FIELD", states_path, message);
            return None;
        };
        if items.is_empty() {
            self.error("MISSING_FIELD", states_path, "workflow has no states");
            return None;
        }
        self.total_states += items.len();
        if self.total_states > MAX_STATES {
            self.error(
                "DEFINITION_TOO_LARGE",
                states_path,
                format!("more than {MAX_STATES} states in one definition"),
            );
            return None;
        }
        let mut seen = HashSet::new();
        let mut compiled = Vec::with_capacity(items.len());
        let mut cron_next = None;
        for (index, item) in items.iter().enumerate() {
            let path = format!("{states_path}[{index}]");
            if cron::is_cron_state(item) {
                cron_next = self.cron_state(item, &path, index, depth, start);
                continue;
            }
            if let Some(state) = self.state(item, &path, depth) {
                if !seen.insert(state.name.clone()) {
                    self.error(
                        "DUPLICATE_STATE",
                        format!("{path}.name"),
                        format!("state `{}` is defined twice", state.name),
                    );
                }
                compiled.push(state);
            }
        }
        let start = match (cron_next, start) {
            (Some(next), _) => self.cron_start(next, &compiled, items.len()),
            (None, start) => self.named_start(start, prefix, &compiled, items.len())?,
        };
        Some(SubGraph {
            start,
            states: compiled,
        })
    }

    /// The start of a list: `start`, or its first compiled state.
    fn named_start(
        &mut self,
        start: Option<&Value>,
        prefix: &str,
        compiled: &[State],
        written: usize,
    ) -> Option<String> {
        Some(match start {
            None => compiled.first().map(|s| s.name.clone())?,
            Some(Value::String(name)) if compiled.iter().any(|s| &s.name == name) => name.clone(),
            Some(Value::String(name)) if compiled.len() < written => {
                // The named state may be one that failed to compile; its own error says why.
                name.clone()
            }
            Some(other) => {
                self.error(
                    "INVALID_START",
                    join(prefix, "start"),
                    format!("start state not found: {other} names no state"),
                );
                return None;
            }
        })
    }

    fn state(&mut self, value: &Value, path: &str, depth: usize) -> Option<State> {
        let Some(object) = value.as_object() else {
            self.error("INVALID_TYPE", path, "a state must be a mapping");
            return None;
        };
        self.unknown_fields(object, STATE_FIELDS, path);
        let name = string_field(object, "name").or_else(|| string_field(object, "id"));
        let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
            self.error(
                "MISSING_FIELD",
                join(path, "name"),
                "a state needs a `name` (or `id`)",
            );
            return None;
        };
        let state_type = object.get("type").and_then(Value::as_str);
        let is_switch = state_type == Some("switch");
        let transition = if is_switch {
            Some(Transition::Decided)
        } else {
            self.transition(object, path)
        };
        let catch = self.catch(object, path);
        let kind = match state_type {
            Some("operation") => self.operation(object, path).map(StateKind::Operation),
            Some("agent") => self.station_agent(object, path, &name).map(|call| {
                StateKind::Operation(self.operation_with(object, Action::AgentRun(call), path))
            }),
            Some("human_approval") => {
                let approval = self.approval(object, object, path);
                Some(StateKind::Operation(self.operation_with(
                    object,
                    Action::HumanApproval(approval),
                    path,
                )))
            }
            Some("inject") => Some(StateKind::Inject {
                data: object
                    .get("data")
                    .cloned()
                    .unwrap_or(Value::Object(Map::new())),
                result_path: self.result_path(object, path),
            }),
            Some("switch") => self.switch(object, path).map(StateKind::Switch),
            Some("parallel") => self.parallel(object, path, depth).map(StateKind::Parallel),
            Some("foreach") => self
                .foreach(object, path, &name, depth)
                .map(StateKind::Foreach),
            Some("transform") => self.transform(object, path).map(StateKind::Transform),
            Some(other) => {
                self.error(
                    "UNKNOWN_STATE_TYPE",
                    join(path, "type"),
                    format!(
                        "unknown state type `{other}` (expected operation, switch, parallel, inject, foreach, transform, agent, human_approval or cron)"
                    ),
                );
                None
            }
            None => {
                self.error(
                    "MISSING_FIELD",
                    join(path, "type"),
                    "a state needs a `type`",
                );
                None
            }
        }?;
        Some(State {
            name,
            kind,
            transition: transition?,
            catch,
        })
    }

    fn transition(&mut self, object: &Map<String, Value>, path: &str) -> Option<Transition> {
        let next = string_field(object, "next").or_else(|| string_field(object, "transition"));
        let end = object.get("end").and_then(Value::as_bool).unwrap_or(false);
        match (next, end) {
            (Some(_), true) => {
                self.error(
                    "CONFLICTING_TRANSITION",
                    join(path, "end"),
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

    /// `onError: state`, `onError: {next, errors, resultPath}`, `catch: state`,
    /// or `catch: [{errors, next, resultPath}]`.
    fn catch(&mut self, object: &Map<String, Value>, path: &str) -> Vec<CatchRule> {
        let mut rules = Vec::new();
        for key in ["onError", "catch"] {
            let Some(value) = object.get(key) else {
                continue;
            };
            let at = join(path, key);
            match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        rules.extend(self.catch_rule(item, &format!("{at}[{i}]")));
                    }
                }
                other => rules.extend(self.catch_rule(other, &at)),
            }
        }
        rules
    }

    fn catch_rule(&mut self, value: &Value, path: &str) -> Option<CatchRule> {
        match value {
            Value::String(next) => Some(CatchRule {
                errors: Vec::new(),
                next: next.clone(),
                result_path: None,
            }),
            Value::Object(rule) => {
                let next = string_field(rule, "next")
                    .or_else(|| string_field(rule, "transition"))
                    .or_else(|| string_field(rule, "catch"));
                let Some(next) = next else {
                    self.error(
                        "MISSING_FIELD",
                        join(path, "next"),
                        "an error handler needs `next`: the state that handles the failure",
                    );
                    return None;
                };
                let errors = match rule.get("errors").or_else(|| rule.get("error")) {
                    None => Vec::new(),
                    Some(Value::String(code)) => vec![code.clone()],
                    Some(Value::Array(codes)) if codes.iter().all(Value::is_string) => codes
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    Some(_) => {
                        self.error(
                            "INVALID_TYPE",
                            join(path, "errors"),
                            "`errors` must be an error code or a list of codes",
                        );
                        Vec::new()
                    }
                };
                Some(CatchRule {
                    errors,
                    next,
                    result_path: self.result_path(rule, path),
                })
            }
            _ => {
                self.error(
                    "INVALID_TYPE",
                    path,
                    "an error handler is a state name or a mapping with `next`",
                );
                None
            }
        }
    }

    fn result_path(&mut self, object: &Map<String, Value>, path: &str) -> Option<String> {
        self.path_field(object, "resultPath", path)
    }

    fn path_field(&mut self, object: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        let value = object.get(key)?;
        match value.as_str() {
            Some(p) if super::path::segments(p).is_some() => Some(p.to_owned()),
            _ => {
                self.error(
                    "INVALID_PATH",
                    join(path, key),
                    format!("{key} {value} is not a dot-path"),
                );
                None
            }
        }
    }
}

/// `a` + `b` → `a.b`; an empty `a` gives `b`.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A Starlark/Python identifier: letters, digits and `_`, not starting with a digit.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod station_tests;
#[cfg(test)]
mod tests;
