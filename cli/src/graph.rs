//! `junction graph`: a compiled workflow as a Mermaid `flowchart TD`.
//!
//! Every graph (the top level, each parallel branch, each foreach body) has
//! its own `start` and `end` circles. Parallel, foreach and DAG states are
//! subgraphs that edges enter and leave as a whole; switch cases are edges
//! labelled with their condition (`default` for `defaultNext`); `catch`
//! edges are dashed. Node ids are derived from state names, reduced to
//! `[A-Za-z0-9_]` and made unique; labels are escaped. Rendering is pure.

use crate::render::Style;
use crate::validate;
use junction_core::model::{
    Action, CatchRule, Dag, Foreach, Parallel, State, StateKind, Transition, Workflow,
};
use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

/// `junction graph FILE`: the chart on stdout, or the file's diagnostics on
/// stderr (exit 1; 2 when it cannot be read).
pub fn run(path: &Path) -> ExitCode {
    let checked = match validate::check_file(path, None) {
        Ok(checked) => checked,
        Err(error) => {
            eprintln!("error: {}", error.message);
            return ExitCode::from(2);
        }
    };
    match &checked.compiled.workflow {
        Some(workflow) => {
            print!("{}", mermaid(workflow));
            ExitCode::SUCCESS
        }
        None => {
            let style = Style {
                color: validate::use_color(std::io::stderr().is_terminal()),
            };
            eprint!("{}", checked.text(style));
            ExitCode::FAILURE
        }
    }
}

/// The workflow as Mermaid flowchart source.
pub fn mermaid(workflow: &Workflow) -> String {
    let mut chart = Chart::default();
    chart.graph(&workflow.states, &workflow.start, "", 1);
    let mut out = String::from("flowchart TD\n");
    out.push_str(&chart.nodes);
    for edge in &chart.edges {
        out.push_str("    ");
        out.push_str(edge);
        out.push('\n');
    }
    out
}

/// What an id stands for; the same name may be a state and a branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    State,
    Start,
    End,
    Branch,
}

#[derive(Default)]
struct Chart {
    /// Node and subgraph declarations, in nesting order.
    nodes: String,
    /// Edges, written after every node so each node is declared in its subgraph.
    edges: Vec<String>,
    ids: HashMap<(Kind, String, String), String>,
    used: HashSet<String>,
}

