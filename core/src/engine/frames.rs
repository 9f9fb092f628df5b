//! Parallel branches and foreach items: frames, fan-outs and joins.
//!
//! A **frame** runs one nested graph (a parallel branch or a foreach item).
//! It stores only what is its own: its item (bound at `itemName`) and the
//! journal of what it wrote (`resultPath` writes and merges into `ctx`), in
//! order. Its **view** of the context is built when it is in effect: the
//! context of the scope the fan-out runs in, plus its item, plus its writes
//! replayed. That scope cannot change while the fan-out runs (its flow waits
//! at the fan-out state), so nothing is copied per frame and a result costs
//! what the result is, not what the run's context is. Its `local` object
//! (its result at the join) is the same journal replayed on `{}`. Its steps' paths are
//! `<frame>/<state>`, where a frame is `<fan-out step path>/<branch>` or
//! `<fan-out step path>[<i>]` (PROTOCOL §8.7), and their step ids hash the
//! frame path as the branch path (DESIGN §4.5).
//!
//! A **fan-out** is one running parallel or foreach state. Its children end
//! `Done(local)` or `Failed(error)`; the join then writes the aggregated
//! locals at the state's `resultPath` in the parent scope (`{branch: local}`
//! or `[local, …]` by default, DESIGN §5) and takes the state's transition.
//! `join: any` takes the first branch to finish and cancels the others; a
//! failed child cancels its running siblings and fails the join, which the
//! fan-out state's `catch` may handle.
//!
//! While a frame's state is being changed, its view, previous output and
//! visit counts are swapped into the run state ([`Step::with_frame`]; the
//! top-level context is parked meanwhile), so the inline states, templates
//! and expressions work unchanged. A foreach's items are not copied either:
//! they are read from its scope's view by `itemsPath` when an item starts. Frame ends
//! are queued and joined only at the top level, after the input has been
//! applied ([`Step::drain_pending`]), so no frame is removed while swapped in.

use super::apply::Step;
pub use super::children::Child;
use super::children::children_codec;
use super::effect::{Effect, InlineStep, StepRef};
use crate::model::{Aggregation, JoinMode, State, StateKind, Transition, path};
use crate::status::StepStatus;
use crate::wire::error::codes;
use crate::wire::{ErrorInfo, EventType};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// One running branch or item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// The frame the fan-out state runs in (`""` at the top level).
    pub parent: String,
    /// The fan-out (its step path) this frame belongs to.
    pub fanout: String,
    /// Which child of the fan-out.
    pub index: usize,
    /// How to find this frame's graph from the workflow's top level.
    pub route: Vec<RouteStep>,
    /// Foreach: the item, bound at `itemName` in the frame's view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<FrameItem>,
    /// What the frame wrote, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<FrameWrite>,
    pub previous_output: Option<Value>,
    pub visits: BTreeMap<String, u32>,
    /// Snapshots stored before frames were deltas held the whole view…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// …and the local object; a frame read from one goes on from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<Value>,
}

/// A foreach item as its frame binds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameItem {
    pub name: String,
    pub value: Value,
}

/// One write of a frame, replayed to build its view and its local object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum FrameWrite {
    /// A value written at a path (a `resultPath`).
    Set { path: Vec<String>, value: Value },
    /// An object merged into `ctx` (`inject` or `transform` without `resultPath`).
    MergeCtx { value: Value },
}

impl FrameWrite {
    fn replay(&self, target: &mut Value) {
        match self {
            Self::Set { path: parts, value } => {
                let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
                path::set(target, &parts, value.clone());
            }
            Self::MergeCtx { value } => path::merge_into(&mut target["ctx"], value),
        }
    }
}

impl Frame {
    /// What the frame wrote, as one object: its value at the join.
    pub fn local(&self) -> Value {
        let mut local = self
            .local
            .clone()
            .unwrap_or_else(|| Value::Object(Map::new()));
        for write in &self.writes {
            write.replay(&mut local);
        }
        local
    }
}

