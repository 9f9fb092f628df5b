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

use super::rows::{NewAttempt, NewTimer, TransitionWrite};
use super::{Error, Result, Store};
use chrono::{DateTime, Utc};
use junction_core::outbox::OutboxMessage;
use junction_core::status::RunStatus;
use junction_core::wire::Event;
use serde_json::Value;
use std::sync::LazyLock;
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
    /// The run is new; publish its messages.
    Created(Committed),
    /// A run with the same dedupe key exists already.
    Existing(String),
}

/// Which kinds of rows a transition inserts. Statements include only the
/// inserts they need: executor start-up is a large part of Postgres's cost
/// per statement, so empty inserts are not free.
#[derive(Debug, Clone, Copy)]
struct Shape {
    attempts: bool,
    events: bool,
    timers: bool,
    outbox: bool,
    results: bool,
}

impl Shape {
    fn of(write: &TransitionWrite) -> Self {
        Self {
            attempts: !write.attempts.is_empty(),
            events: !write.events.is_empty(),
            timers: !write.timers.is_empty(),
            outbox: !write.outbox.is_empty(),
            results: !write.child_results.is_empty(),
        }
    }

    fn index(self) -> usize {
        usize::from(self.attempts)
            | usize::from(self.events) << 1
            | usize::from(self.timers) << 2
            | usize::from(self.outbox) << 3
            | usize::from(self.results) << 4
    }

    fn from_index(i: usize) -> Self {
        Self {
            attempts: i & 1 != 0,
            events: i & 2 != 0,
            timers: i & 4 != 0,
            outbox: i & 8 != 0,
            results: i & 16 != 0,
        }
    }
}

