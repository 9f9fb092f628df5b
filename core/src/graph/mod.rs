//! A compiled workflow as a graph of nodes and edges: what `junction graph`
//! renders as Mermaid and the web UI draws (`GET /v1/workflows/{id}/graph`).
//!
//! Every graph (the top level, each parallel branch, each foreach body) has
//! its own `start` node, and an `end` node when a state ends it. Parallel,
//! foreach and DAG states, and the branches of a parallel, are containers:
//! the nodes inside name them as their `parent`, and edges enter and leave
//! them as a whole. Switch cases are edges labelled with their condition
//! (`default` for `defaultNext`); `catch` edges are marked. Node ids are
//! derived from state names, reduced to `[A-Za-z0-9_]` and made unique.
//! Nodes come in declaration order: a container before what it holds.
//!
//! A node's `path` is its state's path as run steps carry it, with foreach
//! item indices left out (`each/check` for the steps `each[0]/check`,
//! `each[1]/check`, …), so a run's steps can be laid on the graph.
//! [`mermaid`] renders a graph as Mermaid source.

mod mermaid;

pub use mermaid::mermaid;

use crate::model::{
    Action, CatchRule, Dag, Foreach, Parallel, State, StateKind, Transition, Workflow,
};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// A workflow's graph.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Start,
    End,
    Operation,
    Inject,
    Transform,
    Switch,
    /// A container: one `Branch` per branch.
    Parallel,
    /// A container: a parallel's branch.
    Branch,
    /// A container: the item body.
    Foreach,
    /// A container: its steps.
    Dag,
}

impl NodeKind {
    /// Whether other nodes sit inside it.
    pub fn is_container(self) -> bool {
        matches!(
            self,
            Self::Parallel | Self::Branch | Self::Foreach | Self::Dag
        )
    }
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub id: String,
    pub kind: NodeKind,
    /// Text lines: the state's name, then what it does.
    pub label: Vec<String>,
    /// The container it sits in; `None` at the top level.
    pub parent: Option<String>,
    /// The state's step path without item indices; `None` for start, end
    /// and branch nodes.
    pub path: Option<String>,
}

/// One edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// A switch condition, `default`, a DAG step's condition, or the errors
    /// a catch takes.
    pub label: Option<String>,
    /// A `catch` rule's edge, taken on an error.
    pub catch: bool,
}

/// The graph of `workflow`. Pure.
pub fn graph(workflow: &Workflow) -> Graph {
    let mut builder = Builder::default();
    builder.graph(&workflow.states, &workflow.start, "", None);
    builder.graph
}

/// What an id stands for; the same name may be a state and a branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IdKind {
    State,
    Start,
    End,
    Branch,
}

#[derive(Default)]
struct Builder {
    graph: Graph,
    ids: HashMap<(IdKind, String, String), String>,
    used: HashSet<String>,
}

