//! Durable timers: every kind with its data ([`TimerKind`]), and its stored
//! form (`timers.kind`, `step_id`, `attempt`, `payload`), mapped both ways
//! here and nowhere else.
//!
//! A transition stores timers for what must happen later (a retry backoff,
//! a run's or a wait's timeout) and for work the driver does outside the
//! transition, durably and at least once (starting a child run, recording
//! an approval, cancelling children, telling a parent its child ended).
//! The coordinator's timer loop reads a due row, decodes it with
//! [`TimerKind::decode`], does its I/O if any and applies the input it
//! brings. The stored kind names are fixed: rows of existing databases
//! carry them, and two kinds are written by the store's own statements
//! (`step_deadline` by a worker's lazy claim, `approval_decided` by an
//! operator's decision), so renaming one is a migration.

use crate::ids::{RunId, StepId};
use crate::wire::ErrorInfo;
use crate::wire::error::codes;
use serde_json::{Value, json};

/// One step attempt a timer is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepAttempt {
    pub step_id: StepId,
    pub attempt: u32,
}

/// The child run a `workflow.run` step asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildStart {
    pub workflow_id: String,
    /// A pinned revision, or the latest.
    pub version: Option<i32>,
    pub input: Value,
}

/// A pending approval to record in `approvals`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRequest {
    pub approval_id: String,
    pub state: String,
    pub message: Option<String>,
    pub summary: Value,
    pub approvers: Vec<String>,
    pub expires_at_ms: Option<i64>,
}

/// A person's decision on an approval, as recorded with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalDecision {
    pub approved: bool,
    pub actor: Option<String>,
    pub comment: Option<String>,
    /// RFC 3339.
    pub decided_at: String,
}

/// What a durable timer does when it fires.
#[derive(Debug, Clone, PartialEq)]
pub enum TimerKind {
    /// A retry backoff ended: dispatch the attempt (`retry`).
    Retry(StepAttempt),
    /// The run's own `timeoutSeconds` passed (`run_timeout`); `redrive`
    /// is the count of redrives it was set under (stored as `attempt`,
    /// absent for 0).
    RunTimeout { redrive: u32 },
    /// The backstop of a claimed attempt whose worker may be lost
    /// (`step_deadline`, written by the worker's claim).
    StepDeadline(StepAttempt),
    /// A worker task that no worker may have taken yet: its step times out
    /// unless a worker claimed it first (`step_unclaimed`, written at
    /// dispatch for executors other than `agent.run`; a claim deletes it).
    StepUnclaimed(StepAttempt),
    /// A `signal.wait` step's timeout (`signal_timeout`).
    SignalTimeout(StepAttempt),
    /// Start the child run of a `workflow.run` step (`start_child`).
    StartChild {
        step: StepAttempt,
        child: ChildStart,
    },
    /// A child run ended: its parent step's result (`child_done`, on the
    /// parent run).
    ChildDone {
        step: StepAttempt,
        outcome: Result<Value, ErrorInfo>,
    },
    /// Cancel the run's running child runs (`cancel_children`).
    CancelChildren,
    /// Record a pending approval (`approval_request`).
    ApprovalRequest {
        step: StepAttempt,
        request: ApprovalRequest,
    },
    /// An approval's expiry (`approval_timeout`).
    ApprovalTimeout {
        step: StepAttempt,
        approval_id: String,
    },
    /// A decision to apply (`approval_decided`, written by the store when
    /// an operator decides).
    ApprovalDecided {
        step: StepAttempt,
        decision: ApprovalDecision,
    },
    /// Close the approvals of a run that ended (`approvals_close`).
    ApprovalsClose { approval_ids: Vec<String> },
    /// A run that held a concurrency slot ended: admit the next queued
    /// runs of its key (`release_slot`).
    ReleaseSlot,
}

/// A timer a transition stores.
#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    pub kind: TimerKind,
    /// When it fires, in milliseconds since the epoch; `None`: at once.
    pub fire_at_ms: Option<i64>,
    /// The run it belongs to; `None`: the run whose transition stores it.
    pub run_id: Option<RunId>,
}

impl Timer {
    /// A timer of this run, due at once.
    pub fn now(kind: TimerKind) -> Self {
        Self {
            kind,
            fire_at_ms: None,
            run_id: None,
        }
    }

    /// A timer of this run, due at `fire_at_ms`.
    pub fn at(fire_at_ms: i64, kind: TimerKind) -> Self {
        Self {
            kind,
            fire_at_ms: Some(fire_at_ms),
            run_id: None,
        }
    }
}

