//! `trigger: {signal, filter}`, read alike by every front end (its
//! `schedule` is read by `schedule::from_trigger`).

use super::diag::Diagnostics;
use super::parse::{is_valid_signal_type, string_field};
use serde_json::Value;

/// Parses `trigger: {signal, filter}`; shared with the other front ends.
pub fn trigger(value: Option<&Value>, diagnostics: &mut Diagnostics) -> Option<super::ir::Trigger> {
    let value = value?;
    let Some(object) = value.as_object() else {
        diagnostics.error(
            "INVALID_TYPE",
            "trigger",
            "trigger must be a mapping with `signal` and/or `schedule`",
        );
        return None;
    };
    match object.get("signal").and_then(Value::as_str) {
        // A schedule alone (`trigger: {schedule}`) is read by `schedule::from_trigger`.
        None if object.contains_key("schedule") && !object.contains_key("signal") => None,
        Some(signal) if is_valid_signal_type(signal) => Some(super::ir::Trigger {
            signal: signal.to_owned(),
            filter: string_field(object, "filter"),
        }),
        _ => {
            diagnostics.error(
                "INVALID_TRIGGER",
                "trigger.signal",
                "trigger.signal must be a dot-separated signal type",
            );
            None
        }
    }
}
