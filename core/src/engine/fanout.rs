//! Starting a parallel or foreach state: the fan-out record, its branches,
//! and its items (started in order, at most `maxConcurrency` at a time).

use super::apply::Step;
use super::children::Child;
use super::effect::StepRef;
use super::frames::{Fanout, Frame, FrameItem, Pending, RouteStep};
use crate::model::{State, StateKind, path};
use crate::wire::error::codes;
use crate::wire::{ErrorInfo, EventType};
use serde_json::{Value, json};
use std::collections::BTreeMap;

impl<'a> Step<'a> {
    /// Enters a parallel or foreach state: records the fan-out and starts
    /// its children.
    pub(super) fn fork(&mut self, step: StepRef, state: &'a State) {
        let key = step.path.clone();
        let mut route = self.current_route();
        let children = match &state.kind {
            StateKind::Parallel(p) => vec![Child::Running; p.branches.len()],
            StateKind::Foreach(f) => match items_in(&self.state.context, &f.items_path) {
                Some(Value::Array(items)) => vec![Child::Waiting; items.len()],
                other => {
                    let error = ErrorInfo::new(
                        codes::FOREACH_ITEMS,
                        format!(
                            "foreach `{}`: itemsPath `{}` is {}, not a list",
                            state.name,
                            f.items_path,
                            other.map_or("missing".to_owned(), |v| kind_of(v).to_owned())
                        ),
                    )
                    .not_retryable();
                    return self.fail_inline(step, json!({ "itemsPath": f.items_path }), error);
                }
            },
            _ => return,
        };
        self.emit(
            EventType::StepStarted,
            Some(step.clone()),
            json!({ "input": { "children": children.len() } }),
        );
        let fanout = Fanout {
            frame: self.current.clone(),
            step,
            route: route.clone(),
            base_output: self.state.previous_output.clone(),
            children,
            next_item: 0,
            entered_ms: self.now.timestamp_millis(),
            base_context: None,
            items: Vec::new(),
        };
        self.state.fanouts.insert(key.clone(), fanout);
        match &state.kind {
            StateKind::Parallel(p) => {
                for (i, branch) in p.branches.iter().enumerate() {
                    route.push(RouteStep {
                        state: state.name.clone(),
                        branch: Some(i),
                    });
                    let child = format!("{key}/{}", branch.name);
                    self.start_child(&key, i, &child, route.clone(), None);
                    route.pop();
                }
            }
            StateKind::Foreach(f) => {
                let total = self.state.fanouts.get(&key).map_or(0, |x| x.children.len());
                if total == 0 {
                    return self.pending.push(Pending::Done(key));
                }
                for _ in 0..(f.max_concurrency as usize).min(total) {
                    self.start_next_item(&key);
                }
            }
            _ => {}
        }
    }

    /// Starts the next waiting foreach item of `key`.
    pub(super) fn start_next_item(&mut self, key: &str) {
        let Some(fanout) = self.state.fanouts.get(key) else {
            return;
        };
        let index = fanout.next_item;
        if index >= fanout.children.len() {
            return;
        }
        let mut route = fanout.route.clone();
        let Some(state_name) = key.rsplit('/').next().map(str::to_owned) else {
            return;
        };
        let Some(StateKind::Foreach(foreach)) = self
            .graph_of_route(&route)
            .and_then(|g| g.iter().find(|s| s.name == state_name))
            .map(|s| &s.kind)
        else {
            return;
        };
        let Some(item) = self.item_of(key, &foreach.items_path, index) else {
            return self.fail_run(ErrorInfo::new(
                codes::INTERNAL,
                format!("foreach `{key}` lost its item {index}"),
            ));
        };
        route.push(RouteStep {
            state: state_name,
            branch: None,
        });
        if let Some(fanout) = self.state.fanouts.get_mut(key) {
            fanout.next_item += 1;
            fanout.children[index] = Child::Running;
        }
        let child = format!("{key}[{index}]");
        self.start_child(
            key,
            index,
            &child,
            route,
            Some((foreach.item_name.clone(), item)),
        );
    }

    /// Item `index` of foreach `key`, read from the view of the scope it runs
    /// in (by reference when that scope is in effect or is the top level).
    pub(super) fn item_of(&self, key: &str, items_path: &str, index: usize) -> Option<Value> {
        let fanout = self.state.fanouts.get(key)?;
        if !fanout.items.is_empty() {
            return fanout.items.get(index).cloned();
        }
        let pick = |context: &Value| match items_in(context, items_path) {
            Some(Value::Array(items)) => items.get(index).cloned(),
            _ => None,
        };
        if fanout.base_context.is_none() && fanout.frame == self.current {
            pick(&self.state.context)
        } else if fanout.base_context.is_none() && fanout.frame.is_empty() {
            pick(self.top_context())
        } else {
            pick(&self.scope_view(key))
        }
    }

    /// Creates a child frame and runs its graph from its start.
    pub(super) fn start_child(
        &mut self,
        key: &str,
        index: usize,
        child: &str,
        route: Vec<RouteStep>,
        item: Option<(String, Value)>,
    ) {
        let Some(fanout) = self.state.fanouts.get(key) else {
            return;
        };
        let parent = fanout.frame.clone();
        let mut previous_output = fanout.base_output.clone();
        let item = item.map(|(name, value)| {
            // The first agent of an item gets the item (PROTOCOL §8.8).
            previous_output = Some(value.clone());
            FrameItem { name, value }
        });
        let Some(start) = self.graph_start(&route) else {
            return self.fail_run(ErrorInfo::new(
                codes::INTERNAL,
                format!("frame `{child}` has no graph"),
            ));
        };
        self.state.frames.insert(
            child.to_owned(),
            Frame {
                parent,
                fanout: key.to_owned(),
                index,
                route,
                item,
                writes: Vec::new(),
                previous_output,
                visits: BTreeMap::new(),
                context: None,
                local: None,
            },
        );
        self.with_frame(child, |s| s.enter(&start));
    }

    /// The start state of the graph a route leads to.
    pub(super) fn graph_start(&self, route: &[RouteStep]) -> Option<String> {
        let (last, parent) = route.split_last()?;
        let state = self
            .graph_of_route(parent)?
            .iter()
            .find(|s| s.name == last.state)?;
        match (&state.kind, last.branch) {
            (StateKind::Parallel(p), Some(i)) => Some(p.branches.get(i)?.graph.start.clone()),
            (StateKind::Foreach(f), None) => Some(f.iterator.start.clone()),
            _ => None,
        }
    }
}

/// A foreach's items in a context: `itemsPath` from the root, or from `ctx`.
fn items_in<'v>(context: &'v Value, items_path: &str) -> Option<&'v Value> {
    path::read(context, &path::segments(items_path)?)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
