//! A graph as Mermaid `flowchart TD` source (what `junction graph` prints
//! and `GET /v1/workflows/{id}/graph` carries as `mermaid`): containers as
//! subgraphs, catch edges dashed, labels escaped. Pure.

use super::{Edge, Graph, NodeKind};

/// `graph` as Mermaid flowchart source: the nodes in declaration order
/// (containers as subgraphs around their own nodes), then every edge.
pub fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart TD\n");
    declare(graph, None, 1, &mut out);
    for edge in &graph.edges {
        out.push_str("    ");
        out.push_str(&edge_line(edge));
        out.push('\n');
    }
    out
}

/// Declares the nodes inside `parent` (the top level for `None`), each
/// container as a subgraph around its own nodes.
fn declare(graph: &Graph, parent: Option<&str>, indent: usize, out: &mut String) {
    let pad = "    ".repeat(indent);
    for node in graph.nodes.iter().filter(|n| n.parent.as_deref() == parent) {
        let (id, text) = (&node.id, label(&node.label));
        let line = match node.kind {
            kind if kind.is_container() => {
                out.push_str(&format!("{pad}subgraph {id}[\"{text}\"]\n"));
                declare(graph, Some(id), indent + 1, out);
                "end".to_owned()
            }
            NodeKind::Start | NodeKind::End => format!("{id}((\"{text}\"))"),
            NodeKind::Inject | NodeKind::Transform => format!("{id}[/\"{text}\"/]"),
            NodeKind::Switch => format!("{id}{{\"{text}\"}}"),
            _ => format!("{id}[\"{text}\"]"),
        };
        out.push_str(&pad);
        out.push_str(&line);
        out.push('\n');
    }
}

/// An edge as Mermaid: dashed for a catch, labelled when it has a label.
fn edge_line(edge: &Edge) -> String {
    let arrow = if edge.catch { "-.->" } else { "-->" };
    match &edge.label {
        Some(text) => format!("{} {arrow}|\"{}\"| {}", edge.from, escape(text), edge.to),
        None => format!("{} {arrow} {}", edge.from, edge.to),
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
