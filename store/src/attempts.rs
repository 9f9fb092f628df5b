//! Step attempts from the worker's side (DESIGN §4.2). Every write is ONE
//! statement that also appends the step events and their outbox rows.
//!
//! A delivered task is first looked at with a read-only query
//! ([`Store::check_attempt`]: no write, no commit) that says whether the
//! attempt may be executed. A step that finishes within a third of the lease
//! then costs one worker commit, [`Store::claim_and_finish_attempt`]: the
//! attempt goes from `PENDING` (or `RUNNING` under an expired lease) straight
//! to its final status, with `workflow.step.started`, any warnings and the
//! completion event. A step still running at that point is claimed lazily
//! with [`Store::claim_attempt`] (`RUNNING` with a lease, `step.started`, the
//! coordinator's `step_deadline` backstop timer), kept alive with
//! [`Store::extend_lease`] and ended by [`Store::finish_attempt`]. Claims and
//! folded results are conditional: an attempt that is no longer claimable
//! (claimed or finished by another worker, cancelled, its run ended) is left
//! untouched, and the first statement to commit wins.
//!
//! Workers never lock or write the run row (only coordinators do): each
//! statement reads the run's status and identity, locks the run's seq
//! counter (`run_counters`, `FOR UPDATE` in a CTE the attempt update reads,
//! so the lock comes first), and moves the counter only when its attempt
//! update succeeded, so seqs never have gaps. Lock order everywhere: run row
//! (coordinators) → counter → attempt.
//!
//! A result may carry warnings (`workflow.step.warning`, for example an
//! output that fails the agent's `output_schema`). They are stored by the
//! same statement as the result, with the seqs just before the completion
//! event, so the completion stays the last event of its attempt and a
//! warning is never stored without its result (or the other way round).
//!
//! An attempt the coordinator cancelled (`workflow.step.cancelled`, stored by
//! the coordinator) is closed by its worker with [`Store::cancel_attempt`],
//! which writes the attempt row only: the coordinator's event already ended
//! the attempt, so the worker appends none. (A cancelled attempt that was
//! still `PENDING` needs no worker: the coordinator's own transition marked
//! it `CANCELLED`.)

use super::reads::event_from;
use super::{Error, Result, Store};
use chrono::{DateTime, Utc};
use junction_core::outbox::OutboxMessage;
use junction_core::status::{RunStatus, StepStatus};
use junction_core::wire::{Event, EventType, time};
use serde_json::Value;

/// The identity of a run, as an event needs it.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    pub workflow_id: String,
    pub version: i32,
    pub tenant: String,
}

/// A step event a worker writes; the statement assigns its seq.
#[derive(Debug, Clone)]
pub struct StepEventDraft {
    pub run_id: String,
    pub step_id: String,
    pub state: String,
    pub path: String,
    pub attempt: u32,
    pub worker_id: String,
    pub kind: EventType,
    pub time: DateTime<Utc>,
    pub data: Value,
    /// Where the event is published (`wf.event.step.<run>.<step>`).
    pub subject: String,
}

impl StepEventDraft {
    /// The outbox message of the full event, once the statement returned its
    /// seq, run identity and outbox row.
    fn into_message(self, seq: i64, run: RunIdentity, outbox_id: i64) -> Result<OutboxMessage> {
        let event = Event {
            run_id: self.run_id,
            seq,
            kind: self.kind,
            time: time::format(self.time),
            workflow_id: run.workflow_id,
            version: run.version,
            tenant: run.tenant,
            step_id: Some(self.step_id),
            state: Some(self.state),
            path: Some(self.path),
            attempt: Some(self.attempt),
            worker_id: Some(self.worker_id),
            data: Some(self.data),
        };
        OutboxMessage::event(outbox_id, self.subject, &event, seq)
            .map_err(|e| Error::Corrupt(format!("run {}: event {seq}: {e}", event.run_id)))
    }
}

