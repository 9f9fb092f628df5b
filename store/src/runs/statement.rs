//! The statements of a transition: a head that writes the run row and moves
//! its seq counter, then only the inserts the transition needs (one
//! statement text per [`Shape`], prepared once per connection).

use crate::rows::TransitionWrite;
use std::sync::LazyLock;

/// Which kinds of rows a transition inserts. Statements include only the
/// inserts they need: executor start-up is a large part of Postgres's cost
/// per statement, so empty inserts are not free.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub(super) attempts: bool,
    pub(super) events: bool,
    pub(super) timers: bool,
    pub(super) outbox: bool,
    pub(super) results: bool,
}

impl Shape {
    pub(super) fn of(write: &TransitionWrite) -> Self {
        Self {
            attempts: !write.attempts.is_empty(),
            events: !write.events.is_empty(),
            timers: !write.timers.is_empty(),
            outbox: !write.outbox.is_empty(),
            results: !write.child_results.is_empty(),
        }
    }

    pub(super) fn index(self) -> usize {
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

/// Numbered statement parameters, handed out in order from `$first`.
struct Params(usize);

impl Params {
    /// The next `n` placeholders (`$k`, `$k+1`, …).
    fn take(&mut self, n: usize) -> Vec<String> {
        let taken = (self.0..self.0 + n).map(|k| format!("${k}")).collect();
        self.0 += n;
        taken
    }
}

/// Fills the `{}` of `template` with `args`, in order.
fn fill(template: &str, args: &[String]) -> String {
    let mut out = String::with_capacity(template.len() + 8 * args.len());
    let mut args = args.iter();
    let mut pieces = template.split("{}");
    if let Some(first) = pieces.next() {
        out.push_str(first);
    }
    for piece in pieces {
        out.push_str(args.next().map_or("", String::as_str));
        out.push_str(piece);
    }
    out
}

/// Attempts: new ones inserted. An existing `PENDING` one is only
/// cancelled or timed out (a task no worker claimed, see
/// `junction_core::engine`); an inline row that waits (an approval, a
/// signal, a child run: `RUNNING` or `WAITING_*`) takes the record of how
/// its wait ended. An inline row ends when it is written with an end status.
const ATTEMPTS_INSERT: &str = "a AS (
    INSERT INTO step_attempts (run_id, step_id, attempt, state, path, status, inline, input, output, error,
                               completion_seq, started_at, ended_at)
    SELECT $1, x.step_id, x.attempt, x.state, x.path, x.status, x.inline, x.input, x.output, x.error,
           s.base + x.seq, CASE WHEN x.inline THEN now() END,
           CASE WHEN x.inline AND x.seq IS NOT NULL THEN now() END
    FROM s, UNNEST({}::text[], {}::int[], {}::text[], {}::text[], {}::text[], {}::bool[], {}::jsonb[],
                {}::jsonb[], {}::jsonb[], {}::bigint[])
         AS x(step_id, attempt, state, path, status, inline, input, output, error, seq)
    ON CONFLICT (run_id, step_id, attempt) DO UPDATE
        SET status = EXCLUDED.status, output = EXCLUDED.output, error = EXCLUDED.error,
            completion_seq = EXCLUDED.completion_seq, ended_at = now(), lease_until = NULL
        -- A cancellation, or the timeout of a task no worker took, and
        -- only of an attempt no worker holds; the timeout of a claimed
        -- attempt whose result never came (the step deadline: its worker
        -- is fenced off, lease dropped); or the end of a wait.
        WHERE (EXCLUDED.status IN ('CANCELLED', 'TIMED_OUT') AND step_attempts.status = 'PENDING')
           OR (EXCLUDED.status = 'TIMED_OUT' AND step_attempts.status = 'RUNNING')
           OR (step_attempts.inline AND step_attempts.ended_at IS NULL))";

/// Events at `s.base + offset`, each with an outbox row pointing at it
/// (and naming the span that produced the event). Eleven parameters; the
/// first (the offsets) is used twice.
const EVENTS_INSERT: &str = "e AS (
    INSERT INTO events (run_id, seq, type, time, step_id, state, path, attempt, worker_id, data)
    SELECT $1, s.base + x.off, x.type, x.time, x.step_id, x.state, x.path, x.attempt, x.worker_id, x.data
    FROM s, UNNEST({}::bigint[], {}::text[], {}::timestamptz[], {}::text[], {}::text[],
                   {}::text[], {}::int[], {}::text[], {}::jsonb[])
         AS x(off, type, time, step_id, state, path, attempt, worker_id, data)),
eo AS (
    INSERT INTO outbox (subject, msg_id, run_id, seq, traceparent)
    SELECT x.subject, $1 || ':' || (s.base + x.off), $1, s.base + x.off, x.traceparent
    FROM s, UNNEST({}::text[], {}::bigint[], {}::text[]) AS x(subject, off, traceparent)
    RETURNING id, seq)";

