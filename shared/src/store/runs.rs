//! Runs: creation (at most once per dedupe key), serialized advancement under
//! the run's row lock, and the read models of the control plane.

use super::outbox::{self, OutboxMessage};
use super::rows::{RunFilter, RunRecord, RunSummary, StepRecord, TransitionWrite};
use super::{Error, Result, Store};
use crate::status::{RunStatus, StepStatus};
use crate::wire::{Event, EventType, time};
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use serde_json::Value;
use std::str::FromStr;

/// A run as loaded under its row lock, for the state machine.
#[derive(Debug, Clone)]
pub struct LockedRun {
    pub run_id: String,
    pub tenant: String,
    pub workflow_id: String,
    pub version: i32,
    pub status: RunStatus,
    /// The serialized [`crate::engine::RunState`].
    pub state: Value,
    pub last_seq: i64,
}

/// The fixed facts of a new run.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub run_id: String,
    pub tenant: String,
    pub workflow_id: String,
    pub version: i32,
    pub input: Value,
    pub causation_id: Option<String>,
    pub correlation_id: String,
    pub dedupe_key: Option<String>,
}

/// What [`Store::create_run`] did.
#[derive(Debug)]
pub enum CreateOutcome {
    /// The run is new; publish these messages.
    Created(Vec<OutboxMessage>),
    /// A run with the same dedupe key exists already.
    Existing(String),
}

fn parse_status<T: FromStr>(text: &str) -> Result<T> {
    text.parse()
        .map_err(|_| Error::Corrupt(format!("unknown status {text:?}")))
}

fn ts(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(time::format)
}

impl Store {
    /// Creates a run and writes its first transition, unless a run with the
    /// same `(tenant, workflow, dedupe_key)` exists.
    pub async fn create_run(&self, run: &NewRun, write: TransitionWrite) -> Result<CreateOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO runs (id, tenant, workflow_id, version, status, input, state, error, causation_id,
                                   correlation_id, dedupe_key, last_seq, ended_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $13 THEN now() END)
                 ON CONFLICT (tenant, workflow_id, dedupe_key) DO NOTHING RETURNING id",
            )
            .await?;
        let last_seq = write.last_seq(0);
        let inserted = tx
            .query_opt(
                &insert,
                &[
                    &run.run_id,
                    &run.tenant,
                    &run.workflow_id,
                    &run.version,
                    &write.status.as_str(),
                    &run.input,
                    &write.state,
                    &write.error,
                    &run.causation_id,
                    &run.correlation_id,
                    &run.dedupe_key,
                    &last_seq,
                    &write.status.is_terminal(),
                ],
            )
            .await?;
        if inserted.is_none() {
            drop(tx);
            let row = client
                .query_one(
                    "SELECT id FROM runs WHERE tenant = $1 AND workflow_id = $2 AND dedupe_key = $3",
                    &[&run.tenant, &run.workflow_id, &run.dedupe_key],
                )
                .await?;
            return Ok(CreateOutcome::Existing(row.get(0)));
        }
        let published = write_children(&tx, &run.run_id, write).await?;
        tx.commit().await?;
        Ok(CreateOutcome::Created(published))
    }

    /// Locks the run, lets `decide` compute a transition from it, and commits
    /// that transition. `decide` returning `None` changes nothing. Concurrent
    /// callers for one run are serialized by the row lock.
    pub async fn advance_run<F>(
        &self,
        run_id: &str,
        decide: F,
    ) -> Result<Option<Vec<OutboxMessage>>>
    where
        F: FnOnce(&LockedRun) -> Option<TransitionWrite>,
    {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let outcome = advance_in(&tx, run_id, decide).await?;
        if outcome.is_some() {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    /// The whole run, steps included.
    pub async fn get_run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(
                &format!("SELECT {SUMMARY_COLUMNS}, state -> 'context' FROM runs WHERE id = $1"),
                &[&run_id],
            )
            .await?
        else {
            return Ok(None);
        };
        let summary = summary_from(&row)?;
        let context: Option<Value> = row.get(11);
        let steps = client
            .query(
                "SELECT step_id, state, path, status, attempt, worker_id, output, error, started_at, ended_at
                 FROM step_attempts WHERE run_id = $1 ORDER BY ordinal",
                &[&run_id],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(StepRecord {
                    step_id: r.get(0),
                    state: r.get(1),
                    path: r.get(2),
                    status: parse_status::<StepStatus>(r.get(3))?,
                    attempt: r.get::<_, i32>(4) as u32,
                    worker_id: r.get(5),
                    output: r.get(6),
                    error: r.get(7),
                    started_at: ts(r.get(8)),
                    ended_at: ts(r.get(9)),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(RunRecord {
            summary,
            context: context.unwrap_or(Value::Null),
            steps,
        }))
    }

    /// The tenant a run belongs to, for authorization, or `None` if unknown.
    pub async fn run_tenant(&self, run_id: &str) -> Result<Option<String>> {
        let client = self.client().await?;
        Ok(client
            .query_opt("SELECT tenant FROM runs WHERE id = $1", &[&run_id])
            .await?
            .map(|r| r.get(0)))
    }

    /// A page of run summaries, newest first. Returns the page and whether more remain.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<(Vec<RunSummary>, bool)> {
        let client = self.client().await?;
        let status = filter.status.map(RunStatus::as_str);
        let rows = client
            .query(
                &format!(
                    "SELECT {SUMMARY_COLUMNS} FROM runs
                     WHERE tenant = $1
                       AND ($2::text IS NULL OR workflow_id = $2)
                       AND ($3::text IS NULL OR status = $3)
                       AND ($4::text IS NULL OR causation_id = $4)
                       AND ($5::text IS NULL OR correlation_id = $5)
                       AND ($6::text IS NULL OR id < $6)
                     ORDER BY id DESC LIMIT $7"
                ),
                &[
                    &filter.tenant,
                    &filter.workflow_id,
                    &status,
                    &filter.causation_id,
                    &filter.correlation_id,
                    &filter.cursor,
                    &(filter.limit + 1),
                ],
            )
            .await?;
        let more = rows.len() as i64 > filter.limit;
        let runs = rows
            .iter()
            .take(filter.limit as usize)
            .map(summary_from)
            .collect::<Result<Vec<_>>>()?;
        Ok((runs, more))
    }

    /// Events with `seq > after_seq`, in order.
    pub async fn events(&self, run_id: &str, after_seq: i64, limit: i64) -> Result<Vec<Event>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT e.run_id, e.seq, e.type, e.time, r.workflow_id, r.version, r.tenant,
                        e.step_id, e.state, e.path, e.attempt, e.worker_id, e.data
                 FROM events e JOIN runs r ON r.id = e.run_id
                 WHERE e.run_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3",
                &[&run_id, &after_seq, &limit],
            )
            .await?;
        rows.iter().map(event_from).collect()
    }
}

