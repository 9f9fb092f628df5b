//! `junction tail`: a live feed of lifecycle events (PROTOCOL §3), read with
//! core NATS from the subjects `WORKFLOW_EVENTS` stores, until Ctrl-C.
//!
//! Live subscribers may see an event twice (a relay retry) or out of order;
//! lines are deduplicated by `(run_id, seq)` and printed as they arrive:
//! one text line each, or with `-o json|jsonl` the event itself, one JSON
//! object per line.

use crate::args::Output;
use crate::client::Client;
use crate::timeline;
use futures::StreamExt;
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::io::Write;

/// How many recent `(run_id, seq)` identities are remembered for deduplication.
const REMEMBERED: usize = 10_000;

/// Follows every run's events (or one run's: its stored events first, then
/// live ones), optionally of one tenant only, until Ctrl-C.
pub async fn tail(
    client: &Client,
    run_id: Option<&str>,
    tenant: Option<&str>,
    format: Output,
) -> anyhow::Result<()> {
    let subjects: Vec<String> = match run_id {
        Some(run_id) => client.subjects.run_events(run_id).to_vec(),
        None => vec![client.subjects.events_wildcard()],
    };
    let mut subscriptions = Vec::new();
    for subject in &subjects {
        subscriptions.push(client.nats.subscribe(subject.clone()).await?);
    }
    let mut live = futures::stream::select_all(subscriptions);
    // Once the server has the subscriptions, no event published later is missed.
    client.nats.flush().await?;
    // The Ctrl-C handler is installed when first polled: do it before saying
    // we follow, so an interrupt from then on ends the feed cleanly.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    if let std::task::Poll::Ready(result) = futures::poll!(&mut ctrl_c) {
        return Ok(result?);
    }
    eprintln!("following {} (Ctrl-C to stop)", subjects.join(" "));
    let mut seen = Seen::default();
    if let Some(run_id) = run_id {
        for event in client.all_events(run_id).await? {
            if seen.first_time(&event) {
                emit(&render(&event, false, format)?)?;
            }
        }
    }
    loop {
        let message = tokio::select! {
            result = &mut ctrl_c => {
                result?;
                return Ok(());
            }
            message = live.next() => message,
        };
        let Some(message) = message else {
            anyhow::bail!("the connection to NATS was closed");
        };
        let Ok(event) = serde_json::from_slice::<Value>(&message.payload) else {
            eprintln!("unreadable event on {}", message.subject);
            continue;
        };
        if tenant.is_some_and(|t| event["tenant"].as_str() != Some(t)) {
            continue;
        }
        if seen.first_time(&event) {
            emit(&render(&event, run_id.is_none(), format)?)?;
        }
    }
}

/// Writes one line to stdout at once (an error, such as a closed pipe, ends the feed).
fn emit(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// The event's line in `format`: text, or the event as one JSON line.
fn render(event: &Value, with_run: bool, format: Output) -> anyhow::Result<String> {
    Ok(match format {
        Output::Text => line(event, with_run),
        Output::Json | Output::Jsonl => serde_json::to_string(event)?,
    })
}

/// `14:03:07.125  [<run>  ]#seq type …`: the run id only when following all runs.
fn line(event: &Value, with_run: bool) -> String {
    let run = if with_run {
        format!("{}  ", event["run_id"].as_str().unwrap_or("?"))
    } else {
        String::new()
    };
    format!(
        "{}  {run}{}",
        timeline::clock(event),
        timeline::describe(event)
    )
}

/// The most recent event identities seen, oldest dropped first.
#[derive(Default)]
struct Seen {
    set: HashSet<(String, i64)>,
    order: VecDeque<(String, i64)>,
}

impl Seen {
    /// Whether `event` is new (and remembers it).
    fn first_time(&mut self, event: &Value) -> bool {
        let (Some(run), Some(seq)) = (event["run_id"].as_str(), event["seq"].as_i64()) else {
            return true;
        };
        let key = (run.to_owned(), seq);
        if !self.set.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn duplicates_are_dropped() {
        let mut seen = Seen::default();
        let event = json!({ "run_id": "r1", "seq": 1 });
        assert!(seen.first_time(&event));
        assert!(!seen.first_time(&event));
        assert!(seen.first_time(&json!({ "run_id": "r1", "seq": 2 })));
        assert!(seen.first_time(&json!({ "run_id": "r2", "seq": 1 })));
    }

    #[test]
    fn lines_carry_the_run_when_following_all_runs() {
        let event = json!({ "run_id": "r1", "seq": 1, "type": "workflow.run.started",
                            "time": "2025-01-01T10:00:00.250Z" });
        assert_eq!(
            line(&event, true),
            "10:00:00.250  r1  #1   workflow.run.started"
        );
        assert_eq!(
            line(&event, false),
            "10:00:00.250  #1   workflow.run.started"
        );
    }
}