/// A timer's columns in `timers`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTimer {
    pub kind: &'static str,
    pub step_id: Option<StepId>,
    pub attempt: Option<u32>,
    pub payload: Option<Value>,
}

/// A stored timer that names no [`TimerKind`], or lacks what its kind needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimerError {
    #[error("unknown timer kind {0:?}")]
    UnknownKind(String),
    #[error("`{0}` timer without a step attempt")]
    NoStep(&'static str),
    #[error("`{kind}` timer: {message}")]
    Payload {
        kind: &'static str,
        message: &'static str,
    },
}

const RETRY: &str = "retry";
const RUN_TIMEOUT: &str = "run_timeout";
/// The stored kind of a step's backstop deadline (the worker's claim
/// statement writes it).
pub const STEP_DEADLINE: &str = "step_deadline";
/// The stored kind of an unclaimed task's timeout (the worker's claim
/// statement deletes it).
pub const STEP_UNCLAIMED: &str = "step_unclaimed";
const SIGNAL_TIMEOUT: &str = "signal_timeout";
const START_CHILD: &str = "start_child";
const CHILD_DONE: &str = "child_done";
const CANCEL_CHILDREN: &str = "cancel_children";
const APPROVAL_REQUEST: &str = "approval_request";
const APPROVAL_TIMEOUT: &str = "approval_timeout";
/// The stored kind of a decided approval (the decision's statement writes it).
pub const APPROVAL_DECIDED: &str = "approval_decided";
const APPROVALS_CLOSE: &str = "approvals_close";
const RELEASE_SLOT: &str = "release_slot";

impl TimerKind {
    /// The stored `timers.kind`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Retry(_) => RETRY,
            Self::RunTimeout { .. } => RUN_TIMEOUT,
            Self::StepDeadline(_) => STEP_DEADLINE,
            Self::StepUnclaimed(_) => STEP_UNCLAIMED,
            Self::SignalTimeout(_) => SIGNAL_TIMEOUT,
            Self::StartChild { .. } => START_CHILD,
            Self::ChildDone { .. } => CHILD_DONE,
            Self::CancelChildren => CANCEL_CHILDREN,
            Self::ApprovalRequest { .. } => APPROVAL_REQUEST,
            Self::ApprovalTimeout { .. } => APPROVAL_TIMEOUT,
            Self::ApprovalDecided { .. } => APPROVAL_DECIDED,
            Self::ApprovalsClose { .. } => APPROVALS_CLOSE,
            Self::ReleaseSlot => RELEASE_SLOT,
        }
    }

    /// The step attempt the timer is about, if any.
    pub fn step(&self) -> Option<&StepAttempt> {
        match self {
            Self::Retry(step)
            | Self::StepDeadline(step)
            | Self::StepUnclaimed(step)
            | Self::SignalTimeout(step) => Some(step),
            Self::StartChild { step, .. }
            | Self::ChildDone { step, .. }
            | Self::ApprovalRequest { step, .. }
            | Self::ApprovalTimeout { step, .. }
            | Self::ApprovalDecided { step, .. } => Some(step),
            Self::RunTimeout { .. }
            | Self::CancelChildren
            | Self::ApprovalsClose { .. }
            | Self::ReleaseSlot => None,
        }
    }

    /// The timer's columns.
    pub fn encode(&self) -> StoredTimer {
        let step = self.step();
        let attempt = match self {
            Self::RunTimeout { redrive } => (*redrive > 0).then_some(*redrive),
            _ => step.map(|s| s.attempt),
        };
        StoredTimer {
            kind: self.name(),
            step_id: step.map(|s| s.step_id.clone()),
            attempt,
            payload: self.payload(),
        }
    }

    fn payload(&self) -> Option<Value> {
        Some(match self {
            Self::Retry(_)
            | Self::RunTimeout { .. }
            | Self::StepDeadline(_)
            | Self::StepUnclaimed(_)
            | Self::SignalTimeout(_)
            | Self::CancelChildren
            | Self::ReleaseSlot => return None,
            Self::StartChild { child, .. } => json!({
                "workflow_id": child.workflow_id,
                "version": child.version,
                "input": child.input,
            }),
            Self::ChildDone { outcome, .. } => match outcome {
                Ok(output) => json!({ "output": output }),
                Err(error) => json!({ "error": error }),
            },
            Self::ApprovalRequest { request, .. } => json!({
                "approval_id": request.approval_id,
                "state": request.state,
                "message": request.message,
                "summary": request.summary,
                "approvers": request.approvers,
                "expires_at_ms": request.expires_at_ms,
            }),
            Self::ApprovalTimeout { approval_id, .. } => json!({ "approval_id": approval_id }),
            Self::ApprovalDecided { decision, .. } => json!({
                "approved": decision.approved,
                "actor": decision.actor,
                "comment": decision.comment,
                "decided_at": decision.decided_at,
            }),
            Self::ApprovalsClose { approval_ids } => json!({ "approval_ids": approval_ids }),
        })
    }

    /// The timer a stored row describes: the one place a fired timer is read.
    pub fn decode(
        kind: &str,
        step_id: Option<&str>,
        attempt: Option<u32>,
        payload: Option<&Value>,
    ) -> Result<Self, TimerError> {
        let payload = payload.unwrap_or(&Value::Null);
        let step = |kind: &'static str| match (step_id, attempt) {
            (Some(step_id), Some(attempt)) => Ok(StepAttempt {
                step_id: StepId::new(step_id),
                attempt,
            }),
            _ => Err(TimerError::NoStep(kind)),
        };
        Ok(match kind {
            RETRY => Self::Retry(step(RETRY)?),
            RUN_TIMEOUT => Self::RunTimeout {
                redrive: attempt.unwrap_or(0),
            },
            STEP_DEADLINE => Self::StepDeadline(step(STEP_DEADLINE)?),
            STEP_UNCLAIMED => Self::StepUnclaimed(step(STEP_UNCLAIMED)?),
            SIGNAL_TIMEOUT => Self::SignalTimeout(step(SIGNAL_TIMEOUT)?),
            START_CHILD => Self::StartChild {
                step: step(START_CHILD)?,
                child: child_start(payload)?,
            },
            CHILD_DONE => Self::ChildDone {
                step: step(CHILD_DONE)?,
                outcome: child_outcome(payload),
            },
            CANCEL_CHILDREN => Self::CancelChildren,
            RELEASE_SLOT => Self::ReleaseSlot,
            APPROVAL_REQUEST => Self::ApprovalRequest {
                step: step(APPROVAL_REQUEST)?,
                request: approval_request(payload),
            },
            APPROVAL_TIMEOUT => Self::ApprovalTimeout {
                step: step(APPROVAL_TIMEOUT)?,
                approval_id: text(payload, "approval_id").unwrap_or_default(),
            },
            APPROVAL_DECIDED => Self::ApprovalDecided {
                step: step(APPROVAL_DECIDED)?,
                decision: approval_decision(payload),
            },
            APPROVALS_CLOSE => Self::ApprovalsClose {
                approval_ids: strings(payload, "approval_ids"),
            },
            other => return Err(TimerError::UnknownKind(other.to_owned())),
        })
    }
}

