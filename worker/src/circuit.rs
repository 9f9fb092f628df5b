//! Agents' circuit breakers, the worker's side (docs/protocol.md §10). An
//! agent whose registry entry sets `circuit` is guarded: before each call
//! [`admit`] asks the shared breaker (one row per tenant and agent in
//! Postgres, so every worker of the cluster sees the same state) whether
//! the call may go; after it, [`record`] reports how it went. Agents
//! without `circuit` cost nothing here: no query at all.
//!
//! If the breaker's state cannot be read or written, the call goes ahead:
//! a breaker protects the agent, and must not stop work on its own trouble.

use crate::executor::Outcome;
use chrono::{DateTime, Utc};
use junction_core::wire::ErrorInfo;
use junction_core::wire::circuit::CircuitPolicy;
use junction_core::wire::error::codes;
use junction_core::wire::time;
use junction_store::{CallOutcome, CircuitGate, Store};

/// The agent of one call, and its policy.
#[derive(Debug, Clone, Copy)]
pub struct Guarded<'a> {
    pub tenant: &'a str,
    pub agent: &'a str,
    pub policy: CircuitPolicy,
}

/// Whether a call may go, and what the breaker must hear after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Call. `trial`: this call decides an open breaker; `clean`: nothing
    /// was counted before, so a success needs no write.
    Call { trial: bool, clean: bool },
    /// Do not call: the step fails with `CIRCUIT_OPEN` (retryable).
    Refused { until: DateTime<Utc> },
}

/// Asks the breaker before a call whose deadline is `deadline` (a trial
/// call holds the breaker until then).
pub async fn admit(store: &Store, guarded: Guarded<'_>, deadline: DateTime<Utc>) -> Admission {
    match store
        .circuit_gate(guarded.tenant, guarded.agent, deadline)
        .await
    {
        Ok(CircuitGate::Closed { clean }) => Admission::Call {
            trial: false,
            clean,
        },
        Ok(CircuitGate::Trial) => {
            tracing::info!(
                tenant = guarded.tenant,
                agent = guarded.agent,
                "circuit half-open: this call is the trial"
            );
            Admission::Call {
                trial: true,
                clean: false,
            }
        }
        Ok(CircuitGate::Open { until }) => Admission::Refused { until },
        Err(error) => {
            tracing::warn!(%error, tenant = guarded.tenant, agent = guarded.agent, "cannot read the circuit breaker; calling the agent");
            Admission::Call {
                trial: false,
                clean: false,
            }
        }
    }
}

/// The failure of a step refused by an open breaker.
pub fn open_error(agent: &str, until: DateTime<Utc>) -> ErrorInfo {
    let mut error = ErrorInfo::new(
        codes::CIRCUIT_OPEN,
        format!(
            "the circuit breaker of agent `{agent}` is open until {}; the agent was not called",
            time::format(until)
        ),
    );
    error.retryable = Some(true);
    error
}

/// Reports a call's outcome. Only `AGENT_UNAVAILABLE` and `STEP_TIMEOUT`
/// count; any answer from the agent (an output, or its own error) ends the
/// streak and closes the breaker. A deferred call reports nothing (a trial
/// it held lapses at its deadline).
pub async fn record(store: &Store, guarded: Guarded<'_>, admission: Admission, outcome: &Outcome) {
    let Admission::Call { trial, clean } = admission else {
        return;
    };
    let call = match outcome {
        Outcome::Failed { error, .. } if CircuitPolicy::counts(&error.code) => {
            CallOutcome::Unreachable
        }
        Outcome::Succeeded { .. } | Outcome::Failed { .. } => CallOutcome::Answered,
        Outcome::Deferred { .. } => return,
    };
    if call == CallOutcome::Answered && clean && !trial {
        return;
    }
    let policy = (guarded.policy.failures, guarded.policy.cooldown_seconds);
    match store
        .circuit_record(guarded.tenant, guarded.agent, call, policy, trial)
        .await
    {
        Ok(Some(until)) => {
            tracing::info!(tenant = guarded.tenant, agent = guarded.agent, open_until = %time::format(until), "circuit open");
        }
        Ok(None) if trial => {
            tracing::info!(
                tenant = guarded.tenant,
                agent = guarded.agent,
                "circuit closed by its trial call"
            );
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(%error, tenant = guarded.tenant, agent = guarded.agent, "cannot record the call in the circuit breaker");
        }
    }
}
