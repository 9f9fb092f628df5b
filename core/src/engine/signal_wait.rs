//! `signal.wait`: a step that waits for a named signal delivered into its
//! run (`wf.ctl.run.<id>.signal`, or a CloudEvent whose `subject` is
//! `run:<id>`).
//!
//! A signal that no step waits for is kept in the run's mailbox, and the
//! next `signal.wait` for that name (whose filter accepts it) consumes it at
//! once (PROTOCOL §4). The step's output is `{name, data}`. Its timeout ends
//! it TIMED_OUT with `STEP_TIMEOUT`, which may be caught. The run is
//! WAITING_SIGNAL while a wait is pending; `workflow.signal.received` marks
//! the delivery (and the return to RUNNING).

use super::apply::Step;
use super::effect::{Effect, InlineStep, StepRef};
use super::state::{ActiveStatus, ActiveStep, Mail, Wait};
use super::timer::{StepAttempt, Timer, TimerKind};
use crate::expr::{Bindings, CompiledExpr};
use crate::ids::StepId;
use crate::model::{Action, Operation, SignalWait};
use crate::status::{RunStatus, StepStatus};
use crate::wire::control::ErrorCode;
use crate::wire::error::codes;
use crate::wire::{ErrorInfo, EventType};
use serde_json::{Value, json};

/// How many delivered CloudEvent ids a run remembers to drop redeliveries.
const SIGNALS_REMEMBERED: usize = 256;

/// Does `filter` (if any) accept a signal? A filter that raises does not.
fn accepts(filter: Option<&str>, mail: &Mail) -> bool {
    let Some(filter) = filter else { return true };
    let bindings = Bindings::new()
        .with("signal", json!({ "name": mail.name, "data": mail.data }))
        .with("data", mail.data.clone());
    CompiledExpr::cached(filter)
        .and_then(|expr| expr.evaluate_bool(&bindings))
        .unwrap_or(false)
}

impl Step<'_> {
    /// Starts a `signal.wait` step: a stored signal is consumed at once,
    /// otherwise the step waits.
    pub(super) fn wait_for_signal(
        &mut self,
        step: StepRef,
        operation: &Operation,
        wait: &SignalWait,
    ) {
        self.emit(
            EventType::StepStarted,
            Some(step.clone()),
            json!({ "input": { "signal": wait.signal } }),
        );
        let stored = self
            .state
            .mailbox
            .iter()
            .position(|m| m.name == wait.signal && accepts(wait.filter.as_deref(), m));
        let active = ActiveStep::new(
            &step,
            ActiveStatus::Waiting(Wait::Signal {
                name: wait.signal.clone(),
            }),
            self.now.timestamp_millis(),
        );
        if let Some(index) = stored {
            let mail = self.state.mailbox.remove(index);
            return self.signal_arrived(active, mail);
        }
        self.state.active.push(active);
        self.record_waiting(
            step.clone(),
            StepStatus::WaitingSignal,
            json!({ "signal": wait.signal }),
        );
        if self.state.status == RunStatus::Running {
            self.state.status = RunStatus::WaitingSignal;
        }
        self.emit(
            EventType::RunWaiting,
            None,
            json!({ "on": "signal", "step_id": step.step_id }),
        );
        let timeout = operation.timeout_seconds.or(wait.timeout_seconds);
        if let Some(seconds) = timeout {
            let fire_at_ms = self.now.timestamp_millis() + (seconds as i64).saturating_mul(1000);
            let timeout = TimerKind::SignalTimeout(StepAttempt {
                step_id: step.step_id,
                attempt: step.attempt,
            });
            self.effects
                .push(Effect::Timer(Timer::at(fire_at_ms, timeout)));
        }
    }

    /// A signal was delivered into the run: the first step waiting for it
    /// (whose filter accepts it) takes it; otherwise it is kept.
    pub(super) fn signal_received(&mut self, name: String, data: Value, id: Option<String>) {
        if self.state.status.is_terminal() {
            let message = format!(
                "run `{}` already ended {}",
                self.meta.run_id,
                self.state.status.as_str()
            );
            return self.reject(ErrorCode::InvalidState, message);
        }
        if let Some(id) = id {
            if self.state.signals_seen.contains(&id) {
                return;
            }
            if self.state.signals_seen.len() >= SIGNALS_REMEMBERED {
                self.state.signals_seen.remove(0);
            }
            self.state.signals_seen.push(id);
        }
        let mail = Mail { name, data };
        self.emit(
            EventType::SignalReceived,
            None,
            json!({ "name": mail.name, "data": mail.data }),
        );
        let waiting = self.state.active.iter().position(|a| {
            a.signal() == Some(mail.name.as_str())
                && accepts(self.wait_filter(&a.path).as_deref(), &mail)
        });
        match waiting {
            Some(index) => {
                let active = self.state.active.remove(index);
                self.signal_arrived(active, mail);
            }
            None => self.state.mailbox.push(mail),
        }
    }

    fn wait_filter(&self, path: &str) -> Option<String> {
        match &self.operation_for(path)?.action {
            Action::SignalWait(wait) => wait.filter.clone(),
            _ => None,
        }
    }

    /// The waiting step takes the signal and the run goes on.
    fn signal_arrived(&mut self, active: ActiveStep, mail: Mail) {
        if self.state.status == RunStatus::WaitingSignal
            && !self.state.active.iter().any(|a| a.signal().is_some())
        {
            self.state.status = RunStatus::Running;
        }
        let output = json!({ "name": mail.name, "data": mail.data });
        self.step_succeeded_with(active, output, true);
    }

    /// The wait's timeout passed.
    pub(super) fn wait_timed_out(&mut self, step_id: &StepId, attempt: u32) {
        if self.state.status.is_terminal() {
            return;
        }
        let Some(index) = self
            .state
            .active
            .iter()
            .position(|a| a.signal().is_some() && a.is(step_id, attempt))
        else {
            return;
        };
        let active = self.state.active.remove(index);
        if self.state.status == RunStatus::WaitingSignal
            && !self.state.active.iter().any(|a| a.signal().is_some())
        {
            self.state.status = RunStatus::Running;
        }
        let step = active.step_ref();
        let error = ErrorInfo::new(
            codes::STEP_TIMEOUT,
            format!(
                "no `{}` signal arrived before the timeout",
                active.signal().unwrap_or_default()
            ),
        )
        .not_retryable();
        let error = self.locate(error, &step);
        self.emit(
            EventType::StepTimedOut,
            Some(step.clone()),
            json!({ "error": error }),
        );
        self.effects.push(Effect::RecordInline(InlineStep {
            step: step.clone(),
            status: StepStatus::TimedOut,
            input: Value::Null,
            output: None,
            error: Some(error.clone()),
        }));
        let state = step.state.clone();
        self.in_scope_of_path(&step.path, |s| s.catch_or_fail(&state, error));
    }
}