fn text(payload: &Value, key: &str) -> Option<String> {
    payload.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn strings(payload: &Value, key: &str) -> Vec<String> {
    payload
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn child_start(payload: &Value) -> Result<ChildStart, TimerError> {
    Ok(ChildStart {
        workflow_id: text(payload, "workflow_id").ok_or(TimerError::Payload {
            kind: START_CHILD,
            message: "no workflow to start",
        })?,
        version: payload
            .get("version")
            .and_then(Value::as_i64)
            .and_then(|v| i32::try_from(v).ok()),
        input: payload.get("input").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A child's end; an error that does not read is still a failure.
#[allow(
    clippy::result_large_err,
    reason = "the outcome is the child's result as it is delivered, not an error path"
)]
fn child_outcome(payload: &Value) -> Result<Value, ErrorInfo> {
    match payload.get("error") {
        Some(error) => Err(serde_json::from_value::<ErrorInfo>(error.clone())
            .unwrap_or_else(|_| ErrorInfo::new(codes::CHILD_FAILED, "the child run failed"))),
        None => Ok(payload.get("output").cloned().unwrap_or(Value::Null)),
    }
}

fn approval_request(payload: &Value) -> ApprovalRequest {
    ApprovalRequest {
        approval_id: text(payload, "approval_id").unwrap_or_default(),
        state: text(payload, "state").unwrap_or_default(),
        message: text(payload, "message"),
        summary: payload.get("summary").cloned().unwrap_or(Value::Null),
        approvers: strings(payload, "approvers"),
        expires_at_ms: payload.get("expires_at_ms").and_then(Value::as_i64),
    }
}

fn approval_decision(payload: &Value) -> ApprovalDecision {
    ApprovalDecision {
        approved: payload
            .get("approved")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        actor: text(payload, "actor"),
        comment: text(payload, "comment"),
        decided_at: text(payload, "decided_at").unwrap_or_default(),
    }
}
