//! Approvals: list them (`approvals`), approve or reject one.

use super::Session;
use crate::args::Output;
use crate::operator::{self, ApprovalFilter};
use crate::output;
use serde_json::{Value, json};
use std::process::ExitCode;

/// `approvals`: a table, a JSON array, or one approval per line.
pub async fn list(
    s: &Session<'_>,
    run_id: Option<&str>,
    status: Option<&str>,
    limit: Option<u32>,
    format: Output,
) -> anyhow::Result<ExitCode> {
    let filter = ApprovalFilter {
        run_id,
        status,
        limit,
    };
    let approvals = operator::list_approvals(&s.client, &s.operator, &filter).await?;
    output::list(format, &Value::Array(approvals.clone()), &approvals, || {
        if approvals.is_empty() {
            output::line("no approvals")
        } else {
            print!(
                "{}",
                operator::approvals_table(&approvals, chrono::Utc::now())
            );
            Ok(())
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `approve` (`approved`) and `reject`: the approval's new status.
pub async fn decide(
    s: &Session<'_>,
    approval_id: &str,
    approved: bool,
    comment: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let status = operator::decide(&s.client, &s.operator, approval_id, approved, comment).await?;
    match s.output {
        Output::Text => output::line(&format!("approval {approval_id} {status}"))?,
        format => output::document(
            format,
            &json!({ "approval_id": approval_id, "status": status }),
        )?,
    }
    Ok(ExitCode::SUCCESS)
}
