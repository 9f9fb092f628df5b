//! The control-flow states of the states form: `switch`, `parallel` (branch
//! bodies, join modes), `foreach`, the one-state `agent:` shorthand bodies,
//! the output aggregation both fan-outs share, the nesting limit, and
//! `transform`. Pure.

use super::{Compiler, MAX_NESTING, is_identifier, join};
use crate::model::ir::{
    Action, Aggregation, Branch, Foreach, JoinMode, Operation, Parallel, State, StateKind,
    SubGraph, Switch, SwitchCase, Transform, Transition,
};
use crate::model::parse::string_field;
use serde_json::{Map, Value};
use std::collections::HashSet;

impl Compiler<'_> {
    pub(super) fn switch(&mut self, object: &Map<String, Value>, path: &str) -> Option<Switch> {
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

    pub(super) fn parallel(
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
        let branches = self.branches(items, &at, depth);
        let join_mode = self.parallel_join(object, path)?;
        Some(Parallel {
            branches,
            join: join_mode,
            aggregation: self.aggregation(object, path, false)?,
            result_path: self.result_path(object, path),
        })
    }

    /// The branches of a parallel state: each a named graph, names unique.
    fn branches(&mut self, items: &[Value], at: &str, depth: usize) -> Vec<Branch> {
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
        branches
    }

    /// `join`: `all` (the default), `any`, or `{mode: …}`.
    fn parallel_join(&mut self, object: &Map<String, Value>, path: &str) -> Option<JoinMode> {
        Some(match object.get("join") {
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

    /// `outputAggregation`: `merge` or `array`; `merge` only on a parallel.
    fn aggregation(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        on_foreach: bool,
    ) -> Option<Aggregation> {
        match object.get("outputAggregation") {
            None => Some(Aggregation::Keyed),
            Some(Value::String(s)) if s == "merge" && on_foreach => {
                self.error(
                    "INVALID_VALUE",
                    join(path, "outputAggregation"),
                    "outputAggregation `merge` is for a parallel; a foreach takes `array` (or none)",
                );
                None
            }
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

    pub(super) fn foreach(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        name: &str,
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
        let item_name = self.item_name(object, path)?;
        let max_concurrency = self.max_concurrency(object, path)?;
        let iterator = self.iterator(object, path, name, depth)?;
        Some(Foreach {
            items_path,
            item_name,
            max_concurrency,
            iterator,
            aggregation: self.aggregation(object, path, true)?,
            result_path: self.result_path(object, path),
        })
    }

    /// `itemName` (or `itemVariable`): an identifier, `item` by default.
    fn item_name(&mut self, object: &Map<String, Value>, path: &str) -> Option<String> {
        let item_key = if object.contains_key("itemName") {
            "itemName"
        } else {
            "itemVariable"
        };
        Some(match object.get(item_key) {
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
        })
    }

    /// `maxConcurrency`: 1 to 1000, 1 by default.
    fn max_concurrency(&mut self, object: &Map<String, Value>, path: &str) -> Option<u32> {
        Some(match object.get("maxConcurrency") {
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
        })
    }

    /// The foreach body: `iterator` with `states`, or the `agent` shorthand
    /// (one state named after the foreach).
    fn iterator(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        name: &str,
        depth: usize,
    ) -> Option<SubGraph> {
        match object.get("iterator") {
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
            None if object.contains_key("agent") => self.shorthand(object, path, name),
            None => {
                self.error(
                    "MISSING_ITERATOR",
                    path,
                    "a foreach needs an `iterator` with `states` (or an `agent` shorthand)",
                );
                None
            }
        }
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

    /// `{agent, task|agentTask|prompt, input}` as a one-state graph: one
    /// `agent.run` state named `name` (the branch's or the foreach's), which
    /// writes nothing, so the branch's or item's value is the agent output.
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
            result_path: None,
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

    pub(super) fn transform(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
    ) -> Option<Transform> {
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
}
