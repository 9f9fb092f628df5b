//! What the I/O executors (`http.request`, `llm`, `shell.run`) share: reading
//! their input object, the deadline a `timeoutSeconds` shortens, and the
//! outcomes of bad input and of a missed deadline.

#![allow(
    clippy::result_large_err,
    reason = "ErrorInfo is the step's error as stored; built once per failure"
)]

use super::Outcome;
use chrono::{DateTime, Utc};
use junction_core::status::StepStatus;
use junction_core::wire::ErrorInfo;
use junction_core::wire::error::codes;
use serde_json::{Map, Value};
use std::time::Duration;

/// A malformed input: `INVALID_INPUT`, never retried (the same input fails
/// the same way).
pub fn invalid_input(executor: &str, message: impl std::fmt::Display) -> ErrorInfo {
    ErrorInfo::new(codes::INVALID_INPUT, format!("{executor}: {message}")).not_retryable()
}

/// The step ran out of time: `STEP_TIMEOUT`, the attempt `TIMED_OUT`.
pub fn timed_out(message: impl Into<String>) -> Outcome {
    Outcome::Failed {
        status: StepStatus::TimedOut,
        error: ErrorInfo::new(codes::STEP_TIMEOUT, message),
    }
}

/// The input as an object, or why it is not one.
pub fn object<'a>(executor: &str, input: &'a Value) -> Result<&'a Map<String, Value>, ErrorInfo> {
    input.as_object().ok_or_else(|| {
        invalid_input(
            executor,
            format!("the input must be an object, got {}", kind(input)),
        )
    })
}

/// An optional string field.
pub fn optional_str<'a>(
    executor: &str,
    fields: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, ErrorInfo> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(invalid_input(
            executor,
            format!("`{name}` must be a string, got {}", kind(other)),
        )),
    }
}

/// An optional object whose values are all strings (`headers`, `env`).
pub fn string_map(
    executor: &str,
    fields: &Map<String, Value>,
    name: &str,
) -> Result<Vec<(String, String)>, ErrorInfo> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(entries)) => entries
            .iter()
            .map(|(key, value)| match value {
                Value::String(text) => Ok((key.clone(), text.clone())),
                other => Err(invalid_input(
                    executor,
                    format!("`{name}.{key}` must be a string, got {}", kind(other)),
                )),
            })
            .collect(),
        Some(other) => Err(invalid_input(
            executor,
            format!("`{name}` must be an object of strings, got {}", kind(other)),
        )),
    }
}

/// The step's deadline, shortened (never lengthened) by a positive
/// `timeoutSeconds` in the input.
pub fn effective_deadline(
    executor: &str,
    fields: &Map<String, Value>,
    deadline: DateTime<Utc>,
) -> Result<DateTime<Utc>, ErrorInfo> {
    let seconds = match fields.get("timeoutSeconds") {
        None | Some(Value::Null) => return Ok(deadline),
        Some(value) => value.as_f64().filter(|s| s.is_finite() && *s > 0.0),
    };
    let Some(seconds) = seconds else {
        return Err(invalid_input(
            executor,
            "`timeoutSeconds` must be a positive number",
        ));
    };
    let own = chrono::Duration::from_std(Duration::from_secs_f64(seconds.min(1e9)))
        .ok()
        .map(|length| Utc::now() + length);
    Ok(own.map_or(deadline, |own| own.min(deadline)))
}

/// How long until `deadline` (zero once it passed).
pub fn remaining(deadline: DateTime<Utc>) -> Duration {
    (deadline - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}

/// `deadline` as a tokio instant, for `timeout_at`.
pub fn instant(deadline: DateTime<Utc>) -> tokio::time::Instant {
    tokio::time::Instant::now() + remaining(deadline)
}

/// A JSON value's kind, for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// At most `limit` characters of `text`, with `…` when cut.
pub fn preview(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timeout_seconds_shortens_the_deadline_and_never_lengthens_it() {
        let step = Utc::now() + chrono::Duration::seconds(60);
        let fields = |input: Value| input.as_object().cloned().unwrap_or_default();
        let short = effective_deadline("x", &fields(json!({"timeoutSeconds": 2})), step);
        assert!(short.is_ok_and(|d| d < Utc::now() + chrono::Duration::seconds(3)));
        let long = effective_deadline("x", &fields(json!({"timeoutSeconds": 600})), step);
        assert_eq!(long.ok(), Some(step));
        assert_eq!(
            effective_deadline("x", &fields(json!({})), step).ok(),
            Some(step)
        );
        for bad in [json!(0), json!(-1), json!("5")] {
            let error = effective_deadline("x", &fields(json!({"timeoutSeconds": bad})), step);
            assert_eq!(
                error.err().map(|e| e.code),
                Some(codes::INVALID_INPUT.to_owned())
            );
        }
    }

    #[test]
    fn previews_cut_on_characters() {
        assert_eq!(preview("héllo", 2), "hé…");
        assert_eq!(preview("hi", 2), "hi");
    }
}
