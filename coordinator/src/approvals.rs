//! The approval timers (see `junction_core::engine` `approval` for the
//! engine's side): recording a pending approval, expiring it, applying a
//! decision, and closing approvals whose run ended.

use crate::driver::Driver;
use crate::write;
use junction_core::engine::Input;
use junction_core::ids::StepId;
use junction_store::{DueTimer, NewApproval};
use serde_json::Value;

/// Does this module handle timers of `kind`?
pub fn handles(kind: &str) -> bool {
    matches!(
        kind,
        write::APPROVAL_REQUEST_TIMER
            | write::APPROVAL_TIMEOUT_TIMER
            | write::APPROVAL_DECIDED_TIMER
            | write::APPROVALS_CLOSE_TIMER
    )
}

/// Does the timer's I/O and returns the input it brings to its run.
pub async fn timer_input(driver: &Driver, timer: &DueTimer) -> anyhow::Result<Option<Input>> {
    let payload = timer.payload.clone().unwrap_or(Value::Null);
    let (step_id, attempt) = (timer.step_id.clone(), timer.attempt);
    let step = || StepId::new(step_id.clone().unwrap_or_default());
    Ok(match timer.kind.as_str() {
        write::APPROVAL_REQUEST_TIMER => {
            let (Some(step_id), Some(attempt)) = (&step_id, attempt) else {
                return Ok(None);
            };
            let id = payload["approval_id"].as_str().unwrap_or_default();
            let approvers = payload
                .get("approvers")
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            let summary = payload.get("summary").cloned().unwrap_or(Value::Null);
            driver
                .store
                .insert_approval(&NewApproval {
                    id,
                    tenant: &timer.tenant,
                    run_id: &timer.run_id,
                    step_id,
                    attempt: attempt as i32,
                    state: payload["state"].as_str().unwrap_or_default(),
                    message: payload["message"].as_str(),
                    summary: &summary,
                    approvers: &approvers,
                    expires_at: payload["expires_at_ms"]
                        .as_i64()
                        .and_then(chrono::DateTime::from_timestamp_millis),
                })
                .await?;
            None
        }
        write::APPROVAL_TIMEOUT_TIMER => {
            let id = payload["approval_id"].as_str().unwrap_or_default();
            // Only a still-pending approval times out; a decision won the race otherwise.
            if driver.store.close_approval(id, "TIMED_OUT").await? {
                Some(Input::ApprovalTimeout {
                    step_id: step(),
                    attempt: attempt.unwrap_or_default(),
                })
            } else {
                None
            }
        }
        write::APPROVAL_DECIDED_TIMER => Some(Input::ApprovalDecided {
            step_id: step(),
            attempt: attempt.unwrap_or_default(),
            approved: payload["approved"].as_bool().unwrap_or(false),
            actor: payload["actor"].as_str().map(str::to_owned),
            comment: payload["comment"].as_str().map(str::to_owned),
            decided_at: payload["decided_at"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }),
        write::APPROVALS_CLOSE_TIMER => {
            for id in payload["approval_ids"].as_array().into_iter().flatten() {
                if let Some(id) = id.as_str() {
                    driver.store.close_approval(id, "CANCELLED").await?;
                }
            }
            None
        }
        _ => None,
    })
}
