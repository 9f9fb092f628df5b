//! Agents' circuit breakers (docs/protocol.md §10): one `agent_circuits` row
//! per (tenant, agent), shared by every worker, created on the first
//! counted failure. Each decision is one statement, atomic under the row's
//! lock: [`Store::circuit_gate`] before a call (call, take the one trial
//! call, or refuse), [`Store::circuit_record`] after it. Workers ask only
//! for agents whose registry entry sets `circuit`.

use super::{Result, Store};
use chrono::{DateTime, Utc};

/// What a worker may do about a call to a guarded agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitGate {
    /// Closed: call. `clean`: no failure is counted, so a success has
    /// nothing to reset.
    Closed { clean: bool },
    /// The cooldown passed and this caller took the one trial call; its
    /// outcome closes or re-opens the breaker.
    Trial,
    /// Open (or another caller's trial is in flight): fail fast until then.
    Open { until: DateTime<Utc> },
}

/// How a call to a guarded agent went, for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The agent answered (with an output or its own error): the streak ends.
    Answered,
    /// `AGENT_UNAVAILABLE` or `STEP_TIMEOUT`: counted.
    Unreachable,
}

/// Takes the trial when the cooldown passed and no trial is in flight
/// (a second caller waits for the row lock, then finds `trial_until` set),
/// and reads the row as it was before.
const GATE_SQL: &str = "WITH before AS (
    SELECT failures, open_until, trial_until FROM agent_circuits WHERE tenant = $1 AND agent = $2),
trial AS (
    UPDATE agent_circuits SET trial_until = $3, updated_at = now()
    WHERE tenant = $1 AND agent = $2 AND open_until IS NOT NULL AND open_until <= now()
      AND (trial_until IS NULL OR trial_until <= now())
    RETURNING 1)
SELECT EXISTS (SELECT 1 FROM trial), (SELECT failures FROM before),
       (SELECT open_until FROM before), (SELECT trial_until FROM before), now()";

/// One more counted failure: opens at the threshold, re-opens after a
/// failed trial, and leaves an open breaker's cooldown as it is otherwise.
const FAILURE_SQL: &str = "INSERT INTO agent_circuits AS c (tenant, agent, failures, open_until)
VALUES ($1, $2, 1, CASE WHEN $3 <= 1 THEN now() + make_interval(secs => $4) END)
ON CONFLICT (tenant, agent) DO UPDATE SET
    failures = c.failures + 1,
    open_until = CASE
        WHEN $5 THEN now() + make_interval(secs => $4)
        WHEN c.open_until IS NOT NULL THEN c.open_until
        WHEN c.failures + 1 >= $3 THEN now() + make_interval(secs => $4)
    END,
    trial_until = CASE WHEN $5 THEN NULL ELSE c.trial_until END,
    updated_at = now()
RETURNING open_until";

/// The agent answered: the breaker closes and the count starts again.
const ANSWERED_SQL: &str = "UPDATE agent_circuits
SET failures = 0, open_until = NULL, trial_until = NULL, updated_at = now()
WHERE tenant = $1 AND agent = $2
  AND (failures <> 0 OR open_until IS NOT NULL OR trial_until IS NOT NULL)";

impl Store {
    /// Before a call: may it go? A trial taken here is held until
    /// `trial_until` (the call's deadline), after which another caller may
    /// try if this one never reported.
    pub async fn circuit_gate(
        &self,
        tenant: &str,
        agent: &str,
        trial_until: DateTime<Utc>,
    ) -> Result<CircuitGate> {
        let client = self.client().await?;
        let statement = client.prepare_cached(GATE_SQL).await?;
        let row = client
            .query_one(&statement, &[&tenant, &agent, &trial_until])
            .await?;
        let trial: bool = row.get(0);
        let failures: Option<i32> = row.get(1);
        let open_until: Option<DateTime<Utc>> = row.get(2);
        let in_flight: Option<DateTime<Utc>> = row.get(3);
        let now: DateTime<Utc> = row.get(4);
        Ok(match (trial, open_until) {
            (true, _) => CircuitGate::Trial,
            (false, None) => CircuitGate::Closed {
                clean: failures.unwrap_or(0) == 0,
            },
            (false, Some(open_until)) => CircuitGate::Open {
                until: open_until.max(in_flight.unwrap_or(open_until)).max(now),
            },
        })
    }

    /// After a call: records its outcome. `threshold` and `cooldown_seconds`
    /// are the agent's policy; `trial` says the call was the trial. Returns
    /// until when the breaker is open now (`None`: closed).
    pub async fn circuit_record(
        &self,
        tenant: &str,
        agent: &str,
        outcome: CallOutcome,
        policy: (u32, u32),
        trial: bool,
    ) -> Result<Option<DateTime<Utc>>> {
        let client = self.client().await?;
        match outcome {
            CallOutcome::Answered => {
                let statement = client.prepare_cached(ANSWERED_SQL).await?;
                client.execute(&statement, &[&tenant, &agent]).await?;
                Ok(None)
            }
            CallOutcome::Unreachable => {
                let (threshold, cooldown) = policy;
                let threshold = i32::try_from(threshold).unwrap_or(i32::MAX);
                let cooldown = f64::from(cooldown);
                let statement = client.prepare_cached(FAILURE_SQL).await?;
                let row = client
                    .query_one(
                        &statement,
                        &[&tenant, &agent, &threshold, &cooldown, &trial],
                    )
                    .await?;
                Ok(row.get(0))
            }
        }
    }
}
