//! The inputs of the state machine (what can happen to a run) and its
//! answer to each ([`Outcome`]).

use super::effect::Effect;
use super::redrive::RecordedAttempt;
use super::state::ParentLink;
use crate::ids::StepId;
use crate::wire::ErrorInfo;
use crate::wire::control::ErrorCode;
use serde_json::Value;
use std::collections::BTreeMap;

/// What happened to a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Start the run (signal or `run.start`).
    Start {
        input: Value,
        signal: Option<Value>,
        causation_id: Option<String>,
        correlation_id: String,
        /// The parent step, when this run is a `workflow.run` child.
        parent: Option<ParentLink>,
    },
    /// Queue the run: its workflow's concurrency slots for its key are
    /// taken. It stays `PENDING`, emits nothing and dispatches nothing
    /// until [`Input::Admit`]; the start is kept in the snapshot.
    Queue {
        input: Value,
        signal: Option<Value>,
        causation_id: Option<String>,
        correlation_id: String,
        parent: Option<ParentLink>,
    },
    /// A slot freed up: start the queued run as its `Queue` said.
    Admit,
    /// A worker finished an attempt successfully.
    StepSucceeded {
        step_id: StepId,
        attempt: u32,
        output: Value,
    },
    /// A worker finished an attempt with an error (timeouts included).
    StepFailed {
        step_id: StepId,
        attempt: u32,
        error: ErrorInfo,
    },
    /// A durable retry timer is due.
    RetryTimerFired { step_id: StepId, attempt: u32 },
    /// The coordinator's backstop deadline of a claimed attempt passed with
    /// no result: the step times out (its retry policy applies).
    StepDeadline { step_id: StepId, attempt: u32 },
    /// A task's timeout passed and no worker has claimed it (none offers
    /// its executor, or all are busy): the step times out.
    StepUnclaimed { step_id: StepId, attempt: u32 },
    /// The run's own timeout (`timeoutSeconds` at the top level) is due;
    /// `redrive` is the count of redrives it was set under (0: the start).
    RunTimeout { redrive: u32 },
    /// An operator (or a cancelled parent) cancels the run.
    Cancel {
        actor: Option<String>,
        reason: Option<String>,
    },
    /// A person approved or rejected a `human.approval` step.
    ApprovalDecided {
        step_id: StepId,
        attempt: u32,
        approved: bool,
        actor: Option<String>,
        comment: Option<String>,
        /// RFC 3339, as recorded with the decision.
        decided_at: String,
    },
    /// A `human.approval` step's timeout passed.
    ApprovalTimeout { step_id: StepId, attempt: u32 },
    /// A named signal was delivered into the run; `id` (a CloudEvent's)
    /// makes a redelivery harmless.
    SignalReceived {
        name: String,
        data: Value,
        id: Option<String>,
    },
    /// A `signal.wait` step's timeout passed.
    WaitTimeout { step_id: StepId, attempt: u32 },
    /// Stop scheduling new steps; steps in flight finish.
    Pause {
        actor: Option<String>,
        reason: Option<String>,
    },
    /// Schedule again what a pause held back.
    Resume {
        actor: Option<String>,
        reason: Option<String>,
    },
    /// Take an ended run (FAILED, TIMED_OUT, CANCELLED) back to RUNNING:
    /// `recorded` is each step's latest attempt, by step id, as stored.
    Redrive {
        actor: Option<String>,
        reason: Option<String>,
        recorded: BTreeMap<StepId, RecordedAttempt>,
    },
}

/// What applying an input did: the effects to store, in order, and the
/// engine's answer to the input.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Outcome {
    pub effects: Vec<Effect>,
    pub answer: Answer,
}

/// The engine's answer to an input. Only an operator action (cancel,
/// pause, resume, redrive, a signal sent into the run, an approval decision) is
/// ever `Rejected`, when the run's status does not allow it; every other
/// input is `Applied`, including one that no longer applies and changes
/// nothing (a late or duplicate result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Applied,
    /// `code` is the control-plane error the refusal is answered with.
    Rejected {
        code: ErrorCode,
        message: String,
    },
}
