//! The DAG front end (docs/language.md §4): `steps[]` with `depends_on` (or
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
mod step_type;
mod steps;

pub use common::is_valid_step_name;
pub(crate) use common::{
    StepOptions, agent_name, approval, assemble, condition, cycle_message, find_cycles, header,
    operation_state, step_options, unknown_fields,
};

use super::diag::Diagnostics;
use super::ir::{DagStep, Workflow};
use super::parse::MAX_STATES;
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
    "concurrency",
    "variables",
    "steps",
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

    /// The step's name (`id` wins over `name`, which some DAG files use as a
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
}

#[cfg(test)]
pub(crate) mod tests;