/// What [`Store::check_attempt`] found: whether a delivered task may run.
#[derive(Debug)]
pub enum AttemptCheck {
    /// `PENDING` in a run that is neither paused nor ended, or `RUNNING`
    /// under an expired lease (`takeover`): execute it.
    Claimable { takeover: bool },
    /// Not to be executed now, for the same reasons a claim is refused.
    Unclaimable(Refusal),
}

/// What a claim found.
#[derive(Debug)]
pub enum ClaimOutcome {
    /// The attempt is ours; publish the `step.started` message.
    Claimed { started: OutboxMessage, claims: i32 },
    /// Nothing was written; the attempt is not this worker's to execute.
    Refused(Refusal),
}

/// Why an attempt cannot be claimed (or executed) now.
#[derive(Debug)]
pub enum Refusal {
    /// The attempt ended before; here is the event that ended it, to re-emit.
    AlreadyFinished(Option<Box<Event>>),
    /// Another worker holds a live lease until then.
    Held { lease_until: Option<DateTime<Utc>> },
    /// The run has ended; nothing must execute.
    RunEnded,
    /// The run is paused: the task must wait (PROTOCOL §4: unclaimed tasks
    /// are held) and come back later.
    Paused,
    /// No such attempt (never created, or the run was deleted).
    Missing,
}

/// What a result write found.
#[derive(Debug)]
pub enum FinishOutcome {
    /// Stored; publish these messages in seq order: `step.started` (only
    /// when the claim was folded in), the warnings, then the completion
    /// (always last).
    Recorded(Vec<OutboxMessage>),
    /// Nothing written: the attempt had already ended (another worker
    /// finished it first, or it was cancelled) or, for a folded claim, was
    /// no longer claimable (another worker holds it, or its run ended).
    AlreadyFinished,
}

/// A worker's result for an attempt.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Succeeded(Value),
    Failed { status: StepStatus, error: Value },
}

/// The lazy claim of an execution still running at a third of the lease.
/// `$1` run, `$2` step, `$3` attempt, `$4` worker, `$5` lease seconds,
/// `$6` event time, `$7` state, `$8` path, `$9` data, `$10` subject,
/// `$11` seconds from now to the backstop deadline, `$12` seconds the
/// execution has been running (`started_at` is that long before now, in
/// the database's clock).
const CLAIM_SQL: &str = "
WITH r AS (
    SELECT status, workflow_id, version, tenant FROM runs WHERE id = $1),
k AS (
    SELECT last_seq FROM run_counters WHERE run_id = $1 FOR UPDATE),
c AS (
    UPDATE step_attempts a
    SET status = 'RUNNING', worker_id = $4, lease_until = now() + make_interval(secs => $5),
        claims = a.claims + 1, started_at = now() - make_interval(secs => $12)
    FROM r, k
    WHERE a.run_id = $1 AND a.step_id = $2 AND a.attempt = $3
      AND r.status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
      -- A paused run's queued tasks wait (the worker's check refuses them);
      -- an execution that began before the pause is in flight, and goes on.
      AND (a.status = 'PENDING' OR (a.status = 'RUNNING' AND a.lease_until < now()))
    RETURNING a.claims, k.last_seq + 1 AS seq),
s AS (
    UPDATE run_counters SET last_seq = c.seq FROM c WHERE run_counters.run_id = $1 RETURNING run_counters.last_seq),
e AS (
    INSERT INTO events (run_id, seq, type, time, step_id, state, path, attempt, worker_id, data)
    SELECT $1, s.last_seq, 'workflow.step.started', $6, $2, $7, $8, $3, $4, $9 FROM s RETURNING seq),
o AS (
    INSERT INTO outbox (subject, msg_id, run_id, seq)
    SELECT $10, $1 || ':' || e.seq, $1, e.seq FROM e RETURNING id),
d AS (
    DELETE FROM timers t USING c
    WHERE t.run_id = $1 AND t.step_id = $2 AND t.attempt = $3 AND t.kind = 'step_deadline'),
t AS (
    INSERT INTO timers (run_id, kind, step_id, attempt, fire_at)
    SELECT $1, 'step_deadline', $2, $3, now() + make_interval(secs => $11) FROM c)
