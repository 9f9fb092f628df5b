//! Checks on the compiled IR that every front end shares. Pure.
//!
//! - [`check`] (always): Starlark expressions parse, and template paths can
//!   resolve where that is known statically.
//! - [`against_registry`] (when the agent registry is at hand): every agent
//!   exists, and along every path the output schema of the agent that feeds
//!   another agent's input is compatible with that input schema.
//!
//! **Which template paths are known.** `input`, `signal` and `workflow.*` are
//! never checked (their content is the caller's). `steps.X…` must be written
//! by some `resultPath` (one path a prefix of the other). A name that a
//! `resultPath` or an `inject` writes is known. The run input (`ctx.X`, or a
//! bare `X`, which Station reads from `ctx`) is known when the `inputSchema`
//! lists `X` among its `properties`; with no `properties` listed it cannot be
//! known, and nothing is reported.
//!
//! **Which agent feeds which.** An `agent.run` without an explicit `input`
//! receives the previous output: the output of the last step before it. The
//! producers of that value are found by propagating along every transition
//! (switch cases included) and into parallel branches (a branch starts with
//! the value from before the parallel state). Inline states (`inject`,
//! `switch`) pass it through; anything else (`transform`, approvals, joins,
//! other executors) makes it unknown, and unknown producers are not checked.
//! An explicit `input` that is exactly one template naming an agent's
//! `resultPath` also counts as fed by that agent.

use super::diag::{Diagnostic, Diagnostics};
use super::graph::targets;
use super::ir::{Action, AgentCall, State, StateKind, Workflow};
use super::path;
use super::schema_compat::{self, Verdict};
use crate::engine::template::paths_in;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};

/// What validation needs to know about a registered agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentSpec {
    pub name: String,
    pub input_schema: Option<Value>,
    pub output_schema: Option<Value>,
}

/// The registry-free checks, run by every compilation.
pub fn check(workflow: &Workflow, diagnostics: &mut Diagnostics) {
    if let Some(filter) = workflow.trigger.as_ref().and_then(|t| t.filter.as_deref()) {
        expression(filter, "trigger.filter", "trigger filter", diagnostics);
    }
    let known = KnownPaths::of(workflow);
    for visit in states_of(workflow) {
        let state = visit.state;
        match &state.kind {
            StateKind::Switch(switch) => {
                for (k, case) in switch.conditions.iter().enumerate() {
                    expression(
                        &case.condition,
                        &format!("{}.conditions[{k}].if", visit.path),
                        &format!("condition of switch `{}`", state.name),
                        diagnostics,
                    );
                }
            }
            StateKind::Transform(transform) => expression(
                &transform.expression,
                &format!("{}.expression", visit.path),
                &format!("expression of transform `{}`", state.name),
                diagnostics,
            ),
            StateKind::Operation(operation) => {
                if let Action::SignalWait(wait) = &operation.action
                    && let Some(filter) = &wait.filter
                {
                    expression(
                        filter,
                        &format!("{}.input.filter", visit.path),
                        &format!("signal filter of `{}`", state.name),
                        diagnostics,
                    );
                }
                for (field, value) in templated(&operation.action) {
                    let mut sites = Vec::new();
                    template_sites(value, &format!("{}.{field}", visit.path), &mut sites);
                    for (at, template) in sites {
                        known.check(&template, &at, &visit, diagnostics);
                    }
                }
            }
            StateKind::Dag(dag) => {
                for (k, step) in dag.steps.iter().enumerate() {
                    if let Some(condition) = &step.condition {
                        expression(
                            condition,
                            &format!("{}[{k}].condition", dag_steps_path(&visit.path)),
                            &format!("condition of step `{}`", step.state.name),
                            diagnostics,
                        );
                    }
                }
            }
            StateKind::Inject { .. } | StateKind::Parallel(_) | StateKind::Foreach(_) => {}
        }
    }
}

/// Reports an expression that does not parse.
fn expression(source: &str, path: &str, what: &str, diagnostics: &mut Diagnostics) {
    if let Err(error) = crate::expr::check_syntax(source) {
        diagnostics.push(Diagnostic::new(
            "STARLARK_SYNTAX",
            path,
            format!("{what} is not a valid Starlark expression: {error}"),
        ));
    }
}