impl Builder {
    /// The id of `name` in `scope`, the same on every call.
    fn id(&mut self, kind: IdKind, scope: &str, name: &str) -> String {
        let key = (kind, scope.to_owned(), name.to_owned());
        if let Some(id) = self.ids.get(&key) {
            return id.clone();
        }
        let joined = [scope, name]
            .iter()
            .filter(|part| !part.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("__");
        let base = match kind {
            IdKind::State => format!("s_{}", sanitize(&joined)),
            IdKind::Branch => format!("b_{}", sanitize(&joined)),
            IdKind::Start if joined.is_empty() => "start".to_owned(),
            IdKind::Start => format!("start_{}", sanitize(&joined)),
            IdKind::End if joined.is_empty() => "finish".to_owned(),
            IdKind::End => format!("finish_{}", sanitize(&joined)),
        };
        let mut id = base.clone();
        let mut n = 2;
        while !self.used.insert(id.clone()) {
            id = format!("{base}_{n}");
            n += 1;
        }
        self.ids.insert(key, id.clone());
        id
    }

    fn node(
        &mut self,
        id: &str,
        kind: NodeKind,
        label: Vec<String>,
        parent: Option<&str>,
        path: Option<String>,
    ) {
        self.graph.nodes.push(Node {
            id: id.to_owned(),
            kind,
            label,
            parent: parent.map(str::to_owned),
            path,
        });
    }

    fn edge(&mut self, from: &str, to: &str, label: Option<&str>) {
        self.graph.edges.push(Edge {
            from: from.to_owned(),
            to: to.to_owned(),
            label: label.map(str::to_owned),
            catch: false,
        });
    }

    /// One graph with its start and end: the top level, a branch or a body.
    fn graph(&mut self, states: &[State], start: &str, scope: &str, parent: Option<&str>) {
        let start_id = self.id(IdKind::Start, scope, "");
        self.node(
            &start_id,
            NodeKind::Start,
            vec!["start".to_owned()],
            parent,
            None,
        );
        let first = self.id(IdKind::State, scope, start);
        self.edge(&start_id, &first, None);
        for state in states {
            self.state(state, scope, parent, None);
            self.transition(state, scope);
        }
        if states.iter().any(|s| s.transition == Transition::End) {
            let end_id = self.id(IdKind::End, scope, "");
            self.node(&end_id, NodeKind::End, vec!["end".to_owned()], parent, None);
        }
    }

    /// Adds a state (a node, or a container for the compound kinds) and
    /// the edges its kind implies; `note` is an extra label line.
    fn state(&mut self, state: &State, scope: &str, parent: Option<&str>, note: Option<String>) {
        let id = self.id(IdKind::State, scope, &state.name);
        let mut lines = vec![state.name.clone()];
        let inner = child_scope(scope, &state.name);
        let path = Some(step_path(&inner));
        match &state.kind {
            StateKind::Operation(operation) => {
                lines.push(action_label(&operation.action));
                lines.extend(note);
                self.node(&id, NodeKind::Operation, lines, parent, path);
            }
            StateKind::Inject { .. } => {
                lines.push("inject".to_owned());
                lines.extend(note);
                self.node(&id, NodeKind::Inject, lines, parent, path);
            }
            StateKind::Transform(_) => {
                lines.push("transform".to_owned());
                lines.extend(note);
                self.node(&id, NodeKind::Transform, lines, parent, path);
            }
            StateKind::Switch(switch) => {
                lines.extend(note);
                self.node(&id, NodeKind::Switch, lines, parent, path);
                for case in &switch.conditions {
                    let target = self.id(IdKind::State, scope, &case.next);
                    self.edge(&id, &target, Some(&case.condition));
                }
                if let Some(default) = &switch.default_next {
                    let target = self.id(IdKind::State, scope, default);
                    self.edge(&id, &target, Some("default"));
                }
            }
            StateKind::Parallel(parallel) => {
                lines.push("parallel".to_owned());
                lines.extend(note);
                self.node(&id, NodeKind::Parallel, lines, parent, path);
                self.parallel(&id, parallel, &inner);
            }
            StateKind::Foreach(foreach) => {
                lines.push(format!(
                    "foreach {} in {}",
                    foreach.item_name, foreach.items_path
                ));
                lines.extend(note);
                self.node(&id, NodeKind::Foreach, lines, parent, path);
                self.foreach(&id, foreach, &inner);
            }
            StateKind::Dag(dag) => {
                lines.push("dag".to_owned());
                lines.extend(note);
                self.node(&id, NodeKind::Dag, lines, parent, path);
                self.dag(&id, dag, &inner);
            }
        }
        for rule in &state.catch {
            let target = self.id(IdKind::State, scope, &rule.next);
            self.graph.edges.push(Edge {
                from: id.clone(),
                to: target,
                label: Some(catch_label(rule)),
                catch: true,
            });
        }
    }

    fn transition(&mut self, state: &State, scope: &str) {
        let id = self.id(IdKind::State, scope, &state.name);
        match &state.transition {
            Transition::Next(next) => {
                let target = self.id(IdKind::State, scope, next);
                self.edge(&id, &target, None);
            }
            Transition::End => {
                let end = self.id(IdKind::End, scope, "");
                self.edge(&id, &end, None);
            }
            Transition::Decided => {}
        }
    }

    fn parallel(&mut self, id: &str, parallel: &Parallel, inner: &str) {
        for branch in &parallel.branches {
            let branch_id = self.id(IdKind::Branch, inner, &branch.name);
            let branch_scope = child_scope(inner, &branch.name);
            self.node(
                &branch_id,
                NodeKind::Branch,
                vec![branch.name.clone()],
                Some(id),
                None,
            );
            self.graph(
                &branch.graph.states,
                &branch.graph.start,
                &branch_scope,
                Some(&branch_id),
            );
        }
    }

    fn foreach(&mut self, id: &str, foreach: &Foreach, inner: &str) {
        self.graph(
            &foreach.iterator.states,
            &foreach.iterator.start,
            inner,
            Some(id),
        );
    }

    /// Steps as nodes with an edge from each dependency; a step's
    /// condition is a label line. Steps have no `next`: no end edges.
    fn dag(&mut self, id: &str, dag: &Dag, inner: &str) {
        for step in &dag.steps {
            let condition = step.condition.as_ref().map(|c| format!("if {c}"));
            self.state(&step.state, inner, Some(id), condition);
            let step_id = self.id(IdKind::State, inner, &step.state.name);
            for dependency in &step.depends_on {
                let from = self.id(IdKind::State, inner, dependency);
                self.edge(&from, &step_id, None);
            }
        }
    }
}

/// Scopes nest with a separator no name can hold, so distinct nestings
/// never share a key; ids are sanitized separately.
fn child_scope(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}\u{0}{name}")
    }
}

