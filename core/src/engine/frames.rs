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
//! frame path as the branch path (docs/protocol.md §8.6). Its **value** at
//! the join is its local object if a state wrote one, else the output of its
//! last state ([`Frame::value`]).
//!
//! A **fan-out** is one running parallel or foreach state. Its children end
//! `Done(local)` or `Failed(error)`; the join then writes the aggregated
//! locals at the state's `resultPath` in the parent scope (`{branch: local}`
//! or `[local, …]` by default, docs/language.md §3) and takes the state's transition.
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
//!
//! This file holds the frame and fan-out types and a frame's view; starting
//! a fan-out and its children is in [`super::fanout`], joining them in
//! [`super::join`].

use super::apply::Step;
pub use super::children::Child;
use super::children::children_codec;
use super::effect::StepRef;
use crate::model::{State, StateKind, path};
use crate::wire::ErrorInfo;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
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
    pub(super) fn replay(&self, target: &mut Value) {
        match self {
            Self::Set { path: parts, value } => {
                let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
                path::write(target, &parts, value.clone());
            }
            Self::MergeCtx { value } => path::merge_into(&mut target["ctx"], value),
        }
    }
}

impl Frame {
    /// The frame's value at the join: its local object if a state in it
    /// wrote one, else the output of its last state (its previous output).
    pub fn value(&self) -> Value {
        if self.writes.is_empty() && self.local.is_none() {
            self.previous_output.clone().unwrap_or(Value::Null)
        } else {
            self.local()
        }
    }

    /// What the frame wrote, as one object.
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
    /// When the state was entered (ms since the epoch; 0 in older
    /// snapshots): where its `StateTransition` span starts.
    #[serde(default)]
    pub entered_ms: i64,
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
    pub(super) fn current_route(&self) -> Vec<RouteStep> {
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
    pub(super) fn swap_own(&mut self, frame: &str) {
        if let Some(f) = self.state.frames.get_mut(frame) {
            std::mem::swap(&mut self.state.previous_output, &mut f.previous_output);
            std::mem::swap(&mut self.state.visits, &mut f.visits);
        }
    }

    /// Takes `frame` out of effect: the top-level context is parked; a
    /// frame's view is dropped (its writes are in its journal).
    pub(super) fn leave(&mut self, frame: &str) {
        let context = std::mem::take(&mut self.state.context);
        if frame.is_empty() {
            self.parked = Some(context);
        } else {
            self.swap_own(frame);
        }
    }

    /// Puts `frame` in effect: the top-level context back, or the frame's view.
    pub(super) fn arrive(&mut self, frame: &str) {
        if frame.is_empty() {
            self.state.context = self.parked.take().unwrap_or(Value::Null);
        } else {
            self.state.context = self.view_of(frame);
            self.swap_own(frame);
        }
    }

    /// The context as the frame sees it.
    pub(super) fn view_of(&self, frame: &str) -> Value {
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
    pub(super) fn scope_view(&self, fanout: &str) -> Value {
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
    pub(super) fn top_context(&self) -> &Value {
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
        path::write(&mut self.state.context, parts, value);
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
}
