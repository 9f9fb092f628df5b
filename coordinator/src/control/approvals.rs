//! `wf.ctl.approvals.list` and `wf.ctl.approval.<id>.approve|reject`.
//!
//! A decision updates the approval and queues it for its run in one
//! statement; the timer loop then applies it to the run (at once: it is
//! woken). With auth off (PROTOCOL §6) `actor` is taken from the request as
//! given and logged as unauthenticated, and `approvers` is not enforced.
//! With auth on the actor is the token's identity, and a non-empty
//! `approvers` list must name it (`user:<identity>`) or one of its groups
//! (`team:<group>`), else `FORBIDDEN` (§8.13).

use super::{Reply, Request};
use crate::driver::Driver;
use junction_core::ids::is_valid_id;
use junction_core::wire::control::{ControlError, ErrorCode};
use serde_json::json;

/// Every approval status.
pub const STATUSES: &[&str] = &["PENDING", "APPROVED", "REJECTED", "TIMED_OUT", "CANCELLED"];

pub async fn list(driver: &Driver, request: &Request) -> Reply {
    let run_id = request.optional_string("run_id")?;
    let status = request.optional_string("status")?;
    if let Some(status) = status
        && !STATUSES.contains(&status)
    {
        return Err(ControlError::invalid(format!(
            "status `{status}` is not one of {}",
            STATUSES.join(", ")
        )));
    }
    let approvals = driver
        .store
        .list_approvals(&request.tenant, run_id, status, request.limit()?)
        .await?;
    Ok(json!({ "approvals": approvals }))
}

pub async fn decide(driver: &Driver, id: &str, request: &Request, approved: bool) -> Reply {
    if !is_valid_id(id) {
        return Err(ControlError::invalid(format!(
            "approval id {id:?} is not valid"
        )));
    }
    let found = driver.store.get_approval(id).await?;
    let approval = found
        .filter(|a| a.tenant == request.tenant)
        .ok_or_else(|| ControlError::not_found(format!("approval `{id}` not found")))?;
    let already = || {
        ControlError::new(
            ErrorCode::AlreadyDecided,
            format!("approval `{id}` is already {}", approval.status),
        )
    };
    if approval.status != "PENDING" {
        return Err(already());
    }
    if let Some(caller) = &request.caller
        && !caller.may_decide(&approval.approvers)
    {
        return Err(ControlError::new(
            ErrorCode::Forbidden,
            format!(
                "`{}` is not among the approvers of approval `{id}`",
                caller.identity
            ),
        ));
    }
    let actor = request.actor()?;
    let actor = actor.as_deref();
    let comment = request.optional_string("comment")?;
    let decided = driver
        .store
        .decide_approval(id, approved, actor, comment)
        .await?
        .ok_or_else(already)?;
    driver.timers_changed.notify_one();
    tracing::info!(approval_id = id, run_id = %decided.run_id, actor = ?actor, status = %decided.status, authenticated = request.caller.is_some(), "approval decided");
    Ok(json!({ "status": decided.status }))
}
