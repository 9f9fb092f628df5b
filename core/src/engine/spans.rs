//! Which states a transition ended, for the run's trace: each becomes a
//! `StateTransition` span (PROTOCOL §9) once the transition is committed.
//!
//! A state that lives across transitions is open in the snapshot, as an
//! active step (an operation, a wait, a child run) or a fan-out (parallel,
//! foreach), and records when it was entered. Comparing the open states
//! before and after a transition tells which ended; states entered and ended
//! within it (switch, transform, inject, a step failed before dispatch) show
//! in its records and events. A state's parent span is the fan-out it runs
//! in, found by the longest fan-out path that prefixes its own.

use super::effect::{Effect, StepRef};
use super::state::RunState;
use crate::ids::StepId;
use crate::model::Workflow;
use crate::wire::EventType;
use std::collections::{BTreeMap, BTreeSet};

/// The states open in a snapshot, by step id, and the fan-outs by path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenStates {
    steps: BTreeMap<StepId, Open>,
    fanouts: BTreeMap<String, StepId>,
}

#[derive(Debug, Clone, PartialEq)]
struct Open {
    state: String,
    path: String,
    entered_ms: i64,
}

impl OpenStates {
    /// The states open in `state`.
    pub fn of(state: &RunState) -> Self {
        let mut open = Self::default();
        for active in &state.active {
            open.steps.insert(
                active.step_id.clone(),
                Open {
                    state: active.state.clone(),
                    path: active.path.clone(),
                    entered_ms: active.entered_ms,
                },
            );
        }
        for (path, fanout) in &state.fanouts {
            open.fanouts
                .insert(path.clone(), fanout.step.step_id.clone());
            open.steps.insert(
                fanout.step.step_id.clone(),
                Open {
                    state: fanout.step.state.clone(),
                    path: path.clone(),
                    entered_ms: fanout.entered_ms,
                },
            );
        }
        open
    }
}

/// A state a transition ended: one `StateTransition` span.
#[derive(Debug, Clone, PartialEq)]
pub struct EndedState {
    pub step_id: StepId,
    pub state: String,
    pub path: String,
    /// The state's type in the language (`operation`, `parallel`, …).
    pub state_type: &'static str,
    /// The fan-out state it ran in; `None`: the run's root.
    pub parent: Option<StepId>,
    pub started_ms: i64,
    pub ended_ms: i64,
}

/// The states that were open `before` a transition and are not in `after`,
/// and those the transition's `effects` entered and ended at once. Every
/// state still open in a run that has ended ends too.
pub fn ended_states(
    workflow: &Workflow,
    before: &OpenStates,
    after: &RunState,
    effects: &[Effect],
    now_ms: i64,
) -> Vec<EndedState> {
    let now = OpenStates::of(after);
    let run_over = after.status.is_terminal();
    let mut fanouts = before.fanouts.clone();
    fanouts.extend(now.fanouts.iter().map(|(k, v)| (k.clone(), v.clone())));
    let span = |step_id: &StepId, open: &Open, started_ms: i64| EndedState {
        step_id: step_id.clone(),
        state: open.state.clone(),
        path: open.path.clone(),
        state_type: workflow
            .state_at(&open.path)
            .map_or("unknown", |s| s.kind.type_name()),
        parent: enclosing_fanout(&fanouts, &open.path),
        started_ms: if started_ms > 0 { started_ms } else { now_ms },
        ended_ms: now_ms,
    };
    let mut ended = Vec::new();
    let mut seen = BTreeSet::new();
    for (step_id, open) in &before.steps {
        if run_over || !now.steps.contains_key(step_id) {
            seen.insert(step_id.clone());
            ended.push(span(step_id, open, open.entered_ms));
        }
    }
    if run_over {
        for (step_id, open) in &now.steps {
            if seen.insert(step_id.clone()) {
                ended.push(span(step_id, open, open.entered_ms));
            }
        }
    }
    for step in effects.iter().filter_map(ended_in_effect) {
        let known =
            before.steps.contains_key(&step.step_id) || now.steps.contains_key(&step.step_id);
        if !known && seen.insert(step.step_id.clone()) {
            let open = Open {
                state: step.state.clone(),
                path: step.path.clone(),
                entered_ms: now_ms,
            };
            ended.push(span(&step.step_id, &open, now_ms));
        }
    }
    ended
}

/// The step an effect records as ended, if it does.
fn ended_in_effect(effect: &Effect) -> Option<&StepRef> {
    match effect {
        Effect::RecordInline(inline) => Some(&inline.step),
        Effect::Emit(draft) => match draft.kind {
            EventType::StepCompleted
            | EventType::StepFailed
            | EventType::StepTimedOut
            | EventType::StepCancelled => draft.step.as_ref(),
            _ => None,
        },
        _ => None,
    }
}

/// The step of the innermost fan-out whose path is a proper prefix of
/// `path` (ending at a `/` or a `[`).
fn enclosing_fanout(fanouts: &BTreeMap<String, StepId>, path: &str) -> Option<StepId> {
    path.char_indices()
        .rev()
        .filter(|(_, c)| *c == '/' || *c == '[')
        .find_map(|(i, _)| fanouts.get(&path[..i]).cloned())
}