/// The templated values of an action.
/// The templated values of an action, with where they are written in the
/// states form (relative to the state).
fn templated(action: &Action) -> Vec<(&'static str, &Value)> {
    match action {
        Action::AgentRun(call) => [
            ("input.task", &call.task),
            ("input.input", &call.input),
            ("input.variables", &call.variables),
        ]
        .into_iter()
        .filter_map(|(field, value)| value.as_ref().map(|v| (field, v)))
        .collect(),
        Action::HumanApproval(approval) => approval
            .message
            .iter()
            .map(|m| ("input.message", m))
            .collect(),
        Action::SignalWait(_) => Vec::new(),
        Action::Executor(call) => vec![("input", &call.params)],
    }
}

/// Every template in `value` with the path of the string holding it.
fn template_sites(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(_) => out.extend(paths_in(value).into_iter().map(|t| (at.to_owned(), t))),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                template_sites(item, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                template_sites(item, &format!("{at}.{key}"), out);
            }
        }
        _ => {}
    }
}

/// One state with where it sits: its diagnostic path and the foreach item
/// names in scope.
pub struct Visit<'w> {
    pub state: &'w State,
    pub path: String,
    pub items: Vec<&'w str>,
}

/// Where the steps of a DAG state are listed in the source: a DAG-form
/// document lists them at the top level.
fn dag_steps_path(state_path: &str) -> String {
    if state_path.starts_with("states[") && !state_path.contains('.') {
        "steps".to_owned()
    } else {
        format!("{state_path}.steps")
    }
}

/// Every state of the workflow, depth first, nested graphs included.
pub fn states_of(workflow: &Workflow) -> Vec<Visit<'_>> {
    let mut out = Vec::new();
    walk(&workflow.states, "", &[], &mut out);
    out
}

fn walk<'w>(states: &'w [State], prefix: &str, items: &[&'w str], out: &mut Vec<Visit<'w>>) {
    for (i, state) in states.iter().enumerate() {
        let path = format!("{prefix}states[{i}]");
        match &state.kind {
            StateKind::Parallel(parallel) => {
                for (j, branch) in parallel.branches.iter().enumerate() {
                    walk(
                        &branch.graph.states,
                        &format!("{path}.branches[{j}]."),
                        items,
                        out,
                    );
                }
            }
            StateKind::Foreach(foreach) => {
                let mut inner = items.to_vec();
                inner.push(&foreach.item_name);
                walk(
                    &foreach.iterator.states,
                    &format!("{path}.iterator."),
                    &inner,
                    out,
                );
            }
            StateKind::Dag(dag) => {
                let prefix = dag_steps_path(&path);
                for (k, step) in dag.steps.iter().enumerate() {
                    out.push(Visit {
                        state: &step.state,
                        path: format!("{prefix}[{k}]"),
                        items: items.to_vec(),
                    });
                }
            }
            _ => {}
        }
        out.push(Visit {
            state,
            path,
            items: items.to_vec(),
        });
    }
}

/// The context paths a workflow writes, and the run input it declares.
struct KnownPaths {
    /// Every `resultPath` (catch handlers' included), as segments.
    written: Vec<Vec<String>>,
    /// Keys merged into `ctx` by an `inject` without `resultPath`.
    injected: HashSet<String>,
    /// `inputSchema.properties`, when listed.
    input_properties: Option<HashSet<String>>,
}