/// The step path of a state's scope (`both\0a\0a1` → `both/a/a1`).
fn step_path(scope: &str) -> String {
    scope.replace('\u{0}', "/")
}

/// A run step's path as a graph node's: item indices left out
/// (`each[3]/check` → `each/check`).
pub fn node_path(step_path: &str) -> String {
    let mut out = String::with_capacity(step_path.len());
    let mut rest = step_path;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close) if after[..close].bytes().all(|b| b.is_ascii_digit()) => {
                rest = &after[close + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn action_label(action: &Action) -> String {
    match action {
        Action::AgentRun(call) => format!("agent.run: {}", call.agent),
        Action::SignalWait(wait) => format!("signal.wait: {}", wait.signal),
        other => other.name().to_owned(),
    }
}

fn catch_label(rule: &CatchRule) -> String {
    if rule.errors.is_empty() {
        "catch".to_owned()
    } else {
        format!("catch: {}", rule.errors.join(", "))
    }
}

/// `[A-Za-z0-9_]` only; anything else becomes `_`.
fn sanitize(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if cleaned.is_empty() {
        "_".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SourceFormat, compile};

    fn compiled(source: &str) -> Workflow {
        let compiled = compile(source, SourceFormat::Yaml);
        compiled
            .workflow
            .unwrap_or_else(|| panic!("{:?}", compiled.diagnostics.errors))
    }

    const NESTED: &str = r#"
id: nested
states:
  - name: both
    type: parallel
    branches:
      - name: a
        states:
          - { name: a1, type: agent, agent: echo, end: true }
      - name: b
        states:
          - { name: b1, type: agent, agent: echo, end: true }
    catch: [{ next: rescued }]
    next: each
  - name: each
    type: foreach
    itemsPath: ctx.items
    itemName: item
    iterator:
      states:
        - { name: check, type: agent, agent: echo, end: true }
    end: true
  - { name: rescued, type: inject, data: {}, end: true }
"#;

    #[test]
    fn containers_hold_their_nodes_and_paths_match_run_steps() {
        let graph = graph(&compiled(NESTED));
        let node = |id: &str| {
            graph
                .nodes
                .iter()
                .find(|n| n.id == id)
                .unwrap_or_else(|| panic!("no node {id} in {graph:?}"))
        };
        assert_eq!(node("s_both").kind, NodeKind::Parallel);
        assert_eq!(node("b_both__a").parent.as_deref(), Some("s_both"));
        assert_eq!(node("s_both_a__a1").parent.as_deref(), Some("b_both__a"));
        assert_eq!(node("s_both_a__a1").path.as_deref(), Some("both/a/a1"));
        assert_eq!(node("s_each__check").parent.as_deref(), Some("s_each"));
        assert_eq!(node("s_each__check").path.as_deref(), Some("each/check"));
        assert_eq!(node("start").parent, None);
        assert_eq!(node("start_each").parent.as_deref(), Some("s_each"));
        // A container comes before what it holds.
        let position = |id: &str| graph.nodes.iter().position(|n| n.id == id);
        assert!(position("s_both") < position("b_both__a"));
        assert!(position("b_both__a") < position("s_both_a__a1"));
        assert!(graph.edges.contains(&Edge {
            from: "s_both".into(),
            to: "s_rescued".into(),
            label: Some("catch".into()),
            catch: true,
        }));
        // Every edge joins nodes that exist.
        for edge in &graph.edges {
            node(&edge.from);
            node(&edge.to);
        }
    }

    #[test]
    fn a_steps_path_drops_item_indices_only() {
        assert_eq!(node_path("each[3]/check"), "each/check");
        assert_eq!(node_path("outer[0]/inner[12]/x"), "outer/inner/x");
        assert_eq!(node_path("plain"), "plain");
        assert_eq!(node_path("odd[x]/y"), "odd[x]/y");
    }

    #[test]
    fn the_graph_serializes_with_snake_case_kinds() {
        let graph = graph(&compiled(NESTED));
        let json = serde_json::to_value(&graph).unwrap_or_default();
        assert_eq!(json["nodes"][0]["kind"], "start");
        assert!(json["nodes"].as_array().is_some_and(|nodes| {
            nodes
                .iter()
                .any(|n| n["kind"] == "foreach" && n["path"] == "each")
        }));
    }
}
