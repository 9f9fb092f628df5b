//! Ending a fan-out: frames that ended are joined at the top level; a
//! failed child cancels its siblings and fails the join; `join: any` takes
//! the first; the aggregated values go to the state's `resultPath` (stored
//! nowhere without one) and become the previous output.

use super::apply::Step;
use super::children::Child;
use super::effect::{Effect, InlineStep};
use super::frames::{Frame, Pending, is_within};
use crate::ids::StepId;
use crate::model::{Aggregation, JoinMode, State, StateKind, Transition, path};
use crate::status::StepStatus;
use crate::wire::error::codes;
use crate::wire::{ErrorInfo, EventType};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

impl<'a> Step<'a> {
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
    pub(super) fn child_done(&mut self, frame: &str) {
        if self.state.fanouts.contains_key(frame) {
            // An empty foreach: nothing ran.
            return self.finish_join(frame);
        }
        let Some(done) = self.state.frames.remove(frame) else {
            return;
        };
        let key = done.fanout.clone();
        let value = self.child_value(&key, &done);
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
                .insert(done.index, value);
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
    pub(super) fn child_failed(&mut self, frame: &str, error: ErrorInfo) {
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
    pub(super) fn cancel_children(&mut self, key: &str, reason: &str) {
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
            let dropped: Vec<StepId> = self
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

    /// The state of a running fan-out.
    fn fanout_state(&self, key: &str) -> Option<&'a State> {
        let fanout = self.state.fanouts.get(key)?;
        let name = &fanout.step.state;
        self.graph_of_route(&fanout.route)?
            .iter()
            .find(|s| &s.name == name)
    }

    pub(super) fn join_mode(&self, key: &str) -> Option<JoinMode> {
        match &self.fanout_state(key)?.kind {
            StateKind::Parallel(p) => Some(p.join),
            _ => None,
        }
    }

    /// What a child that ended adds to its fan-out's join: its value, or
    /// for a foreach with `outputAggregation: array` the record
    /// `{item, index, output}`.
    fn child_value(&self, key: &str, frame: &Frame) -> Value {
        let value = frame.value();
        match self.fanout_state(key).map(|s| &s.kind) {
            Some(StateKind::Foreach(f)) if f.aggregation == Aggregation::Array => json!({
                "item": frame.item.as_ref().map_or(Value::Null, |i| i.value.clone()),
                "index": frame.index,
                "output": value,
            }),
            _ => value,
        }
    }

    /// Every child is settled: the aggregated result goes to the fan-out
    /// state's `resultPath`, and its transition is taken.
    pub(super) fn finish_join(&mut self, key: &str) {
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

/// The join's value: the branch or item values, combined as the state's
/// `outputAggregation` says. A parallel gives `{<branch>: <value>}` (none or
/// `merge`) or `[<value>, …]` in declaration order (`array`); a foreach gives
/// `[<value>, …]` in item order, or with `array` the `{item, index, output}`
/// records [`Step::child_value`] made.
fn aggregate(state: &State, children: &[Child], mut results: BTreeMap<usize, Value>) -> Value {
    let values = children.iter().enumerate().filter_map(|(i, c)| match c {
        Child::Done {
            local: Some(legacy),
        } => Some((i, legacy.clone())),
        Child::Done { local: None } => Some((i, results.remove(&i).unwrap_or(Value::Null))),
        _ => None,
    });
    match &state.kind {
        StateKind::Parallel(p) if p.aggregation != Aggregation::Array => Value::Object(
            values
                .filter_map(|(i, value)| p.branches.get(i).map(|b| (b.name.clone(), value)))
                .collect::<Map<String, Value>>(),
        ),
        _ => Value::Array(values.map(|(_, value)| value).collect()),
    }
}
