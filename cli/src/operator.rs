//! Operator commands: act on a run (`cancel`, `pause`, `resume`, `redrive`,
//! `send`) and
//! on its approvals (`approvals`, `approve`, `reject`). Each is one control
//! request (docs/protocol.md); an error reply is reported by the caller as
//! `error: CODE: message` with its exit code ([`crate::exit`]). Each returns
//! the reply; the caller prints it in the chosen format.

use crate::client::Client;
use anyhow::Context;
use chrono::{DateTime, Utc};
use junction_bus::{ControlSubject, Decision, RunVerb};
use serde_json::{Value, json};

/// What an operator does to a run (`wf.ctl.run.<id>.<action>`).
#[derive(Debug, Clone, Copy)]
pub enum RunAction {
    Cancel,
    Pause,
    Resume,
    Redrive,
}

impl RunAction {
    fn verb(self) -> RunVerb {
        match self {
            Self::Cancel => RunVerb::Cancel,
            Self::Pause => RunVerb::Pause,
            Self::Resume => RunVerb::Resume,
            Self::Redrive => RunVerb::Redrive,
        }
    }
}

/// Who acts and in which tenant: added to every operator request.
pub struct Operator<'a> {
    pub actor: &'a str,
    pub tenant: Option<&'a str>,
}

impl Operator<'_> {
    /// `body` with `actor` and, when one was chosen, `tenant`.
    fn body(&self, mut body: Value, with_actor: bool) -> Value {
        if with_actor {
            body["actor"] = json!(self.actor);
        }
        if let Some(tenant) = self.tenant {
            body["tenant"] = json!(tenant);
        }
        body
    }
}

/// `run.<id>.cancel|pause|resume|redrive`: the run's status after the action.
pub async fn act_on_run(
    client: &Client,
    operator: &Operator<'_>,
    run_id: &str,
    action: RunAction,
    reason: Option<&str>,
) -> anyhow::Result<String> {
    let reply = client
        .request(
            &ControlSubject::run(run_id, action.verb()),
            operator.body(json!({ "reason": reason }), true),
        )
        .await?;
    Ok(reply["status"].as_str().unwrap_or("?").to_owned())
}

/// `run.<id>.signal {name, data}`: delivers a signal into a running run.
pub async fn send(
    client: &Client,
    operator: &Operator<'_>,
    run_id: &str,
    name: &str,
    data: Value,
) -> anyhow::Result<()> {
    client
        .request(
            &ControlSubject::run(run_id, RunVerb::Signal),
            operator.body(json!({ "name": name, "data": data }), false),
        )
        .await?;
    Ok(())
}

/// `approval.<id>.approve|reject`: the approval's new status.
pub async fn decide(
    client: &Client,
    operator: &Operator<'_>,
    approval_id: &str,
    approve: bool,
    comment: Option<&str>,
) -> anyhow::Result<String> {
    let decision = if approve {
        Decision::Approve
    } else {
        Decision::Reject
    };
    let reply = client
        .request(
            &ControlSubject::approval(approval_id, decision),
            operator.body(json!({ "comment": comment }), true),
        )
        .await?;
    Ok(reply["status"].as_str().unwrap_or("?").to_owned())
}

/// Filters for `approvals.list`.
pub struct ApprovalFilter<'a> {
    pub run_id: Option<&'a str>,
    pub status: Option<&'a str>,
    pub limit: Option<u32>,
}

/// `approvals.list`, newest first.
pub async fn list_approvals(
    client: &Client,
    operator: &Operator<'_>,
    filter: &ApprovalFilter<'_>,
) -> anyhow::Result<Vec<Value>> {
    let mut body = json!({ "run_id": filter.run_id, "limit": filter.limit });
    if let Some(status) = filter.status {
        // `--status pending` means PENDING: statuses are upper case on the wire.
        body["status"] = json!(status.to_ascii_uppercase());
    }
    let reply = client
        .request(&ControlSubject::ApprovalsList, operator.body(body, false))
        .await?;
    let approvals = reply["approvals"].as_array();
    Ok(approvals
        .context("the coordinator's reply has no approvals")?
        .clone())
}

/// Widest message shown in the table; longer ones end with `…`.
const MESSAGE_WIDTH: usize = 50;

/// The approvals as a table: id, run, state, status, message, age.
pub fn approvals_table(approvals: &[Value], now: DateTime<Utc>) -> String {
    let header = ["ID", "RUN", "STATE", "STATUS", "MESSAGE", "AGE"].map(str::to_owned);
    let rows: Vec<[String; 6]> = approvals
        .iter()
        .map(|a| {
            let text = |key: &str| a[key].as_str().unwrap_or("").to_owned();
            [
                text("id"),
                text("run_id"),
                text("state"),
                text("status"),
                one_line(a["message"].as_str().unwrap_or(""), MESSAGE_WIDTH),
                a["created_at"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map_or_else(|| "?".to_owned(), |t| age(now - t.to_utc())),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = width - cell.chars().count();
                line.push_str(&format!("{cell}{}  ", " ".repeat(pad)));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Newlines and tabs become spaces; text wider than `width` is cut with `…`.
fn one_line(text: &str, width: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    if flat.chars().count() > width {
        format!(
            "{}…",
            flat.chars()
                .take(width.saturating_sub(1))
                .collect::<String>()
        )
    } else {
        flat
    }
}

/// A short age: `42s`, `5m`, `3h`, `2d` (a future time counts as `0s`).
pub fn age(elapsed: chrono::TimeDelta) -> String {
    let seconds = elapsed.num_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{}m", seconds / 60),
        3_600..86_400 => format!("{}h", seconds / 3_600),
        _ => format!("{}d", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn ages_are_short() {
        assert_eq!(age(TimeDelta::seconds(-3)), "0s");
        assert_eq!(age(TimeDelta::seconds(59)), "59s");
        assert_eq!(age(TimeDelta::seconds(61)), "1m");
        assert_eq!(age(TimeDelta::seconds(7_300)), "2h");
        assert_eq!(age(TimeDelta::days(3)), "3d");
    }

    #[test]
    fn the_table_aligns_columns_and_flattens_messages() {
        let now = DateTime::parse_from_rfc3339("2025-01-01T10:00:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default();
        let approvals = vec![
            json!({ "id": "a1", "run_id": "run-1", "state": "ask", "status": "PENDING",
                    "message": "Ship\n1.2?", "created_at": "2025-01-01T09:59:30.000Z" }),
            json!({ "id": "approval-2", "run_id": "r2", "state": "gate", "status": "APPROVED",
                    "message": "x".repeat(80), "created_at": "2025-01-01T07:00:00.000Z" }),
        ];
        let table = approvals_table(&approvals, now);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "ID          RUN    STATE  STATUS    MESSAGE                                             AGE"
        );
        assert_eq!(
            lines[1],
            "a1          run-1  ask    PENDING   Ship 1.2?                                           30s"
        );
        assert!(lines[2].starts_with("approval-2  r2     gate   APPROVED  xxxx"));
        assert!(lines[2].ends_with("x…  3h"), "{}", lines[2]);
    }
}
