//! Renders a run's events as readable lines: the stored timeline (`events`,
//! `run`) and the live feed (`tail`) share [`describe`].

use chrono::DateTime;
use serde_json::Value;

/// One line per event: offset from the first event, then [`describe`].
pub fn render(events: &[Value]) -> String {
    let start = events.first().and_then(|e| parse_time(&e["time"]));
    let mut out = String::new();
    for event in events {
        out.push_str(&line(event, start));
        out.push('\n');
    }
    out
}

/// One event's line: its offset from `start`, then [`describe`].
pub fn line(event: &Value, start: Option<DateTime<chrono::FixedOffset>>) -> String {
    let offset = match (start, parse_time(&event["time"])) {
        (Some(start), Some(at)) => format!(
            "{:>9.1} ms",
            (at - start).num_microseconds().unwrap_or(0) as f64 / 1000.0
        ),
        _ => "         ?   ".into(),
    };
    format!("{offset}  {}", describe(event))
}

/// An event without its time: `#seq type  path (attempt n) on worker  detail`.
pub fn describe(event: &Value) -> String {
    let kind = event["type"].as_str().unwrap_or("?");
    // Padded as text: `Value`'s `Display` ignores the width.
    let mut line = format!("#{:<3} {kind}", event["seq"].to_string());
    if let Some(path) = event["path"].as_str() {
        line.push_str(&format!("  {path}"));
        if let Some(attempt) = event["attempt"].as_u64() {
            line.push_str(&format!(" (attempt {attempt})"));
        }
    }
    if let Some(worker) = event["worker_id"].as_str() {
        line.push_str(&format!(" on {worker}"));
    }
    if let Some(detail) = detail(kind, &event["data"]) {
        line.push_str(&format!("  {detail}"));
    }
    line
}

/// The event's time of day in UTC (`14:03:07.125`), for live feeds.
pub fn clock(event: &Value) -> String {
    parse_time(&event["time"]).map_or_else(
        || "??:??:??.???".to_owned(),
        |at| at.to_utc().format("%H:%M:%S%.3f").to_string(),
    )
}

fn detail(kind: &str, data: &Value) -> Option<String> {
    let text = match kind {
        "workflow.step.completed" | "workflow.run.completed" => data["output"].to_string(),
        "workflow.step.failed"
        | "workflow.step.timed_out"
        | "workflow.step.cancelled"
        | "workflow.run.failed"
        | "workflow.run.timed_out" => data["error"].to_string(),
        "workflow.step.retrying" => data.to_string(),
        "workflow.step.warning" => format!(
            "{}: {}",
            data["code"].as_str().unwrap_or("?"),
            data["message"].as_str().unwrap_or("")
        ),
        "workflow.run.waiting" => format!("on {}", data["on"].as_str().unwrap_or("?")),
        "workflow.run.paused" | "workflow.run.resumed" | "workflow.run.cancelled" => {
            who_and_why(data, "reason")?
        }
        "workflow.run.redriven" => {
            let steps = data["steps"].as_array().map_or(0, Vec::len);
            let again = format!("{steps} step(s) run again");
            match who_and_why(data, "reason") {
                Some(who) => format!("{again}, {who}"),
                None => again,
            }
        }
        "workflow.approval.requested" => format!(
            "approval {}: {}",
            data["approval_id"].as_str().unwrap_or("?"),
            data["message"].as_str().unwrap_or("(no message)")
        ),
        "workflow.approval.approved"
        | "workflow.approval.rejected"
        | "workflow.approval.timed_out" => {
            let id = data["approval_id"].as_str().unwrap_or("?");
            match who_and_why(data, "comment") {
                Some(rest) => format!("approval {id} {rest}"),
                None => format!("approval {id}"),
            }
        }
        "workflow.signal.received" => {
            format!("{} {}", data["name"].as_str().unwrap_or("?"), data["data"])
        }
        _ => return None,
    };
    Some(if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    })
}

/// `by <actor>: <why>`, `by <actor>`, `(<why>)`, or nothing.
fn who_and_why(data: &Value, why: &str) -> Option<String> {
    match (data["actor"].as_str(), data[why].as_str()) {
        (Some(actor), Some(why)) => Some(format!("by {actor}: {why}")),
        (Some(actor), None) => Some(format!("by {actor}")),
        (None, Some(why)) => Some(format!("({why})")),
        (None, None) => None,
    }
}

fn parse_time(value: &Value) -> Option<DateTime<chrono::FixedOffset>> {
    DateTime::parse_from_rfc3339(value.as_str()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn describes_operator_events() {
        let requested = json!({ "seq": 4, "type": "workflow.approval.requested", "path": "ask", "attempt": 1,
            "data": { "approval_id": "a1", "message": "Ship 1.2?" } });
        assert_eq!(
            describe(&requested),
            "#4   workflow.approval.requested  ask (attempt 1)  approval a1: Ship 1.2?"
        );
        let approved = json!({ "seq": 5, "type": "workflow.approval.approved",
            "data": { "approval_id": "a1", "actor": "ann", "comment": "ok" } });
        assert_eq!(
            describe(&approved),
            "#5   workflow.approval.approved  approval a1 by ann: ok"
        );
        let cancelled = json!({ "seq": 6, "type": "workflow.run.cancelled",
            "data": { "error": { "code": "CANCELLED" }, "actor": "bob" } });
        assert_eq!(describe(&cancelled), "#6   workflow.run.cancelled  by bob");
        let signal = json!({ "seq": 7, "type": "workflow.signal.received",
            "data": { "name": "paid", "data": { "amount": 3 } } });
        assert_eq!(
            describe(&signal),
            "#7   workflow.signal.received  paid {\"amount\":3}"
        );
    }

    #[test]
    fn clock_is_utc_time_of_day() {
        let event = json!({ "time": "2025-03-01T10:02:03.045+01:00" });
        assert_eq!(clock(&event), "09:02:03.045");
        assert_eq!(clock(&json!({})), "??:??:??.???");
    }
}
