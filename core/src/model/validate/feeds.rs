//! Which agent feeds which: the producers of each agent's "previous
//! output", propagated along transitions and into branches (see the parent
//! module), and explicit inputs naming an agent's `resultPath`.

use super::registry::agent_call;
use super::states_of;
use crate::engine::template::paths_in;
use crate::model::graph::targets;
use crate::model::ir::{Action, State, StateKind, Workflow};
use crate::model::path;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// Which states can feed which agent its input: consumer → producers.
pub(super) struct Feeds<'w> {
    pub(super) edges: Vec<(&'w State, Vec<&'w State>)>,
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
    pub(super) fn of(workflow: &'w Workflow) -> Self {
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
                // Approvals, waits and the other executors leave it unchanged.
                StateKind::Operation(_) | StateKind::Inject { .. } | StateKind::Switch(_) => {
                    incoming[i].clone()
                }
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
