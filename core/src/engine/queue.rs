//! Concurrency queues (docs/language.md §1, `concurrency`). A run whose
//! key has no free slot is started with [`Input::Queue`](super::Input): it
//! stays `PENDING` with its start kept here, emits no event and dispatches
//! nothing. [`Input::Admit`](super::Input) starts it then (its
//! `workflow.run.started` is its first event). A run that held a slot
//! stores a `release_slot` timer in the transition that ends it, so the
//! coordinator admits the next queued runs of its key even after a crash.
//! Which runs hold slots and which are admitted is decided by the driver,
//! under the key's lock; the engine only keeps each run's side.

use super::apply::Step;
use super::effect::Effect;
use super::state::ParentLink;
use super::timer::{Timer, TimerKind};
use crate::status::RunStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What a queued run is started with once admitted (its input is the run
/// input, kept in the run row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedStart {
    pub signal: Option<Value>,
    pub causation_id: Option<String>,
    pub correlation_id: String,
}

impl Step<'_> {
    /// Queues a run that has not started. A repeated queue changes nothing.
    /// Its context is already the one it will start with (so reading a
    /// queued run shows its input), though nothing has run.
    pub(super) fn queue(
        &mut self,
        input: Value,
        signal: Option<Value>,
        causation_id: Option<String>,
        correlation_id: String,
        parent: Option<ParentLink>,
    ) {
        if self.state.status != RunStatus::Pending || self.state.queued.is_some() {
            return;
        }
        self.state.parent = parent;
        self.state.context = json!({
            "ctx": input.clone(),
            "steps": {},
            "signal": signal.clone().unwrap_or(Value::Null),
        });
        self.state.input = input;
        self.state.queued = Some(QueuedStart {
            signal,
            causation_id,
            correlation_id,
        });
    }

    /// Starts a queued run. A run that is not queued (admitted already,
    /// or cancelled while it waited) ignores it.
    pub(super) fn admit(&mut self) {
        if self.state.status != RunStatus::Pending {
            return;
        }
        let Some(queued) = self.state.queued.take() else {
            return;
        };
        let input = self.state.input.clone();
        self.start(
            input,
            queued.signal,
            queued.causation_id,
            queued.correlation_id,
        );
    }

    /// A run of a limited workflow that held a slot and ended in this
    /// transition frees it: a `release_slot` timer, due at once. A run that
    /// ends while still queued (a cancel) held none, and frees nothing.
    pub(super) fn release_slot(&mut self, before: RunStatus, started_now: bool) {
        let held = before != RunStatus::Pending || started_now;
        let ended_now = !before.is_terminal() && self.state.status.is_terminal();
        if self.workflow.concurrency.is_some() && held && ended_now {
            self.effects
                .push(Effect::Timer(Timer::now(TimerKind::ReleaseSlot)));
        }
    }
}