SELECT r.status, r.workflow_id, r.version, r.tenant, (SELECT claims FROM c), (SELECT last_seq FROM s), (SELECT id FROM o)
FROM r";

/// The claim folded into the result, for an execution that ended within a
/// third of the lease: the attempt goes from `PENDING` (or `RUNNING` under
/// an expired lease) straight to its final status, and the statement
/// appends one event per entry of `$12`/`$13`/`$14` (`step.started`, the
/// warnings, the completion), with consecutive seqs and an outbox row
/// each. No backstop timer is written: the step is done. A takeover
/// (`claims > 1`) deletes the one its predecessor's claim left. Writes
/// nothing if the attempt is not claimable or the run has ended.
/// `$1` run, `$2` step, `$3` attempt, `$4` status, `$5` output, `$6` error,
/// `$7` worker, `$8` seconds the execution ran (`started_at` is that long
/// before now, in the database's clock), `$9` state, `$10` path, `$11`
/// subject, `$12` event types, `$13` event times, `$14` event data.
/// Returns the outbox ids ordered by seq.
const CLAIM_AND_FINISH_SQL: &str = "
WITH r AS (
    SELECT status, workflow_id, version, tenant FROM runs WHERE id = $1),
k AS (
    SELECT last_seq FROM run_counters WHERE run_id = $1 FOR UPDATE),
f AS (
    UPDATE step_attempts a
    SET status = $4, output = $5, error = $6, worker_id = $7, lease_until = NULL,
        claims = a.claims + 1, started_at = now() - make_interval(secs => $8), ended_at = now(),
        completion_seq = k.last_seq + cardinality($12::text[])
    FROM r, k
    WHERE a.run_id = $1 AND a.step_id = $2 AND a.attempt = $3
      AND r.status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
      AND (a.status = 'PENDING' OR (a.status = 'RUNNING' AND a.lease_until < now()))
    RETURNING a.claims, a.completion_seq),
s AS (
    UPDATE run_counters SET last_seq = f.completion_seq FROM f
    WHERE run_counters.run_id = $1 RETURNING run_counters.last_seq),
e AS (
    INSERT INTO events (run_id, seq, type, time, step_id, state, path, attempt, worker_id, data)
    SELECT $1::text, s.last_seq - cardinality($12::text[]) + x.n, x.type, x.time, $2::text,
           $9::text, $10::text, $3::int, $7::text, x.data
    FROM s, UNNEST($12::text[], $13::timestamptz[], $14::jsonb[]) WITH ORDINALITY AS x(type, time, data, n)
    RETURNING seq),
o AS (
    INSERT INTO outbox (subject, msg_id, run_id, seq)
    SELECT $11, $1 || ':' || e.seq, $1, e.seq FROM e RETURNING id, seq),
d AS (
    DELETE FROM timers t USING f
    WHERE f.claims > 1
      AND t.run_id = $1 AND t.step_id = $2 AND t.attempt = $3 AND t.kind = 'step_deadline')
SELECT r.workflow_id, r.version, r.tenant, (SELECT last_seq FROM s),
       (SELECT array_agg(id ORDER BY seq) FROM o)
FROM r";

/// `$1` run, `$2` step, `$3` attempt, `$4` status, `$5` output, `$6` error,
/// `$7` worker, `$8` event type, `$9` event time, `$10` state, `$11` path,
/// `$12` data, `$13` subject.
const FINISH_SQL: &str = "
WITH r AS (
    SELECT workflow_id, version, tenant FROM runs WHERE id = $1),
k AS (
    SELECT last_seq FROM run_counters WHERE run_id = $1 FOR UPDATE),
f AS (
    UPDATE step_attempts a
    SET status = $4, output = $5, error = $6, worker_id = $7, lease_until = NULL, ended_at = now(),
        completion_seq = k.last_seq + 1
    FROM k
    WHERE a.run_id = $1 AND a.step_id = $2 AND a.attempt = $3 AND a.status = 'RUNNING'
    RETURNING a.completion_seq),
