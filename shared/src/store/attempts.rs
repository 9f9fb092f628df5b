//! Step attempts from the worker's side: claims with leases, results, and
//! the events they write (DESIGN §4.2). Every write locks the run row first,
//! like the coordinator does, so lock order is always run → attempt.

use super::outbox::{self, NewOutboxMessage, OutboxMessage};
use super::runs::event_from;
use super::{Result, Store};
use crate::status::{RunStatus, StepStatus};
use crate::wire::Event;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use serde_json::Value;

/// The identity of a run, as an event needs it.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    pub workflow_id: String,
    pub version: i32,
    pub tenant: String,
}

/// Builds the event (with its outbox message) once its seq is known.
pub type EventBuilder<'a> =
    Box<dyn FnOnce(i64, &RunIdentity) -> (Event, NewOutboxMessage) + Send + 'a>;

/// What a claim found.
#[derive(Debug)]
pub enum ClaimOutcome {
    /// The attempt is ours; publish the `step.started` message.
    Claimed { started: OutboxMessage, claims: i32 },
    /// The attempt ended before; here is the event that ended it, to re-emit.
    AlreadyFinished(Option<Event>),
    /// Another worker holds a live lease until then.
    Held { lease_until: Option<DateTime<Utc>> },
    /// The run has ended; nothing must execute.
    RunEnded,
    /// No such attempt (never created, or the run was deleted).
    Missing,
}

/// What a result write found.
#[derive(Debug)]
pub enum FinishOutcome {
    /// Stored; publish the completion message.
    Recorded(OutboxMessage),
    /// The attempt had already ended (another worker finished it first).
    AlreadyFinished,
}

/// A worker's result for an attempt.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Succeeded(Value),
    Failed { status: StepStatus, error: Value },
}

/// Locks the run and takes the next seq. Runs first in every worker
/// transaction; later statements are pipelined behind it, and Postgres runs
/// pipelined statements in order.
const NEXT_SEQ: &str = "UPDATE runs SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq, workflow_id, version, tenant, status";

/// `(seq, identity, run status)` from a [`NEXT_SEQ`] row.
fn seq_row(row: Option<tokio_postgres::Row>) -> Option<(i64, RunIdentity, String)> {
    row.map(|r| {
        (
            r.get(0),
            RunIdentity {
                workflow_id: r.get(1),
                version: r.get(2),
                tenant: r.get(3),
            },
            r.get(4),
        )
    })
}

