//! Message shapes that cross the wire (PROTOCOL §2–§5). Pure data, no I/O.

pub mod agent;
pub mod circuit;
pub mod control;
pub mod error;
pub mod event;
pub mod signal;
pub mod storable;
pub mod task;
pub mod time;

pub use error::ErrorInfo;
pub use event::{Event, EventType};
pub use task::{StepTask, TaskAction, WorkflowRef};

/// The size in bytes of `value`'s JSON, counted without building the text
/// (a payload limit is checked before the message is serialized for real).
/// A value that cannot be serialized counts as `usize::MAX`: over any limit.
pub fn json_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    /// A writer that only counts.
    struct Counter(usize);

    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(bytes.len());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::json_len;
    use serde_json::json;

    #[test]
    fn json_len_is_the_length_of_the_text() {
        for value in [
            json!(null),
            json!({"a": [1, 2.5, "é"], "b": {"c": true}}),
            json!("x".repeat(10_000)),
        ] {
            let text = serde_json::to_vec(&value).expect("serializes");
            assert_eq!(json_len(&value), text.len(), "{value}");
        }
    }
}
