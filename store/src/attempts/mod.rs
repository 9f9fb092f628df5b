//! Step attempts from the worker's side (ARCHITECTURE.md, bird's-eye view). Every write is ONE
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
//! **Fencing.** Every claim (and takeover) bumps the attempt's `claims`,
//! the claim's generation, and returns it to the claimer. Whatever a
//! claimed worker writes afterwards presents it: the lease extension, the
//! result (with its events) and the cancel close apply only while the
//! attempt is `RUNNING` under that generation. A worker that stalled past
//! its lease (a pause, a frozen VM) and was taken over can therefore never
//! extend, end or record the attempt under its successor, even if its
//! execution ends first: its result is refused ([`FinishOutcome::Fenced`])
//! in the same statement that would have stored it, with no extra round
//! trip. A folded result needs no token: its statement is the claim, and
//! it only claims a `PENDING` attempt or one whose lease expired.
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

mod finish;
mod sql;

pub use finish::FinishRequest;

use self::sql::CLAIM_SQL;
use crate::reads::event_from;
use crate::{Error, Result, Store};
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
    /// The span that produced it (the attempt's `StepExecute`), sent as
    /// the `traceparent` header.
    pub traceparent: Option<String>,
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
        OutboxMessage::event(outbox_id, self.subject, &event, seq, self.traceparent)
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
    /// The attempt is ours; publish the `step.started` message. `claims`
    /// is the claim's generation (the attempt's claim count, bumped by
    /// every claim and takeover): the fencing token that the lease
    /// extension, the result and a cancel present.
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
    /// Nothing written: the result's claim is no longer the attempt's. Its
    /// lease expired and another claim took the attempt over (the worker
    /// stalled); `holder` and `claims` name that claim. The fenced-off
    /// worker drops its result: no event, no write.
    Fenced { holder: Option<String>, claims: i32 },
}

/// A worker's result for an attempt.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Succeeded(Value),
    Failed { status: StepStatus, error: Value },
}

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
        let event = completion_event_on(&client, run_id, row.get(4)).await?;
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
        let statement = client.prepare_cached(&CLAIM_SQL).await?;
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
                    &draft.traceparent,
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
        let event = completion_event_on(client, run_id, row.get(2)).await?;
        Ok(Refusal::AlreadyFinished(event))
    }

    /// The event that ended an attempt, from its `completion_seq`.
    /// One stored event.
    pub async fn event(&self, run_id: &str, seq: i64) -> Result<Option<Event>> {
        let client = self.client().await?;
        event_on(&client, run_id, seq).await
    }

    /// Keeps a claim alive: only the claim of generation `claim` (what
    /// [`Self::claim_attempt`] returned), so a stalled worker whose attempt
    /// was taken over cannot extend its successor's lease. `false` means the
    /// claim is no longer ours.
    pub async fn extend_lease(
        &self,
        run_id: &str,
        step_id: &str,
        attempt: u32,
        worker_id: &str,
        claim: i32,
        lease_seconds: f64,
    ) -> Result<bool> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "UPDATE step_attempts SET lease_until = now() + make_interval(secs => $5)
                 WHERE run_id = $1 AND step_id = $2 AND attempt = $3 AND worker_id = $4 AND status = 'RUNNING'
                   AND claims = $6",
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
                    &claim,
                ],
            )
            .await?
            == 1)
    }

    /// Closes an attempt the coordinator cancelled: `CANCELLED` with the
    /// cancel's `error`, ended now, no lease, `completion_seq` pointing at
    /// the coordinator's `workflow.step.cancelled`, and no event of its own.
    /// Only an attempt still `RUNNING` under this worker's claim (`claim`:
    /// the worker's id and the claim's generation), or under an expired
    /// lease (a takeover cancelled before its lazy claim, `claim` `None`),
    /// changes; `false` means it had ended or is held by another live claim.
    /// Touches the attempt row only (like [`Self::extend_lease`]), so it takes
    /// no run lock and cannot deadlock with the run → attempt order.
    pub async fn cancel_attempt(
        &self,
        run_id: &str,
        step_id: &str,
        attempt: u32,
        claim: Option<(&str, i32)>,
        completion_seq: i64,
        error: &Value,
    ) -> Result<bool> {
        let (worker_id, generation) = claim.unzip();
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "UPDATE step_attempts
                 SET status = 'CANCELLED', error = $6, lease_until = NULL, ended_at = now(),
                     completion_seq = $5
                 WHERE run_id = $1 AND step_id = $2 AND attempt = $3 AND status = 'RUNNING'
                   AND ((worker_id = $4 AND claims = $7) OR lease_until < now())",
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
                    &generation,
                ],
            )
            .await?
            == 1)
    }
}

/// The event that ended an attempt, from its `completion_seq`, read on the
/// connection the caller already holds: taking a second one from the pool
/// while holding one can starve the pool (every task holding one, waiting
/// for another), which stalled workers for minutes in a chaos run.
async fn completion_event_on(
    client: &tokio_postgres::Client,
    run_id: &str,
    completion_seq: Option<i64>,
) -> Result<Option<Box<Event>>> {
    match completion_seq {
        Some(seq) => Ok(event_on(client, run_id, seq).await?.map(Box::new)),
        None => Ok(None),
    }
}

/// One stored event, on `client`.
async fn event_on(
    client: &tokio_postgres::Client,
    run_id: &str,
    seq: i64,
) -> Result<Option<Event>> {
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