impl Store {
    /// Claims `(run, step, attempt)` for `worker_id` with a lease, writing
    /// `workflow.step.started` (built by `started`) in the same transaction.
    pub async fn claim_attempt(
        &self,
        run_id: &str,
        step_id: &str,
        attempt: u32,
        worker_id: &str,
        lease_seconds: f64,
        started: EventBuilder<'_>,
    ) -> Result<ClaimOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let next_seq = tx.prepare_cached(NEXT_SEQ).await?;
        let claim = tx
            .prepare_cached(
                "UPDATE step_attempts
                 SET status = 'RUNNING', worker_id = $4, lease_until = now() + make_interval(secs => $5),
                     claims = claims + 1, started_at = now()
                 WHERE run_id = $1 AND step_id = $2 AND attempt = $3
                   AND (status = 'PENDING' OR (status = 'RUNNING' AND lease_until < now()))
                 RETURNING claims",
            )
            .await?;
        let attempt_number = attempt as i32;
        let (seq, claimed) = futures::future::try_join(
            tx.query_opt(&next_seq, &[&run_id]),
            tx.query_opt(
                &claim,
                &[
                    &run_id,
                    &step_id,
                    &attempt_number,
                    &worker_id,
                    &lease_seconds,
                ],
            ),
        )
        .await?;
        let Some((seq, identity, status)) = seq_row(seq) else {
            return Ok(ClaimOutcome::Missing);
        };
        if status
            .parse::<RunStatus>()
            .is_ok_and(RunStatus::is_terminal)
        {
            return Ok(ClaimOutcome::RunEnded);
        }
        let Some(claimed) = claimed else {
            drop(tx);
            return self
                .why_unclaimable(&client, run_id, step_id, attempt_number)
                .await;
        };
        let (event, message) = started(seq, &identity);
        let (_, mut published) = futures::future::try_join(
            insert_events(&tx, std::slice::from_ref(&event)),
            outbox::insert(&tx, vec![message]),
        )
        .await?;
        tx.commit().await?;
        let started = published
            .pop()
            .ok_or_else(|| super::Error::Corrupt("outbox insert returned nothing".into()))?;
        Ok(ClaimOutcome::Claimed {
            started,
            claims: claimed.get(0),
        })
    }

    async fn why_unclaimable(
        &self,
        client: &tokio_postgres::Client,
        run_id: &str,
        step_id: &str,
        attempt: i32,
    ) -> Result<ClaimOutcome> {
        let row = client
            .query_opt(
                "SELECT status, lease_until, completion_seq FROM step_attempts WHERE run_id = $1 AND step_id = $2 AND attempt = $3",
                &[&run_id, &step_id, &attempt],
            )
            .await?;
        let Some(row) = row else {
            return Ok(ClaimOutcome::Missing);
        };
        let status: String = row.get(0);
        if status == StepStatus::Running.as_str() || status == StepStatus::Pending.as_str() {
            return Ok(ClaimOutcome::Held {
                lease_until: row.get(1),
            });
        }
        let event = match row.get::<_, Option<i64>>(2) {
            Some(seq) => self.event(run_id, seq).await?,
            None => None,
        };
        Ok(ClaimOutcome::AlreadyFinished(event))
    }

    /// One stored event.
    pub async fn event(&self, run_id: &str, seq: i64) -> Result<Option<Event>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT e.run_id, e.seq, e.type, e.time, r.workflow_id, r.version, r.tenant,
                        e.step_id, e.state, e.path, e.attempt, e.worker_id, e.data
                 FROM events e JOIN runs r ON r.id = e.run_id WHERE e.run_id = $1 AND e.seq = $2",
                &[&run_id, &seq],
            )
            .await?;
        row.as_ref().map(event_from).transpose()
    }

    /// Keeps a claim alive. `false` means the claim is no longer ours.
    pub async fn extend_lease(
        &self,
        run_id: &str,
        step_id: &str,
        attempt: u32,
        worker_id: &str,
        lease_seconds: f64,
    ) -> Result<bool> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "UPDATE step_attempts SET lease_until = now() + make_interval(secs => $5)
                 WHERE run_id = $1 AND step_id = $2 AND attempt = $3 AND worker_id = $4 AND status = 'RUNNING'",
            )
            .await?;
        Ok(client
            .execute(
                &statement,
                &[
                    &run_id,
                    &step_id,
                    &(attempt as i32),
                    &worker_id,
                    &lease_seconds,
                ],
            )
            .await?
            == 1)
    }

    /// Records a worker's result and its completion event in one transaction.
    /// The first result for a running attempt wins.
    pub async fn finish_attempt(
        &self,
        run_id: &str,
        step_id: &str,
        attempt: u32,
        worker_id: &str,
        outcome: &AttemptOutcome,
        completed: EventBuilder<'_>,
    ) -> Result<FinishOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let next_seq = tx.prepare_cached(NEXT_SEQ).await?;
        let finish = tx
            .prepare_cached(
                "UPDATE step_attempts
                 SET status = $4, output = $5, error = $6, worker_id = $7, lease_until = NULL, ended_at = now(),
                     completion_seq = (SELECT last_seq FROM runs WHERE id = $1)
                 WHERE run_id = $1 AND step_id = $2 AND attempt = $3 AND status = 'RUNNING'",
            )
            .await?;
        let (status, output, error) = match outcome {
            AttemptOutcome::Succeeded(output) => (StepStatus::Succeeded, Some(output), None),
            AttemptOutcome::Failed { status, error } => (*status, None, Some(error)),
        };
        let attempt_number = attempt as i32;
        let status_text = status.as_str();
        let (seq, updated) = futures::future::try_join(
            tx.query_opt(&next_seq, &[&run_id]),
            tx.execute(
                &finish,
                &[
                    &run_id,
                    &step_id,
                    &attempt_number,
                    &status_text,
                    &output,
                    &error,
                    &worker_id,
                ],
            ),
        )
        .await?;
        let Some((seq, identity, _)) = seq_row(seq) else {
            return Ok(FinishOutcome::AlreadyFinished);
        };
        if updated == 0 {
            return Ok(FinishOutcome::AlreadyFinished);
        }
        let (event, message) = completed(seq, &identity);
        let (_, mut published) = futures::future::try_join(
            insert_events(&tx, std::slice::from_ref(&event)),
            outbox::insert(&tx, vec![message]),
        )
        .await?;
        tx.commit().await?;
        published
            .pop()
            .map(FinishOutcome::Recorded)
            .ok_or_else(|| super::Error::Corrupt("outbox insert returned nothing".into()))
    }
}

/// Appends events (seq already assigned) in one statement.
pub(super) async fn insert_events(tx: &Transaction<'_>, events: &[Event]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO events (run_id, seq, type, time, step_id, state, path, attempt, worker_id, data)
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
                                  $7::text[], $8::int[], $9::text[], $10::jsonb[])",
        )
        .await?;
    let run_ids: Vec<&str> = events.iter().map(|e| e.run_id.as_str()).collect();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let times: Vec<DateTime<Utc>> = events
        .iter()
        .map(|e| {
            DateTime::parse_from_rfc3339(&e.time)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|_| Utc::now())
        })
        .collect();
    let step_ids: Vec<Option<&str>> = events.iter().map(|e| e.step_id.as_deref()).collect();
    let states: Vec<Option<&str>> = events.iter().map(|e| e.state.as_deref()).collect();
    let paths: Vec<Option<&str>> = events.iter().map(|e| e.path.as_deref()).collect();
    let attempts: Vec<Option<i32>> = events.iter().map(|e| e.attempt.map(|a| a as i32)).collect();
    let workers: Vec<Option<&str>> = events.iter().map(|e| e.worker_id.as_deref()).collect();
    let data: Vec<Option<&Value>> = events.iter().map(|e| e.data.as_ref()).collect();
    tx.execute(
        &statement,
        &[
            &run_ids, &seqs, &kinds, &times, &step_ids, &states, &paths, &attempts, &workers, &data,
        ],
    )
    .await?;
    Ok(())
}
