//! Runs: creation (at most once per dedupe key) and advancement. Each
//! transition is ONE statement (so one implicit transaction and one round
//! trip): the run row change guards the inserts of its attempts, events,
//! timers and outbox rows. Advancement is optimistic: the snapshot's
//! `revision` and `last_seq` must still hold, or the caller reloads and
//! decides again, so concurrent coordinators never double-advance a run.

use super::outbox::OutboxMessage;
use super::rows::{NewAttempt, NewTimer, TransitionWrite};
use super::{Error, Result, Store};
use crate::status::RunStatus;
use crate::wire::Event;
use chrono::{DateTime, Utc};
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
    /// The serialized [`crate::engine::RunState`].
    pub state: Value,
    pub last_seq: i64,
    /// Coordinator writes so far; the optimistic check.
    pub revision: i64,
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

/// Attempts before [`Store::advance_run`] gives up on a contended run.
const MAX_CONFLICTS: usize = 50;

/// Which kinds of rows a transition inserts. Statements include only the
/// inserts they need: executor start-up is a large part of Postgres's cost
/// per statement, so empty inserts are not free.
#[derive(Debug, Clone, Copy)]
struct Shape {
    attempts: bool,
    events: bool,
    timers: bool,
    outbox: bool,
}

impl Shape {
    fn of(write: &TransitionWrite) -> Self {
        Self {
            attempts: !write.attempts.is_empty(),
            events: !write.events.is_empty(),
            timers: !write.timers.is_empty(),
            outbox: !write.outbox.is_empty(),
        }
    }

    fn index(self) -> usize {
        usize::from(self.attempts)
            | usize::from(self.events) << 1
            | usize::from(self.timers) << 2
            | usize::from(self.outbox) << 3
    }

    fn from_index(i: usize) -> Self {
        Self {
            attempts: i & 1 != 0,
            events: i & 2 != 0,
            timers: i & 4 != 0,
            outbox: i & 8 != 0,
        }
    }
}

/// The inserts of a transition, each guarded by the head CTE `u`, and the
/// final SELECT. Parameters start at `$first`; `$1` is the run id.
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
                SELECT $1, x.step_id, x.attempt, x.state, x.path, x.status, x.inline, x.input, x.output, x.error, x.seq,
                       CASE WHEN x.inline THEN now() END, CASE WHEN x.inline THEN now() END
                FROM UNNEST({}::text[], {}::int[], {}::text[], {}::text[], {}::text[], {}::bool[], {}::jsonb[],
                            {}::jsonb[], {}::jsonb[], {}::bigint[])
                     AS x(step_id, attempt, state, path, status, inline, input, output, error, seq)
                WHERE EXISTS (SELECT 1 FROM u)
                ON CONFLICT (run_id, step_id, attempt) DO UPDATE
                    SET status = EXCLUDED.status, error = EXCLUDED.error,
                        completion_seq = EXCLUDED.completion_seq, ended_at = now()
                    -- Only a cancellation, and only of an attempt no worker holds.
                    WHERE EXCLUDED.status = 'CANCELLED' AND step_attempts.status = 'PENDING')",
            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]
        ));
    }
    if shape.events {
        let e: Vec<String> = (0..9).map(|_| p()).collect();
        parts.push(format!(
            "e AS (
                INSERT INTO events (run_id, seq, type, time, step_id, state, path, attempt, worker_id, data)
                SELECT $1, x.* FROM UNNEST({}::bigint[], {}::text[], {}::timestamptz[], {}::text[], {}::text[],
                                           {}::text[], {}::int[], {}::text[], {}::jsonb[]) AS x
                WHERE EXISTS (SELECT 1 FROM u))",
            e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8]
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
    let select = if shape.outbox {
        let o: Vec<String> = (0..3).map(|_| p()).collect();
        parts.push(format!(
            "o AS (
                INSERT INTO outbox (subject, msg_id, payload)
                SELECT x.* FROM UNNEST({}::text[], {}::text[], {}::bytea[]) AS x
                WHERE EXISTS (SELECT 1 FROM u)
                RETURNING id, msg_id)",
            o[0], o[1], o[2]
        ));
        "SELECT (SELECT count(*) FROM u), (SELECT coalesce(array_agg(id), '{}') FROM o),
                (SELECT coalesce(array_agg(msg_id), '{}') FROM o)"
    } else {
        "SELECT (SELECT count(*) FROM u), '{}'::bigint[], '{}'::text[]"
    };
    let mut sql = String::new();
    for part in parts {
        sql.push_str(",\n");
        sql.push_str(&part);
    }
    sql.push('\n');
    sql.push_str(select);
    sql
}

