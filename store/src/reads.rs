//! Read models of the control plane: a whole run, run summaries, events.

use super::rows::{RunFilter, RunRecord, RunSummary, StepRecord};
use super::{Error, Result, Store};
use chrono::{DateTime, Utc};
use junction_core::status::{RunStatus, StepStatus};
use junction_core::wire::{Event, EventType, time};
use serde_json::Value;
use std::str::FromStr;

fn parse_status<T: FromStr>(text: &str) -> Result<T> {
    text.parse()
        .map_err(|_| Error::Corrupt(format!("unknown status {text:?}")))
}

fn ts(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(time::format)
}

impl Store {
    /// A run's summary (no context, no steps): what operator actions check.
    pub async fn get_run_summary(&self, run_id: &str) -> Result<Option<RunSummary>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {SUMMARY_COLUMNS} FROM runs WHERE id = $1"),
                &[&run_id],
            )
            .await?;
        row.as_ref().map(summary_from).transpose()
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
        let context: Option<Value> = row.get(12);
        let steps = client
            .query(
                "SELECT step_id, state, path, status, attempt, worker_id, output, error, started_at, ended_at, input
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
                    input: r.get::<_, Option<Value>>(10).filter(|input| !input.is_null()),
                    waiting_reason: None,
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

const SUMMARY_COLUMNS: &str = "id, workflow_id, version, tenant, status, input, error, causation_id, correlation_id, created_at, ended_at, trace_id";

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
        trace_id: row.get(11),
    })
}

/// Builds an event from `e.run_id, e.seq, e.type, e.time, r.workflow_id,
/// r.version, r.tenant, e.step_id, e.state, e.path, e.attempt, e.worker_id, e.data`.
pub(super) fn event_from(row: &tokio_postgres::Row) -> Result<Event> {
    event_from_offset(row, 0)
}

/// Like [`event_from`], with the event's columns starting at `at`.
pub(super) fn event_from_offset(row: &tokio_postgres::Row, at: usize) -> Result<Event> {
    let kind: &str = row.get(at + 2);
    Ok(Event {
        run_id: row.get(at),
        seq: row.get(at + 1),
        kind: EventType::from_str(kind)
            .map_err(|_| Error::Corrupt(format!("unknown event type {kind:?}")))?,
        time: time::format(row.get(at + 3)),
        workflow_id: row.get(at + 4),
        version: row.get(at + 5),
        tenant: row.get(at + 6),
        step_id: row.get(at + 7),
        state: row.get(at + 8),
        path: row.get(at + 9),
        attempt: row.get::<_, Option<i32>>(at + 10).map(|a| a as u32),
        worker_id: row.get(at + 11),
        data: row.get(at + 12),
    })
}