s AS (
    UPDATE run_counters SET last_seq = f.completion_seq FROM f
    WHERE run_counters.run_id = $1 RETURNING run_counters.last_seq),
e AS (
    INSERT INTO events (run_id, seq, type, time, step_id, state, path, attempt, worker_id, data)
    SELECT $1, s.last_seq, $8, $9, $2, $10, $11, $3, $7, $12 FROM s RETURNING seq),
o AS (
    INSERT INTO outbox (subject, msg_id, run_id, seq)
    SELECT $13, $1 || ':' || e.seq, $1, e.seq FROM e RETURNING id),
d AS (
    DELETE FROM timers t USING f
    WHERE t.run_id = $1 AND t.step_id = $2 AND t.attempt = $3 AND t.kind = 'step_deadline')
SELECT r.workflow_id, r.version, r.tenant, (SELECT last_seq FROM s), (SELECT id FROM o) FROM r";

/// [`FINISH_SQL`] with warnings: `$14` is a JSON array of warning `data`
/// objects, stored as `workflow.step.warning` events with the seqs just
/// before the completion's. Returns the outbox ids ordered by seq.
const FINISH_WITH_WARNINGS_SQL: &str = "
WITH r AS (
    SELECT workflow_id, version, tenant FROM runs WHERE id = $1),
k AS (
    SELECT last_seq FROM run_counters WHERE run_id = $1 FOR UPDATE),
f AS (
    UPDATE step_attempts a
    SET status = $4, output = $5, error = $6, worker_id = $7, lease_until = NULL, ended_at = now(),
        completion_seq = k.last_seq + jsonb_array_length($14::jsonb) + 1
    FROM k
    WHERE a.run_id = $1 AND a.step_id = $2 AND a.attempt = $3 AND a.status = 'RUNNING'
    RETURNING a.completion_seq),
s AS (
    UPDATE run_counters SET last_seq = f.completion_seq FROM f
    WHERE run_counters.run_id = $1 RETURNING run_counters.last_seq),
e AS (
    INSERT INTO events (run_id, seq, type, time, step_id, state, path, attempt, worker_id, data)
    SELECT $1::text, s.last_seq - jsonb_array_length($14::jsonb) - 1 + w.n, 'workflow.step.warning',
           $9::timestamptz, $2::text, $10::text, $11::text, $3::int, $7::text, w.data
    FROM s, jsonb_array_elements($14::jsonb) WITH ORDINALITY AS w(data, n)
    UNION ALL
    SELECT $1::text, s.last_seq, $8::text, $9::timestamptz, $2::text, $10::text, $11::text, $3::int,
           $7::text, $12::jsonb
    FROM s
    RETURNING seq),
o AS (
    INSERT INTO outbox (subject, msg_id, run_id, seq)
    SELECT $13, $1 || ':' || e.seq, $1, e.seq FROM e RETURNING id, seq),
d AS (
    DELETE FROM timers t USING f
    WHERE t.run_id = $1 AND t.step_id = $2 AND t.attempt = $3 AND t.kind = 'step_deadline')
SELECT r.workflow_id, r.version, r.tenant, (SELECT last_seq FROM s),
       (SELECT array_agg(id ORDER BY seq) FROM o)
FROM r";