/// The inserts of a transition, after the head CTEs `u` (the run row
/// written, or nothing if the optimistic check failed) and `s` (the run's
/// seq counter moved past this write's events, `s.base` the seq before
/// them), and the final SELECT. Event seqs and inline attempts' completion
/// seqs arrive as offsets from `s.base`; every event gets an outbox row that
/// points at it. Parameters start at `$first`; `$1` is the run id.
fn children_sql(first: usize, shape: Shape) -> String {
    let mut next = first;
    let mut p = || {
        next += 1;
        format!("${}", next - 1)
    };
    let mut parts = Vec::new();
    if shape.attempts {
        let a: Vec<String> = (0..10).map(|_| p()).collect();
        parts.push(format!(
            "a AS (
                INSERT INTO step_attempts (run_id, step_id, attempt, state, path, status, inline, input, output, error,
                                           completion_seq, started_at, ended_at)
                SELECT $1, x.step_id, x.attempt, x.state, x.path, x.status, x.inline, x.input, x.output, x.error,
                       s.base + x.seq, CASE WHEN x.inline THEN now() END, CASE WHEN x.inline THEN now() END
                FROM s, UNNEST({}::text[], {}::int[], {}::text[], {}::text[], {}::text[], {}::bool[], {}::jsonb[],
                            {}::jsonb[], {}::jsonb[], {}::bigint[])
                     AS x(step_id, attempt, state, path, status, inline, input, output, error, seq)
                ON CONFLICT (run_id, step_id, attempt) DO UPDATE
                    SET status = EXCLUDED.status, error = EXCLUDED.error,
                        completion_seq = EXCLUDED.completion_seq, ended_at = now()
                    -- Only a cancellation, and only of an attempt no worker holds.
                    WHERE EXCLUDED.status = 'CANCELLED' AND step_attempts.status = 'PENDING')",
            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]
        ));
    }
    if shape.events {
        let e: Vec<String> = (0..10).map(|_| p()).collect();
        parts.push(format!(
            "e AS (
                INSERT INTO events (run_id, seq, type, time, step_id, state, path, attempt, worker_id, data)
                SELECT $1, s.base + x.off, x.type, x.time, x.step_id, x.state, x.path, x.attempt, x.worker_id, x.data
                FROM s, UNNEST({}::bigint[], {}::text[], {}::timestamptz[], {}::text[], {}::text[],
                               {}::text[], {}::int[], {}::text[], {}::jsonb[])
                     AS x(off, type, time, step_id, state, path, attempt, worker_id, data)),
            eo AS (
                INSERT INTO outbox (subject, msg_id, run_id, seq)
                SELECT x.subject, $1 || ':' || (s.base + x.off), $1, s.base + x.off
                FROM s, UNNEST({}::text[], {}::bigint[]) AS x(subject, off)
                RETURNING id, seq)",
            e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8], e[9], e[0]
        ));
    }
    if shape.timers {
        let t: Vec<String> = (0..6).map(|_| p()).collect();
        parts.push(format!(
            "t AS (
                INSERT INTO timers (run_id, kind, step_id, attempt, fire_at, payload)
                SELECT COALESCE(x.run_id, $1), x.kind, x.step_id, x.attempt, x.fire_at, x.payload
                FROM UNNEST({}::text[], {}::text[], {}::text[], {}::int[], {}::timestamptz[], {}::jsonb[])
                     AS x (run_id, kind, step_id, attempt, fire_at, payload)
                WHERE EXISTS (SELECT 1 FROM u))",
            t[0], t[1], t[2], t[3], t[4], t[5]
        ));
    }
    if shape.results {
        let r: Vec<String> = (0..3).map(|_| p()).collect();
        parts.push(format!(
            "r AS (
                INSERT INTO fanout_results (run_id, step_id, child, value)
                SELECT $1, x.* FROM UNNEST({}::text[], {}::int[], {}::jsonb[]) AS x
                WHERE EXISTS (SELECT 1 FROM u)
                ON CONFLICT (run_id, step_id, child) DO UPDATE SET value = EXCLUDED.value)",
            r[0], r[1], r[2]
        ));
    }
    if shape.outbox {
        let o: Vec<String> = (0..3).map(|_| p()).collect();
        parts.push(format!(
            "o AS (
                INSERT INTO outbox (subject, msg_id, payload)
                SELECT x.* FROM UNNEST({}::text[], {}::text[], {}::bytea[]) AS x
                WHERE EXISTS (SELECT 1 FROM u)
                RETURNING id, msg_id)",
            o[0], o[1], o[2]
        ));
    }
    let events = if shape.events {
        "(SELECT coalesce(array_agg(id ORDER BY seq), '{}') FROM eo)"
    } else {
        "'{}'::bigint[]"
    };
    let tasks = if shape.outbox {
        "(SELECT coalesce(array_agg(id), '{}') FROM o), (SELECT coalesce(array_agg(msg_id), '{}') FROM o)"
    } else {
        "'{}'::bigint[], '{}'::text[]"
    };
    let mut sql = String::new();
    for part in parts {
        sql.push_str(",\n");
        sql.push_str(&part);
    }
    sql.push_str(&format!(
        "\nSELECT (SELECT count(*) FROM u), (SELECT base FROM s), {events}, {tasks}"
    ));
    sql
}

/// One statement per shape.
fn per_shape(head: &str, first_child_param: usize) -> Vec<String> {
    (0..32)
        .map(|i| {
            format!(
                "{head}{}",
                children_sql(first_child_param, Shape::from_index(i))
            )
        })
        .collect()
}

static CREATE_SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    per_shape(
        "WITH u AS (
            INSERT INTO runs (id, tenant, workflow_id, version, status, input, state, error, causation_id,
                              correlation_id, dedupe_key, ended_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $12 THEN now() END)
            ON CONFLICT (tenant, workflow_id, dedupe_key) DO NOTHING RETURNING id),
        s AS (
            INSERT INTO run_counters (run_id, last_seq) SELECT $1, $13 FROM u RETURNING 0::bigint AS base)",
        14,
    )
});

