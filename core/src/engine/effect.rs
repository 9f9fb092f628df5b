//! Effects: what a transition asks the driver to make true in the world.

use crate::ids::StepId;
use crate::status::StepStatus;
use crate::wire::{ErrorInfo, EventType, StepTask};
use serde_json::Value;

/// The step an event belongs to.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepRef {
    pub step_id: StepId,
    pub state: String,
    pub path: String,
    pub attempt: u32,
}

/// A lifecycle event to store and publish; the store assigns `seq` and `time`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    pub kind: EventType,
    pub step: Option<StepRef>,
    pub data: Value,
}

/// A state executed inline by the coordinator (inject, and steps that fail
/// before dispatch): one finished attempt row with no worker.
#[derive(Debug, Clone, PartialEq)]
pub struct InlineStep {
    pub step: StepRef,
    pub status: StepStatus,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<ErrorInfo>,
}

/// One thing the world must reflect after a transition, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Store and publish a lifecycle event.
    Emit(EventDraft),
    /// Create a PENDING attempt row and publish its task.
    Dispatch(StepTask),
    /// Record an inline step execution.
    RecordInline(InlineStep),
    /// Fire [`crate::engine::Input::TimerFired`] for this step attempt at `fire_at_ms`
    /// (milliseconds since the epoch).
    StartRetryTimer {
        step_id: StepId,
        attempt: u32,
        fire_at_ms: i64,
    },
    /// Store a durable timer that ends the run as TIMED_OUT at `fire_at_ms`
    /// (the workflow's `timeoutSeconds`); it fires as [`super::Input::RunTimeout`].
    StartRunTimer { fire_at_ms: i64 },
    /// Start a child run of `workflow_id` for a `workflow.run` step, at most
    /// once per step attempt (the driver dedupes by the step's identity).
    StartChild {
        step_id: StepId,
        attempt: u32,
        workflow_id: String,
        /// A pinned revision, or the latest.
        version: Option<i32>,
        input: Value,
    },
    /// Store a durable timer ending a `signal.wait` at `fire_at_ms`.
    StartWaitTimer {
        step_id: StepId,
        attempt: u32,
        fire_at_ms: i64,
    },
    /// Record a pending approval (and its expiry timer, if any).
    RequestApproval {
        approval_id: String,
        step_id: StepId,
        attempt: u32,
        state: String,
        message: Option<String>,
        summary: Value,
        approvers: Vec<String>,
        expires_at_ms: Option<i64>,
    },
    /// The run ended while these approvals were pending: close them.
    CloseApprovals { approval_ids: Vec<String> },
    /// Cancel the child runs of this run's `workflow.run` steps (the driver
    /// finds them by their causation, durably and at least once).
    CancelChildren,
    /// This child run ended: report to the parent's step. Exactly one of
    /// `output` and `error` is set.
    NotifyParent {
        parent: super::state::ParentLink,
        output: Option<Value>,
        error: Option<ErrorInfo>,
    },
}
