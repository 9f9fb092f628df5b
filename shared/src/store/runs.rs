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

/// The inserts every transition shares, guarded by the head CTE `u`.
/// Parameters start at `$first`; `$1` is the run id.
fn children_sql(first: usize) -> String {
    let p = |i: usize| format!("${}", first + i);
    format!(
        "a AS (
            INSERT INTO step_attempts (run_id, step_id, attempt, state, path, status, inline, input, output, error,
                                       completion_seq, started_at, ended_at)
            SELECT $1, x.step_id, x.attempt, x.state, x.path, x.status, x.inline, x.input, x.output, x.error, x.seq,
                   CASE WHEN x.inline THEN now() END, CASE WHEN x.inline THEN now() END
            FROM UNNEST({a0}::text[], {a1}::int[], {a2}::text[], {a3}::text[], {a4}::text[], {a5}::bool[], {a6}::jsonb[],
                        {a7}::jsonb[], {a8}::jsonb[], {a9}::bigint[])
                 AS x(step_id, attempt, state, path, status, inline, input, output, error, seq)
            WHERE EXISTS (SELECT 1 FROM u)
            ON CONFLICT (run_id, step_id, attempt) DO NOTHING),
         e AS (
            INSERT INTO events (run_id, seq, type, time, step_id, state, path, attempt, worker_id, data)
            SELECT $1, x.* FROM UNNEST({e0}::bigint[], {e1}::text[], {e2}::timestamptz[], {e3}::text[], {e4}::text[],
                                       {e5}::text[], {e6}::int[], {e7}::text[], {e8}::jsonb[]) AS x
            WHERE EXISTS (SELECT 1 FROM u)),
         t AS (
            INSERT INTO timers (run_id, kind, step_id, attempt, fire_at)
            SELECT $1, x.* FROM UNNEST({t0}::text[], {t1}::text[], {t2}::int[], {t3}::timestamptz[]) AS x
            WHERE EXISTS (SELECT 1 FROM u)),
         o AS (
            INSERT INTO outbox (subject, msg_id, payload)
            SELECT x.* FROM UNNEST({o0}::text[], {o1}::text[], {o2}::bytea[]) AS x
            WHERE EXISTS (SELECT 1 FROM u)
            RETURNING id, msg_id)
         SELECT (SELECT count(*) FROM u), (SELECT coalesce(array_agg(id), '{{}}') FROM o),
                (SELECT coalesce(array_agg(msg_id), '{{}}') FROM o)",
        a0 = p(0), a1 = p(1), a2 = p(2), a3 = p(3), a4 = p(4), a5 = p(5), a6 = p(6), a7 = p(7), a8 = p(8), a9 = p(9),
        e0 = p(10), e1 = p(11), e2 = p(12), e3 = p(13), e4 = p(14), e5 = p(15), e6 = p(16), e7 = p(17), e8 = p(18),
        t0 = p(19), t1 = p(20), t2 = p(21), t3 = p(22),
        o0 = p(23), o1 = p(24), o2 = p(25),
    )
}

static CREATE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH u AS (
            INSERT INTO runs (id, tenant, workflow_id, version, status, input, state, error, causation_id,
                              correlation_id, dedupe_key, last_seq, ended_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $13 THEN now() END)
            ON CONFLICT (tenant, workflow_id, dedupe_key) DO NOTHING RETURNING id),
         {}",
        children_sql(14)
    )
});

static ADVANCE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH u AS (
            UPDATE runs SET status = $2, state = $3, error = $4, last_seq = $5, revision = revision + 1,
                            updated_at = now(), ended_at = CASE WHEN $6 THEN coalesce(ended_at, now()) END
            WHERE id = $1 AND revision = $7 AND last_seq = $8 RETURNING id),
         {}",
        children_sql(9)
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
    kinds: Vec<&'w str>,
    step_ids: Vec<Option<&'w str>>,
    attempts: Vec<Option<i32>>,
    fire_at: Vec<DateTime<Utc>>,
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
                kinds: timers.iter().map(|t| t.kind).collect(),
                step_ids: timers.iter().map(|t| t.step_id.as_deref()).collect(),
                attempts: timers.iter().map(|t| t.attempt.map(|a| a as i32)).collect(),
                fire_at: timers.iter().map(|t| t.fire_at).collect(),
            },
            subjects: write.outbox.iter().map(|m| m.subject.as_str()).collect(),
            msg_ids: write.outbox.iter().map(|m| m.msg_id.as_str()).collect(),
            payloads: write.outbox.iter().map(|m| m.payload.as_slice()).collect(),
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let (a, e, t) = (&self.attempts, &self.events, &self.timers);
        vec![
            &a.step_ids,
            &a.numbers,
            &a.states,
            &a.paths,
            &a.statuses,
            &a.inline,
            &a.inputs,
            &a.outputs,
            &a.errors,
            &a.seqs,
            &e.seqs,
            &e.kinds,
            &e.times,
            &e.step_ids,
            &e.states,
            &e.paths,
            &e.attempts,
            &e.workers,
            &e.data,
            &t.kinds,
            &t.step_ids,
            &t.attempts,
            &t.fire_at,
            &self.subjects,
            &self.msg_ids,
            &self.payloads,
        ]
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
    sql: &str,
    head: &[&(dyn ToSql + Sync)],
    write: TransitionWrite,
) -> Result<Option<Vec<OutboxMessage>>> {
    let statement = client.prepare_cached(sql).await?;
    let columns = Columns::new(&write);
    let mut params = head.to_vec();
    params.extend(columns.params());
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

    /// Loads the run, lets `decide` compute a transition, and commits it if
    /// nobody changed the run meanwhile; otherwise loads and decides again.
    /// `decide` returning `None` changes nothing.
    pub async fn advance_run<F>(
        &self,
        run_id: &str,
        mut decide: F,
    ) -> Result<Option<Vec<OutboxMessage>>>
    where
        F: FnMut(&LockedRun) -> Option<TransitionWrite>,
    {
        let client = self.client().await?;
        for _ in 0..MAX_CONFLICTS {
            let Some(run) = load(&client, run_id, false).await? else {
                return Ok(None);
            };
            let Some(write) = decide(&run) else {
                return Ok(None);
            };
            if let Some(messages) = write_advance(&client, &run, write).await? {
                return Ok(Some(messages));
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

/// Writes a transition of a loaded run if its revision and seq still hold.
/// `None` means the run changed meanwhile.
pub(super) async fn write_advance<C: deadpool_postgres::GenericClient>(
    client: &C,
    run: &LockedRun,
    mut write: TransitionWrite,
) -> Result<Option<Vec<OutboxMessage>>> {
    let last_seq = write.last_seq(run.last_seq);
    let (status, ended) = (write.status.as_str(), write.status.is_terminal());
    let (state, error) = (std::mem::take(&mut write.state), write.error.take());
    let head: [&(dyn ToSql + Sync); 8] = [
        &run.run_id,
        &status,
        &state,
        &error,
        &last_seq,
        &ended,
        &run.revision,
        &run.last_seq,
    ];
    execute_write(client, &ADVANCE_SQL, &head, write).await
}
