//! Following a run to its end (`run`, `signal --wait`): while it is not
//! finished, say when it waits for a person (the pending approval and the
//! exact commands that decide it), for a signal, or is paused; at the end,
//! print the timeline and the outcome.

use crate::client::Client;
use crate::operator::{ApprovalFilter, Operator, list_approvals};
use crate::timeline;
use anyhow::Context;
use junction_bus::{ControlSubject, RunVerb};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::Instant;

/// How often the run is polled.
const POLL: Duration = Duration::from_millis(100);
/// How often a run that waits for approval is checked for new approvals,
/// once one is known (a `parallel` state may ask for several).
const APPROVALS_POLL: Duration = Duration::from_secs(1);

/// Waits for the run, prints its timeline, and exits non-zero unless it completed.
///
/// `junction` is how to call this CLI against the same cluster (with the
/// options that the environment does not already supply), for the commands
/// printed while the run waits.
pub async fn follow(
    client: &Client,
    operator: &Operator<'_>,
    junction: &str,
    run_id: &str,
    timeout_secs: u64,
) -> anyhow::Result<ExitCode> {
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    let mut previous = String::new();
    // Approvals already shown during the current waiting spell.
    let mut announced: HashSet<String> = HashSet::new();
    let mut check_approvals_at = Instant::now();
    let run = loop {
        let reply = client
            .request(&ControlSubject::run(run_id, RunVerb::Get), json!({}))
            .await?;
        let run = reply["run"].clone();
        let status = run["status"]
            .as_str()
            .with_context(|| format!("the coordinator's run has no status: {run}"))?
            .to_owned();
        if matches!(
            status.as_str(),
            "COMPLETED" | "FAILED" | "CANCELLED" | "TIMED_OUT"
        ) {
            break run;
        }
        if status != previous {
            if let Some(notice) = status_notice(junction, run_id, &previous, &status) {
                println!("{notice}");
            }
            announced.clear();
            check_approvals_at = Instant::now();
            previous.clone_from(&status);
        }
        if status == "WAITING_APPROVAL" && Instant::now() >= check_approvals_at {
            let filter = ApprovalFilter {
                run_id: Some(run_id),
                status: Some("PENDING"),
                limit: None,
            };
            // The approval is recorded just after the run starts waiting:
            // until it shows, keep asking at the run's pace.
            for approval in list_approvals(client, operator, &filter).await? {
                let id = approval["id"]
                    .as_str()
                    .context("the coordinator listed an approval without an id")?
                    .to_owned();
                if announced.insert(id) {
                    println!("{}", approval_notice(junction, run_id, &approval));
                }
            }
            check_approvals_at = Instant::now()
                + if announced.is_empty() {
                    POLL
                } else {
                    APPROVALS_POLL
                };
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "run {run_id} is still {status} after {timeout_secs} s (it goes on; `junction get {run_id}` shows it)"
        );
        tokio::time::sleep(POLL).await;
    };
    print!("{}", timeline::render(&client.all_events(run_id).await?));
    let status = run["status"].as_str().context("the run has no status")?;
    println!("run {run_id} {status}");
    if status == "COMPLETED" {
        println!(
            "output: {}",
            serde_json::to_string_pretty(&run["context"]["ctx"])?
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("error: {}", run["error"]);
        Ok(ExitCode::FAILURE)
    }
}

/// What to say when the run's status changes from `previous` to `status`
/// (waiting for approval is told by [`approval_notice`] instead).
fn status_notice(junction: &str, run_id: &str, previous: &str, status: &str) -> Option<String> {
    match status {
        "PAUSED" => Some(format!(
            "run {run_id} is PAUSED\n  resume: {junction} resume {run_id}"
        )),
        "WAITING_SIGNAL" => Some(format!(
            "run {run_id} is WAITING_SIGNAL\n  send:   {junction} send {run_id} NAME --data '{{}}'"
        )),
        "RUNNING" if !matches!(previous, "" | "PENDING") => {
            Some(format!("run {run_id} is RUNNING again"))
        }
        _ => None,
    }
}

/// A pending approval: its id, its message and the commands that decide it.
fn approval_notice(junction: &str, run_id: &str, approval: &Value) -> String {
    let id = approval["id"].as_str().unwrap_or_default();
    let message = approval["message"].as_str().unwrap_or("(no message)");
    format!(
        "run {run_id} is WAITING_APPROVAL: approval {id} (state {}): {message}\n  approve: {junction} approve {id}\n  reject:  {junction} reject {id}",
        approval["state"].as_str().unwrap_or("?"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_notice_gives_the_exact_commands() {
        let approval = json!({ "id": "ap-1", "state": "ask", "message": "Ship 1.2?" });
        assert_eq!(
            approval_notice("junction --prefix t1", "r1", &approval),
            "run r1 is WAITING_APPROVAL: approval ap-1 (state ask): Ship 1.2?\n  approve: junction --prefix t1 approve ap-1\n  reject:  junction --prefix t1 reject ap-1"
        );
    }

    #[test]
    fn status_changes_worth_saying() {
        assert_eq!(
            status_notice("junction", "r1", "WAITING_APPROVAL", "PAUSED").as_deref(),
            Some("run r1 is PAUSED\n  resume: junction resume r1")
        );
        assert_eq!(status_notice("junction", "r1", "", "RUNNING"), None);
        assert_eq!(
            status_notice("junction", "r1", "PAUSED", "RUNNING").as_deref(),
            Some("run r1 is RUNNING again")
        );
        assert_eq!(
            status_notice("junction", "r1", "RUNNING", "WAITING_APPROVAL"),
            None
        );
    }
}