const SUMMARY_COLUMNS: &str = "id, workflow_id, version, tenant, status, input, error, causation_id, correlation_id, created_at, ended_at";

fn summary_from(row: &tokio_postgres::Row) -> Result<RunSummary> {
    Ok(RunSummary {
        id: row.get(0),
        workflow_id: row.get(1),
        version: row.get(2),
        tenant: row.get(3),
        status: parse_status(row.get(4))?,
        input: row.get(5),
        error: row.get(6),
        causation_id: row.get(7),
        correlation_id: row.get(8),
        created_at: time::format(row.get(9)),
        ended_at: ts(row.get(10)),
    })
}

/// Builds an event from `e.run_id, e.seq, e.type, e.time, r.workflow_id,
/// r.version, r.tenant, e.step_id, e.state, e.path, e.attempt, e.worker_id, e.data`.
pub(super) fn event_from(row: &tokio_postgres::Row) -> Result<Event> {
    let kind: &str = row.get(2);
    Ok(Event {
        run_id: row.get(0),
        seq: row.get(1),
        kind: EventType::from_str(kind)
            .map_err(|_| Error::Corrupt(format!("unknown event type {kind:?}")))?,
        time: time::format(row.get(3)),
        workflow_id: row.get(4),
        version: row.get(5),
        tenant: row.get(6),
        step_id: row.get(7),
        state: row.get(8),
        path: row.get(9),
        attempt: row.get::<_, Option<i32>>(10).map(|a| a as u32),
        worker_id: row.get(11),
        data: row.get(12),
    })
}

