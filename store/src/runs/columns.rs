//! A transition's rows as column arrays, one statement parameter each, in
//! the order of the statement's inserts.

use super::statement::Shape;
use crate::rows::{NewAttempt, NewTimer, TransitionWrite};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use junction_core::wire::Event;
use serde_json::Value;
use tokio_postgres::types::ToSql;

/// The children of a write as column arrays, in `children_sql` order.
pub(super) struct Columns<'w> {
    attempts: AttemptColumns<'w>,
    events: EventColumns<'w>,
    timers: TimerColumns<'w>,
    subjects: Vec<&'w str>,
    msg_ids: Vec<&'w str>,
    payloads: Vec<&'w [u8]>,
    traceparents: Vec<Option<&'w str>>,
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
    traceparents: Vec<Option<&'w str>>,
}

struct TimerColumns<'w> {
    run_ids: Vec<Option<&'w str>>,
    kinds: Vec<&'w str>,
    step_ids: Vec<Option<&'w str>>,
    attempts: Vec<Option<i32>>,
    fire_at: Vec<DateTime<Utc>>,
    payloads: Vec<Option<&'w serde_json::Value>>,
}

/// An event's time as the engine wrote it (RFC 3339).
fn event_time(event: &Event) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&event.time)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            Error::Corrupt(format!(
                "run {}: event time {:?}: {e}",
                event.run_id, event.time
            ))
        })
}

impl<'w> Columns<'w> {
    pub(super) fn new(write: &'w TransitionWrite) -> Result<Self> {
        let attempts: &[NewAttempt] = &write.attempts;
        let timers: &[NewTimer] = &write.timers;
        Ok(Self {
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
                times: write.events.iter().map(event_time).collect::<Result<_>>()?,
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
                traceparents: write
                    .event_traceparents
                    .iter()
                    .map(Option::as_deref)
                    .collect(),
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
            traceparents: write
                .outbox
                .iter()
                .map(|m| m.traceparent.as_deref())
                .collect(),
            results: ResultColumns {
                fanouts: write.child_results.iter().map(|r| r.0.as_str()).collect(),
                children: write.child_results.iter().map(|r| r.1).collect(),
                values: write.child_results.iter().map(|r| &r.2).collect(),
            },
        })
    }

    pub(super) fn params(&self, shape: Shape) -> Vec<&(dyn ToSql + Sync)> {
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
                &e.traceparents,
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
                &self.traceparents,
            ]);
        }
        params
    }
}
