//! The statements of a worker's writes: claim, folded claim-and-finish,
//! finish, and finish with warnings. Each appends its events and outbox rows
//! in the same statement (see the parent module).

use junction_core::engine::{STEP_DEADLINE, STEP_UNCLAIMED};
use std::sync::LazyLock;

/// What a fenced result statement reports when it wrote nothing because
/// another claim holds (or held) the attempt: the holder's worker and claim
/// generation, read from the statement's snapshot. A claim that committed
/// while the statement waited for the run's counter is not in that
/// snapshot: the write is still refused (the update re-checks the row), it
/// is only reported as an ended attempt.
const HOLDER_COLUMNS: &str = "h.worker_id, h.claims";
const HOLDER_JOIN: &str = "LEFT JOIN step_attempts h
    ON h.run_id = $1 AND h.step_id = $2 AND h.attempt = $3 AND h.claims <> $15";

/// The lazy claim of an execution still running at a third of the lease.
/// `$1` run, `$2` step, `$3` attempt, `$4` worker, `$5` lease seconds,
/// `$6` event time, `$7` state, `$8` path, `$9` data, `$10` subject,
/// `$11` seconds from now to the backstop deadline, `$12` seconds the
/// execution has been running (`started_at` is that long before now, in
/// the database's clock), `$13` the event's `traceparent`. The claim
/// replaces the attempt's timers: the backstop of a previous claim, and the
/// `step_unclaimed` timeout of a task no worker had taken.
pub(super) static CLAIM_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
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
    INSERT INTO outbox (subject, msg_id, run_id, seq, traceparent)
    SELECT $10, $1 || ':' || e.seq, $1, e.seq, $13 FROM e RETURNING id),
d AS (
    DELETE FROM timers t USING c
    WHERE t.run_id = $1 AND t.step_id = $2 AND t.attempt = $3
      AND t.kind IN ('{STEP_DEADLINE}', '{STEP_UNCLAIMED}')),
t AS (
    INSERT INTO timers (run_id, kind, step_id, attempt, fire_at)
    SELECT $1, '{STEP_DEADLINE}', $2, $3, now() + make_interval(secs => $11) FROM c)
SELECT r.status, r.workflow_id, r.version, r.tenant, (SELECT claims FROM c), (SELECT last_seq FROM s), (SELECT id FROM o)
FROM r"
    )
});

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
/// subject, `$12` event types, `$13` event times, `$14` event data, `$15`
/// the events' `traceparent`.
/// Returns the outbox ids ordered by seq.
pub(super) static CLAIM_AND_FINISH_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
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
    INSERT INTO outbox (subject, msg_id, run_id, seq, traceparent)
    SELECT $11, $1 || ':' || e.seq, $1, e.seq, $15 FROM e RETURNING id, seq),
d AS (
    DELETE FROM timers t USING f
    WHERE f.claims > 1
      AND t.run_id = $1 AND t.step_id = $2 AND t.attempt = $3 AND t.kind = '{STEP_DEADLINE}')
SELECT r.workflow_id, r.version, r.tenant, (SELECT last_seq FROM s),
       (SELECT array_agg(id ORDER BY seq) FROM o)
FROM r"
    )
});

/// The result of a claimed attempt, fenced by its claim: it is written only
/// while the attempt is `RUNNING` under the claim that `$15` names (the
/// `claims` generation the worker's claim returned). A worker whose claim was
/// taken over after its lease expired (it stalled: a GC pause, a frozen VM)
/// changes nothing, even if its execution ends before its successor's, and
/// the statement then names the attempt's current holder and generation
/// (the last two columns; NULL when the claim is still the caller's, or the
/// attempt has gone).
/// `$1` run, `$2` step, `$3` attempt, `$4` status, `$5` output, `$6` error,
/// `$7` worker, `$8` event type, `$9` event time, `$10` state, `$11` path,
/// `$12` data, `$13` subject, `$14` the events' `traceparent`, `$15` the
/// caller's claim generation.
pub(super) static FINISH_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
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
      AND a.claims = $15
    RETURNING a.completion_seq),
