//! Renders a run's stored events as a readable timeline.

use chrono::DateTime;
use serde_json::Value;

/// One line per event: offset from the first event, type, step and details.
pub fn render(events: &[Value]) -> String {
    let start = events.first().and_then(|e| parse_time(&e["time"]));
    let mut out = String::new();
    for event in events {
        let offset = match (start, parse_time(&event["time"])) {
            (Some(start), Some(at)) => format!(
                "{:>9.1} ms",
                (at - start).num_microseconds().unwrap_or(0) as f64 / 1000.0
            ),
            _ => "         ?   ".into(),
        };
        let kind = event["type"].as_str().unwrap_or("?");
        let mut line = format!("{offset}  #{:<3} {kind}", event["seq"]);
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
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn detail(kind: &str, data: &Value) -> Option<String> {
    let value = match kind {
        "workflow.step.completed" => &data["output"],
        "workflow.run.completed" => &data["output"],
        "workflow.step.failed" | "workflow.step.timed_out" | "workflow.run.failed" => {
            &data["error"]
        }
        "workflow.step.retrying" => data,
        _ => return None,
    };
    let text = value.to_string();
    Some(if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    })
}

fn parse_time(value: &Value) -> Option<DateTime<chrono::FixedOffset>> {
    DateTime::parse_from_rfc3339(value.as_str()?).ok()
}