static ADVANCE_SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    per_shape(
        "WITH u AS (
            UPDATE runs SET status = $2, state = $3, error = $4, revision = revision + 1,
                            updated_at = now(), ended_at = CASE WHEN $5 THEN coalesce(ended_at, now()) END
            WHERE id = $1 AND revision = $6 RETURNING id),
        s AS (
            UPDATE run_counters SET last_seq = last_seq + $7
            WHERE run_id = $1 AND EXISTS (SELECT 1 FROM u) RETURNING last_seq - $7 AS base)",
        8,
    )
});

/// The children of a write as column arrays, in `children_sql` order.
struct Columns<'w> {
    attempts: AttemptColumns<'w>,
    events: EventColumns<'w>,
    timers: TimerColumns<'w>,
    subjects: Vec<&'w str>,
    msg_ids: Vec<&'w str>,
    payloads: Vec<&'w [u8]>,
    results: ResultColumns<'w>,
}

struct ResultColumns<'w> {
    fanouts: Vec<&'w str>,
    children: Vec<i32>,
    values: Vec<&'w Value>,
}

struct AttemptColumns<'w> {
    step_ids: Vec<&'w str>,
    numbers: Vec<i32>,
    states: Vec<&'w str>,
    paths: Vec<&'w str>,
    statuses: Vec<&'w str>,
    inline: Vec<bool>,
    inputs: Vec<&'w Value>,
    outputs: Vec<Option<&'w Value>>,
    errors: Vec<Option<&'w Value>>,
    seqs: Vec<Option<i64>>,
}

struct EventColumns<'w> {
    seqs: Vec<i64>,
    kinds: Vec<&'w str>,
    times: Vec<DateTime<Utc>>,
    step_ids: Vec<Option<&'w str>>,
    states: Vec<Option<&'w str>>,
    paths: Vec<Option<&'w str>>,
    attempts: Vec<Option<i32>>,
    workers: Vec<Option<&'w str>>,
    data: Vec<Option<&'w Value>>,
    subjects: Vec<&'w str>,
}

struct TimerColumns<'w> {
    run_ids: Vec<Option<&'w str>>,
    kinds: Vec<&'w str>,
    step_ids: Vec<Option<&'w str>>,
    attempts: Vec<Option<i32>>,
    fire_at: Vec<DateTime<Utc>>,
    payloads: Vec<Option<&'w serde_json::Value>>,
}

fn event_time(event: &Event) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&event.time)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now())
}

impl<'w> Columns<'w> {
    fn new(write: &'w TransitionWrite) -> Self {
        let attempts: &[NewAttempt] = &write.attempts;
        let timers: &[NewTimer] = &write.timers;
        Self {
            attempts: AttemptColumns {
                step_ids: attempts.iter().map(|a| a.step_id.as_str()).collect(),
                numbers: attempts.iter().map(|a| a.attempt as i32).collect(),
                states: attempts.iter().map(|a| a.state.as_str()).collect(),
                paths: attempts.iter().map(|a| a.path.as_str()).collect(),
                statuses: attempts.iter().map(|a| a.status.as_str()).collect(),
                inline: attempts.iter().map(|a| a.inline).collect(),
                inputs: attempts.iter().map(|a| &a.input).collect(),
                outputs: attempts.iter().map(|a| a.output.as_ref()).collect(),
                errors: attempts.iter().map(|a| a.error.as_ref()).collect(),
                seqs: attempts.iter().map(|a| a.completion_seq).collect(),
            },
            events: EventColumns {
                seqs: write.events.iter().map(|e| e.seq).collect(),
                kinds: write.events.iter().map(|e| e.kind.as_str()).collect(),
                times: write.events.iter().map(event_time).collect(),
                step_ids: write.events.iter().map(|e| e.step_id.as_deref()).collect(),
                states: write.events.iter().map(|e| e.state.as_deref()).collect(),
                paths: write.events.iter().map(|e| e.path.as_deref()).collect(),
                attempts: write
                    .events
                    .iter()
                    .map(|e| e.attempt.map(|a| a as i32))
                    .collect(),
                workers: write
                    .events
                    .iter()
                    .map(|e| e.worker_id.as_deref())
                    .collect(),
                data: write.events.iter().map(|e| e.data.as_ref()).collect(),
                subjects: write.event_subjects.iter().map(String::as_str).collect(),
            },
            timers: TimerColumns {
                run_ids: timers.iter().map(|t| t.run_id.as_deref()).collect(),
                kinds: timers.iter().map(|t| t.kind).collect(),
                step_ids: timers.iter().map(|t| t.step_id.as_deref()).collect(),
                attempts: timers.iter().map(|t| t.attempt.map(|a| a as i32)).collect(),
                fire_at: timers.iter().map(|t| t.fire_at).collect(),
                payloads: timers.iter().map(|t| t.payload.as_ref()).collect(),
            },
            subjects: write.outbox.iter().map(|m| m.subject.as_str()).collect(),
            msg_ids: write.outbox.iter().map(|m| m.msg_id.as_str()).collect(),
            payloads: write.outbox.iter().map(|m| m.payload.as_slice()).collect(),
            results: ResultColumns {
                fanouts: write.child_results.iter().map(|r| r.0.as_str()).collect(),
                children: write.child_results.iter().map(|r| r.1).collect(),
                values: write.child_results.iter().map(|r| &r.2).collect(),
            },
        }
    }

