//! Redrive: a FAILED, TIMED_OUT or CANCELLED run taken back to RUNNING in
//! the same run id (docs/protocol.md §10).
//!
//! A redrive **replays** the run from its start against what its steps
//! recorded. The driver hands in each step's latest attempt
//! ([`RecordedAttempt`], read from `step_attempts`); step ids are the same
//! on the way again, because they hash the state, the branch path and the
//! visit, and the replay visits states in the same order. Where the replay
//! meets a step:
//!
//! - **it succeeded**: its recorded output is applied as it was (its
//!   `resultPath`, the previous output, its transition). Nothing is sent,
//!   nothing is recorded again, no event is emitted. A parallel or foreach
//!   that succeeded is applied from its own recorded join value, without
//!   walking its children.
//! - **it failed and its own state's `catch` took the failure** (once its
//!   retries were spent): the failure is replayed into that catch.
//! - **anything else** (the failure that ended the run, a failure a
//!   fan-out's catch took, a step cancelled or left unfinished, a rejected
//!   approval): it runs again with the next attempt number and a fresh
//!   retry budget ([`Redrive::attempt_base`]). A parallel or foreach that
//!   failed runs again the same way: its children replay, so only the
//!   failed or cancelled branches and items run again.
//!
//! Inline states (inject, switch, transform) are evaluated again (they are
//! deterministic over the same context); their effects are dropped when
//! their attempt was already recorded. Recorded attempts the replay has not
//! met yet stay in the snapshot ([`Redrive::recorded`]): a foreach item
//! started later, or the handler of a catch reached again, still finds
//! them. They are forgotten when the run ends.

use super::apply::Step;
use super::dag::DagOutcome;
use super::effect::{Effect, StepRef};
use super::site::Site;
use super::state::{ActiveStatus, ActiveStep};
use super::timer::{Timer, TimerKind};
use crate::ids::StepId;
use crate::model::{State, StateKind, Transition, path};
use crate::status::RunStatus;
use crate::wire::{ErrorInfo, EventType};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};

/// How a step's latest attempt ended, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Recorded {
    Succeeded {
        output: Value,
    },
    /// Failed or timed out.
    Failed {
        error: ErrorInfo,
    },
    /// Cancelled, or never finished.
    Unfinished,
}

/// A step's latest attempt, handed in by the driver with a redrive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedAttempt {
    pub attempt: u32,
    pub outcome: Recorded,
    /// Attempts the step had before the redrive that last ran it again
    /// (kept from the snapshot, not read from the store).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub base: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What redrives leave in the snapshot (`runs.state.redrive`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Redrive {
    /// How many times the run was redriven. A run-timeout timer carries
    /// the count it was set under, so the timer of an earlier drive never
    /// times out a later one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub count: u32,
    /// Recorded attempts the replay has not met yet, by step id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recorded: BTreeMap<StepId, RecordedAttempt>,
    /// For a step run again: its attempts before the redrive. Its retry
    /// policy counts the attempts after them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attempt_base: BTreeMap<StepId, u32>,
}

impl Redrive {
    /// Nothing to store: the run was never redriven.
    pub fn is_unused(&self) -> bool {
        self.count == 0 && self.recorded.is_empty() && self.attempt_base.is_empty()
    }

    /// The attempts of `step_id` before it was last run again (0: never).
    pub fn base(&self, step_id: &StepId) -> u32 {
        self.attempt_base.get(step_id).copied().unwrap_or(0)
    }
}

/// A recorded outcome waiting to be applied, at the top level, after the
/// input (like a bounced task), so a long replay never recurses.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Replay {
    /// The frame the step runs in (`""`: the top level or a DAG).
    frame: String,
    step: StepRef,
    /// A parallel or foreach state, applied from its join value.
    fanout: bool,
    outcome: Result<Value, ErrorInfo>,
}

/// The replay's bookkeeping within one application.
#[derive(Debug, Default)]
pub(super) struct ReplayWork {
    queue: VecDeque<Replay>,
    /// Inline attempts evaluated again whose effects are already stored.
    quiet: Vec<(StepId, u32)>,
    /// Steps run again with a new attempt.
    again: Vec<StepRef>,
    /// Where the `workflow.run.redriven` event is among the effects.
    event: Option<usize>,
}