impl Store {
    /// Whether a delivered task's attempt may be executed: a read-only
    /// query (no lock, no write, no commit of its own). The answer can be
    /// stale by the time the execution ends, which is why the statements
    /// that write the claim ([`Self::claim_attempt`],
    /// [`Self::claim_and_finish_attempt`]) check again.
    pub async fn check_attempt(
        &self,
        run_id: &str,
        step_id: &str,
        attempt: u32,
    ) -> Result<AttemptCheck> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT r.status, a.status, a.lease_until, a.lease_until < now(), a.completion_seq
                 FROM runs r LEFT JOIN step_attempts a
                      ON a.run_id = r.id AND a.step_id = $2 AND a.attempt = $3
                 WHERE r.id = $1",
            )
            .await?;
        let row = client
            .query_opt(&statement, &[&run_id, &step_id, &(attempt as i32)])
            .await?;
        let Some(row) = row else {
            return Ok(AttemptCheck::Unclaimable(Refusal::Missing));
        };
        let run_status: &str = row.get(0);
        let run_status = run_status.parse::<RunStatus>().ok();
        if run_status.is_some_and(RunStatus::is_terminal) {
            return Ok(AttemptCheck::Unclaimable(Refusal::RunEnded));
        }
        let Some(status) = row.get::<_, Option<&str>>(1) else {
            return Ok(AttemptCheck::Unclaimable(Refusal::Missing));
        };
        let lease_until: Option<DateTime<Utc>> = row.get(2);
        let expired = row.get::<_, Option<bool>>(3).unwrap_or(false);
        if status == StepStatus::Pending.as_str() {
            return Ok(if run_status == Some(RunStatus::Paused) {
                AttemptCheck::Unclaimable(Refusal::Paused)
            } else {
                AttemptCheck::Claimable { takeover: false }
            });
        }
        if status == StepStatus::Running.as_str() {
            return Ok(if expired {
                AttemptCheck::Claimable { takeover: true }
            } else {
                AttemptCheck::Unclaimable(Refusal::Held { lease_until })
            });
        }
        let event = self.completion_event(run_id, row.get(4)).await?;
        Ok(AttemptCheck::Unclaimable(Refusal::AlreadyFinished(event)))
    }

    /// Claims `(run, step, attempt)` for `draft.worker_id` with a lease of
    /// `lease_seconds` (the lazy claim of an execution that has been
    /// running for `running_seconds`), appending `workflow.step.started`
    /// (the draft) and storing the coordinator's backstop deadline,
    /// `deadline_seconds` from now, in the same statement. A `PENDING`
    /// attempt of a paused run is claimed: its execution began before the
    /// pause.
    pub async fn claim_attempt(
        &self,
        draft: StepEventDraft,
        lease_seconds: f64,
        deadline_seconds: f64,
        running_seconds: f64,
    ) -> Result<ClaimOutcome> {
        let client = self.client().await?;
        let statement = client.prepare_cached(CLAIM_SQL).await?;
        let attempt = draft.attempt as i32;
        let row = client
            .query_opt(
                &statement,
                &[
                    &draft.run_id,
                    &draft.step_id,
                    &attempt,
                    &draft.worker_id,
                    &lease_seconds,
                    &draft.time,
                    &draft.state,
                    &draft.path,
                    &draft.data,
                    &draft.subject,
                    &deadline_seconds,
                    &running_seconds,
                ],
            )
            .await?;
        let Some(row) = row else {
            return Ok(ClaimOutcome::Refused(Refusal::Missing));
        };
        let status: &str = row.get(0);
        if status
            .parse::<RunStatus>()
            .is_ok_and(RunStatus::is_terminal)
        {
            return Ok(ClaimOutcome::Refused(Refusal::RunEnded));
        }
        let identity = RunIdentity {
            workflow_id: row.get(1),
            version: row.get(2),
            tenant: row.get(3),
        };
        match (
            row.get::<_, Option<i32>>(4),
            row.get::<_, Option<i64>>(5),
            row.get::<_, Option<i64>>(6),
        ) {
            (Some(claims), Some(seq), Some(outbox_id)) => {
                let started = draft.into_message(seq, identity, outbox_id)?;
                Ok(ClaimOutcome::Claimed { started, claims })
            }
            _ => Ok(ClaimOutcome::Refused(
                self.why_unclaimable(&client, &draft.run_id, &draft.step_id, attempt)
                    .await?,
            )),
        }
    }

    async fn why_unclaimable(
        &self,
        client: &tokio_postgres::Client,
        run_id: &str,
        step_id: &str,
        attempt: i32,
    ) -> Result<Refusal> {
        let row = client
            .query_opt(
                "SELECT status, lease_until, completion_seq FROM step_attempts WHERE run_id = $1 AND step_id = $2 AND attempt = $3",
                &[&run_id, &step_id, &attempt],
            )
            .await?;
        let Some(row) = row else {
            return Ok(Refusal::Missing);
        };
        let status: String = row.get(0);
        if status == StepStatus::Running.as_str() || status == StepStatus::Pending.as_str() {
            return Ok(Refusal::Held {
                lease_until: row.get(1),
            });
        }
        let event = self.completion_event(run_id, row.get(2)).await?;
        Ok(Refusal::AlreadyFinished(event))
    }

    /// The event that ended an attempt, from its `completion_seq`.
    async fn completion_event(
        &self,
        run_id: &str,
        completion_seq: Option<i64>,
    ) -> Result<Option<Box<Event>>> {
        match completion_seq {
            Some(seq) => Ok(self.event(run_id, seq).await?.map(Box::new)),
            None => Ok(None),
        }
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

    /// Closes an attempt the coordinator cancelled: `CANCELLED` with the
    /// cancel's `error`, ended now, no lease, `completion_seq` pointing at
    /// the coordinator's `workflow.step.cancelled`, and no event of its own.
    /// Only an attempt still `RUNNING` under this worker's claim, or under
    /// an expired lease (a takeover cancelled before its lazy claim), changes;
    /// `false` means it had ended or is held by another live worker.
    /// Touches the attempt row only (like [`Self::extend_lease`]), so it takes
    /// no run lock and cannot deadlock with the run → attempt order.
    pub async fn cancel_attempt(
        &self,
        run_id: &str,
        step_id: &str,
        attempt: u32,
        worker_id: &str,
        completion_seq: i64,
        error: &Value,
    ) -> Result<bool> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "UPDATE step_attempts
                 SET status = 'CANCELLED', error = $6, lease_until = NULL, ended_at = now(),
                     completion_seq = $5
                 WHERE run_id = $1 AND step_id = $2 AND attempt = $3 AND status = 'RUNNING'
                   AND (worker_id = $4 OR lease_until < now())",
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
                    &completion_seq,
                    error,
                ],
            )
            .await?
            == 1)
    }

    /// Records a worker's result and its completion event (the draft) in one
    /// statement, preceded by one `workflow.step.warning` event per entry of
    /// `warnings` (each the event's `data`, `{code, message}`). The first
    /// result for a running attempt wins.
    pub async fn finish_attempt(
        &self,
        draft: StepEventDraft,
        outcome: &AttemptOutcome,
        warnings: &[Value],
    ) -> Result<FinishOutcome> {
        let client = self.client().await?;
        finish_on(&client, draft, outcome, warnings).await
    }

    /// Records the claim and the result of an execution that ran for
    /// `ran_seconds` in ONE statement ([`CLAIM_AND_FINISH_SQL`]): the attempt
    /// goes from `PENDING` (or `RUNNING` under an expired lease) straight to
    /// its final status under `completed.worker_id`, and `started` (the
    /// `workflow.step.started` draft), one `workflow.step.warning` per entry
    /// of `warnings`, and `completed` (the completion draft) are appended
    /// with consecutive seqs. If the attempt is no longer claimable (claimed
    /// by a live worker, finished, cancelled, its run ended), nothing is
    /// written and the result is [`FinishOutcome::AlreadyFinished`].
    pub async fn claim_and_finish_attempt(
        &self,
        started: StepEventDraft,
        completed: StepEventDraft,
        outcome: &AttemptOutcome,
        warnings: &[Value],
        ran_seconds: f64,
    ) -> Result<FinishOutcome> {
        let client = self.client().await?;
        claim_and_finish_on(&client, started, completed, outcome, warnings, ran_seconds).await
    }

    /// Records several results in one transaction (one commit), their
    /// statements pipelined in the order of their runs' ids so that
    /// concurrent batches lock the runs' counters in one order. Each result
    /// stands alone (its own conditions); an error rolls back the batch and
    /// is returned for all of them (record them one by one then).
    pub async fn finish_batch(&self, requests: Vec<FinishRequest>) -> Result<Vec<FinishOutcome>> {
        let mut client = self.client().await?;
        let mut order: Vec<usize> = (0..requests.len()).collect();
        order.sort_by(|a, b| requests[*a].run_id().cmp(requests[*b].run_id()));
        let tx = client.transaction().await?;
        let mut slots: Vec<Option<FinishRequest>> = requests.into_iter().map(Some).collect();
        let sorted: Vec<FinishRequest> = order.iter().filter_map(|i| slots[*i].take()).collect();
        let outcomes = futures::future::join_all(sorted.into_iter().map(|r| r.run_on(&tx)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        let mut answers: Vec<Option<FinishOutcome>> = (0..order.len()).map(|_| None).collect();
        for (outcome, index) in outcomes.into_iter().zip(order) {
            answers[index] = Some(outcome);
        }
        Ok(answers
            .into_iter()
            .map(|a| a.unwrap_or(FinishOutcome::AlreadyFinished))
            .collect())
    }
}

/// A result to record ([`Store::finish_batch`]).
#[derive(Debug, Clone)]
pub enum FinishRequest {
    /// A short step: claim and result together ([`Store::claim_and_finish_attempt`]).
    Folded {
        started: Box<StepEventDraft>,
        completed: StepEventDraft,
        outcome: AttemptOutcome,
        warnings: Vec<Value>,
        ran_seconds: f64,
    },
    /// A claimed step's result ([`Store::finish_attempt`]).
    Claimed {
        completed: StepEventDraft,
        outcome: AttemptOutcome,
        warnings: Vec<Value>,
    },
}

impl FinishRequest {
    fn run_id(&self) -> &str {
        match self {
            Self::Folded { completed, .. } | Self::Claimed { completed, .. } => &completed.run_id,
        }
    }

    async fn run_on<C: deadpool_postgres::GenericClient>(
        self,
        client: &C,
    ) -> Result<FinishOutcome> {
        match self {
            Self::Folded {
                started,
                completed,
                outcome,
                warnings,
                ran_seconds,
            } => {
                claim_and_finish_on(
                    client,
                    *started,
                    completed,
                    &outcome,
                    &warnings,
                    ran_seconds,
                )
                .await
            }
            Self::Claimed {
                completed,
                outcome,
                warnings,
            } => finish_on(client, completed, &outcome, &warnings).await,
        }
    }
}

async fn finish_on<C: deadpool_postgres::GenericClient>(
    client: &C,
    draft: StepEventDraft,
    outcome: &AttemptOutcome,
    warnings: &[Value],
) -> Result<FinishOutcome> {
    {
        let sql = if warnings.is_empty() {
            FINISH_SQL
        } else {
            FINISH_WITH_WARNINGS_SQL
        };
        let statement = client.prepare_cached(sql).await?;
        let (status, output, error) = match outcome {
            AttemptOutcome::Succeeded(output) => (StepStatus::Succeeded, Some(output), None),
            AttemptOutcome::Failed { status, error } => (*status, None, Some(error)),
        };
        let attempt = draft.attempt as i32;
        let (status, kind) = (status.as_str(), draft.kind.as_str());
        let warning_data = Value::Array(warnings.to_vec());
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
            &draft.run_id,
            &draft.step_id,
            &attempt,
            &status,
            &output,
            &error,
            &draft.worker_id,
            &kind,
            &draft.time,
            &draft.state,
            &draft.path,
            &draft.data,
            &draft.subject,
        ];
        if !warnings.is_empty() {
            params.push(&warning_data);
        }
        let row = client.query_opt(&statement, &params).await?;
        let Some(row) = row else {
            return Ok(FinishOutcome::AlreadyFinished);
        };
        let identity = RunIdentity {
            workflow_id: row.get(0),
            version: row.get(1),
            tenant: row.get(2),
        };
        let seq = row.get::<_, Option<i64>>(3);
        let outbox_ids: Vec<i64> = if warnings.is_empty() {
            row.get::<_, Option<i64>>(4).into_iter().collect()
        } else {
            row.get::<_, Option<Vec<i64>>>(4).unwrap_or_default()
        };
        let Some(seq) = seq else {
            return Ok(FinishOutcome::AlreadyFinished);
        };
        let mut drafts = warning_drafts(&draft, warnings);
        drafts.push(draft);
        let messages = stored_messages(drafts, seq, &identity, &outbox_ids)?;
        Ok(FinishOutcome::Recorded(messages))
    }
}

