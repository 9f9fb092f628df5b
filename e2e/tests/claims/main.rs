//! Claims folded into results, on real services. A step that finishes within
//! a third of the lease costs its worker one commit: claim and result in one
//! statement, `step.started` and the completion with consecutive seqs, and no
//! `step_deadline` backstop timer ever written. A longer step is claimed
//! lazily at a third of the lease (`RUNNING`, a lease, a backstop) and then
//! finished as a claimed step. A worker killed before its lazy claim leaves
//! the attempt `PENDING`; the redelivered task completes it, once. When two
//! workers execute the same unclaimed attempt (a redelivery after
//! `ack_wait`), the first statement to commit wins and the other result is
//! discarded. The fault point `worker.after_claim` fires right before a step
//! executes, and again right after a lazy claim commits. A worker that stalls
//! past its lease after claiming is fenced off: taken over under the next
//! claim generation, its result is refused even if it comes first.

mod fencing;
mod folded;
mod lazy;
mod takeover;

use junction_e2e::TestEnv;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
/// A three-second lease: the claim deadline is one second into a step.
const LEASE: (&str, &str) = ("JUNCTION_WORKER__LEASE_SECONDS", "3");

/// One attempt row, as the assertions need it.
#[derive(Debug)]
struct AttemptRow {
    state: String,
    status: String,
    worker_id: Option<String>,
    claims: i32,
    /// `started_at <= ended_at` (`None` while either is unset).
    ordered: Option<bool>,
    /// `ended_at - started_at` in seconds.
    duration: Option<f64>,
    /// The lease is set and still in the future.
    leased: bool,
    completion_seq: Option<i64>,
}

async fn attempts(env: &TestEnv, run_id: &str) -> anyhow::Result<Vec<AttemptRow>> {
    let rows = env
        .db()
        .await?
        .query(
            "SELECT state, status, worker_id, claims, started_at <= ended_at,
                    extract(epoch FROM ended_at - started_at)::float8,
                    coalesce(lease_until > now(), false), completion_seq
             FROM step_attempts WHERE run_id = $1 ORDER BY ordinal",
            &[&run_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| AttemptRow {
            state: r.get(0),
            status: r.get(1),
            worker_id: r.get(2),
            claims: r.get(3),
            ordered: r.get(4),
            duration: r.get(5),
            leased: r.get(6),
            completion_seq: r.get(7),
        })
        .collect())
}

async fn attempt(env: &TestEnv, run_id: &str, state: &str) -> anyhow::Result<AttemptRow> {
    attempts(env, run_id)
        .await?
        .into_iter()
        .find(|a| a.state == state)
        .ok_or_else(|| anyhow::anyhow!("no attempt of {state} in {run_id}"))
}

/// `step_deadline` timers stored now for the run.
async fn backstops(env: &TestEnv, run_id: &str) -> anyhow::Result<i64> {
    Ok(env
        .db()
        .await?
        .query_one(
            "SELECT count(*) FROM timers WHERE run_id = $1 AND kind = 'step_deadline'",
            &[&run_id],
        )
        .await?
        .get(0))
}

/// Whether any timer row was ever inserted in this database (deleted or
/// not): a claim statement always inserts one, so `false` means no claim
/// statement ever ran.
async fn any_timer_ever_inserted(env: &TestEnv) -> anyhow::Result<bool> {
    Ok(env
        .db()
        .await?
        .query_one("SELECT is_called FROM timers_id_seq", &[])
        .await?
        .get(0))
}

/// The stored events of `state`'s step, straight from the database.
async fn stored_events(env: &TestEnv, run_id: &str, state: &str) -> anyhow::Result<Vec<Value>> {
    let rows = env
        .db()
        .await?
        .query(
            "SELECT seq, type, worker_id FROM events WHERE run_id = $1 AND state = $2 ORDER BY seq",
            &[&run_id, &state],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            json!({
                "seq": r.get::<_, i64>(0),
                "type": r.get::<_, String>(1),
                "worker_id": r.get::<_, Option<String>>(2),
            })
        })
        .collect())
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

/// Calls per `agent:idempotency_key`.
fn keys(env: &TestEnv, agent: &str) -> Vec<String> {
    let mut keys: Vec<String> = env
        .calls
        .records()
        .into_iter()
        .filter(|r| r.agent == agent)
        .map(|r| r.idempotency_key)
        .collect();
    keys.sort();
    keys
}

/// Sends a signal to a process of the test (`STOP` or `CONT`).
fn signal(env: &TestEnv, index: usize, name: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &env.processes[index].pid().to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -{name} failed");
    Ok(())
}
