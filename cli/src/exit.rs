//! Exit codes (docs/cli.md, "Exit codes"): what an error means for a
//! script. Failures carry their kind ([`Refusal`] for an error reply,
//! [`Unreachable`], [`BadInput`], [`TimedOut`]) and [`code_of`] maps the
//! first one found in an error's chain to its code.

use std::process::ExitCode;

/// The run ended FAILED, CANCELLED or TIMED_OUT (or `validate` found errors).
pub const RUN_FAILED: u8 = 1;
/// Usage or bad input: a bad option, an unreadable file, `INVALID_REQUEST`.
pub const BAD_INPUT: u8 = 2;
/// The cluster is not reachable, or waiting for it timed out.
pub const UNREACHABLE: u8 = 3;
/// Refused: auth, not found, a state that does not allow it.
pub const REFUSED: u8 = 4;

/// An error reply of the control plane: its code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Refusal {}

/// No answer: NATS cannot be reached, no coordinator answers, a request timed out.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

/// Input the CLI refuses before sending anything (`--input` is not JSON, a
/// file cannot be read).
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Waiting for a run (or for the run a signal starts) took too long.
#[derive(Debug)]
pub struct TimedOut(pub String);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TimedOut {}

/// The exit code of a control error code.
pub fn code_of_reply(code: &str) -> u8 {
    match code {
        "UNAUTHENTICATED" | "FORBIDDEN" | "PERMISSION_DENIED" | "NOT_FOUND" | "INVALID_STATE"
        | "ALREADY_DECIDED" | "CONFLICT" => REFUSED,
        "UNAVAILABLE" => UNREACHABLE,
        "INPUT_SCHEMA" | "VALIDATION_FAILED" | "PAYLOAD_TOO_LARGE" => BAD_INPUT,
        code if code.starts_with("INVALID_") => BAD_INPUT,
        _ => RUN_FAILED,
    }
}

/// The exit code of a failed command.
pub fn code_of(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(refusal) = cause.downcast_ref::<Refusal>() {
            return code_of_reply(&refusal.code);
        }
        if cause.is::<Unreachable>() || cause.is::<TimedOut>() {
            return UNREACHABLE;
        }
        if cause.is::<BadInput>() || cause.is::<std::io::Error>() || cause.is::<serde_json::Error>()
        {
            return BAD_INPUT;
        }
    }
    RUN_FAILED
}

/// Prints the error and returns its exit code.
pub fn report(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::from(code_of(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(code: &str) -> anyhow::Error {
        anyhow::Error::new(Refusal {
            code: code.into(),
            message: "m".into(),
        })
        .context("request wf.ctl.x")
    }

    #[test]
    fn every_kind_has_its_code() {
        for (code, exit) in [
            ("UNAUTHENTICATED", REFUSED),
            ("FORBIDDEN", REFUSED),
            ("NOT_FOUND", REFUSED),
            ("ALREADY_DECIDED", REFUSED),
            ("INVALID_STATE", REFUSED),
            ("INVALID_REQUEST", BAD_INPUT),
            ("INPUT_SCHEMA", BAD_INPUT),
            ("VALIDATION_FAILED", BAD_INPUT),
            ("UNAVAILABLE", UNREACHABLE),
            ("INTERNAL", RUN_FAILED),
        ] {
            assert_eq!(code_of(&refusal(code)), exit, "{code}");
        }
        assert_eq!(
            code_of(&anyhow::Error::new(Unreachable("x".into()))),
            UNREACHABLE
        );
        assert_eq!(
            code_of(&anyhow::Error::new(TimedOut("x".into()))),
            UNREACHABLE
        );
        assert_eq!(
            code_of(&anyhow::Error::new(BadInput("x".into()))),
            BAD_INPUT
        );
        assert_eq!(code_of(&anyhow::anyhow!("other")), RUN_FAILED);
    }
}