/// Locks and advances one run inside `tx` (shared by events and timers).
pub(super) async fn advance_in<F>(
    tx: &Transaction<'_>,
    run_id: &str,
    decide: F,
) -> Result<Option<Vec<OutboxMessage>>>
where
    F: FnOnce(&LockedRun) -> Option<TransitionWrite>,
{
    let lock = tx
        .prepare_cached("SELECT tenant, workflow_id, version, status, state, last_seq FROM runs WHERE id = $1 FOR UPDATE")
        .await?;
    let Some(row) = tx.query_opt(&lock, &[&run_id]).await? else {
        return Ok(None);
    };
    let locked = LockedRun {
        run_id: run_id.to_owned(),
        tenant: row.get(0),
        workflow_id: row.get(1),
        version: row.get(2),
        status: parse_status(row.get(3))?,
        state: row.get(4),
        last_seq: row.get(5),
    };
    let Some(write) = decide(&locked) else {
        return Ok(None);
    };
    let update = tx
        .prepare_cached(
            "UPDATE runs SET status = $2, state = $3, error = $4, last_seq = $5, updated_at = now(),
                             ended_at = CASE WHEN $6 THEN coalesce(ended_at, now()) END
             WHERE id = $1",
        )
        .await?;
    let last_seq = write.last_seq(locked.last_seq);
    let (status, state, error, ended) = (
        write.status.as_str(),
        write.state.clone(),
        write.error.clone(),
        write.status.is_terminal(),
    );
    let (updated, published) = futures::future::try_join(
        async {
            Ok(tx
                .execute(
                    &update,
                    &[&run_id, &status, &state, &error, &last_seq, &ended],
                )
                .await?)
        },
        write_children(tx, run_id, write),
    )
    .await?;
    debug_assert_eq!(updated, 1);
    Ok(Some(published))
}

/// Inserts a transition's attempts, events, timers and outbox rows, pipelined.
async fn write_children(
    tx: &Transaction<'_>,
    run_id: &str,
    write: TransitionWrite,
) -> Result<Vec<OutboxMessage>> {
    let TransitionWrite {
        events,
        attempts,
        outbox: messages,
        timers,
        ..
    } = write;
    let (_, _, _, published) = futures::future::try_join4(
        insert_attempts(tx, run_id, &attempts),
        super::attempts::insert_events(tx, &events),
        super::timers::insert(tx, run_id, &timers),
        outbox::insert(tx, messages),
    )
    .await?;
    Ok(published)
}

async fn insert_attempts(
    tx: &Transaction<'_>,
    run_id: &str,
    attempts: &[super::rows::NewAttempt],
) -> Result<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO step_attempts (run_id, step_id, attempt, state, path, status, inline, input, output, error,
                                        completion_seq, started_at, ended_at)
             SELECT $1, a.step_id, a.attempt, a.state, a.path, a.status, a.inline, a.input, a.output, a.error, a.seq,
                    CASE WHEN a.inline THEN now() END, CASE WHEN a.inline THEN now() END
             FROM UNNEST($2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::jsonb[],
                         $9::jsonb[], $10::jsonb[], $11::bigint[])
                  AS a(step_id, attempt, state, path, status, inline, input, output, error, seq)
             ON CONFLICT (run_id, step_id, attempt) DO NOTHING",
        )
        .await?;
    let step_ids: Vec<&str> = attempts.iter().map(|a| a.step_id.as_str()).collect();
    let numbers: Vec<i32> = attempts.iter().map(|a| a.attempt as i32).collect();
    let states: Vec<&str> = attempts.iter().map(|a| a.state.as_str()).collect();
    let paths: Vec<&str> = attempts.iter().map(|a| a.path.as_str()).collect();
    let statuses: Vec<&str> = attempts.iter().map(|a| a.status.as_str()).collect();
    let inline: Vec<bool> = attempts.iter().map(|a| a.inline).collect();
    let inputs: Vec<&Value> = attempts.iter().map(|a| &a.input).collect();
    let outputs: Vec<Option<&Value>> = attempts.iter().map(|a| a.output.as_ref()).collect();
    let errors: Vec<Option<&Value>> = attempts.iter().map(|a| a.error.as_ref()).collect();
    let seqs: Vec<Option<i64>> = attempts.iter().map(|a| a.completion_seq).collect();
    tx.execute(
        &statement,
        &[
            &run_id, &step_ids, &numbers, &states, &paths, &statuses, &inline, &inputs, &outputs,
            &errors, &seqs,
        ],
    )
    .await?;
    Ok(())
}
