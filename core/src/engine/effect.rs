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
    /// Store a durable timer: for later (a backoff, a timeout), or for work
    /// the driver does after the commit, at least once (see [`TimerKind`]).
    ///
    /// [`TimerKind`]: super::TimerKind
    Timer(super::Timer),
}
