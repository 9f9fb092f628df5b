//! The composer graph front end (seed 000): `{id, name, tenant, version, tags,
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

use super::dag::{
    StepOptions, agent_name, approval, assemble, condition, cycle_message, find_cycles, header,
    is_valid_step_name, operation_state, step_options, unknown_fields,
};
use super::diag::Diagnostics;
use super::ir::{Action, AgentCall, DagStep, ExecutorCall, Workflow};
use super::parse::MAX_STATES;
use serde_json::{Map, Value};
use std::collections::HashMap;

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
    "nodes",
    "edges",
];

/// Fields any node may have. `position` and `metadata` are the composer's own.
const NODE_FIELDS: &[&str] = &[
    "id",
    "type",
    "name",
    "description",
    "position",
    "metadata",
    "condition",
    "retries",
    "timeout",
    "timeoutSeconds",
    "resultPath",
];

/// Fields one node type reads besides [`NODE_FIELDS`].
fn type_fields(node_type: &str) -> &'static [&'static str] {
    match node_type {
        "signature" => &["signature", "agent", "input"],
        "verifier" => &["verifier"],
        "deployment" => &["deployment"],
        "agent" => &["agent", "task", "prompt", "input", "variables"],
        "approval" => &[
            "approval",
            "message",
            "approvers",
            "summaryPath",
            "onReject",
        ],
        _ => &[],
    }
}

const EDGE_FIELDS: &[&str] = &["id", "source", "target", "kind", "label"];

