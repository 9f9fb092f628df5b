//! Approvals: list them (`approvals`), approve or reject one.

use super::Session;
use crate::operator::{self, ApprovalFilter};
use std::process::ExitCode;

/// `approvals`: a table, or a JSON array with `json`.
pub async fn list(
    s: &Session<'_>,
    run_id: Option<&str>,
    status: Option<&str>,
    limit: Option<u32>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let filter = ApprovalFilter {
        run_id,
        status,
        limit,
    };
    let approvals = operator::list_approvals(&s.client, &s.operator, &filter).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&approvals)?);
    } else if approvals.is_empty() {
        println!("no approvals");
    } else {
        print!(
            "{}",
            operator::approvals_table(&approvals, chrono::Utc::now())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `approve` (`approved`) and `reject`.
pub async fn decide(
    s: &Session<'_>,
    approval_id: &str,
    approved: bool,
    comment: Option<&str>,
) -> anyhow::Result<ExitCode> {
    operator::decide(&s.client, &s.operator, approval_id, approved, comment).await?;
    Ok(ExitCode::SUCCESS)
}