async fn claim_and_finish_on<C: deadpool_postgres::GenericClient>(
    client: &C,
    started: StepEventDraft,
    completed: StepEventDraft,
    outcome: &AttemptOutcome,
    warnings: &[Value],
    ran_seconds: f64,
) -> Result<FinishOutcome> {
    {
        let statement = client.prepare_cached(CLAIM_AND_FINISH_SQL).await?;
        let (status, output, error) = match outcome {
            AttemptOutcome::Succeeded(output) => (StepStatus::Succeeded, Some(output), None),
            AttemptOutcome::Failed { status, error } => (*status, None, Some(error)),
        };
        let mut drafts = Vec::with_capacity(warnings.len() + 2);
        drafts.push(started);
        drafts.extend(warning_drafts(&completed, warnings));
        drafts.push(completed);
        let kinds: Vec<&str> = drafts.iter().map(|d| d.kind.as_str()).collect();
        let times: Vec<DateTime<Utc>> = drafts.iter().map(|d| d.time).collect();
        let data: Vec<&Value> = drafts.iter().map(|d| &d.data).collect();
        let last = &drafts[drafts.len() - 1];
        let attempt = last.attempt as i32;
        let status = status.as_str();
        let row = client
            .query_opt(
                &statement,
                &[
                    &last.run_id,
                    &last.step_id,
                    &attempt,
                    &status,
                    &output,
                    &error,
                    &last.worker_id,
                    &ran_seconds.max(0.0),
                    &last.state,
                    &last.path,
                    &last.subject,
                    &kinds,
                    &times,
                    &data,
                ],
            )
            .await?;
        let Some(row) = row else {
            return Ok(FinishOutcome::AlreadyFinished);
        };
        let identity = RunIdentity {
            workflow_id: row.get(0),
            version: row.get(1),
            tenant: row.get(2),
        };
        let Some(seq) = row.get::<_, Option<i64>>(3) else {
            return Ok(FinishOutcome::AlreadyFinished);
        };
        let outbox_ids = row.get::<_, Option<Vec<i64>>>(4).unwrap_or_default();
        let messages = stored_messages(drafts, seq, &identity, &outbox_ids)?;
        Ok(FinishOutcome::Recorded(messages))
    }
}