s AS (
    UPDATE run_counters SET last_seq = f.completion_seq FROM f
    WHERE run_counters.run_id = $1 RETURNING run_counters.last_seq),
e AS (
    INSERT INTO events (run_id, seq, type, time, step_id, state, path, attempt, worker_id, data)
    SELECT $1, s.last_seq, $8, $9, $2, $10, $11, $3, $7, $12 FROM s RETURNING seq),
o AS (
    INSERT INTO outbox (subject, msg_id, run_id, seq, traceparent)
    SELECT $13, $1 || ':' || e.seq, $1, e.seq, $14 FROM e RETURNING id),
d AS (
    DELETE FROM timers t USING f
    WHERE t.run_id = $1 AND t.step_id = $2 AND t.attempt = $3 AND t.kind = '{STEP_DEADLINE}')
SELECT r.workflow_id, r.version, r.tenant, (SELECT last_seq FROM s), (SELECT id FROM o),
       {HOLDER_COLUMNS}
FROM r {HOLDER_JOIN}"
    )
});

/// [`FINISH_SQL`] with warnings: `$16` is a JSON array of warning `data`
/// objects, stored as `workflow.step.warning` events with the seqs just
/// before the completion's. Returns the outbox ids ordered by seq.
pub(super) static FINISH_WITH_WARNINGS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
WITH r AS (
    SELECT workflow_id, version, tenant FROM runs WHERE id = $1),
k AS (
    SELECT last_seq FROM run_counters WHERE run_id = $1 FOR UPDATE),
f AS (
    UPDATE step_attempts a
    SET status = $4, output = $5, error = $6, worker_id = $7, lease_until = NULL, ended_at = now(),
        completion_seq = k.last_seq + jsonb_array_length($16::jsonb) + 1
    FROM k
    WHERE a.run_id = $1 AND a.step_id = $2 AND a.attempt = $3 AND a.status = 'RUNNING'
      AND a.claims = $15
    RETURNING a.completion_seq),
s AS (
    UPDATE run_counters SET last_seq = f.completion_seq FROM f
    WHERE run_counters.run_id = $1 RETURNING run_counters.last_seq),
e AS (
    INSERT INTO events (run_id, seq, type, time, step_id, state, path, attempt, worker_id, data)
    SELECT $1::text, s.last_seq - jsonb_array_length($16::jsonb) - 1 + w.n, 'workflow.step.warning',
           $9::timestamptz, $2::text, $10::text, $11::text, $3::int, $7::text, w.data
    FROM s, jsonb_array_elements($16::jsonb) WITH ORDINALITY AS w(data, n)
    UNION ALL
    SELECT $1::text, s.last_seq, $8::text, $9::timestamptz, $2::text, $10::text, $11::text, $3::int,
           $7::text, $12::jsonb
    FROM s
    RETURNING seq),
o AS (
    INSERT INTO outbox (subject, msg_id, run_id, seq, traceparent)
    SELECT $13, $1 || ':' || e.seq, $1, e.seq, $14 FROM e RETURNING id, seq),
d AS (
    DELETE FROM timers t USING f
    WHERE t.run_id = $1 AND t.step_id = $2 AND t.attempt = $3 AND t.kind = '{STEP_DEADLINE}')
SELECT r.workflow_id, r.version, r.tenant, (SELECT last_seq FROM s),
       (SELECT array_agg(id ORDER BY seq) FROM o), {HOLDER_COLUMNS}
FROM r {HOLDER_JOIN}"
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statements_name_the_backstop_timer_by_its_kind() {
        for sql in [
            &CLAIM_SQL,
            &CLAIM_AND_FINISH_SQL,
            &FINISH_SQL,
            &FINISH_WITH_WARNINGS_SQL,
        ] {
            assert!(sql.contains("'step_deadline'"), "{}", sql.as_str());
            assert!(
                !sql.contains('{'),
                "an unfilled placeholder: {}",
                sql.as_str()
            );
        }
        assert!(CLAIM_SQL.contains("SELECT $1, 'step_deadline', $2, $3"));
        assert!(CLAIM_SQL.contains("IN ('step_deadline', 'step_unclaimed')"));
    }
}
