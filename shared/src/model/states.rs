//! The states-form front end (PRD §3 and the Station dialect of DESIGN §5):
//! a parsed document → [`Workflow`] IR plus diagnostics. Graph checks
//! (targets, reachability, cycles) live in [`super::graph`]; checks that need
//! more than one state (templates, agents, schemas) in [`super::validate`]. Pure.

use super::diag::{Diagnostic, Diagnostics};
use super::ir::{
    Action, AgentCall, Aggregation, Approval, Branch, CatchRule, ExecutorCall, Foreach,
    GENERIC_EXECUTORS, JoinMode, OnReject, Operation, Parallel, RetryPolicy, SignalWait, State,
    StateKind, SubGraph, Switch, SwitchCase, Transform, Transition, Workflow,
};
use super::parse::{
    MAX_STATES, is_valid_signal_type, is_valid_workflow_id, scalar_to_string, string_field,
};
use crate::ids::is_valid_agent_name;
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
    };
    compiler.workflow(top)
}

struct Compiler<'d> {
    diagnostics: &'d mut Diagnostics,
    /// States compiled so far at every depth, against [`MAX_STATES`].
    total_states: usize,
}

impl Compiler<'_> {
    fn error(&mut self, code: &str, path: impl Into<String>, message: impl Into<String>) {
        self.diagnostics.error(code, path, message);
    }

    fn unknown_fields(&mut self, object: &Map<String, Value>, known: &[&str], path: &str) {
        for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
            self.diagnostics.push(Diagnostic::new(
                "UNKNOWN_FIELD",
                join(path, key),
                format!("unknown field `{key}` is ignored"),
            ));
        }
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
        Some(Workflow {
            id,
            name: string_field(top, "name"),
            description: string_field(top, "description"),
            definition_version: top.get("version").and_then(scalar_to_string),
            input_schema,
            output_schema,
            timeout_seconds: self.seconds(top.get("timeoutSeconds"), "timeoutSeconds"),
            trigger,
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
        for (index, item) in items.iter().enumerate() {
            let path = format!("{states_path}[{index}]");
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
        let start = match start {
            None => compiled.first().map(|s| s.name.clone())?,
            Some(Value::String(name)) if compiled.iter().any(|s| &s.name == name) => name.clone(),
            Some(Value::String(name)) if compiled.len() < items.len() => {
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
        };
        Some(SubGraph {
            start,
            states: compiled,
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
            Some("agent") => self.agent_call(object, object, path).map(|call| {
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
            Some("foreach") => self.foreach(object, path, depth).map(StateKind::Foreach),
            Some("transform") => self.transform(object, path).map(StateKind::Transform),
            Some(other) => {
                self.error(
                    "UNKNOWN_STATE_TYPE",
                    join(path, "type"),
                    format!(
                        "unknown state type `{other}` (expected operation, switch, parallel, inject, foreach, transform, agent or human_approval)"
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

    fn operation(&mut self, object: &Map<String, Value>, path: &str) -> Option<Operation> {
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
                Action::Executor(ExecutorCall {
                    executor: executor.to_owned(),
                    params: object
                        .get("input")
                        .cloned()
                        .unwrap_or(Value::Object(Map::new())),
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

    fn operation_with(
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
    /// the state itself for `type: agent` and the shorthands.
    fn agent_call(
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
        let agent_path = join(&params_path, "agent");
        let agent = match params.get("agent").or_else(|| params.get("agent_id")) {
            Some(Value::String(agent)) if agent.is_empty() => {
                self.error("MISSING_FIELD", agent_path, "agent name is required");
                return None;
            }
            Some(Value::String(agent)) if is_valid_agent_name(agent) => agent.clone(),
            Some(Value::Number(legacy)) => {
                self.error(
                    "INVALID_AGENT_NAME",
                    join(&params_path, "agent_id"),
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
        };
        if params.contains_key("agent_id") {
            self.diagnostics.push(Diagnostic::new(
                "UNKNOWN_FIELD",
                join(&params_path, "agent_id"),
                if params.contains_key("agent") {
                    "`agent_id` is deprecated and ignored next to `agent`"
                } else {
                    "`agent_id` is deprecated: write `agent: <name>`"
                },
            ));
        }
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
        })
    }

    fn approval(
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
            message: params.get("message").cloned(),
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

    fn switch(&mut self, object: &Map<String, Value>, path: &str) -> Option<Switch> {
        let data_path = self.path_field(object, "dataPath", path);
        let mut conditions = Vec::new();
        match object.get("conditions") {
            None => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{}[{i}]", join(path, "conditions"));
                    let Some(case) = item.as_object() else {
                        self.error(
                            "INVALID_TYPE",
                            at,
                            "a condition is a mapping with `if` and `next`",
                        );
                        continue;
                    };
                    let condition =
                        string_field(case, "if").or_else(|| string_field(case, "condition"));
                    let next =
                        string_field(case, "next").or_else(|| string_field(case, "transition"));
                    match (condition, next) {
                        (Some(condition), Some(next)) => {
                            conditions.push(SwitchCase { condition, next })
                        }
                        (None, _) => self.error(
                            "MISSING_FIELD",
                            join(&at, "if"),
                            "a condition needs `if`: a Starlark expression",
                        ),
                        (_, None) => self.error(
                            "MISSING_FIELD",
                            join(&at, "next"),
                            "a condition needs `next`",
                        ),
                    }
                }
            }
            Some(_) => self.error(
                "INVALID_TYPE",
                join(path, "conditions"),
                "`conditions` must be a list",
            ),
        }
        let default_next = string_field(object, "defaultNext")
            .or_else(|| string_field(object, "default"))
            .or_else(|| string_field(object, "next"))
            .or_else(|| string_field(object, "transition"));
        if conditions.is_empty() && default_next.is_none() {
            self.error(
                "MISSING_FIELD",
                join(path, "conditions"),
                "a switch needs `conditions` or a `defaultNext`",
            );
            return None;
        }
        Some(Switch {
            data_path,
            conditions,
            default_next,
        })
    }

    fn parallel(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Option<Parallel> {
        if !self.enter_nesting(path, depth) {
            return None;
        }
        let at = join(path, "branches");
        let Some(items) = object
            .get("branches")
            .and_then(Value::as_array)
            .filter(|b| !b.is_empty())
        else {
            self.error(
                "MISSING_FIELD",
                at,
                "a parallel state needs a non-empty `branches` list",
            );
            return None;
        };
        let mut names = HashSet::new();
        let mut branches = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let branch_path = format!("{at}[{i}]");
            let Some(branch) = item.as_object() else {
                self.error(
                    "INVALID_TYPE",
                    branch_path,
                    "a branch is a mapping with `name` and `states`",
                );
                continue;
            };
            let name = string_field(branch, "name").or_else(|| string_field(branch, "id"));
            let Some(name) = name.filter(|n| !n.is_empty()) else {
                self.error(
                    "MISSING_FIELD",
                    join(&branch_path, "name"),
                    "a branch needs a `name`",
                );
                continue;
            };
            if !names.insert(name.clone()) {
                self.error(
                    "DUPLICATE_BRANCH",
                    join(&branch_path, "name"),
                    format!("branch `{name}` is defined twice"),
                );
            }
            if let Some(graph) = self.body(branch, &branch_path, &name, depth) {
                branches.push(Branch { name, graph });
            }
        }
        let join_mode = match object.get("join") {
            None => JoinMode::All,
            Some(Value::String(mode)) => self.join_mode(mode, &join(path, "join"))?,
            Some(Value::Object(join_object)) => match join_object.get("mode") {
                None => JoinMode::All,
                Some(Value::String(mode)) => self.join_mode(mode, &join(path, "join.mode"))?,
                Some(other) => {
                    self.error(
                        "INVALID_VALUE",
                        join(path, "join.mode"),
                        format!("join mode {other} must be `all` or `any`"),
                    );
                    return None;
                }
            },
            Some(other) => {
                self.error(
                    "INVALID_VALUE",
                    join(path, "join"),
                    format!("join {other} must be `all`, `any` or {{mode: …}}"),
                );
                return None;
            }
        };
        Some(Parallel {
            branches,
            join: join_mode,
            aggregation: self.aggregation(object, path)?,
            result_path: self.result_path(object, path),
        })
    }

    fn join_mode(&mut self, mode: &str, path: &str) -> Option<JoinMode> {
        match mode {
            "all" => Some(JoinMode::All),
            "any" => Some(JoinMode::Any),
            other => {
                self.error(
                    "INVALID_VALUE",
                    path,
                    format!("join mode `{other}` must be `all` or `any`"),
                );
                None
            }
        }
    }

    fn aggregation(&mut self, object: &Map<String, Value>, path: &str) -> Option<Aggregation> {
        match object.get("outputAggregation") {
            None => Some(Aggregation::Keyed),
            Some(Value::String(s)) if s == "merge" => Some(Aggregation::Merge),
            Some(Value::String(s)) if s == "array" => Some(Aggregation::Array),
            Some(other) => {
                self.error(
                    "INVALID_VALUE",
                    join(path, "outputAggregation"),
                    format!("outputAggregation {other} must be `merge` or `array`"),
                );
                None
            }
        }
    }

    fn foreach(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Option<Foreach> {
        if !self.enter_nesting(path, depth) {
            return None;
        }
        let Some(items_path) = self.path_field(object, "itemsPath", path) else {
            if !object.contains_key("itemsPath") {
                self.error(
                    "MISSING_FIELD",
                    join(path, "itemsPath"),
                    "a foreach needs `itemsPath`: the dot-path of the list",
                );
            }
            return None;
        };
        let item_key = if object.contains_key("itemName") {
            "itemName"
        } else {
            "itemVariable"
        };
        let item_name = match object.get(item_key) {
            None => "item".to_owned(),
            Some(Value::String(name)) if is_identifier(name) => name.clone(),
            Some(other) => {
                self.error(
                    "INVALID_VALUE",
                    join(path, item_key),
                    format!("{item_key} {other} must be an identifier"),
                );
                return None;
            }
        };
        let max_concurrency = match object.get("maxConcurrency") {
            None => 1,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=1000).contains(&n) => n as u32,
                _ => {
                    self.error(
                        "INVALID_VALUE",
                        join(path, "maxConcurrency"),
                        "maxConcurrency must be 1 to 1000",
                    );
                    return None;
                }
            },
        };
        let iterator = match object.get("iterator") {
            Some(Value::Object(body)) => self.graph(
                body.get("start"),
                body.get("states"),
                &join(path, "iterator"),
                depth + 1,
            ),
            Some(_) => {
                self.error(
                    "INVALID_TYPE",
                    join(path, "iterator"),
                    "`iterator` must be a mapping with `states`",
                );
                None
            }
            None if object.contains_key("agent") => self.shorthand(object, path, "item"),
            None => {
                self.error(
                    "MISSING_ITERATOR",
                    path,
                    "a foreach needs an `iterator` with `states` (or an `agent` shorthand)",
                );
                None
            }
        }?;
        Some(Foreach {
            items_path,
            item_name,
            max_concurrency,
            iterator,
            aggregation: self.aggregation(object, path)?,
            result_path: self.result_path(object, path),
        })
    }

    /// A branch body: `states` (with an optional `start`), or the one-state
    /// `agent:` shorthand.
    fn body(
        &mut self,
        branch: &Map<String, Value>,
        path: &str,
        name: &str,
        depth: usize,
    ) -> Option<SubGraph> {
        if branch.contains_key("states") {
            self.graph(branch.get("start"), branch.get("states"), path, depth + 1)
        } else if branch.contains_key("agent") {
            self.shorthand(branch, path, name)
        } else {
            self.error(
                "MISSING_FIELD",
                join(path, "states"),
                "a branch needs `states` (or an `agent` shorthand)",
            );
            None
        }
    }

    /// `{agent, task|agentTask|prompt, input, resultPath?}` as a one-state graph.
    fn shorthand(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        name: &str,
    ) -> Option<SubGraph> {
        let call = self.agent_call(object, object, path)?;
        let operation = Operation {
            action: Action::AgentRun(call),
            timeout_seconds: self
                .seconds(object.get("timeoutSeconds"), &join(path, "timeoutSeconds")),
            retry: self.retry(object.get("retry"), path),
            // The local result of a shorthand body is the agent output itself.
            result_path: Some("result".to_owned()),
        };
        self.total_states += 1;
        Some(SubGraph {
            start: name.to_owned(),
            states: vec![State {
                name: name.to_owned(),
                kind: StateKind::Operation(operation),
                transition: Transition::End,
                catch: Vec::new(),
            }],
        })
    }

    fn enter_nesting(&mut self, path: &str, depth: usize) -> bool {
        if depth + 1 > MAX_NESTING {
            self.error(
                "DEFINITION_TOO_LARGE",
                path,
                format!("parallel and foreach states nest more than {MAX_NESTING} deep"),
            );
            return false;
        }
        true
    }

    fn transform(&mut self, object: &Map<String, Value>, path: &str) -> Option<Transform> {
        match object.get("expression") {
            Some(Value::String(expression)) if !expression.trim().is_empty() => Some(Transform {
                expression: expression.clone(),
                result_path: self.result_path(object, path),
            }),
            _ => {
                self.error(
                    "MISSING_FIELD",
                    join(path, "expression"),
                    "a transform needs an `expression`: a Starlark expression",
                );
                None
            }
        }
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
        retry_policy(value, path, self.diagnostics)
    }
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

/// Parses `trigger: {signal, filter}`; shared with the other front ends.
pub fn trigger(value: Option<&Value>, diagnostics: &mut Diagnostics) -> Option<super::ir::Trigger> {
    let value = value?;
    let Some(object) = value.as_object() else {
        diagnostics.error(
            "INVALID_TYPE",
            "trigger",
            "trigger must be a mapping with `signal`",
        );
        return None;
    };
    match object.get("signal").and_then(Value::as_str) {
        Some(signal) if is_valid_signal_type(signal) => Some(super::ir::Trigger {
            signal: signal.to_owned(),
            filter: string_field(object, "filter"),
        }),
        _ => {
            diagnostics.error(
                "INVALID_TRIGGER",
                "trigger.signal",
                "trigger.signal must be a dot-separated signal type",
            );
            None
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
mod tests;