impl Chart {
    /// The id of `name` in `scope`, the same on every call.
    fn id(&mut self, kind: Kind, scope: &str, name: &str) -> String {
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
            Kind::State => format!("s_{}", sanitize(&joined)),
            Kind::Branch => format!("b_{}", sanitize(&joined)),
            Kind::Start if joined.is_empty() => "start".to_owned(),
            Kind::Start => format!("start_{}", sanitize(&joined)),
            Kind::End if joined.is_empty() => "finish".to_owned(),
            Kind::End => format!("finish_{}", sanitize(&joined)),
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

    fn line(&mut self, indent: usize, text: &str) {
        self.nodes.push_str(&"    ".repeat(indent));
        self.nodes.push_str(text);
        self.nodes.push('\n');
    }

    fn edge(&mut self, from: &str, to: &str, label: Option<&str>) {
        self.edges.push(match label {
            Some(label) => format!("{from} -->|\"{}\"| {to}", escape(label)),
            None => format!("{from} --> {to}"),
        });
    }

    /// One graph with its start and end: the top level, a branch or a body.
    fn graph(&mut self, states: &[State], start: &str, scope: &str, indent: usize) {
        let start_id = self.id(Kind::Start, scope, "");
        self.line(indent, &format!("{start_id}((\"start\"))"));
        let first = self.id(Kind::State, scope, start);
        self.edge(&start_id, &first, None);
        for state in states {
            self.state(state, scope, indent, None);
            self.transition(state, scope);
        }
        if states.iter().any(|s| s.transition == Transition::End) {
            let end_id = self.id(Kind::End, scope, "");
            self.line(indent, &format!("{end_id}((\"end\"))"));
        }
    }

    /// Declares a state (a node, or a subgraph for the compound kinds) and
    /// the edges its kind implies; `note` is an extra label line.
    fn state(&mut self, state: &State, scope: &str, indent: usize, note: Option<String>) {
        let id = self.id(Kind::State, scope, &state.name);
        let mut lines = vec![state.name.clone()];
        let inner = child_scope(scope, &state.name);
        match &state.kind {
            StateKind::Operation(operation) => {
                lines.push(action_label(&operation.action));
                lines.extend(note);
                self.line(indent, &format!("{id}[\"{}\"]", label(&lines)));
            }
            StateKind::Inject { .. } => {
                lines.push("inject".to_owned());
                lines.extend(note);
                self.line(indent, &format!("{id}[/\"{}\"/]", label(&lines)));
            }
            StateKind::Transform(_) => {
                lines.push("transform".to_owned());
                lines.extend(note);
                self.line(indent, &format!("{id}[/\"{}\"/]", label(&lines)));
            }
            StateKind::Switch(switch) => {
                lines.extend(note);
                self.line(indent, &format!("{id}{{\"{}\"}}", label(&lines)));
                for case in &switch.conditions {
                    let target = self.id(Kind::State, scope, &case.next);
                    self.edge(&id, &target, Some(&case.condition));
                }
                if let Some(default) = &switch.default_next {
                    let target = self.id(Kind::State, scope, default);
                    self.edge(&id, &target, Some("default"));
                }
            }
            StateKind::Parallel(parallel) => {
                self.parallel(&id, &lines, note, parallel, &inner, indent);
            }
            StateKind::Foreach(foreach) => {
                self.foreach(&id, &lines, note, foreach, &inner, indent);
            }
            StateKind::Dag(dag) => self.dag(&id, &lines, note, dag, &inner, indent),
        }
        for rule in &state.catch {
            let target = self.id(Kind::State, scope, &rule.next);
            self.edges.push(format!(
                "{id} -.->|\"{}\"| {target}",
                escape(&catch_label(rule))
            ));
        }
    }

    fn transition(&mut self, state: &State, scope: &str) {
        let id = self.id(Kind::State, scope, &state.name);
        match &state.transition {
            Transition::Next(next) => {
                let target = self.id(Kind::State, scope, next);
                self.edge(&id, &target, None);
            }
            Transition::End => {
                let end = self.id(Kind::End, scope, "");
                self.edge(&id, &end, None);
            }
            Transition::Decided => {}
        }
    }

    fn parallel(
        &mut self,
        id: &str,
        lines: &[String],
        note: Option<String>,
        parallel: &Parallel,
        inner: &str,
        indent: usize,
    ) {
        let mut title = lines.to_vec();
        title.push("parallel".to_owned());
        title.extend(note);
        self.line(indent, &format!("subgraph {id}[\"{}\"]", label(&title)));
        for branch in &parallel.branches {
            let branch_id = self.id(Kind::Branch, inner, &branch.name);
            let branch_scope = child_scope(inner, &branch.name);
            self.line(
                indent + 1,
                &format!("subgraph {branch_id}[\"{}\"]", escape(&branch.name)),
            );
            self.graph(
                &branch.graph.states,
                &branch.graph.start,
                &branch_scope,
                indent + 2,
            );
            self.line(indent + 1, "end");
        }
        self.line(indent, "end");
    }

    fn foreach(
        &mut self,
        id: &str,
        lines: &[String],
        note: Option<String>,
        foreach: &Foreach,
        inner: &str,
        indent: usize,
    ) {
        let mut title = lines.to_vec();
        title.push(format!(
            "foreach {} in {}",
            foreach.item_name, foreach.items_path
        ));
        title.extend(note);
        self.line(indent, &format!("subgraph {id}[\"{}\"]", label(&title)));
        self.graph(
            &foreach.iterator.states,
            &foreach.iterator.start,
            inner,
            indent + 1,
        );
        self.line(indent, "end");
    }

    /// Steps as nodes with an edge from each dependency; a step's
    /// condition is a label line. Steps have no `next`: no end edges.
    fn dag(
        &mut self,
        id: &str,
        lines: &[String],
        note: Option<String>,
        dag: &Dag,
        inner: &str,
        indent: usize,
    ) {
        let mut title = lines.to_vec();
        title.push("dag".to_owned());
        title.extend(note);
        self.line(indent, &format!("subgraph {id}[\"{}\"]", label(&title)));
        for step in &dag.steps {
            let condition = step.condition.as_ref().map(|c| format!("if {c}"));
            self.state(&step.state, inner, indent + 1, condition);
            let step_id = self.id(Kind::State, inner, &step.state.name);
            for dependency in &step.depends_on {
                let from = self.id(Kind::State, inner, dependency);
                self.edge(&from, &step_id, None);
            }
        }
        self.line(indent, "end");
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

/// Label lines, escaped and joined with Mermaid line breaks.
fn label(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| escape(line))
        .collect::<Vec<_>>()
        .join("<br/>")
}

/// Text safe inside a quoted Mermaid label: quotes and the characters
/// Mermaid or HTML would read become entity codes; line breaks become spaces.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#38;"),
            '<' => out.push_str("#60;"),
            '>' => out.push_str("#62;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
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
mod tests;
