//! The built-in agents, each a small function of the request.
//!
//! They exist to exercise the engine end to end: plain success (`echo`, `upper`,
//! `add`), slow steps and timeouts (`sleep`), agent failures (`fail`), retries
//! that eventually succeed (`flaky`) and malformed replies (`garbage`). None
//! keeps state between calls.

use std::time::Duration;

use junction_core::wire::agent::{AgentError, AgentReply, AgentRequest};
use serde_json::{Value, json};

use crate::registry::{Registry, Reply};

/// Error code of a request whose `task` or `input` the agent cannot use.
pub const BAD_INPUT: &str = "BAD_INPUT";
/// Default error code of the `fail` agent.
pub const AGENT_FAILED: &str = "AGENT_FAILED";
/// Error code of the `flaky` agent's failing attempts.
pub const FLAKY: &str = "FLAKY";
/// `sleep` without `input.ms` sleeps this long.
pub const DEFAULT_SLEEP_MS: u64 = 100;
/// `sleep` never sleeps longer than this (ten minutes).
pub const MAX_SLEEP_MS: u64 = 600_000;
/// The body the `garbage` agent replies with: JSON, but neither `{output}` nor `{error}`.
pub const GARBAGE_BODY: &[u8] = br#"{"unexpected":true}"#;

/// Adds every built-in agent to `registry`.
pub(crate) fn register(registry: Registry) -> Registry {
    registry
        .with("echo", |request| async move { echo(&request) })
        .with("upper", |request| async move { upper(&request) })
        .with("sleep", |request| async move { sleep(&request).await })
        .with("fail", |request| async move { fail(&request) })
        .with("flaky", |request| async move { flaky(&request) })
        .with("garbage", |request| async move { garbage(&request) })
        .with("add", |request| async move { add(&request) })
}

/// `echo`: hands the input back.
///
/// Without a `task` (absent or null) the output is exactly `input`, unchanged, so
/// chained `echo` steps pass data through untouched. With a task the output is
/// `{"task": task, "input": input}`, so a test can see what templating produced.
pub fn echo(request: &AgentRequest) -> AgentReply {
    match &request.task {
        None => AgentReply::Output(request.input.clone()),
        Some(task) => AgentReply::Output(json!({ "task": task, "input": request.input })),
    }
}

/// `upper`: `{"text": <task uppercased>}`; a missing task is `BAD_INPUT`.
pub fn upper(request: &AgentRequest) -> AgentReply {
    match &request.task {
        Some(task) => AgentReply::Output(json!({ "text": task.to_uppercase() })),
        None => bad_input("upper needs a task to uppercase"),
    }
}

/// `sleep`: waits `input.ms` milliseconds, then outputs `{"slept_ms": n}`.
///
/// `ms` defaults to [`DEFAULT_SLEEP_MS`] and is capped at [`MAX_SLEEP_MS`]; a
/// value that is not a non-negative number is `BAD_INPUT`.
pub async fn sleep(request: &AgentRequest) -> AgentReply {
    match sleep_ms(&request.input) {
        Ok(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            AgentReply::Output(json!({ "slept_ms": ms }))
        }
        Err(reply) => reply,
    }
}

/// Reads `input.ms` for [`sleep`].
fn sleep_ms(input: &Value) -> Result<u64, AgentReply> {
    match input.get("ms") {
        None | Some(Value::Null) => Ok(DEFAULT_SLEEP_MS),
        Some(ms) => ms
            .as_f64()
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            // Saturating float-to-int cast, then the cap.
            .map(|ms| (ms as u64).min(MAX_SLEEP_MS))
            .ok_or_else(|| bad_input("input.ms must be a non-negative number of milliseconds")),
    }
}