impl KnownPaths {
    fn of(workflow: &Workflow) -> Self {
        let mut written = Vec::new();
        let mut injected = HashSet::new();
        let mut add = |p: &Option<String>| {
            if let Some(parts) = p.as_deref().and_then(path::segments) {
                written.push(parts.iter().map(|s| (*s).to_owned()).collect());
            }
        };
        for visit in states_of(workflow) {
            for rule in &visit.state.catch {
                add(&rule.result_path);
            }
            match &visit.state.kind {
                StateKind::Operation(op) => add(&op.result_path),
                StateKind::Inject { data, result_path } => {
                    add(result_path);
                    if result_path.is_none()
                        && let Some(map) = data.as_object()
                    {
                        injected.extend(map.keys().cloned());
                    }
                }
                StateKind::Parallel(p) => add(&p.result_path),
                StateKind::Foreach(f) => add(&f.result_path),
                StateKind::Transform(t) => add(&t.result_path),
                StateKind::Dag(d) => add(&d.result_path),
                StateKind::Switch(_) => {}
            }
        }
        let input_properties = workflow
            .input_schema
            .as_ref()
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|props| props.keys().cloned().collect());
        Self {
            written,
            injected,
            input_properties,
        }
    }

    fn writes(&self, parts: &[&str]) -> bool {
        self.written.iter().any(|w| {
            let n = w.len().min(parts.len());
            w[..n].iter().zip(&parts[..n]).all(|(a, b)| a == b)
        })
    }

    /// Is `name` a key of the run input or of what `inject` merges into `ctx`?
    fn in_ctx(&self, name: &str) -> bool {
        self.injected.contains(name)
            || self.writes(&["ctx", name])
            || self
                .input_properties
                .as_ref()
                .is_none_or(|props| props.contains(name))
    }

    fn check(&self, template: &str, at: &str, visit: &Visit<'_>, diagnostics: &mut Diagnostics) {
        let Some(parts) = path::segments(template) else {
            diagnostics.push(Diagnostic::new(
                "TEMPLATE_PATH",
                at,
                format!(
                    "template `{{{{ {template} }}}}` in state `{}` is not a dot-path",
                    visit.state.name
                ),
            ));
            return;
        };
        let head = parts[0];
        let known = match head {
            "input" | "signal" | "workflow" => true,
            _ if visit.items.contains(&head) => true,
            "steps" => self.writes(&parts),
            "ctx" => parts.len() < 2 || parts[1] == "workflow" || self.in_ctx(parts[1]),
            _ => self.writes(&parts) || self.in_ctx(head),
        };
        if !known {
            diagnostics.push(Diagnostic::new(
                "TEMPLATE_PATH",
                at,
                format!(
                    "template `{{{{ {template} }}}}` in state `{}` can never resolve: no resultPath or inject writes it{}",
                    visit.state.name,
                    if self.input_properties.is_some() {
                        " and the inputSchema does not declare it"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
}

/// Agent existence and schema compatibility, given the tenant's registry.
pub fn against_registry(
    workflow: &Workflow,
    agents: &HashMap<String, AgentSpec>,
    diagnostics: &mut Diagnostics,
) {
    let visits = states_of(workflow);
    for visit in &visits {
        if let Some(call) = agent_call(visit.state)
            && !agents.contains_key(&call.agent)
        {
            diagnostics.push(Diagnostic::new(
                "AGENT_NOT_FOUND",
                agent_path(visit),
                format!(
                    "agent `{}` (state `{}`) not found in environment",
                    call.agent, visit.state.name
                ),
            ));
        }
    }
    let feeds = Feeds::of(workflow);
    let paths: HashMap<*const State, &str> = visits
        .iter()
        .map(|v| (v.state as *const State, v.path.as_str()))
        .collect();
    for (consumer, producers) in &feeds.edges {
        let Some(call) = agent_call(consumer) else {
            continue;
        };
        let Some(input_schema) = agents
            .get(&call.agent)
            .and_then(|a| a.input_schema.as_ref())
        else {
            continue;
        };
        for producer in producers {
            let Some(from) = agent_call(producer) else {
                continue;
            };
            let Some(spec) = agents.get(&from.agent) else {
                continue;
            };
            let report = schema_compat::check(spec.output_schema.as_ref(), Some(input_schema));
            let at = paths
                .get(&(*consumer as *const State))
                .map_or_else(String::new, |p| (*p).to_owned());
            let pair = format!(
                "`{}` (state `{}`) → `{}` (state `{}`)",
                from.agent, producer.name, call.agent, consumer.name
            );
            let details = report
                .problems
                .iter()
                .map(|p| {
                    if p.path.is_empty() {
                        p.message.clone()
                    } else {
                        format!("{}: {}", p.path, p.message)
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            match report.verdict {
                Verdict::Compatible => {}
                Verdict::Incompatible => diagnostics.push(Diagnostic::new(
                    "SCHEMA_INCOMPATIBLE",
                    at,
                    format!(
                        "{pair}: the output schema does not satisfy the input schema: {details}"
                    ),
                )),
                Verdict::CompatibleWithWarnings => diagnostics.push(Diagnostic::new(
                    "SCHEMA_UNVERIFIED",
                    at,
                    format!("{pair}: compatible, but {details}"),
                )),
                Verdict::Unverified => diagnostics.push(Diagnostic::new(
                    "SCHEMA_UNVERIFIED",
                    at,
                    format!(
                        "{pair}: cannot validate: `{}` declares no output schema",
                        from.agent
                    ),
                )),
            }
        }
    }
}

fn agent_call(state: &State) -> Option<&AgentCall> {
    match &state.kind {
        StateKind::Operation(op) => match &op.action {
            Action::AgentRun(call) => Some(call),
            _ => None,
        },
        _ => None,
    }
}

fn agent_path(visit: &Visit<'_>) -> String {
    // `type: agent` and shorthands hold `agent` on the state itself; the
    // locator falls back to the state when `input.agent` is not in the source.
    format!("{}.input.agent", visit.path)
}

/// Which states can feed which agent its input: consumer → producers.
struct Feeds<'w> {
    edges: Vec<(&'w State, Vec<&'w State>)>,
}

/// The value a state sees as "the previous output": produced by these
/// states, or (`unknown`) by something that is not an agent.
#[derive(Clone, Default, PartialEq)]
struct Incoming<'w> {
    producers: BTreeSet<*const State>,
    refs: Vec<&'w State>,
}

impl<'w> Incoming<'w> {
    fn add(&mut self, state: &'w State) -> bool {
        if self.producers.insert(state as *const State) {
            self.refs.push(state);
            true
        } else {
            false
        }
    }

    fn merge(&mut self, other: &Incoming<'w>) -> bool {
        let mut changed = false;
        for state in &other.refs {
            changed |= self.add(state);
        }
        changed
    }
}

impl<'w> Feeds<'w> {
    fn of(workflow: &'w Workflow) -> Self {
        let mut feeds = Feeds { edges: Vec::new() };
        feeds.graph(&workflow.states, &workflow.start, Incoming::default());
        feeds.explicit_inputs(workflow);
        feeds
    }

    /// Propagates the previous output through one graph to a fixpoint.
    fn graph(&mut self, states: &'w [State], start: &str, initial: Incoming<'w>) {
        let index: HashMap<&str, usize> = states
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut incoming: Vec<Incoming<'w>> = vec![Incoming::default(); states.len()];
        let Some(&first) = index.get(start) else {
            return;
        };
        incoming[first] = initial;
        let mut queue = vec![first];
        let mut seen = vec![false; states.len()];
        seen[first] = true;
        while let Some(i) = queue.pop() {
            let state = &states[i];
            let out = match &state.kind {
                StateKind::Operation(op) if matches!(op.action, Action::AgentRun(_)) => {
                    let mut out = Incoming::default();
                    out.add(state);
                    out
                }
                StateKind::Inject { .. } | StateKind::Switch(_) => incoming[i].clone(),
                _ => Incoming::default(),
            };
            for (target, _) in targets(state) {
                let Some(&j) = index.get(target) else {
                    continue;
                };
                if incoming[j].merge(&out) || !seen[j] {
                    seen[j] = true;
                    queue.push(j);
                }
            }
        }
        for (i, state) in states.iter().enumerate() {
            if agent_call(state).is_some_and(|c| c.input.is_none()) && !incoming[i].refs.is_empty()
            {
                self.edges.push((state, incoming[i].refs.clone()));
            }
            match &state.kind {
                StateKind::Parallel(parallel) => {
                    for branch in &parallel.branches {
                        self.graph(
                            &branch.graph.states,
                            &branch.graph.start,
                            incoming[i].clone(),
                        );
                    }
                }
                StateKind::Foreach(foreach) => {
                    self.graph(
                        &foreach.iterator.states,
                        &foreach.iterator.start,
                        Incoming::default(),
                    );
                }
                _ => {}
            }
        }
    }

    /// `input: "{{ steps.check }}"` where `steps.check` is an agent's resultPath.
    fn explicit_inputs(&mut self, workflow: &'w Workflow) {
        let visits = states_of(workflow);
        let mut by_result: HashMap<Vec<&str>, &'w State> = HashMap::new();
        for visit in &visits {
            if agent_call(visit.state).is_some()
                && let StateKind::Operation(op) = &visit.state.kind
                && let Some(parts) = op.result_path.as_deref().and_then(path::segments)
            {
                by_result.insert(parts, visit.state);
            }
        }
        for visit in &visits {
            let Some(Value::String(text)) = agent_call(visit.state).and_then(|c| c.input.as_ref())
            else {
                continue;
            };
            let paths = paths_in(&Value::String(text.clone()));
            let whole = text.trim();
            let is_single = paths.len() == 1
                && (whole.starts_with("{{") && whole.ends_with("}}")
                    || whole.starts_with("${") && whole.ends_with('}'));
            if !is_single {
                continue;
            }
            if let Some(producer) =
                path::segments(&paths[0]).and_then(|p| by_result.get(&p).copied())
            {
                self.edges.push((visit.state, vec![producer]));
            }
        }
    }
}

#[cfg(test)]
mod tests;
