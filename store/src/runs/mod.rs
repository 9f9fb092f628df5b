//! Runs: creation (at most once per dedupe key) and advancement. Each
//! transition is ONE statement: the run row change guards the inserts of
//! its attempts, events, timers and outbox rows. Advancement is optimistic:
//! the run's `revision` must still be the one the transition was decided
//! from, or the caller reloads and decides again, so concurrent coordinators
//! never double-advance a run. Only coordinators write the run row.
//!
//! Event seqs come from the run's counter row (`run_counters`), which the
//! same statement moves past the transition's events: the engine numbers its
//! events from 1 and the statement adds the counter's value, so workers may
//! append step events meanwhile without invalidating the decision.
//! Several runs' transitions can share one commit ([`Store::commit_transitions`]).

mod columns;
mod slots;
pub use slots::{SlotCount, SlotKey};
mod statement;

use self::columns::Columns;
use self::statement::{ADVANCE_SQL, CREATE_SQL, Shape};
use crate::rows::TransitionWrite;
use crate::{Error, Result, Store};
use junction_core::outbox::OutboxMessage;
use junction_core::status::RunStatus;
use serde_json::Value;
use tokio_postgres::types::ToSql;

/// A run as loaded for the state machine.
#[derive(Debug, Clone)]
pub struct LockedRun {
    pub run_id: String,
    pub tenant: String,
    pub workflow_id: String,
    pub version: i32,
    pub status: RunStatus,
    /// The serialized [`junction_core::engine::RunState`] (without the run input).
    pub state: Value,
    /// The run input, kept once in the run row.
    pub input: Value,
    /// Coordinator writes so far; the optimistic check.
    pub revision: i64,
    /// The stored values of the running fan-outs' ended children:
    /// `(fan-out step id, child index, value)`.
    pub child_results: Vec<(String, i32, Value)>,
    /// The run's trace id (32 hex digits; `None` for runs started before
    /// traces were kept) and the caller's span its root hangs under.
    pub trace_id: Option<String>,
    pub trace_parent: Option<String>,
    /// When the run was created: where its root span starts.
    pub created_at: chrono::DateTime<chrono::Utc>,
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
    /// The run's trace id (32 hex digits) and the span of the signal or
    /// request that started it, if it named one (16 hex digits).
    pub trace_id: String,
    pub trace_parent: Option<String>,
    /// The rendered concurrency key, for runs of a limited workflow.
    pub concurrency_key: Option<String>,
}

/// What [`Store::create_run`] did.
#[derive(Debug)]
pub enum CreateOutcome {
    /// The run is new; publish its messages.
    Created(Committed),
    /// A run with the same dedupe key exists already.
    Existing(String),
}

/// What a committed transition publishes: its events (now with their seqs,
/// in seq order) and then its tasks, each with its outbox row id.
fn published(
    run_id: &str,
    write: &TransitionWrite,
    row: &tokio_postgres::Row,
) -> Result<Committed> {
    let base: i64 = row.get(1);
    let event_ids: Vec<i64> = row.get(2);
    let task_ids: Vec<i64> = row.get(3);
    let task_msg_ids: Vec<String> = row.get(4);
    if event_ids.len() != write.events.len() || task_ids.len() != write.outbox.len() {
        return Err(Error::Corrupt(format!(
            "run {run_id}: a transition stored {} of {} event and {} of {} task outbox rows",
            event_ids.len(),
            write.events.len(),
            task_ids.len(),
            write.outbox.len()
        )));
    }
    let mut messages = Vec::with_capacity(event_ids.len() + task_ids.len());
    for (((event, subject), traceparent), id) in write
        .events
        .iter()
        .zip(&write.event_subjects)
        .zip(&write.event_traceparents)
        .zip(event_ids)
    {
        let seq = event.seq + base;
        messages.push(
            OutboxMessage::event(id, subject.clone(), event, seq, traceparent.clone())
                .map_err(|e| Error::Corrupt(format!("run {run_id}: event {seq}: {e}")))?,
        );
    }
    let mut by_msg_id: std::collections::HashMap<&str, i64> = task_msg_ids
        .iter()
        .map(String::as_str)
        .zip(task_ids)
        .collect();
    for message in &write.outbox {
        let id = by_msg_id.remove(message.msg_id.as_str()).ok_or_else(|| {
            Error::Corrupt(format!(
                "run {run_id}: no outbox row came back for task {}",
                message.msg_id
            ))
        })?;
        messages.push(OutboxMessage::stored(id, message.clone()));
    }
    Ok(Committed {
        messages,
        last_seq: base + write.events.len() as i64,
    })
}

/// Runs a transition statement on any client or transaction. `None`: the
/// head found nothing to write (a dedupe key taken, or a revision moved on).
async fn execute_write<C: deadpool_postgres::GenericClient>(
    client: &C,
    statements: &[String],
    head: &[&(dyn ToSql + Sync)],
    run_id: &str,
    write: &TransitionWrite,
) -> Result<Option<Committed>> {
    let shape = Shape::of(write);
    let statement = client.prepare_cached(&statements[shape.index()]).await?;
    let columns = Columns::new(write)?;
    let mut params = head.to_vec();
    params.extend(columns.params(shape));
    let row = client.query_one(&statement, &params).await?;
    drop(columns);
    let applied: i64 = row.get(0);
    if applied != 1 {
        return Ok(None);
    }
    published(run_id, write, &row).map(Some)
}

/// A committed transition.
#[derive(Debug)]
pub struct Committed {
    /// What to publish: the events, then the tasks.
    pub messages: Vec<OutboxMessage>,
    /// The run's last event seq after this transition.
    pub last_seq: i64,
}

