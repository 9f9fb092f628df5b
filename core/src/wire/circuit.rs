//! An agent's circuit breaker policy (docs/protocol.md §10): the registry
//! entry's `circuit: {failures, cooldownSeconds}`. After `failures`
//! consecutive `AGENT_UNAVAILABLE` or `STEP_TIMEOUT` failures of the agent,
//! its steps fail fast with the retryable `CIRCUIT_OPEN` for
//! `cooldownSeconds`; then one trial call decides. Pure data.

use super::error::codes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest `failures` accepted.
pub const MAX_FAILURES: u64 = 1_000;
/// Longest cooldown accepted (one day).
pub const MAX_COOLDOWN_SECONDS: u64 = 86_400;

/// When an agent's breaker opens, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitPolicy {
    /// Consecutive counted failures that open the breaker (≥ 1).
    pub failures: u32,
    /// How long it stays open before a trial call (≥ 1).
    pub cooldown_seconds: u32,
}

impl CircuitPolicy {
    /// Reads and checks `circuit` as `agents.put` receives it; the error
    /// says what is wrong, naming the field.
    pub fn from_value(value: &Value) -> Result<Self, String> {
        let object = value
            .as_object()
            .ok_or("`circuit` must be an object {failures, cooldownSeconds}")?;
        if let Some(unknown) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "failures" | "cooldownSeconds"))
        {
            return Err(format!(
                "`circuit.{unknown}` is not a field (failures, cooldownSeconds)"
            ));
        }
        let field = |name: &str, max: u64| -> Result<u32, String> {
            let n = object
                .get(name)
                .ok_or_else(|| format!("`circuit.{name}` is required"))?;
            match n.as_u64() {
                Some(n) if (1..=max).contains(&n) => Ok(n as u32),
                _ => Err(format!(
                    "`circuit.{name}` must be an integer from 1 to {max}, not {n}"
                )),
            }
        };
        Ok(Self {
            failures: field("failures", MAX_FAILURES)?,
            cooldown_seconds: field("cooldownSeconds", MAX_COOLDOWN_SECONDS)?,
        })
    }

    /// Does a failure with this code count towards opening the breaker?
    pub fn counts(code: &str) -> bool {
        code == codes::AGENT_UNAVAILABLE || code == codes::STEP_TIMEOUT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_policy_reads_and_round_trips() {
        let value = json!({"failures": 3, "cooldownSeconds": 30});
        let policy = CircuitPolicy::from_value(&value).expect("valid");
        assert_eq!(
            policy,
            CircuitPolicy {
                failures: 3,
                cooldown_seconds: 30
            }
        );
        assert_eq!(serde_json::to_value(policy).ok(), Some(value));
    }

    #[test]
    fn bad_policies_say_which_field() {
        for (value, field) in [
            (json!(3), "`circuit`"),
            (json!({"cooldownSeconds": 1}), "circuit.failures"),
            (json!({"failures": 1}), "circuit.cooldownSeconds"),
            (
                json!({"failures": 0, "cooldownSeconds": 1}),
                "circuit.failures",
            ),
            (
                json!({"failures": 1.5, "cooldownSeconds": 1}),
                "circuit.failures",
            ),
            (
                json!({"failures": 1, "cooldownSeconds": -1}),
                "circuit.cooldownSeconds",
            ),
            (
                json!({"failures": 1, "cooldownSeconds": 86_401}),
                "circuit.cooldownSeconds",
            ),
            (
                json!({"failures": 1, "cooldownSeconds": 1, "x": 1}),
                "circuit.x",
            ),
        ] {
            let error = CircuitPolicy::from_value(&value).expect_err("refused");
            assert!(error.contains(field), "{value}: {error}");
        }
    }

    #[test]
    fn only_unavailability_and_timeouts_count() {
        assert!(CircuitPolicy::counts("AGENT_UNAVAILABLE"));
        assert!(CircuitPolicy::counts("STEP_TIMEOUT"));
        assert!(!CircuitPolicy::counts("BAD_AGENT_REPLY"));
        assert!(!CircuitPolicy::counts("BOOM"));
    }
}
