//! Message shapes that cross the wire (PROTOCOL §2–§5). Pure data, no I/O.

pub mod agent;
pub mod error;
pub mod event;
pub mod task;
pub mod signal;
pub mod control;
pub mod time;

pub use error::ErrorInfo;
pub use event::{Event, EventType};
pub use task::{StepTask, TaskAction, WorkflowRef};