/// One run's transition, decided from the run at `revision`.
#[derive(Debug)]
pub struct PendingWrite {
    pub run_id: String,
    /// The revision the transition was decided from (the optimistic check).
    pub revision: i64,
    pub write: TransitionWrite,
}

impl Store {
    /// Creates a run and writes its first transition, unless a run with the
    /// same `(tenant, workflow, dedupe_key)` exists.
    pub async fn create_run(&self, run: &NewRun, write: TransitionWrite) -> Result<CreateOutcome> {
        let client = self.client().await?;
        create_on(&client, run, write).await
    }

    /// Reads a run for the state machine, without locking it.
    pub async fn load_run(&self, run_id: &str) -> Result<Option<LockedRun>> {
        let client = self.client().await?;
        load(&client, run_id, false).await
    }

    /// Commits transitions of several runs together: one statement each,
    /// pipelined inside one transaction, so they share one commit (group
    /// commit). Each is applied only if its run is still at the revision it
    /// was decided from; `None` in the answer means that run moved on and
    /// must be decided again. An error rolls back the whole batch. Answers
    /// come in the order of `writes`.
    pub async fn commit_transitions(
        &self,
        writes: &[PendingWrite],
    ) -> Result<Vec<Option<Committed>>> {
        let mut client = self.client().await?;
        if let [pending] = writes {
            return Ok(vec![write_advance(&client, pending).await?]);
        }
        // In run id order, so concurrent batches (and workers' result
        // batches) lock rows in one order and never deadlock.
        let mut order: Vec<usize> = (0..writes.len()).collect();
        order.sort_by(|a, b| writes[*a].run_id.cmp(&writes[*b].run_id));
        let tx = client.transaction().await?;
        let sorted =
            futures::future::join_all(order.iter().map(|i| write_advance(&tx, &writes[*i])))
                .await
                .into_iter()
                .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        let mut results: Vec<Option<Committed>> = (0..writes.len()).map(|_| None).collect();
        for (committed, index) in sorted.into_iter().zip(order) {
            results[index] = committed;
        }
        Ok(results)
    }
}

/// Creates a run on `client` (a transaction, for limited runs).
async fn create_on<C: deadpool_postgres::GenericClient>(
    client: &C,
    run: &NewRun,
    write: TransitionWrite,
) -> Result<CreateOutcome> {
    let event_count = write.events.len() as i64;
    let (status, ended) = (write.status.as_str(), write.status.is_terminal());
    let (state, error) = (&write.state, &write.error);
    let head: [&(dyn ToSql + Sync); 16] = [
        &run.run_id,
        &run.tenant,
        &run.workflow_id,
        &run.version,
        &status,
        &run.input,
        &state,
        &error,
        &run.causation_id,
        &run.correlation_id,
        &run.dedupe_key,
        &ended,
        &event_count,
        &run.trace_id,
        &run.trace_parent,
        &run.concurrency_key,
    ];
    if let Some(committed) = execute_write(client, &CREATE_SQL, &head, &run.run_id, &write).await? {
        return Ok(CreateOutcome::Created(committed));
    }
    let row = client
        .query_one(
            "SELECT id FROM runs WHERE tenant = $1 AND workflow_id = $2 AND dedupe_key = $3",
            &[&run.tenant, &run.workflow_id, &run.dedupe_key],
        )
        .await?;
    Ok(CreateOutcome::Existing(row.get(0)))
}

/// Reads a run (optionally locking it, inside a transaction).
pub(super) async fn load<C: deadpool_postgres::GenericClient>(
    client: &C,
    run_id: &str,
    lock: bool,
) -> Result<Option<LockedRun>> {
    let sql = if lock {
        "SELECT tenant, workflow_id, version, status, state, revision, input, trace_id, trace_parent, created_at
         FROM runs WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT tenant, workflow_id, version, status, state, revision, input, trace_id, trace_parent, created_at
         FROM runs WHERE id = $1"
    };
    let statement = client.prepare_cached(sql).await?;
    let Some(row) = client.query_opt(&statement, &[&run_id]).await? else {
        return Ok(None);
    };
    let status: &str = row.get(3);
    let state: Value = row.get(4);
    let running_fanouts: Vec<&str> = state
        .get("fanouts")
        .and_then(Value::as_object)
        .map(|fanouts| {
            fanouts
                .values()
                .filter_map(|f| f.pointer("/step/step_id").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let child_results = if running_fanouts.is_empty() {
        Vec::new()
    } else {
        let statement = client
            .prepare_cached(
                "SELECT step_id, child, value FROM fanout_results WHERE run_id = $1 AND step_id = ANY($2)",
            )
            .await?;
        client
            .query(&statement, &[&run_id, &running_fanouts])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    };
    Ok(Some(LockedRun {
        run_id: run_id.to_owned(),
        tenant: row.get(0),
        workflow_id: row.get(1),
        version: row.get(2),
        status: status
            .parse()
            .map_err(|_| Error::Corrupt(format!("unknown run status {status:?}")))?,
        revision: row.get(5),
        input: row.get(6),
        trace_id: row.get(7),
        trace_parent: row.get(8),
        created_at: row.get(9),
        child_results,
        state,
    }))
}

/// Writes a transition of a run if its revision still holds. `None` means
/// the run changed meanwhile.
pub(super) async fn write_advance<C: deadpool_postgres::GenericClient>(
    client: &C,
    pending: &PendingWrite,
) -> Result<Option<Committed>> {
    let write = &pending.write;
    let event_count = write.events.len() as i64;
    let (status, ended) = (write.status.as_str(), write.status.is_terminal());
    let head: [&(dyn ToSql + Sync); 7] = [
        &pending.run_id,
        &status,
        &write.state,
        &write.error,
        &ended,
        &pending.revision,
        &event_count,
    ];
    execute_write(client, &ADVANCE_SQL, &head, &pending.run_id, write).await
}
