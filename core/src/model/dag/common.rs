//! What the two graph forms ([`super`], the DAG form, and
//! [`crate::model::composer`]) share: the definition header, the assembly of
//! the single-DAG workflow, step options (timeout, retries, result path,
//! condition), approvals, agent names, and the cycle search. Pure.

use super::{DAG_STATE, MAX_RETRIES, VARIABLES_STATE};
use crate::ids::is_valid_agent_name;
use crate::model::diag::Diagnostics;
use crate::model::ir::{
    Action, Approval, Dag, DagStep, OnReject, Operation, RetryPolicy, State, StateKind, Transition,
    Trigger, Workflow,
};
use crate::model::parse::{is_valid_signal_type, is_valid_workflow_id};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// The definition-level fields both graph forms share.
#[derive(Debug, Default)]
pub(crate) struct Header {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub definition_version: Option<String>,
    pub input_schema: Option<Value>,
    pub output_schema: Option<Value>,
    pub trigger: Option<Trigger>,
    pub schedule: Option<crate::model::schedule::Schedule>,
}

/// `id`, `name`, `description`, `version`, `inputSchema`, `outputSchema`, `trigger`.
pub(crate) fn header(top: &Map<String, Value>, diagnostics: &mut Diagnostics) -> Header {
    let id = match top.get("id") {
        Some(Value::String(id)) if is_valid_workflow_id(id) => id.clone(),
        Some(other) => {
            diagnostics.error(
                "INVALID_ID",
                "id",
                format!("workflow id {other} must match [A-Za-z0-9_.-]{{1,128}}"),
            );
            String::new()
        }
        None => {
            diagnostics.error("MISSING_FIELD", "id", "a workflow needs an `id`");
            String::new()
        }
    };
    let mut schema = |key: &str| {
        let value = top.get(key)?;
        if value.is_object() || value.is_boolean() {
            Some(value.clone())
        } else {
            diagnostics.error(
                "INVALID_SCHEMA",
                key,
                format!("{key} must be a JSON Schema object"),
            );
            None
        }
    };
    let input_schema = schema("inputSchema");
    let output_schema = schema("outputSchema");
    Header {
        id,
        name: string(top, "name"),
        description: string(top, "description"),
        definition_version: top.get("version").and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }),
        input_schema,
        output_schema,
        trigger: trigger(top.get("trigger"), diagnostics),
        schedule: crate::model::schedule::from_trigger(top.get("trigger"), diagnostics),
    }
}

