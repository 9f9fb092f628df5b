//! Graph checks of the states form, on the IR: targets that do not exist,
//! graphs with no way to end, unreachable states and cycles. Every graph is
//! checked on its own (the top level, each parallel branch, each foreach
//! body): a `next` only ever names a state of the same graph. Pure.
//!
//! A cycle is an error (`CYCLE_WITHOUT_EXIT`) when no state in it can leave
//! it by a transition or end the graph; a cycle that can leave is the
//! `CIRCULAR_TRANSITION` warning (docs/language.md §8). Leaving only through `catch`
//! does not count: on success such a loop would never stop.

use super::diag::{Diagnostic, Diagnostics};
use super::ir::{State, StateKind, SubGraph, Transition, Workflow};
use std::collections::HashMap;

/// Checks the top-level graph and every nested one.
pub fn check(workflow: &Workflow, diagnostics: &mut Diagnostics) {
    check_graph(&workflow.states, &workflow.start, "", diagnostics);
}

fn check_graph(states: &[State], start: &str, prefix: &str, diagnostics: &mut Diagnostics) {
    let index: HashMap<&str, usize> = states
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let (edges, catch_edges) = edges(states, &index, prefix, diagnostics);
    if !states.is_empty() && !states.iter().any(|s| s.transition == Transition::End) {
        diagnostics.push(Diagnostic::new(
            "MISSING_END",
            format!("{prefix}states"),
            "no state has `end: true`, so no run could finish",
        ));
    }
    let Some(&first) = index.get(start) else {
        return;
    };
    // Reachability from the start, over every kind of edge.
    let mut reachable = vec![false; states.len()];
    let mut stack = vec![first];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut reachable[i], true) {
            continue;
        }
        stack.extend(edges[i].iter().chain(&catch_edges[i]).copied());
    }
    for (i, state) in states.iter().enumerate().filter(|(i, _)| !reachable[*i]) {
        diagnostics.push(Diagnostic::new(
            "UNREACHABLE_STATE",
            format!("{prefix}states[{i}]"),
            format!(
                "unreachable state: `{}` can never be reached from `{start}`",
                state.name
            ),
        ));
    }
    report_cycles(states, &edges, prefix, diagnostics);
}

/// Normal edges (transitions and switch cases) and catch edges, by index;
/// DANGLING_TARGET for a name no state has. Nested graphs are checked on
/// the way, after their state's own targets.
fn edges(
    states: &[State],
    index: &HashMap<&str, usize>,
    prefix: &str,
    diagnostics: &mut Diagnostics,
) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let at = |i: usize| format!("{prefix}states[{i}]");
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); states.len()];
    let mut catch_edges: Vec<Vec<usize>> = vec![Vec::new(); states.len()];
    for (i, state) in states.iter().enumerate() {
        for (target, field) in targets(state) {
            match index.get(target) {
                Some(&j) => edges[i].push(j),
                None => diagnostics.push(Diagnostic::new(
                    "DANGLING_TARGET",
                    format!("{}.{field}", at(i)),
                    format!(
                        "state `{}` goes to `{target}`, which does not exist{}",
                        state.name,
                        if prefix.is_empty() {
                            ""
                        } else {
                            " in this branch"
                        }
                    ),
                )),
            }
        }
        for (k, rule) in state.catch.iter().enumerate() {
            match index.get(rule.next.as_str()) {
                Some(&j) => catch_edges[i].push(j),
                None => diagnostics.push(Diagnostic::new(
                    "DANGLING_TARGET",
                    format!("{}.catch[{k}]", at(i)),
                    format!(
                        "the error handler of `{}` goes to `{}`, which does not exist",
                        state.name, rule.next
                    ),
                )),
            }
        }
        nested(state, &at(i), diagnostics);
    }
    (edges, catch_edges)
}

