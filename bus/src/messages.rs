//! Outbox messages for events and tasks: subject, `Nats-Msg-Id` and payload
//! exactly as PROTOCOL §1 and §3 pin them.

use super::Subjects;
use junction_core::outbox::NewOutboxMessage;
use junction_core::wire::{Event, StepTask};

/// An event on `wf.event.step.<run>.<step>` or `wf.event.run.<run>`, id `<run>:<seq>`.
pub fn event_message(subjects: &Subjects, event: &Event) -> NewOutboxMessage {
    NewOutboxMessage {
        subject: subjects.event(&event.run_id, event.step_id.as_deref()),
        msg_id: event.msg_id(),
        payload: serde_json::to_vec(event).unwrap_or_default(),
    }
}

/// A task on `wf.task.step.<run>.<step>`, id `<run>:<step>:<attempt>`.
pub fn task_message(subjects: &Subjects, task: &StepTask) -> NewOutboxMessage {
    NewOutboxMessage {
        subject: subjects.step_task(&task.run_id, &task.step_id),
        msg_id: task.idempotency_key(),
        payload: serde_json::to_vec(task).unwrap_or_default(),
    }
}