impl Step<'_> {
    /// Takes an ended run back to RUNNING and replays it from its start.
    pub(super) fn redrive(
        &mut self,
        actor: Option<String>,
        reason: Option<String>,
        recorded: BTreeMap<StepId, RecordedAttempt>,
    ) {
        if !self.state.status.is_redrivable() {
            return self.refuse_action("redriven");
        }
        let bases = std::mem::take(&mut self.state.redrive.attempt_base);
        let recorded = recorded
            .into_iter()
            .map(|(step_id, mut attempt)| {
                attempt.base = bases.get(&step_id).copied().unwrap_or(0);
                (step_id, attempt)
            })
            .collect();
        self.state.redrive.recorded = recorded;
        self.state.redrive.count += 1;
        self.reset_for_redrive();
        self.replay.event = Some(self.effects.len());
        self.emit(
            EventType::RunRedriven,
            None,
            json!({ "actor": actor, "reason": reason, "steps": [] }),
        );
        if let Some(seconds) = self.workflow.timeout_seconds {
            // The run's timeout starts again from the redrive.
            let fire_at_ms = self.now.timestamp_millis() + (seconds as i64).saturating_mul(1000);
            let kind = TimerKind::RunTimeout {
                redrive: self.state.redrive.count,
            };
            self.effects
                .push(Effect::Timer(Timer::at(fire_at_ms, kind)));
        }
        let start = self.workflow.start.clone();
        self.enter(&start);
    }

    /// The run as it was started, keeping what is not the flow's: its
    /// input, the signal that started it, signals delivered and not yet
    /// taken, and its parent.
    fn reset_for_redrive(&mut self) {
        let signal = self.state.context.get("signal").cloned();
        let state = &mut *self.state;
        state.status = RunStatus::Running;
        state.error = None;
        state.context = json!({
            "ctx": state.input.clone(),
            "steps": {},
            "signal": signal.unwrap_or(Value::Null),
        });
        state.active.clear();
        state.visits.clear();
        state.previous_output = None;
        state.dag = None;
        state.frames.clear();
        state.fanouts.clear();
        state.child_results.clear();
        state.new_child_results.clear();
        state.paused_from = None;
        state.held.clear();
    }

    /// What the replay does with the step about to be entered: `Some` of
    /// its recorded outcome when that is applied as it was, `None` when
    /// the step runs (for the first time, or again: then `step.attempt`
    /// becomes the next attempt). `in_dag`: a DAG step, whose failure no
    /// catch of its own takes.
    pub(super) fn recall(
        &mut self,
        step: &mut StepRef,
        state: &State,
        in_dag: bool,
    ) -> Option<Result<Value, ErrorInfo>> {
        let recorded = self.state.redrive.recorded.remove(&step.step_id)?;
        let kept = match recorded.outcome {
            Recorded::Succeeded { output } => Some(Ok(output)),
            Recorded::Failed { error }
                if !in_dag
                    && caught_for_good(
                        state,
                        &error,
                        recorded.attempt.saturating_sub(recorded.base),
                    ) =>
            {
                Some(Err(error))
            }
            Recorded::Failed { .. } | Recorded::Unfinished => None,
        };
        if kept.is_some() {
            step.attempt = recorded.attempt;
            self.replay.quiet.push((step.step_id.clone(), step.attempt));
        } else {
            step.attempt = recorded.attempt + 1;
            self.state
                .redrive
                .attempt_base
                .insert(step.step_id.clone(), recorded.attempt);
            self.replay.again.push(step.clone());
        }
        kept
    }

    /// Queues a recorded outcome of the step (an operation, or a parallel
    /// or foreach state when `fanout`), applied once the input is.
    pub(super) fn replay_later(
        &mut self,
        step: StepRef,
        fanout: bool,
        outcome: Result<Value, ErrorInfo>,
    ) {
        self.replay.queue.push_back(Replay {
            frame: self.current.clone(),
            step,
            fanout,
            outcome,
        });
    }

    /// Applies the next queued recorded outcome; `false` when none is left.
    /// One whose frame was cancelled meanwhile is dropped.
    pub(super) fn replay_next(&mut self) -> bool {
        let Some(replay) = self.replay.queue.pop_front() else {
            return false;
        };
        let gone = !replay.frame.is_empty() && !self.state.frames.contains_key(&replay.frame);
        if self.state.status.is_terminal() || gone {
            return true;
        }
        let Replay {
            frame,
            step,
            fanout,
            outcome,
        } = replay;
        let path = step.path.clone();
        match (fanout, outcome) {
            (true, outcome) => self.with_frame(&frame, |s| s.replay_fanout(&step, outcome)),
            (false, Ok(output)) => {
                let active =
                    ActiveStep::new(&step, ActiveStatus::Running, self.now.timestamp_millis());
                self.step_succeeded_with(active, output, false);
            }
            (false, Err(error)) if self.site_of(&path) == Site::Dag => {
                self.dag_step_done(&path, DagOutcome::Failed { error });
            }
            (false, Err(error)) => {
                self.in_scope_of(&path, |s| s.catch_or_fail(&step.state, error));
            }
        }
        true
    }

    /// A parallel or foreach state's recorded end, in the frame now in
    /// effect: its join value written and its transition taken, or its
    /// failure handed to its catch.
    fn replay_fanout(&mut self, step: &StepRef, outcome: Result<Value, ErrorInfo>) {
        let Some(state) = self.scope_state(&step.state) else {
            return;
        };
        let output = match outcome {
            Ok(output) => output,
            Err(error) => return self.catch_or_fail(&step.state, error),
        };
        let result_path = match &state.kind {
            StateKind::Parallel(p) => p.result_path.as_deref(),
            StateKind::Foreach(f) => f.result_path.as_deref(),
            _ => None,
        };
        if let Some(parts) = result_path.and_then(path::segments) {
            self.write_result(&parts, output.clone());
        }
        self.state.previous_output = Some(output);
        match &state.transition {
            Transition::Next(next) => self.enter(next),
            Transition::End | Transition::Decided => self.end_scope(),
        }
    }

    /// After the input: drops the effects of inline attempts that were
    /// already stored, fills in the steps a redrive runs again (those it
    /// did not cancel in the same breath), and forgets the recorded
    /// attempts once the run has ended.
    pub(super) fn finish_replay(&mut self) {
        let work = std::mem::take(&mut self.replay);
        if !work.quiet.is_empty() {
            let quiet = |step: &StepRef| {
                work.quiet
                    .iter()
                    .any(|(id, attempt)| id == &step.step_id && *attempt == step.attempt)
            };
            self.effects.retain(|effect| match effect {
                Effect::Emit(draft) => !draft.step.as_ref().is_some_and(quiet),
                Effect::RecordInline(inline) => !quiet(&inline.step),
                Effect::Dispatch(_) | Effect::Timer(_) => true,
            });
        }
        if let Some(index) = work.event {
            let cancelled = |again: &StepRef| {
                self.effects.iter().any(|effect| {
                    matches!(effect, Effect::Emit(draft)
                        if draft.kind == EventType::StepCancelled
                            && draft.step.as_ref() == Some(again))
                })
            };
            let steps: Vec<&str> = work
                .again
                .iter()
                .filter(|again| !cancelled(again))
                .map(|again| again.step_id.as_str())
                .collect();
            let steps = json!(steps);
            if let Some(Effect::Emit(draft)) = self.effects.get_mut(index) {
                draft.data["steps"] = steps;
            }
        }
        if self.state.status.is_terminal() {
            self.state.redrive.recorded.clear();
        }
    }
}

/// Did the state's own `catch` take this failure, once no retry was left?
fn caught_for_good(state: &State, error: &ErrorInfo, tries: u32) -> bool {
    let retrying = match &state.kind {
        StateKind::Operation(op) => {
            tries < op.retry.max_attempts && op.retry.retries(&error.code, error.retryable)
        }
        _ => false,
    };
    !retrying
        && state
            .catch
            .iter()
            .any(|rule| rule.errors.is_empty() || rule.errors.contains(&error.code))
}
