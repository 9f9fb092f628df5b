//! Message shapes that cross the wire (PROTOCOL §2–§5). Pure data, no I/O.

pub mod agent;
pub mod control;
pub mod error;
pub mod event;
pub mod signal;
pub mod task;
pub mod time;

pub use error::ErrorInfo;
pub use event::{Event, EventType};
pub use task::{StepTask, TaskAction, WorkflowRef};
