//! The approval timers' I/O (see `junction_core::engine` `approval` for the
//! engine's side): recording a pending approval, expiring it, and closing
//! approvals whose run ended. A decision needs none: the store recorded it
//! with its timer.

use crate::driver::Driver;
use junction_core::engine::{ApprovalRequest, StepAttempt};
use junction_store::{DueTimer, NewApproval};
use serde_json::Value;

/// Records the pending approval an `approval_request` timer carries.
pub async fn record(
    driver: &Driver,
    timer: &DueTimer,
    step: &StepAttempt,
    request: &ApprovalRequest,
) -> anyhow::Result<()> {
    let approvers = Value::from(request.approvers.clone());
    driver
        .store
        .insert_approval(&NewApproval {
            id: &request.approval_id,
            tenant: &timer.tenant,
            run_id: &timer.run_id,
            step_id: step.step_id.as_str(),
            attempt: step.attempt as i32,
            state: &request.state,
            message: request.message.as_deref(),
            summary: &request.summary,
            approvers: &approvers,
            expires_at: request
                .expires_at_ms
                .and_then(chrono::DateTime::from_timestamp_millis),
        })
        .await?;
    Ok(())
}

/// Expires an approval; `true` if it was still pending (a decision won the
/// race otherwise, and the timeout must not reach the run).
pub async fn expire(driver: &Driver, approval_id: &str) -> anyhow::Result<bool> {
    Ok(driver
        .store
        .close_approval(approval_id, "TIMED_OUT")
        .await?)
}

/// Closes the approvals of a run that ended before anyone decided.
pub async fn close(driver: &Driver, approval_ids: &[String]) -> anyhow::Result<()> {
    for id in approval_ids {
        driver.store.close_approval(id, "CANCELLED").await?;
    }
    Ok(())
}