/// One statement per shape.
fn per_shape(head: &str, first_child_param: usize) -> Vec<String> {
    (0..16)
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
                              correlation_id, dedupe_key, last_seq, ended_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $13 THEN now() END)
            ON CONFLICT (tenant, workflow_id, dedupe_key) DO NOTHING RETURNING id)",
        14,
    )
});

static ADVANCE_SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    per_shape(
        "WITH u AS (
            UPDATE runs SET status = $2, state = $3, error = $4, last_seq = $5, revision = revision + 1,
                            updated_at = now(), ended_at = CASE WHEN $6 THEN coalesce(ended_at, now()) END
            WHERE id = $1 AND revision = $7 AND last_seq = $8 RETURNING id)",
        9,
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

/// Pairs the returned outbox ids with the messages of the write.
fn published(write: TransitionWrite, row: &tokio_postgres::Row) -> Vec<OutboxMessage> {
    let ids: Vec<i64> = row.get(1);
    let msg_ids: Vec<String> = row.get(2);
    let mut by_msg_id: std::collections::HashMap<String, i64> =
        msg_ids.into_iter().zip(ids).collect();
    write
        .outbox
        .into_iter()
        .map(|m| OutboxMessage {
            id: by_msg_id.remove(&m.msg_id).unwrap_or_default(),
            subject: m.subject,
            msg_id: m.msg_id,
            payload: m.payload,
        })
        .collect()
}

/// Runs a transition statement on any client or transaction.
async fn execute_write<C: deadpool_postgres::GenericClient>(
    client: &C,
    statements: &[String],
    head: &[&(dyn ToSql + Sync)],
    write: TransitionWrite,
) -> Result<Option<Vec<OutboxMessage>>> {
    let shape = Shape::of(&write);
    let statement = client.prepare_cached(&statements[shape.index()]).await?;
    let columns = Columns::new(&write);
    let mut params = head.to_vec();
    params.extend(columns.params(shape));
    let row = client.query_one(&statement, &params).await?;
    drop(columns);
    let applied: i64 = row.get(0);
    Ok((applied == 1).then(|| published(write, &row)))
}

