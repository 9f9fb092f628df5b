//! The run state machine: a pure function
//! `apply(workflow, meta, state, input, now) -> effects` (ARCHITECTURE.md).
//!
//! **Architecture Invariant:** nothing here does I/O, reads a clock or draws
//! randomness. Time and ids come in as arguments; what must happen in the world
//! goes out as [`Effect`]s, which the coordinator persists and publishes in one
//! transaction.

mod apply;
mod approval;
mod child;
mod children;
mod dag;
mod dispatch;
mod effect;
mod fanout;
mod frames;
mod inline;
mod input;
mod join;
mod lost;
mod operator;
mod queue;
mod redrive;
mod results;
mod run_end;
mod signal_wait;
mod site;
mod spans;
mod state;
pub mod template;
mod timer;
mod unclaimed;

pub use apply::{ApplyContext, apply};
pub use dag::{DagOutcome, DagProgress};
pub use effect::{Effect, EventDraft, InlineStep, StepRef};
pub use frames::{Child, Fanout, Frame, RouteStep};
pub use input::{Answer, Input, Outcome};
pub use lost::lost_task;
pub use queue::QueuedStart;
pub use redrive::{Recorded, RecordedAttempt, Redrive};
pub use spans::{EndedState, OpenStates, ended_states};
pub use state::{ActiveStatus, ActiveStep, HeldEffect, ParentLink, RunMeta, RunState, Wait};
pub use timer::{
    APPROVAL_DECIDED, ApprovalDecision, ApprovalRequest, ChildStart, STEP_DEADLINE, STEP_UNCLAIMED,
    StepAttempt, StoredTimer, Timer, TimerError, TimerKind,
};
pub use unclaimed::UNCLAIMED_STEP_GRACE_SECONDS;

#[cfg(test)]
mod orderings;
#[cfg(test)]
mod tests;