/// Compiles a composer graph. Returns `None` when this call reported an
/// error; warnings alone still yield the workflow.
pub fn compile(document: &Map<String, Value>, diagnostics: &mut Diagnostics) -> Option<Workflow> {
    let errors_before = diagnostics.errors.len();
    unknown_fields(document, TOP_LEVEL_FIELDS, "", diagnostics);
    let header = header(document, diagnostics);
    if header.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
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
    let mut steps = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let (Some(object), Some(id)) = (node.as_object(), &ids[i]) else {
            continue;
        };
        let path = format!("nodes[{i}]");
        if let Some(state) = graph.node(object, id, &path) {
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
                condition: condition(object, &path, graph.diagnostics),
            });
        }
    }
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
    let workflow = assemble(header, None, steps);
    (diagnostics.errors.len() == errors_before).then_some(workflow)
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
    fn error(&mut self, code: &str, path: impl Into<String>, message: impl Into<String>) {
        self.diagnostics.error(code, path, message);
    }

    /// Each node's id, when valid; a duplicate keeps its id (for dependency
    /// lookups the first node with it counts) and is DUPLICATE_STATE.
    fn node_ids(&mut self, nodes: &[Value]) -> Vec<Option<String>> {
        let mut seen = HashMap::new();
        let mut ids = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let path = format!("nodes[{i}]");
            let id = match node.as_object().map(|o| o.get("id")) {
                None => {
                    self.error("INVALID_TYPE", &path, "a node must be a mapping");
                    None
                }
                Some(Some(Value::String(id))) if is_valid_step_name(id) => Some(id.clone()),
                Some(Some(other)) => {
                    self.error(
                        "INVALID_ID",
                        format!("{path}.id"),
                        format!("node id {other} must match [A-Za-z0-9_-]{{1,128}}"),
                    );
                    None
                }
                Some(None) => {
                    self.error(
                        "MISSING_FIELD",
                        format!("{path}.id"),
                        "a node needs an `id`",
                    );
                    None
                }
            };
            if let Some(id) = &id
                && let Some(&first) = seen.get(id)
            {
                self.error(
                    "DUPLICATE_STATE",
                    format!("{path}.id"),
                    format!("node id `{id}` is used twice (first by nodes[{first}])"),
                );
            }
            if let Some(id) = &id {
                seen.entry(id.clone()).or_insert(i);
            }
            ids.push(id);
        }
        ids
    }

    /// Per node, what it depends on: `(node index, edge index)` pairs.
    fn edges(&mut self, edges: &[Value], ids: &[Option<String>]) -> Vec<Vec<(usize, usize)>> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, id) in ids.iter().enumerate() {
            if let Some(id) = id {
                index.entry(id.as_str()).or_insert(i);
            }
        }
        let mut deps = vec![Vec::new(); ids.len()];
        let mut seen_ids: HashMap<String, usize> = HashMap::new();
        for (e, edge) in edges.iter().enumerate() {
            let path = format!("edges[{e}]");
            let Some(object) = edge.as_object() else {
                self.error("INVALID_TYPE", path, "an edge must be a mapping");
                continue;
            };
            unknown_fields(object, EDGE_FIELDS, &path, self.diagnostics);
            match object.get("id") {
                None => {}
                Some(Value::String(id)) if !id.is_empty() => {
                    if let Some(first) = seen_ids.get(id) {
                        self.error(
                            "DUPLICATE_EDGE",
                            format!("{path}.id"),
                            format!("edge id `{id}` is used twice (first by edges[{first}])"),
                        );
                    } else {
                        seen_ids.insert(id.clone(), e);
                    }
                }
                Some(other) => self.error(
                    "INVALID_ID",
                    format!("{path}.id"),
                    format!("edge id {other} must be a non-empty string"),
                ),
            }
            match object.get("kind") {
                None | Some(Value::Null) => {}
                Some(Value::String(kind)) if kind == "control" || kind == "data" => {}
                Some(other) => self.error(
                    "INVALID_VALUE",
                    format!("{path}.kind"),
                    format!("edge kind {other} must be `control` or `data`"),
                ),
            }
            let mut end = |key: &str| -> Option<usize> {
                let at = format!("{path}.{key}");
                match object.get(key) {
                    Some(Value::String(id)) => match index.get(id.as_str()) {
                        Some(&i) => Some(i),
                        None => {
                            self.diagnostics.error(
                                "DANGLING_TARGET",
                                at,
                                format!("edge {key} `{id}` names no node"),
                            );
                            None
                        }
                    },
                    Some(other) => {
                        self.diagnostics.error(
                            "INVALID_TYPE",
                            at,
                            format!("edge {key} {other} must be a node id"),
                        );
                        None
                    }
                    None => {
                        self.diagnostics.error(
                            "MISSING_FIELD",
                            at,
                            format!("an edge needs a `{key}` node id"),
                        );
                        None
                    }
                }
            };
            let (source, target) = (end("source"), end("target"));
            let (Some(source), Some(target)) = (source, target) else {
                continue;
            };
            if source == target {
                let id = ids[source].as_deref().unwrap_or("?");
                self.error(
                    "DAG_CYCLE",
                    path,
                    format!("edge from `{id}` to itself: a node cannot depend on itself"),
                );
                continue;
            }
            if !deps[target].iter().any(|&(j, _)| j == source) {
                deps[target].push((source, e));
            }
        }
        deps
    }

    fn node(
        &mut self,
        object: &Map<String, Value>,
        id: &str,
        path: &str,
    ) -> Option<super::ir::State> {
        let node_type = match object.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(other) => {
                self.error(
                    "INVALID_TYPE",
                    format!("{path}.type"),
                    format!("node type {other} must be a string"),
                );
                return None;
            }
            None => {
                self.error(
                    "MISSING_FIELD",
                    format!("{path}.type"),
                    "a node needs a `type`",
                );
                return None;
            }
        };
        let known = type_fields(node_type);
        if known.is_empty() {
            self.error(
                "UNKNOWN_STEP_TYPE",
                format!("{path}.type"),
                format!(
                    "unknown node type `{node_type}` (known: signature, verifier, deployment, agent, approval)"
                ),
            );
            return None;
        }
        let mut all: Vec<&str> = NODE_FIELDS.to_vec();
        all.extend_from_slice(known);
        unknown_fields(object, &all, path, self.diagnostics);
        let action = match node_type {
            "signature" => self.signature(object, path)?,
            "verifier" => self.verifier(object, path)?,
            "deployment" => self.deployment(object, path)?,
            "agent" => self.agent(object, path)?,
            _ => {
                let at = format!("{path}.approval");
                let gate = match object.get("approval") {
                    Some(Value::Object(inner)) => approval(inner, &at, self.diagnostics),
                    Some(_) => {
                        self.error("INVALID_TYPE", at, "approval must be a mapping");
                        return None;
                    }
                    None => approval(object, path, self.diagnostics),
                };
                Action::HumanApproval(gate)
            }
        };
        Some(self.finish(object, id, path, action))
    }

    fn finish(
        &mut self,
        object: &Map<String, Value>,
        id: &str,
        path: &str,
        action: Action,
    ) -> super::ir::State {
        let options: StepOptions = step_options(object, id, path, None, self.diagnostics);
        operation_state(id, action, options)
    }

    /// The node's `<key>` object, or MISSING_FIELD / INVALID_TYPE.
    fn typed_object<'o>(
        &mut self,
        object: &'o Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<&'o Map<String, Value>> {
        match object.get(key) {
            Some(Value::Object(inner)) => Some(inner),
            Some(_) => {
                self.error(
                    "INVALID_TYPE",
                    format!("{path}.{key}"),
                    format!("`{key}` must be a mapping"),
                );
                None
            }
            None => {
                self.error(
                    "MISSING_FIELD",
                    format!("{path}.{key}"),
                    format!("a {key} node needs a `{key}` mapping"),
                );
                None
            }
        }
    }

    /// A non-empty string at `object[key]`, or MISSING_FIELD naming `what`.
    fn required_text<'o>(
        &mut self,
        object: &'o Map<String, Value>,
        key: &str,
        path: &str,
        what: &str,
    ) -> Option<&'o Value> {
        match object.get(key) {
            Some(value @ Value::String(s)) if !s.trim().is_empty() => Some(value),
            _ => {
                self.error("MISSING_FIELD", format!("{path}.{key}"), what.to_owned());
                None
            }
        }
    }

    fn signature(&mut self, object: &Map<String, Value>, path: &str) -> Option<Action> {
        let inner_path = format!("{path}.signature");
        let signature = self.typed_object(object, "signature", path)?;
        let prompt = self.required_text(
            signature,
            "prompt",
            &inner_path,
            "a signature node needs `signature.prompt`",
        );
        let agent = match (signature.get("agent"), object.get("agent")) {
            (Some(agent), _) => agent_name(
                Some(agent),
                &format!("{inner_path}.agent"),
                self.diagnostics,
            ),
            (None, Some(agent)) => {
                agent_name(Some(agent), &format!("{path}.agent"), self.diagnostics)
            }
            (None, None) => {
                self.error(
                    "MISSING_FIELD",
                    format!("{inner_path}.agent"),
                    "a signature node runs its prompt on an agent: name it in `signature.agent` (or the node's `agent`)",
                );
                None
            }
        };
        let (prompt, agent) = (prompt?, agent?);
        let settings: Map<String, Value> = signature
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "prompt" | "agent"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Some(Action::AgentRun(AgentCall {
            agent,
            task: Some(prompt.clone()),
            input: object.get("input").cloned(),
            variables: (!settings.is_empty()).then_some(Value::Object(settings)),
            timeout_seconds: None,
        }))
    }

    fn verifier(&mut self, object: &Map<String, Value>, path: &str) -> Option<Action> {
        let verifier = self.typed_object(object, "verifier", path)?;
        self.required_text(
            verifier,
            "command",
            &format!("{path}.verifier"),
            "a verifier node needs `verifier.command`",
        )?;
        Some(Action::Executor(ExecutorCall {
            executor: "shell.run".to_owned(),
            params: Value::Object(verifier.clone()),
        }))
    }

    fn deployment(&mut self, object: &Map<String, Value>, path: &str) -> Option<Action> {
        let inner_path = format!("{path}.deployment");
        let deployment = self.typed_object(object, "deployment", path)?;
        let mut data = deployment.clone();
        if !data.contains_key("tenant")
            && let Some(tenant) = self.tenant
        {
            data.insert("tenant".to_owned(), Value::String(tenant.to_owned()));
        }
        let mut complete = true;
        for key in ["tenant", "domain", "channel"] {
            let what = if key == "tenant" {
                "a deployment node needs `deployment.tenant` (or a graph-level `tenant`)".to_owned()
            } else {
                format!("a deployment node needs `deployment.{key}`")
            };
            complete &= self.required_text(&data, key, &inner_path, &what).is_some();
        }
        if !complete {
            return None;
        }
        let mut params = Map::new();
        params.insert(
            "type".to_owned(),
            Value::String(DEPLOYMENT_SIGNAL.to_owned()),
        );
        params.insert("data".to_owned(), Value::Object(data));
        Some(Action::Executor(ExecutorCall {
            executor: "signal.emit".to_owned(),
            params: Value::Object(params),
        }))
    }

    /// `agent: <name>` with `task`/`prompt`, `input`, `variables` on the node,
    /// or `agent: {name, task, input, variables}`.
    fn agent(&mut self, object: &Map<String, Value>, path: &str) -> Option<Action> {
        let (fields, at, name_key) = match object.get("agent") {
            Some(Value::Object(inner)) => {
                let key = if inner.contains_key("name") {
                    "name"
                } else {
                    "agent"
                };
                (inner, format!("{path}.agent"), key)
            }
            _ => (object, path.to_owned(), "agent"),
        };
        let agent = agent_name(
            fields.get(name_key),
            &format!("{at}.{name_key}"),
            self.diagnostics,
        )?;
        let task = fields
            .get("task")
            .or_else(|| fields.get("prompt"))
            .or_else(|| object.get("task"))
            .cloned();
        Some(Action::AgentRun(AgentCall {
            agent,
            task,
            input: fields.get("input").or_else(|| object.get("input")).cloned(),
            variables: fields
                .get("variables")
                .or_else(|| object.get("variables"))
                .cloned(),
            timeout_seconds: None,
        }))
    }
}

#[cfg(test)]
mod tests;