impl Store {
    /// Creates a run and writes its first transition, unless a run with the
    /// same `(tenant, workflow, dedupe_key)` exists.
    pub async fn create_run(&self, run: &NewRun, write: TransitionWrite) -> Result<CreateOutcome> {
        let client = self.client().await?;
        let mut write = write;
        let last_seq = write.last_seq(0);
        let (status, ended) = (write.status.as_str(), write.status.is_terminal());
        let (state, error) = (std::mem::take(&mut write.state), write.error.take());
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
            &last_seq,
            &ended,
        ];
        if let Some(messages) = execute_write(&client, &CREATE_SQL, &head, write).await? {
            return Ok(CreateOutcome::Created(messages));
        }
        let row = client
            .query_one(
                "SELECT id FROM runs WHERE tenant = $1 AND workflow_id = $2 AND dedupe_key = $3",
                &[&run.tenant, &run.workflow_id, &run.dedupe_key],
            )
            .await?;
        Ok(CreateOutcome::Existing(row.get(0)))
    }

    /// Lets `decide` compute a transition from the run and commits it if
    /// nobody changed the run meanwhile; otherwise loads it and decides again.
    /// `hint` is a snapshot the caller believes current (a cache); a stale
    /// hint costs one failed write. `decide` returning `None` changes nothing.
    pub async fn advance_run<F>(
        &self,
        run_id: &str,
        hint: Option<LockedRun>,
        mut decide: F,
    ) -> Result<Option<Advanced>>
    where
        F: FnMut(&LockedRun) -> Option<TransitionWrite>,
    {
        let client = self.client().await?;
        let mut hint = hint.filter(|h| h.run_id == run_id);
        for _ in 0..MAX_CONFLICTS {
            let (run, from_hint) = match hint.take() {
                Some(run) => (run, true),
                None => match load(&client, run_id, false).await? {
                    Some(run) => (run, false),
                    None => return Ok(None),
                },
            };
            let Some(write) = decide(&run) else {
                if from_hint {
                    // "Nothing to do" is only trusted from a fresh read: a
                    // stale hint may simply not know the step yet.
                    continue;
                }
                return Ok(None);
            };
            if let Some(advanced) = write_advance(&client, &run, write).await? {
                return Ok(Some(advanced));
            }
            tracing::debug!(run_id, "run changed while deciding; deciding again");
        }
        Err(Error::Conflict(format!(
            "run {run_id} kept changing; gave up after {MAX_CONFLICTS} tries"
        )))
    }
}

/// Reads a run (optionally locking it, inside a transaction).
pub(super) async fn load<C: deadpool_postgres::GenericClient>(
    client: &C,
    run_id: &str,
    lock: bool,
) -> Result<Option<LockedRun>> {
    let sql = if lock {
        "SELECT tenant, workflow_id, version, status, state, last_seq, revision FROM runs WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT tenant, workflow_id, version, status, state, last_seq, revision FROM runs WHERE id = $1"
    };
    let statement = client.prepare_cached(sql).await?;
    let Some(row) = client.query_opt(&statement, &[&run_id]).await? else {
        return Ok(None);
    };
    let status: &str = row.get(3);
    Ok(Some(LockedRun {
        run_id: run_id.to_owned(),
        tenant: row.get(0),
        workflow_id: row.get(1),
        version: row.get(2),
        status: status
            .parse()
            .map_err(|_| Error::Corrupt(format!("unknown run status {status:?}")))?,
        state: row.get(4),
        last_seq: row.get(5),
        revision: row.get(6),
    }))
}

/// A committed transition: the messages to publish and the run as it is now.
#[derive(Debug)]
pub struct Advanced {
    pub messages: Vec<OutboxMessage>,
    pub snapshot: LockedRun,
}

/// Writes a transition of a loaded run if its revision and seq still hold.
/// `None` means the run changed meanwhile.
pub(super) async fn write_advance<C: deadpool_postgres::GenericClient>(
    client: &C,
    run: &LockedRun,
    mut write: TransitionWrite,
) -> Result<Option<Advanced>> {
    let last_seq = write.last_seq(run.last_seq);
    let (status, ended) = (write.status.as_str(), write.status.is_terminal());
    let error = write.error.take();
    let snapshot = LockedRun {
        run_id: run.run_id.clone(),
        tenant: run.tenant.clone(),
        workflow_id: run.workflow_id.clone(),
        version: run.version,
        status: write.status,
        state: write.state.clone(),
        last_seq,
        revision: run.revision + 1,
    };
    let head: [&(dyn ToSql + Sync); 8] = [
        &run.run_id,
        &status,
        &snapshot.state,
        &error,
        &last_seq,
        &ended,
        &run.revision,
        &run.last_seq,
    ];
    let messages = execute_write(client, &ADVANCE_SQL, &head, write).await?;
    Ok(messages.map(|messages| Advanced { messages, snapshot }))
}