fn trigger(value: Option<&Value>, diagnostics: &mut Diagnostics) -> Option<Trigger> {
    let value = value?;
    let Some(object) = value.as_object() else {
        diagnostics.error(
            "INVALID_TYPE",
            "trigger",
            "trigger must be a mapping with `signal` and/or `schedule`",
        );
        return None;
    };
    unknown_fields(
        object,
        &["signal", "filter", "schedule", "timezone"],
        "trigger",
        diagnostics,
    );
    match object.get("signal").and_then(Value::as_str) {
        None if object.contains_key("schedule") && !object.contains_key("signal") => None,
        Some(signal) if is_valid_signal_type(signal) => Some(Trigger {
            signal: signal.to_owned(),
            filter: string(object, "filter"),
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

/// The workflow: an optional `variables` inject state, then the DAG state.
pub(crate) fn assemble(header: Header, variables: Option<Value>, steps: Vec<DagStep>) -> Workflow {
    let dag = State {
        name: DAG_STATE.to_owned(),
        kind: StateKind::Dag(Dag {
            steps,
            result_path: None,
        }),
        transition: Transition::End,
        catch: Vec::new(),
    };
    let mut states = Vec::with_capacity(2);
    if let Some(data) = variables {
        states.push(State {
            name: VARIABLES_STATE.to_owned(),
            kind: StateKind::Inject {
                data,
                result_path: Some(VARIABLES_STATE.to_owned()),
            },
            transition: Transition::Next(DAG_STATE.to_owned()),
            catch: Vec::new(),
        });
    }
    let start = states
        .first()
        .map_or(DAG_STATE, |s| s.name.as_str())
        .to_owned();
    states.push(dag);
    Workflow {
        id: header.id,
        name: header.name,
        description: header.description,
        definition_version: header.definition_version,
        input_schema: header.input_schema,
        output_schema: header.output_schema,
        timeout_seconds: None,
        trigger: header.trigger,
        schedule: header.schedule,
        concurrency: None,
        start,
        states,
    }
}

/// Timeout, retries and result path of one step.
#[derive(Debug, Default)]
pub(crate) struct StepOptions {
    pub timeout_seconds: Option<u64>,
    pub retry: RetryPolicy,
    pub result_path: Option<String>,
}

/// `timeout` (or `timeoutSeconds`), `retries` and `resultPath` (default
/// `steps.<name>`). `timeout` and `retries` may be written
/// `{{ variables.x }}`, resolved now from the literal `variables`.
pub(crate) fn step_options(
    object: &Map<String, Value>,
    name: &str,
    path: &str,
    variables: Option<&Value>,
    diagnostics: &mut Diagnostics,
) -> StepOptions {
    let mut options = StepOptions {
        result_path: Some(format!("steps.{name}")),
        ..StepOptions::default()
    };
    for key in ["timeout", "timeoutSeconds"] {
        let Some(value) = object.get(key) else {
            continue;
        };
        let at = format!("{path}.{key}");
        match resolve_static(value, variables).and_then(|v| {
            seconds(v).ok_or_else(|| {
                format!("timeout {v} must be a positive number of seconds or a duration like 30s, 5m, 1h")
            })
        }) {
            Ok(s) => options.timeout_seconds = Some(s),
            Err(message) => diagnostics.error("INVALID_VALUE", at, message),
        }
    }
    if let Some(value) = object.get("retries") {
        let at = format!("{path}.retries");
        let retries = resolve_static(value, variables).and_then(|v| {
            let n = match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            };
            n.filter(|n| *n <= MAX_RETRIES).ok_or_else(|| {
                format!("retries {v} must be a whole number from 0 to {MAX_RETRIES}")
            })
        });
        match retries {
            Ok(n) => options.retry.max_attempts = n as u32 + 1,
            Err(message) => diagnostics.error("INVALID_VALUE", at, message),
        }
    }
    if let Some(value) = object.get("resultPath") {
        match value.as_str() {
            Some(p) if crate::model::path::segments(p).is_some() => {
                options.result_path = Some(p.to_owned());
            }
            _ => diagnostics.error(
                "INVALID_PATH",
                format!("{path}.resultPath"),
                format!("resultPath {value} is not a dot-path"),
            ),
        }
    }
    options
}

/// The step's `condition`: a Starlark expression, stored as written (its
/// syntax is checked with the other expressions).
pub(crate) fn condition(
    object: &Map<String, Value>,
    path: &str,
    diagnostics: &mut Diagnostics,
) -> Option<String> {
    match object.get("condition")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Bool(true) => None,
        Value::Bool(false) => Some("False".to_owned()),
        other => {
            diagnostics.error(
                "INVALID_VALUE",
                format!("{path}.condition"),
                format!("condition {other} must be a non-empty Starlark expression"),
            );
            None
        }
    }
}

/// An `operation` state for one step; DAG steps always end (`transition: End`).
pub(crate) fn operation_state(name: &str, action: Action, options: StepOptions) -> State {
    State {
        name: name.to_owned(),
        kind: StateKind::Operation(Operation {
            action,
            timeout_seconds: options.timeout_seconds,
            retry: options.retry,
            result_path: options.result_path,
        }),
        transition: Transition::End,
        catch: Vec::new(),
    }
}

/// A valid agent name, or a diagnostic at `path`.
pub(crate) fn agent_name(
    value: Option<&Value>,
    path: &str,
    diagnostics: &mut Diagnostics,
) -> Option<String> {
    match value {
        Some(Value::String(agent)) if is_valid_agent_name(agent) => Some(agent.clone()),
        Some(Value::String(agent)) if agent.is_empty() => {
            diagnostics.error("MISSING_FIELD", path, "agent name is required");
            None
        }
        Some(other) => {
            diagnostics.error(
                "INVALID_AGENT_NAME",
                path,
                format!("agent name {other} must match [a-z0-9][a-z0-9_-]{{0,63}}"),
            );
            None
        }
        None => {
            diagnostics.error("MISSING_FIELD", path, "agent name is required");
            None
        }
    }
}

/// A `human.approval` gate from `message`, `approvers`, `summaryPath` and
/// `onReject` in `object`. The timeout is the step's.
pub(crate) fn approval(
    object: &Map<String, Value>,
    path: &str,
    diagnostics: &mut Diagnostics,
) -> Approval {
    let approvers_path = format!("{path}.approvers");
    let approvers: Vec<String> = match object.get("approvers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(_) => {
            diagnostics.error(
                "INVALID_TYPE",
                &approvers_path,
                "approvers must be a list like [\"team:platform\", \"user:alice@example.com\"]",
            );
            Vec::new()
        }
    };
    for (i, approver) in approvers.iter().enumerate() {
        if !(approver.starts_with("user:") || approver.starts_with("team:")) {
            diagnostics.error(
                "INVALID_VALUE",
                format!("{approvers_path}[{i}]"),
                format!("approver {approver:?} must start with `user:` or `team:`"),
            );
        }
    }
    let summary_path = match object.get("summaryPath") {
        None => None,
        Some(Value::String(p)) if crate::model::path::segments(p).is_some() => Some(p.clone()),
        Some(other) => {
            diagnostics.error(
                "INVALID_PATH",
                format!("{path}.summaryPath"),
                format!("summaryPath {other} is not a dot-path"),
            );
            None
        }
    };
    let on_reject = match object.get("onReject").and_then(Value::as_str) {
        None if !object.contains_key("onReject") => OnReject::Fail,
        Some("fail") => OnReject::Fail,
        Some("cancel") => OnReject::Cancel,
        _ => {
            diagnostics.error(
                "INVALID_VALUE",
                format!("{path}.onReject"),
                "onReject must be `fail` or `cancel`",
            );
            OnReject::Fail
        }
    };
    Approval {
        message: object.get("message").cloned(),
        summary_path,
        approvers,
        timeout_seconds: None,
        on_reject,
    }
}

/// `[A-Za-z0-9_-]{1,128}`: a step name is a segment of `steps.<name>`, so no dots.
pub fn is_valid_step_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// The value itself, or, for a string that is exactly `{{ variables.<path> }}`,
/// the literal it names in `variables`.
fn resolve_static<'v>(value: &'v Value, variables: Option<&'v Value>) -> Result<&'v Value, String> {
    let Some(text) = value.as_str() else {
        return Ok(value);
    };
    let text = text.trim();
    let inner = (text.strip_prefix("{{").and_then(|t| t.strip_suffix("}}")))
        .or_else(|| text.strip_prefix("${").and_then(|t| t.strip_suffix('}')));
    let Some(inner) = inner else {
        return Ok(value);
    };
    let inner = inner.trim();
    let found = inner
        .strip_prefix("variables.")
        .and_then(crate::model::path::segments)
        .and_then(|parts| crate::model::path::get(variables?, &parts));
    match found {
        Some(Value::String(s)) if s.contains("{{") || s.contains("${") => Err(format!(
            "`{inner}` is itself a template; this field must be known when the workflow is loaded"
        )),
        Some(found) => Ok(found),
        None => Err(format!(
            "`{inner}` must name a value in the workflow's `variables`; this field must be known when the workflow is loaded"
        )),
    }
}

/// Positive seconds from a number or a duration string (`90`, `30s`, `5m`,
/// `1h`, `2d`, `1h30m`).
pub(crate) fn seconds(value: &Value) -> Option<u64> {
    let total = match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f <= u32::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) => parse_duration(s),
        _ => None,
    }?;
    (total > 0).then_some(total)
}

