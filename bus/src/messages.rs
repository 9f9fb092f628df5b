//! Outbox messages for events and tasks, on the subjects this crate names
//! (PROTOCOL §1 and §3); the message itself is built by
//! [`junction_core::outbox`]'s constructors.

use super::Subjects;
use junction_core::outbox::{NewOutboxMessage, OutboxMessage};
use junction_core::wire::{Event, StepTask};

/// A stored event, to publish again outside the outbox (row id 0) on
/// `wf.event.step.<run>.<step>` or `wf.event.run.<run>`, id `<run>:<seq>`.
pub fn event_message(
    subjects: &Subjects,
    event: &Event,
    traceparent: Option<String>,
) -> serde_json::Result<OutboxMessage> {
    let subject = subjects.event(&event.run_id, event.step_id.as_deref());
    OutboxMessage::event(0, subject, event, event.seq, traceparent)
}

/// A task on its executor's subject (`wf.task.step.<run>.<step>` for
/// `agent.run`, `wf.task.<executor token>.<run>.<step>` otherwise), id
/// `<run>:<step>:<attempt>`, naming the span that dispatched it.
pub fn task_message(
    subjects: &Subjects,
    task: &StepTask,
    traceparent: Option<String>,
) -> serde_json::Result<NewOutboxMessage> {
    NewOutboxMessage::task(
        subjects.executor_task(task.action.name(), &task.run_id, &task.step_id),
        task,
        traceparent,
    )
}