    fn params(&self, shape: Shape) -> Vec<&(dyn ToSql + Sync)> {
        let (a, e, t) = (&self.attempts, &self.events, &self.timers);
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(26);
        if shape.attempts {
            params.extend([
                &a.step_ids as &(dyn ToSql + Sync),
                &a.numbers,
                &a.states,
                &a.paths,
                &a.statuses,
                &a.inline,
                &a.inputs,
                &a.outputs,
                &a.errors,
                &a.seqs,
            ]);
        }
        if shape.events {
            params.extend([
                &e.seqs as &(dyn ToSql + Sync),
                &e.kinds,
                &e.times,
                &e.step_ids,
                &e.states,
                &e.paths,
                &e.attempts,
                &e.workers,
                &e.data,
                &e.subjects,
            ]);
        }
        if shape.timers {
            params.extend([
                &t.run_ids as &(dyn ToSql + Sync),
                &t.kinds,
                &t.step_ids,
                &t.attempts,
                &t.fire_at,
                &t.payloads,
            ]);
        }
        if shape.results {
            let r = &self.results;
            params.extend([&r.fanouts as &(dyn ToSql + Sync), &r.children, &r.values]);
        }
        if shape.outbox {
            params.extend([
                &self.subjects as &(dyn ToSql + Sync),
                &self.msg_ids,
                &self.payloads,
            ]);
        }
        params
    }
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
    for ((event, subject), id) in write
        .events
        .iter()
        .zip(&write.event_subjects)
        .zip(event_ids)
    {
        let seq = event.seq + base;
        messages.push(
            OutboxMessage::event(id, subject.clone(), event, seq)
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
    let columns = Columns::new(write);
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
        let event_count = write.events.len() as i64;
        let (status, ended) = (write.status.as_str(), write.status.is_terminal());
        let (state, error) = (&write.state, &write.error);
        let head: [&(dyn ToSql + Sync); 13] = [
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
        ];
        if let Some(committed) =
            execute_write(&client, &CREATE_SQL, &head, &run.run_id, &write).await?
        {
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

/// Reads a run (optionally locking it, inside a transaction).
pub(super) async fn load<C: deadpool_postgres::GenericClient>(
    client: &C,
    run_id: &str,
    lock: bool,
) -> Result<Option<LockedRun>> {
    let sql = if lock {
        "SELECT tenant, workflow_id, version, status, state, revision, input FROM runs WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT tenant, workflow_id, version, status, state, revision, input FROM runs WHERE id = $1"
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