/// `fail`: always fails, with `input.code` (default [`AGENT_FAILED`]),
/// `input.message` (default "the fail agent always fails") and
/// `input.retryable` (default `false`, so the engine does not retry it).
pub fn fail(request: &AgentRequest) -> AgentReply {
    let input = &request.input;
    AgentReply::Error(AgentError {
        code: string_field(input, "code")
            .unwrap_or(AGENT_FAILED)
            .to_owned(),
        message: string_field(input, "message")
            .unwrap_or("the fail agent always fails")
            .to_owned(),
        retryable: Some(
            input
                .get("retryable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        ),
    })
}

/// `flaky`: fails with a retryable [`FLAKY`] error on every attempt before
/// `input.succeed_at` (default 2), then outputs `{"attempt": n}`.
///
/// It counts on the request's `attempt`, not on memory, so it behaves the same
/// whichever agent process answers.
pub fn flaky(request: &AgentRequest) -> AgentReply {
    let succeed_at = request
        .input
        .get("succeed_at")
        .and_then(Value::as_u64)
        .unwrap_or(2);
    if u64::from(request.attempt) >= succeed_at {
        return AgentReply::Output(json!({ "attempt": request.attempt }));
    }
    AgentReply::Error(AgentError {
        code: FLAKY.to_owned(),
        message: format!(
            "attempt {} fails; attempt {succeed_at} will succeed",
            request.attempt
        ),
        retryable: Some(true),
    })
}

/// `garbage`: replies [`GARBAGE_BODY`], which is valid JSON but not an agent
/// reply, so the engine must treat it as `BAD_AGENT_REPLY`.
pub fn garbage(_request: &AgentRequest) -> Reply {
    Reply::Raw(GARBAGE_BODY.to_vec())
}

/// `add`: input `{"a": number, "b": number}`, output `{"sum": a + b}`.
///
/// Integers add as integers (`2 + 3` is `5`, not `5.0`); anything else adds as
/// floats. A missing or non-number operand is `BAD_INPUT`.
pub fn add(request: &AgentRequest) -> AgentReply {
    let operand = |name: &str| {
        request
            .input
            .get(name)
            .filter(|value| value.is_number())
            .ok_or_else(|| bad_input(format!("add needs a number in input.{name}")))
    };
    match (operand("a"), operand("b")) {
        (Ok(a), Ok(b)) => AgentReply::Output(json!({ "sum": sum(a, b) })),
        (Err(reply), _) | (_, Err(reply)) => reply,
    }
}

/// `a + b` for two JSON numbers, exact when both are integers that do not overflow.
fn sum(a: &Value, b: &Value) -> Value {
    if let Some(sum) = a
        .as_i64()
        .zip(b.as_i64())
        .and_then(|(a, b)| a.checked_add(b))
    {
        return json!(sum);
    }
    let float = |value: &Value| value.as_f64().unwrap_or(f64::NAN);
    json!(float(a) + float(b))
}

/// `input.<name>` if it is a string.
fn string_field<'a>(input: &'a Value, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

/// A non-retryable [`BAD_INPUT`] error.
fn bad_input(message: impl Into<String>) -> AgentReply {
    AgentReply::Error(AgentError {
        code: BAD_INPUT.to_owned(),
        message: message.into(),
        retryable: Some(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(task: Option<&str>, input: Value) -> AgentRequest {
        AgentRequest {
            task: task.map(str::to_owned),
            input,
            variables: Value::Null,
            run_id: "r".into(),
            step_id: "s".into(),
            attempt: 1,
            idempotency_key: "r:s:1".into(),
            deadline: "2030-01-01T00:00:00Z".into(),
        }
    }

    fn error_code(reply: &AgentReply) -> Option<&str> {
        match reply {
            AgentReply::Error(error) => Some(&error.code),
            AgentReply::Output(_) => None,
        }
    }

    #[test]
    fn echo_passes_input_through_without_a_task() {
        let input = json!({"x": [1, 2]});
        assert_eq!(
            echo(&request(None, input.clone())),
            AgentReply::Output(input.clone())
        );
        assert_eq!(
            echo(&request(Some("t"), input.clone())),
            AgentReply::Output(json!({"task": "t", "input": input}))
        );
    }

    #[test]
    fn upper_needs_a_task() {
        assert_eq!(
            upper(&request(Some("héllo"), Value::Null)),
            AgentReply::Output(json!({"text": "HÉLLO"}))
        );
        assert_eq!(
            error_code(&upper(&request(None, Value::Null))),
            Some(BAD_INPUT)
        );
    }

    #[test]
    fn sleep_ms_defaults_caps_and_refuses() {
        assert_eq!(sleep_ms(&Value::Null).ok(), Some(DEFAULT_SLEEP_MS));
        assert_eq!(sleep_ms(&json!({"ms": 5})).ok(), Some(5));
        assert_eq!(sleep_ms(&json!({"ms": 1e12})).ok(), Some(MAX_SLEEP_MS));
        assert!(sleep_ms(&json!({"ms": -1})).is_err());
        assert!(sleep_ms(&json!({"ms": "10"})).is_err());
    }

    #[test]
    fn fail_uses_defaults_and_overrides() {
        let AgentReply::Error(default) = fail(&request(None, Value::Null)) else {
            panic!("fail must fail");
        };
        assert_eq!(default.code, AGENT_FAILED);
        assert_eq!(default.retryable, Some(false));
        let custom = fail(&request(
            None,
            json!({"code": "X", "message": "m", "retryable": true}),
        ));
        assert_eq!(
            custom,
            AgentReply::Error(AgentError {
                code: "X".into(),
                message: "m".into(),
                retryable: Some(true)
            })
        );
    }

    #[test]
    fn flaky_succeeds_from_the_given_attempt() {
        let mut call = request(None, json!({"succeed_at": 3}));
        call.attempt = 2;
        assert_eq!(error_code(&flaky(&call)), Some(FLAKY));
        call.attempt = 3;
        assert_eq!(flaky(&call), AgentReply::Output(json!({"attempt": 3})));
    }

    #[test]
    fn add_sums_numbers_and_refuses_the_rest() {
        assert_eq!(
            add(&request(None, json!({"a": 2, "b": 3}))),
            AgentReply::Output(json!({"sum": 5}))
        );
        assert_eq!(
            add(&request(None, json!({"a": 0.5, "b": 1}))),
            AgentReply::Output(json!({"sum": 1.5}))
        );
        assert_eq!(
            error_code(&add(&request(None, json!({"a": 1})))),
            Some(BAD_INPUT)
        );
        assert_eq!(
            error_code(&add(&request(None, json!({"a": "1", "b": 2})))),
            Some(BAD_INPUT)
        );
    }

    #[test]
    fn garbage_is_not_an_agent_reply() {
        let body = garbage(&request(None, Value::Null)).into_body();
        assert!(serde_json::from_slice::<Value>(&body).is_ok());
        assert_eq!(AgentReply::parse(&body), None);
    }
}
