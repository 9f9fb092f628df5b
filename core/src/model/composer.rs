//! The composer graph front end (docs/language.md §5): `{id, name, tenant, version, tags,
//! nodes: [{id, type, name, <type object>}], edges: [{id, source, target, kind}]}`,
//! the shape a dashboard's workflow composer saves. Compiled to the same single
//! [`StateKind::Dag`](super::ir::StateKind::Dag) state as the DAG form
//! ([`super::dag`]): a node is a step named by its `id`, and an edge makes its
//! target depend on its source. Pure.
//!
//! Seed 000's server-side rules are enforced: a non-empty `name`, at least one
//! node and one edge (a lone node too: write one-step workflows in the DAG or
//! states form), unique node and edge ids, edges naming existing nodes, and
//! the requirements of each node type:
//!
//! | `type` | needs | runs |
//! |---|---|---|
//! | `signature` | `signature.prompt`, and an agent in `signature.agent` or `agent` | `agent.run`: task = the prompt, variables = the other `signature` fields (`runtime`, `tools`, `temperature`) |
//! | `verifier` | `verifier.command` | `shell.run` with the `verifier` object as params (`weight` included) |
//! | `deployment` | `deployment.{tenant, domain, channel}`; `tenant` defaults to the graph's | `signal.emit` of `{type: "deployment.requested", data: <deployment>}` |
//! | `agent` | `agent` (a name, or `{name, task, input, variables}`), `task` | `agent.run` |
//! | `approval` | nothing (`approval.{message, approvers, summaryPath, onReject}` optional) | `human.approval` |
//!
//! Edge kinds: `control` (the default) and `data` both order the target after
//! the source: a data edge means the target reads the source's output, which
//! exists only once the source is done. Any other kind is INVALID_VALUE.

mod edges;
mod nodes;

use super::dag::{assemble, condition, cycle_message, find_cycles, header, unknown_fields};
use super::diag::Diagnostics;
use super::ir::{DagStep, Workflow};
use super::parse::MAX_STATES;
use serde_json::{Map, Value};

/// The signal type a `deployment` node emits.
pub const DEPLOYMENT_SIGNAL: &str = "deployment.requested";

const TOP_LEVEL_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "tenant",
    "version",
    "tags",
    "inputSchema",
    "outputSchema",
    "trigger",
    "concurrency",
    "nodes",
    "edges",
];

/// Compiles a composer graph. Returns `None` when this call reported an
/// error; warnings alone still yield the workflow.
pub fn compile(document: &Map<String, Value>, diagnostics: &mut Diagnostics) -> Option<Workflow> {
    let errors_before = diagnostics.errors.len();
    unknown_fields(document, TOP_LEVEL_FIELDS, "", diagnostics);
    let header = header(document, diagnostics);
    let tenant = graph_fields(document, header.name.as_deref(), diagnostics);
    let nodes = list(document, "nodes", "node", diagnostics);
    let edges = list(document, "edges", "edge", diagnostics);
    let (Some(nodes), Some(edges)) = (nodes, edges) else {
        return None;
    };
    if nodes.len() > MAX_STATES {
        diagnostics.error(
            "DEFINITION_TOO_LARGE",
            "nodes",
            format!("{} nodes; the limit is {MAX_STATES}", nodes.len()),
        );
        return None;
    }
    let mut graph = Graph {
        diagnostics: &mut *diagnostics,
        tenant: tenant.as_deref(),
    };
    let ids = graph.node_ids(nodes);
    let deps = graph.edges(edges, &ids);
    let steps = graph.steps(nodes, &ids, &deps);
    cycles(&ids, &deps, diagnostics);
    let workflow = assemble(header, None, steps);
    (diagnostics.errors.len() == errors_before).then_some(workflow)
}

/// The graph's own fields: a non-empty `name`, a string `tenant` (returned),
/// `tags` a list of strings.
fn graph_fields(
    document: &Map<String, Value>,
    name: Option<&str>,
    diagnostics: &mut Diagnostics,
) -> Option<String> {
    if name.is_none_or(|n| n.trim().is_empty()) {
        diagnostics.error(
            "MISSING_FIELD",
            "name",
            "a composer workflow needs a non-empty `name`",
        );
    }
    let tenant = match document.get("tenant") {
        None => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(other) => {
            diagnostics.error(
                "INVALID_TYPE",
                "tenant",
                format!("tenant {other} must be a string"),
            );
            None
        }
    };
    if let Some(tags) = document.get("tags")
        && !tags
            .as_array()
            .is_some_and(|t| t.iter().all(Value::is_string))
    {
        diagnostics.error("INVALID_TYPE", "tags", "tags must be a list of strings");
    }
    tenant
}

/// DAG_CYCLE at the edge that closes each cycle.
fn cycles(ids: &[Option<String>], deps: &[Vec<(usize, usize)>], diagnostics: &mut Diagnostics) {
    let indices: Vec<Vec<usize>> = deps
        .iter()
        .map(|d| d.iter().map(|&(j, _)| j).collect())
        .collect();
    for cycle in find_cycles(&indices) {
        // The edge from the second member into the first closes the cycle.
        let edge = deps[cycle[0]]
            .iter()
            .find(|(j, _)| *j == cycle[1])
            .map_or(0, |&(_, e)| e);
        let name = |i: usize| ids[i].as_deref().unwrap_or("?");
        diagnostics.error(
            "DAG_CYCLE",
            format!("edges[{edge}]"),
            cycle_message(&cycle, name),
        );
    }
}

/// `nodes` or `edges`: a non-empty list, or MISSING_FIELD.
fn list<'d>(
    document: &'d Map<String, Value>,
    key: &str,
    what: &str,
    diagnostics: &mut Diagnostics,
) -> Option<&'d Vec<Value>> {
    match document.get(key) {
        Some(Value::Array(items)) if !items.is_empty() => Some(items),
        Some(Value::Array(_)) | None => {
            diagnostics.error(
                "MISSING_FIELD",
                key,
                format!("a composer workflow needs at least one {what} in `{key}`"),
            );
            None
        }
        Some(_) => {
            diagnostics.error("INVALID_TYPE", key, format!("{key} must be a list"));
            None
        }
    }
}

struct Graph<'a> {
    diagnostics: &'a mut Diagnostics,
    /// The graph's `tenant`: the default of a deployment's.
    tenant: Option<&'a str>,
}

impl Graph<'_> {
    /// Each node compiled to a step, depending on the sources of its edges.
    fn steps(
        &mut self,
        nodes: &[Value],
        ids: &[Option<String>],
        deps: &[Vec<(usize, usize)>],
    ) -> Vec<DagStep> {
        let mut steps = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let (Some(object), Some(id)) = (node.as_object(), &ids[i]) else {
                continue;
            };
            let path = format!("nodes[{i}]");
            if let Some(state) = self.node(object, id, &path) {
                let mut depends_on: Vec<String> = Vec::new();
                for &(j, _) in &deps[i] {
                    if let Some(dep) = &ids[j]
                        && !depends_on.contains(dep)
                    {
                        depends_on.push(dep.clone());
                    }
                }
                steps.push(DagStep {
                    state,
                    depends_on,
                    condition: condition(object, &path, self.diagnostics),
                });
            }
        }
        steps
    }

    fn error(&mut self, code: &str, path: impl Into<String>, message: impl Into<String>) {
        self.diagnostics.error(code, path, message);
    }
}

#[cfg(test)]
mod tests;
