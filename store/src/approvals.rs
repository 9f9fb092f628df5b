//! Approvals (PROTOCOL §4 `approval`): recorded from a run's
//! `approval_request` timer, decided by operators, expired or closed by
//! timers. Every change is conditional on the row still being `PENDING`.

use super::{Result, Store};
use chrono::{DateTime, Utc};
use junction_core::engine::APPROVAL_DECIDED;
use junction_core::wire::time;
use serde::Serialize;
use serde_json::Value;

/// One approval, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalRecord {
    pub id: String,
    pub run_id: String,
    pub step_id: String,
    pub state: String,
    pub status: String,
    pub message: Option<String>,
    pub summary: Value,
    pub approvers: Value,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip)]
    pub tenant: String,
}

/// A new pending approval.
#[derive(Debug, Clone)]
pub struct NewApproval<'a> {
    pub id: &'a str,
    pub tenant: &'a str,
    pub run_id: &'a str,
    pub step_id: &'a str,
    pub attempt: i32,
    pub state: &'a str,
    pub message: Option<&'a str>,
    pub summary: &'a Value,
    pub approvers: &'a Value,
    pub expires_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, run_id, step_id, state, status, message, summary, approvers, created_at, expires_at, decided_at, actor, comment, tenant";

fn record(row: &tokio_postgres::Row) -> ApprovalRecord {
    ApprovalRecord {
        id: row.get(0),
        run_id: row.get(1),
        step_id: row.get(2),
        state: row.get(3),
        status: row.get(4),
        message: row.get(5),
        summary: row.get::<_, Option<Value>>(6).unwrap_or(Value::Null),
        approvers: row.get(7),
        created_at: time::format(row.get(8)),
        expires_at: row.get::<_, Option<DateTime<Utc>>>(9).map(time::format),
        decided_at: row.get::<_, Option<DateTime<Utc>>>(10).map(time::format),
        actor: row.get(11),
        comment: row.get(12),
        tenant: row.get(13),
    }
}

impl Store {
    /// Records a pending approval (again: nothing).
    pub async fn insert_approval(&self, new: &NewApproval<'_>) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO approvals (id, tenant, run_id, step_id, attempt, state, message, summary, approvers, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
                &[&new.id, &new.tenant, &new.run_id, &new.step_id, &new.attempt, &new.state,
                  &new.message, &new.summary, &new.approvers, &new.expires_at],
            )
            .await?;
        Ok(())
    }

    pub async fn get_approval(&self, id: &str) -> Result<Option<ApprovalRecord>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM approvals WHERE id = $1"),
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(record))
    }

    /// Approvals of a tenant, newest first, optionally of one run or status.
    pub async fn list_approvals(
        &self,
        tenant: &str,
        run_id: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ApprovalRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM approvals WHERE tenant = $1
                       AND ($2::text IS NULL OR run_id = $2) AND ($3::text IS NULL OR status = $3)
                     ORDER BY created_at DESC, id LIMIT $4"
                ),
                &[&tenant, &run_id, &status, &limit],
            )
            .await?;
        Ok(rows.iter().map(record).collect())
    }

    /// Decides a pending approval and queues the decision for its run, in
    /// one statement. `None`: it was no longer pending.
    pub async fn decide_approval(
        &self,
        id: &str,
        approved: bool,
        actor: Option<&str>,
        comment: Option<&str>,
    ) -> Result<Option<ApprovalRecord>> {
        let client = self.client().await?;
        let status = if approved { "APPROVED" } else { "REJECTED" };
        let row = client
            .query_opt(
                &format!(
                    "WITH d AS (
                        UPDATE approvals SET status = $2, actor = $3, comment = $4, decided_at = now()
                        WHERE id = $1 AND status = 'PENDING'
                        RETURNING {COLUMNS}, attempt),
                     t AS (
                        INSERT INTO timers (run_id, kind, step_id, attempt, fire_at, payload)
                        SELECT run_id, '{APPROVAL_DECIDED}', step_id, attempt, now(),
                               jsonb_build_object('approved', $5::bool, 'actor', $3::text, 'comment', $4::text,
                                                  'decided_at', to_char(decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))
                        FROM d)
                     SELECT {COLUMNS} FROM d"
                ),
                &[&id, &status, &actor, &comment, &approved],
            )
            .await?;
        Ok(row.as_ref().map(record))
    }

    /// Ends a pending approval as `status` (`TIMED_OUT`, `CANCELLED`);
    /// `true` when it was still pending.
    pub async fn close_approval(&self, id: &str, status: &str) -> Result<bool> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE approvals SET status = $2, decided_at = now() WHERE id = $1 AND status = 'PENDING'",
                &[&id, &status],
            )
            .await?;
        Ok(changed > 0)
    }
}