pub(super) fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let amount: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(amount.checked_mul(unit)?)?;
    }
    Some(total)
}

/// Cycles of a dependency graph (`deps[i]` lists what step `i` depends on),
/// one per strongly connected component, each as a concrete cycle: `c[0]`
/// depends on `c[1]`, …, and the last on `c[0]`. Iterative, so deep graphs
/// cannot overflow the stack. Self-dependencies are the caller's to report.
pub(crate) fn find_cycles(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    crate::model::graph::components(deps)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|component| {
            let members: HashSet<usize> = component.iter().copied().collect();
            // Walk inside the component until a step repeats: the walk's tail is a cycle.
            let mut walk = vec![component[0]];
            let mut position: HashMap<usize, usize> = HashMap::from([(component[0], 0)]);
            loop {
                let current = walk[walk.len() - 1];
                let Some(&next) = deps[current].iter().find(|j| members.contains(j)) else {
                    return component; // unreachable for a real component
                };
                if let Some(&start) = position.get(&next) {
                    return walk.split_off(start);
                }
                position.insert(next, walk.len());
                walk.push(next);
            }
        })
        .collect()
}

/// "steps a → b → c → a depend on each other in a cycle".
pub(crate) fn cycle_message<'n>(cycle: &[usize], name: impl Fn(usize) -> &'n str) -> String {
    let mut names: Vec<&str> = cycle.iter().map(|&i| name(i)).collect();
    names.push(name(cycle[0]));
    format!(
        "dependency cycle: {} (each depends on the next), so none of them could ever start",
        names.join(" → ")
    )
}

pub(crate) fn unknown_fields(
    object: &Map<String, Value>,
    known: &[&str],
    path: &str,
    diagnostics: &mut Diagnostics,
) {
    diagnostics.unknown_fields(object, known, path);
}

pub(crate) fn string(object: &Map<String, Value>, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}