/// One `workflow.step.warning` draft per entry of `warnings` (its `data`),
/// otherwise like `completion`.
fn warning_drafts(completion: &StepEventDraft, warnings: &[Value]) -> Vec<StepEventDraft> {
    warnings
        .iter()
        .map(|warning| StepEventDraft {
            kind: EventType::StepWarning,
            data: warning.clone(),
            ..completion.clone()
        })
        .collect()
}

/// The outbox messages of `drafts`, stored by one statement with
/// consecutive seqs ending at `last_seq` and the outbox rows `outbox_ids`
/// (ordered by seq), in seq order.
fn stored_messages(
    drafts: Vec<StepEventDraft>,
    last_seq: i64,
    identity: &RunIdentity,
    outbox_ids: &[i64],
) -> Result<Vec<OutboxMessage>> {
    if outbox_ids.len() != drafts.len() {
        return Err(Error::Corrupt(
            "events stored without their outbox rows".into(),
        ));
    }
    let first_seq = last_seq - drafts.len() as i64 + 1;
    drafts
        .into_iter()
        .zip(outbox_ids)
        .enumerate()
        .map(|(offset, (draft, outbox_id))| {
            draft.into_message(first_seq + offset as i64, identity.clone(), *outbox_id)
        })
        .collect()
}