/// Timers, written only if the run row was.
const TIMERS_INSERT: &str = "t AS (
    INSERT INTO timers (run_id, kind, step_id, attempt, fire_at, payload)
    SELECT COALESCE(x.run_id, $1), x.kind, x.step_id, x.attempt, x.fire_at, x.payload
    FROM UNNEST({}::text[], {}::text[], {}::text[], {}::int[], {}::timestamptz[], {}::jsonb[])
         AS x (run_id, kind, step_id, attempt, fire_at, payload)
    WHERE EXISTS (SELECT 1 FROM u))";

/// Ended fan-out children's values.
const RESULTS_INSERT: &str = "r AS (
    INSERT INTO fanout_results (run_id, step_id, child, value)
    SELECT $1, x.* FROM UNNEST({}::text[], {}::int[], {}::jsonb[]) AS x
    WHERE EXISTS (SELECT 1 FROM u)
    ON CONFLICT (run_id, step_id, child) DO UPDATE SET value = EXCLUDED.value)";

/// Task messages, with their payloads.
const OUTBOX_INSERT: &str = "o AS (
    INSERT INTO outbox (subject, msg_id, payload, traceparent)
    SELECT x.* FROM UNNEST({}::text[], {}::text[], {}::bytea[], {}::text[]) AS x
    WHERE EXISTS (SELECT 1 FROM u)
    RETURNING id, msg_id)";

/// The inserts of a transition, after the head CTEs `u` (the run row
/// written, or nothing if the optimistic check failed) and `s` (the run's
/// seq counter moved past this write's events, `s.base` the seq before
/// them), and the final SELECT. Event seqs and inline attempts' completion
/// seqs arrive as offsets from `s.base`; every event gets an outbox row that
/// points at it. Parameters start at `$first`; `$1` is the run id. The
/// order of the inserts is the order of [`super::columns::Columns::params`].
fn children_sql(first: usize, shape: Shape) -> String {
    let mut params = Params(first);
    let mut sql = String::new();
    if shape.attempts {
        sql.push_str(",\n");
        sql.push_str(&fill(ATTEMPTS_INSERT, &params.take(10)));
    }
    if shape.events {
        let mut e = params.take(11);
        let traceparents = e.remove(10);
        e.push(e[0].clone());
        e.push(traceparents);
        sql.push_str(",\n");
        sql.push_str(&fill(EVENTS_INSERT, &e));
    }
    for (on, insert, n) in [
        (shape.timers, TIMERS_INSERT, 6),
        (shape.results, RESULTS_INSERT, 3),
        (shape.outbox, OUTBOX_INSERT, 4),
    ] {
        if on {
            sql.push_str(",\n");
            sql.push_str(&fill(insert, &params.take(n)));
        }
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

pub(super) static CREATE_SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    per_shape(
        "WITH u AS (
            INSERT INTO runs (id, tenant, workflow_id, version, status, input, state, error, causation_id,
                              correlation_id, dedupe_key, ended_at, trace_id, trace_parent, concurrency_key)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $12 THEN now() END, $14, $15, $16)
            ON CONFLICT (tenant, workflow_id, dedupe_key) DO NOTHING RETURNING id),
        s AS (
            INSERT INTO run_counters (run_id, last_seq) SELECT $1, $13 FROM u RETURNING 0::bigint AS base)",
        17,
    )
});

pub(super) static ADVANCE_SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The `$k` placeholders of `sql` from `$first` on, in order of appearance.
    fn placeholders(sql: &str, first: usize) -> Vec<usize> {
        sql.split('$')
            .skip(1)
            .filter_map(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .filter(|k| *k >= first)
            .collect()
    }

    #[test]
    fn every_shape_uses_its_parameters_once_in_order() {
        for i in 0..32 {
            let shape = Shape::from_index(i);
            assert_eq!(shape.index(), i);
            let expected = 10 * usize::from(shape.attempts)
                + 11 * usize::from(shape.events)
                + 6 * usize::from(shape.timers)
                + 3 * usize::from(shape.results)
                + 4 * usize::from(shape.outbox);
            let sql = children_sql(8, shape);
            let mut used = placeholders(&sql, 8);
            used.sort_unstable();
            used.dedup();
            assert_eq!(
                used,
                (8..8 + expected).collect::<Vec<_>>(),
                "shape {i}: {sql}"
            );
            assert!(!sql.contains("{}::"), "shape {i} left a hole: {sql}");
        }
    }

    #[test]
    fn the_outbox_rows_of_events_reuse_the_offsets() {
        let sql = children_sql(8, Shape::from_index(2));
        assert!(sql.contains("UNNEST($8::bigint[], $9::text[]"), "{sql}");
        assert!(
            sql.contains(
                "UNNEST($17::text[], $8::bigint[], $18::text[]) AS x(subject, off, traceparent)"
            ),
            "{sql}"
        );
    }
}