/// CIRCULAR_TRANSITION for a cycle of normal edges with a way out,
/// CYCLE_WITHOUT_EXIT for one without.
fn report_cycles(
    states: &[State],
    edges: &[Vec<usize>],
    prefix: &str,
    diagnostics: &mut Diagnostics,
) {
    for component in cycles(edges) {
        let names: Vec<&str> = component.iter().map(|&i| states[i].name.as_str()).collect();
        let in_cycle = |j: &usize| component.contains(j);
        let exits = component.iter().any(|&i| {
            states[i].transition == Transition::End || edges[i].iter().any(|j| !in_cycle(j))
        });
        let first = component.iter().copied().min().unwrap_or_default();
        let at = format!("{prefix}states[{first}]");
        let diagnostic = if exits {
            Diagnostic::new(
                "CIRCULAR_TRANSITION",
                at,
                format!("circular transition detected: {} loop", names.join(" → ")),
            )
        } else {
            Diagnostic::new(
                "CYCLE_WITHOUT_EXIT",
                at,
                format!(
                    "states {} form a cycle with no way out: a run entering it never ends",
                    names.join(" → ")
                ),
            )
        };
        diagnostics.push(diagnostic);
    }
}

/// The graphs nested in a state: parallel branches and the foreach body.
fn nested(state: &State, path: &str, diagnostics: &mut Diagnostics) {
    let mut check_sub = |graph: &SubGraph, prefix: String| {
        check_graph(&graph.states, &graph.start, &prefix, diagnostics);
    };
    match &state.kind {
        StateKind::Parallel(parallel) => {
            for (j, branch) in parallel.branches.iter().enumerate() {
                check_sub(&branch.graph, format!("{path}.branches[{j}]."));
            }
        }
        StateKind::Foreach(foreach) => check_sub(&foreach.iterator, format!("{path}.iterator.")),
        _ => {}
    }
}

/// The states a state can go to on success, with the field naming each.
pub fn targets(state: &State) -> Vec<(&str, String)> {
    match (&state.kind, &state.transition) {
        (StateKind::Switch(switch), _) => switch
            .conditions
            .iter()
            .enumerate()
            .map(|(k, case)| (case.next.as_str(), format!("conditions[{k}].next")))
            .chain(
                switch
                    .default_next
                    .as_deref()
                    .map(|d| (d, "defaultNext".to_owned())),
            )
            .collect(),
        (_, Transition::Next(next)) => vec![(next.as_str(), "next".to_owned())],
        _ => Vec::new(),
    }
}

/// Strongly connected components (Tarjan, iterative, so deep graphs cannot
/// overflow the stack), each sorted. Shared by every front end's cycle check.
pub(crate) fn components(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = edges.len();
    let mut order = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut counter = 0;
    let mut found = Vec::new();
    for root in 0..n {
        if order[root] != UNSEEN {
            continue;
        }
        // (node, next edge index) frames replace recursion.
        let mut frames = vec![(root, 0usize)];
        order[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut next_edge)) = frames.last_mut() {
            if let Some(&w) = edges[v].get(*next_edge) {
                *next_edge += 1;
                if order[w] == UNSEEN {
                    order[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    frames.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(order[w]);
                }
                continue;
            }
            frames.pop();
            if let Some(&(parent, _)) = frames.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == order[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                component.sort_unstable();
                found.push(component);
            }
        }
    }
    found
}

/// The components that hold a cycle: two or more states, or a self-loop.
fn cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    components(edges)
        .into_iter()
        .filter(|c| c.len() > 1 || edges[c[0]].contains(&c[0]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::cycles;

    #[test]
    fn finds_cycles_and_self_loops() {
        // 0 → 1 → 2 → 0, 3 → 3, 4 alone.
        let edges = vec![vec![1], vec![2], vec![0, 3], vec![3], vec![]];
        let mut found = cycles(&edges);
        found.sort();
        assert_eq!(found, vec![vec![0, 1, 2], vec![3]]);
    }
}