/// One step of a route: a fan-out state, and the branch taken (parallel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStep {
    pub state: String,
    pub branch: Option<usize>,
}

/// One running parallel or foreach state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fanout {
    /// The frame the state runs in (`""` at the top level).
    pub frame: String,
    /// The state's step, recorded when the join ends.
    pub step: StepRef,
    /// The route of the frame the state runs in.
    pub route: Vec<RouteStep>,
    /// The previous output when the state was entered: each child starts from it.
    pub base_output: Option<Value>,
    #[serde(with = "children_codec")]
    pub children: Vec<Child>,
    /// Foreach: the next item to start.
    #[serde(default)]
    pub next_item: usize,
    /// Snapshots stored before frames were deltas held the scope's context
    /// and the items here; a fan-out read from one goes on from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_context: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Value>,
}

/// A frame that ended, to be joined at the top level.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Pending {
    Done(String),
    Failed(String, ErrorInfo),
}

/// Is `path` inside the frame or fan-out `prefix` (`prefix/…` or `prefix[…`)?
pub fn is_within(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('['))
}

impl<'a> Step<'a> {
    /// The graph (state list) of a frame, from its route.
    pub(super) fn graph_of_route(&self, route: &[RouteStep]) -> Option<&'a [State]> {
        let workflow = self.workflow;
        let mut states: &'a [State] = &workflow.states;
        for step in route {
            let state = states.iter().find(|s| s.name == step.state)?;
            states = match (&state.kind, step.branch) {
                (StateKind::Parallel(p), Some(i)) => &p.branches.get(i)?.graph.states,
                (StateKind::Foreach(f), None) => &f.iterator.states,
                _ => return None,
            };
        }
        Some(states)
    }

    /// The route of the frame now in effect.
    fn current_route(&self) -> Vec<RouteStep> {
        if self.current.is_empty() {
            Vec::new()
        } else {
            self.state
                .frames
                .get(&self.current)
                .map(|f| f.route.clone())
                .unwrap_or_default()
        }
    }

    /// A state of the graph now in effect.
    pub(super) fn scope_state(&self, name: &str) -> Option<&'a State> {
        if self.current.is_empty() {
            let workflow = self.workflow;
            return workflow.state(name);
        }
        let route = self.state.frames.get(&self.current)?.route.clone();
        self.graph_of_route(&route)?.iter().find(|s| s.name == name)
    }

    /// The path of a state's step in the frame now in effect.
    pub(super) fn scoped_path(&self, name: &str) -> String {
        if self.current.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.current)
        }
    }

    /// Swaps the frame's previous output and visits with the run state's
    /// (its own inverse).
    fn swap_own(&mut self, frame: &str) {
        if let Some(f) = self.state.frames.get_mut(frame) {
            std::mem::swap(&mut self.state.previous_output, &mut f.previous_output);
            std::mem::swap(&mut self.state.visits, &mut f.visits);
        }
    }

    /// Takes `frame` out of effect: the top-level context is parked; a
    /// frame's view is dropped (its writes are in its journal).
    fn leave(&mut self, frame: &str) {
        let context = std::mem::take(&mut self.state.context);
        if frame.is_empty() {
            self.parked = Some(context);
        } else {
            self.swap_own(frame);
        }
    }

    /// Puts `frame` in effect: the top-level context back, or the frame's view.
    fn arrive(&mut self, frame: &str) {
        if frame.is_empty() {
            self.state.context = self.parked.take().unwrap_or(Value::Null);
        } else {
            self.state.context = self.view_of(frame);
            self.swap_own(frame);
        }
    }

    /// The context as the frame sees it.
    fn view_of(&self, frame: &str) -> Value {
        let Some(f) = self.state.frames.get(frame) else {
            return Value::Null;
        };
        let mut view = match &f.context {
            Some(legacy) => legacy.clone(),
            None => self.scope_view(&f.fanout),
        };
        if let Some(item) = &f.item
            && let Some(map) = view.as_object_mut()
        {
            map.insert(item.name.clone(), item.value.clone());
        }
        for write in &f.writes {
            write.replay(&mut view);
        }
        view
    }

    /// The context a fan-out's children start from: the view of the scope it
    /// runs in (unchanged while it runs).
    fn scope_view(&self, fanout: &str) -> Value {
        let Some(x) = self.state.fanouts.get(fanout) else {
            return Value::Null;
        };
        if let Some(legacy) = &x.base_context {
            return legacy.clone();
        }
        if x.frame.is_empty() {
            self.top_context().clone()
        } else {
            self.view_of(&x.frame)
        }
    }

    /// The top-level context: in the run state, or parked while a frame is in effect.
    fn top_context(&self) -> &Value {
        self.parked.as_ref().unwrap_or(&self.state.context)
    }

    /// Runs `f` with `frame` in effect (`""`: the top level).
    pub(super) fn with_frame(&mut self, frame: &str, f: impl FnOnce(&mut Self)) {
        let outer = std::mem::take(&mut self.current);
        self.leave(&outer);
        self.arrive(frame);
        frame.clone_into(&mut self.current);
        f(self);
        self.leave(frame);
        self.arrive(&outer);
        self.current = outer;
    }

    /// Writes a result in the scope now in effect (and in the frame's journal).
    pub(super) fn write_result(&mut self, parts: &[&str], value: Value) {
        if !self.current.is_empty()
            && let Some(frame) = self.state.frames.get_mut(&self.current)
        {
            frame.writes.push(FrameWrite::Set {
                path: parts.iter().map(|p| (*p).to_owned()).collect(),
                value: value.clone(),
            });
        }
        path::set(&mut self.state.context, parts, value);
    }

    /// Merges an object into `ctx` in the scope now in effect (and records
    /// it in the frame's journal).
    pub(super) fn merge_into_ctx(&mut self, data: &Value) {
        if !self.current.is_empty()
            && let Some(frame) = self.state.frames.get_mut(&self.current)
        {
            frame.writes.push(FrameWrite::MergeCtx {
                value: data.clone(),
            });
        }
        path::merge_into(&mut self.state.context["ctx"], data);
    }

    /// The graph now in effect reached `end`.
    pub(super) fn end_scope(&mut self) {
        if self.current.is_empty() {
            self.complete();
        } else {
            self.pending.push(Pending::Done(self.current.clone()));
        }
    }

    /// A failure nothing in the graph now in effect handles.
    pub(super) fn fail_scope(&mut self, error: ErrorInfo) {
        if self.current.is_empty() {
            self.fail_run(error);
        } else {
            self.pending
                .push(Pending::Failed(self.current.clone(), error));
        }
    }

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
    fn start_next_item(&mut self, key: &str) {
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
    fn item_of(&self, key: &str, items_path: &str, index: usize) -> Option<Value> {
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
    fn start_child(
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
    fn graph_start(&self, route: &[RouteStep]) -> Option<String> {
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

    /// Joins the frames that ended, at the top level, until none is left.
    pub(super) fn drain_pending(&mut self) {
        while !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            for item in pending {
                if self.state.status.is_terminal() {
                    self.pending.clear();
                    return;
                }
                match item {
                    Pending::Done(frame) => self.child_done(&frame),
                    Pending::Failed(frame, error) => self.child_failed(&frame, error),
                }
            }
        }
    }

    /// A child frame reached `end` (or an empty foreach, keyed by its fan-out).
    fn child_done(&mut self, frame: &str) {
        if self.state.fanouts.contains_key(frame) {
            // An empty foreach: nothing ran.
            return self.finish_join(frame);
        }
        let Some(done) = self.state.frames.remove(frame) else {
            return;
        };
        let key = done.fanout.clone();
        let Some(fanout) = self.state.fanouts.get_mut(&key) else {
            return;
        };
        if let Some(child) = fanout.children.get_mut(done.index) {
            *child = Child::Done { local: None };
            let fanout_step = fanout.step.step_id.clone();
            self.state
                .child_results
                .entry(fanout_step.clone())
                .or_default()
                .insert(done.index, done.local());
            self.state.new_child_results.push((fanout_step, done.index));
        }
        let is_any = self.join_mode(&key) == Some(JoinMode::Any);
        if is_any {
            self.cancel_children(&key, "another branch finished first (join: any)");
            return self.finish_join(&key);
        }
        self.start_next_item(&key);
        let settled = self.state.fanouts.get(&key).is_some_and(|f| {
            f.children
                .iter()
                .all(|c| matches!(c, Child::Done { .. } | Child::Cancelled))
        });
        if settled {
            self.finish_join(&key);
        }
    }

    /// A child frame failed: its siblings are cancelled and the join fails.
    fn child_failed(&mut self, frame: &str, error: ErrorInfo) {
        let Some(failed) = self.state.frames.remove(frame) else {
            return;
        };
        let key = failed.fanout.clone();
        if let Some(child) = self
            .state
            .fanouts
            .get_mut(&key)
            .and_then(|f| f.children.get_mut(failed.index))
        {
            *child = Child::Failed {
                error: error.clone(),
            };
        }
        self.cancel_children(&key, "a sibling failed");
        let Some(fanout) = self.state.fanouts.remove(&key) else {
            return;
        };
        self.state.child_results.remove(&fanout.step.step_id);
        let mut error = error;
        error.message = format!("{} (in `{frame}`)", error.message);
        let step = fanout.step.clone();
        self.with_frame(&fanout.frame, |s| {
            s.emit(
                EventType::StepFailed,
                Some(step.clone()),
                json!({ "error": error }),
            );
            s.effects.push(Effect::RecordInline(InlineStep {
                step: step.clone(),
                status: StepStatus::Failed,
                input: json!({ "children": fanout.children.len() }),
                output: None,
                error: Some(error.clone()),
            }));
            s.catch_or_fail(&step.state, error);
        });
    }

    /// Cancels every running child of a fan-out: their frames, nested
    /// fan-outs and dispatched steps. Late results of those steps then find
    /// nothing to apply to.
    fn cancel_children(&mut self, key: &str, reason: &str) {
        let running: Vec<String> = self
            .state
            .frames
            .iter()
            .filter(|(_, f)| f.fanout == key)
            .map(|(name, _)| name.clone())
            .collect();
        for frame in running {
            if let Some(f) = self.state.frames.remove(&frame)
                && let Some(child) = self
                    .state
                    .fanouts
                    .get_mut(key)
                    .and_then(|x| x.children.get_mut(f.index))
            {
                *child = Child::Cancelled;
            }
            self.state.frames.retain(|name, _| !is_within(name, &frame));
            self.state
                .fanouts
                .retain(|name, _| !is_within(name, &frame));
            let live: std::collections::HashSet<&str> = self
                .state
                .fanouts
                .values()
                .map(|f| f.step.step_id.as_str())
                .collect();
            let dropped: Vec<String> = self
                .state
                .child_results
                .keys()
                .filter(|k| !live.contains(k.as_str()))
                .cloned()
                .collect();
            for key in dropped {
                self.state.child_results.remove(&key);
            }
            let (cancelled, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.state.active)
                .into_iter()
                .partition(|a| is_within(&a.path, &frame));
            self.state.active = kept;
            for active in cancelled {
                let step = active.step_ref();
                let error = ErrorInfo::new(codes::CANCELLED, reason);
                self.record_cancelled(step, error);
            }
        }
        if let Some(fanout) = self.state.fanouts.get_mut(key) {
            for child in &mut fanout.children {
                if matches!(child, Child::Waiting) {
                    *child = Child::Cancelled;
                }
            }
        }
    }

    fn join_mode(&self, key: &str) -> Option<JoinMode> {
        let fanout = self.state.fanouts.get(key)?;
        let name = &fanout.step.state;
        let state = self
            .graph_of_route(&fanout.route)?
            .iter()
            .find(|s| &s.name == name)?;
        match &state.kind {
            StateKind::Parallel(p) => Some(p.join),
            _ => None,
        }
    }

    /// Every child is settled: the aggregated result goes to the fan-out
    /// state's `resultPath`, and its transition is taken.
    fn finish_join(&mut self, key: &str) {
        let Some(fanout) = self.state.fanouts.remove(key) else {
            return;
        };
        let results = self
            .state
            .child_results
            .remove(&fanout.step.step_id)
            .unwrap_or_default();
        let Some(state) = self
            .graph_of_route(&fanout.route)
            .and_then(|g| g.iter().find(|s| s.name == fanout.step.state))
        else {
            return self.fail_run(ErrorInfo::new(
                codes::INTERNAL,
                format!("fan-out `{key}` lost its state"),
            ));
        };
        let result = aggregate(state, &fanout.children, results);
        let step = fanout.step.clone();
        self.with_frame(&fanout.frame, |s| {
            let result_path = match &state.kind {
                StateKind::Parallel(p) => p.result_path.as_deref(),
                StateKind::Foreach(f) => f.result_path.as_deref(),
                _ => None,
            };
            if let Some(parts) = result_path.and_then(path::segments) {
                s.write_result(&parts, result.clone());
            }
            s.state.previous_output = Some(result.clone());
            s.emit(
                EventType::StepCompleted,
                Some(step.clone()),
                json!({ "output": result }),
            );
            s.effects.push(Effect::RecordInline(InlineStep {
                step: step.clone(),
                status: StepStatus::Succeeded,
                input: json!({ "children": fanout.children.len() }),
                output: Some(result),
                error: None,
            }));
            match &state.transition {
                Transition::Next(next) => s.enter(next),
                Transition::End | Transition::Decided => s.end_scope(),
            }
        });
    }
}

/// The join's result: branch or item locals, combined as the state says.
fn aggregate(state: &State, children: &[Child], mut results: BTreeMap<usize, Value>) -> Value {
    let locals = children.iter().enumerate().filter_map(|(i, c)| match c {
        Child::Done {
            local: Some(legacy),
        } => Some((i, legacy.clone())),
        Child::Done { local: None } => Some((i, results.remove(&i).unwrap_or(Value::Null))),
        _ => None,
    });
    let (aggregation, names): (Aggregation, Vec<&str>) = match &state.kind {
        StateKind::Parallel(p) => (
            p.aggregation,
            p.branches.iter().map(|b| b.name.as_str()).collect(),
        ),
        StateKind::Foreach(f) => (f.aggregation, Vec::new()),
        _ => (Aggregation::Keyed, Vec::new()),
    };
    match aggregation {
        Aggregation::Keyed if !names.is_empty() => Value::Object(
            locals
                .filter_map(|(i, local)| names.get(i).map(|n| ((*n).to_owned(), local)))
                .collect(),
        ),
        Aggregation::Keyed | Aggregation::Array => Value::Array(locals.map(|(_, l)| l).collect()),
        Aggregation::Merge => {
            let mut merged = Value::Object(Map::new());
            for (_, local) in locals {
                path::merge_into(&mut merged, &local);
            }
            merged
        }
    }
}

/// A foreach's items in a context: `itemsPath` from the root, or from `ctx`.
fn items_in<'v>(context: &'v Value, items_path: &str) -> Option<&'v Value> {
    let parts = path::segments(items_path)?;
    path::get(context, &parts).or_else(|| context.get("ctx").and_then(|c| path::get(c, &parts)))
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
