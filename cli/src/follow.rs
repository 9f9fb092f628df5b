//! Following a run to its end (`run`, `signal --wait`), live from its event
//! stream: the run's event subjects are subscribed first, then the stored
//! events are read, so nothing published before or after is missed. Events
//! are shown once each and in `seq` order (a gap is filled from the store
//! when it does not close by itself). Each step is shown as it starts and
//! ends; a run that waits for a person gets the pending approval and the
//! exact commands that decide it, a paused run the command that resumes it.
//! At the end, a summary line, then the output or the error.

use crate::args::Output;
use crate::client::Client;
use crate::exit::TimedOut;
use crate::{output, timeline};
use anyhow::Context;
use chrono::{DateTime, FixedOffset};
use futures::StreamExt;
use junction_bus::{ControlSubject, RunVerb};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::Instant;

/// How long a gap in `seq` may last before the store is read.
const GAP_GRACE: Duration = Duration::from_millis(500);
/// How long silence may last before the store is read, in case a live
/// event was lost.
const SILENCE: Duration = Duration::from_secs(5);

/// The event types that end a run.
const TERMINAL: &[&str] = &[
    "workflow.run.completed",
    "workflow.run.failed",
    "workflow.run.cancelled",
    "workflow.run.timed_out",
];

/// Follows the run to its end; exit 0 when it COMPLETED, 1 otherwise.
///
/// `junction` is how to call this CLI against the same cluster (with the
/// options that the environment does not already supply), for the commands
/// printed while the run waits. `text` prints the timeline live and a
/// summary; `json` prints the ended run; `jsonl` prints each event live.
pub async fn follow(
    client: &Client,
    junction: &str,
    run_id: &str,
    timeout_secs: u64,
    format: Output,
) -> anyhow::Result<ExitCode> {
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    let mut subscriptions = Vec::new();
    for subject in client.subjects.run_events(run_id) {
        subscriptions.push(client.nats.subscribe(subject).await?);
    }
    let mut live = futures::stream::select_all(subscriptions);
    client.nats.flush().await?;
    let mut feed = Feed::default();
    let mut view = View::new(junction, run_id, format);
    for event in client.all_events(run_id).await? {
        feed.push(event);
    }
    let mut checked_at = Instant::now();
    loop {
        for event in feed.ready() {
            view.show(&event)?;
        }
        if view.ended {
            break;
        }
        if Instant::now() >= deadline {
            return Err(TimedOut(format!(
                "run {run_id} has not ended after {timeout_secs} s (it goes on; `junction get {run_id}` shows it)"
            ))
            .into());
        }
        // A gap (or silence) that lasts: read what the store has.
        let grace = if feed.held.is_empty() {
            SILENCE
        } else {
            GAP_GRACE
        };
        if feed.waiting_since(grace) && checked_at.elapsed() >= grace {
            for event in client.events_after(run_id, feed.next - 1).await? {
                feed.push(event);
            }
            checked_at = Instant::now();
            continue;
        }
        let wake = (Instant::now() + GAP_GRACE).min(deadline);
        tokio::select! {
            message = live.next() => {
                let message = message.context("the connection to NATS was closed")?;
                if let Ok(event) = serde_json::from_slice::<Value>(&message.payload) {
                    feed.push(event);
                }
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
    let reply = client
        .request(&ControlSubject::run(run_id, RunVerb::Get), json!({}))
        .await?;
    let run = &reply["run"];
    let status = run["status"].as_str().context("the run has no status")?;
    match format {
        Output::Text => {
            output::line(&summary(run, &view))?;
            if status == "COMPLETED" {
                output::line(&format!(
                    "output: {}",
                    serde_json::to_string_pretty(&run["context"]["ctx"])?
                ))?;
            } else {
                output::line(&format!("error: {}", run["error"]))?;
            }
        }
        Output::Json => output::document(Output::Json, run)?,
        Output::Jsonl => {}
    }
    Ok(if status == "COMPLETED" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Events put back in `seq` order, each once.
struct Feed {
    /// The next seq to show.
    next: i64,
    held: BTreeMap<i64, Value>,
    /// Since when the feed has had nothing to show.
    idle_since: Instant,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            next: 1,
            held: BTreeMap::new(),
            idle_since: Instant::now(),
        }
    }
}

impl Feed {
    fn push(&mut self, event: Value) {
        if let Some(seq) = event["seq"].as_i64()
            && seq >= self.next
        {
            self.held.entry(seq).or_insert(event);
        }
    }

    /// The events that can be shown now, in order.
    fn ready(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(event) = self.held.remove(&self.next) {
            out.push(event);
            self.next += 1;
        }
        if !out.is_empty() {
            self.idle_since = Instant::now();
        }
        out
    }

    /// Whether nothing could be shown for `grace`.
    fn waiting_since(&self, grace: Duration) -> bool {
        self.idle_since.elapsed() >= grace
    }
}

/// What is shown of the events, and what is counted for the summary.
struct View<'a> {
    junction: &'a str,
    run_id: &'a str,
    format: Output,
    first: Option<DateTime<FixedOffset>>,
    last: Option<DateTime<FixedOffset>>,
    steps: usize,
    retries: usize,
    ended: bool,
}

impl<'a> View<'a> {
    fn new(junction: &'a str, run_id: &'a str, format: Output) -> Self {
        Self {
            junction,
            run_id,
            format,
            first: None,
            last: None,
            steps: 0,
            retries: 0,
            ended: false,
        }
    }

    fn show(&mut self, event: &Value) -> anyhow::Result<()> {
        let kind = event["type"].as_str().unwrap_or_default();
        let time = event["time"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        self.first = self.first.or(time);
        self.last = time.or(self.last);
        match kind {
            "workflow.step.completed"
            | "workflow.step.failed"
            | "workflow.step.timed_out"
            | "workflow.step.cancelled" => self.steps += 1,
            "workflow.step.retrying" => self.retries += 1,
            _ => {}
        }
        self.ended = TERMINAL.contains(&kind);
        match self.format {
            Output::Text => {
                output::line(&timeline::line(event, self.first))?;
                if let Some(notice) = notice(self.junction, self.run_id, event) {
                    output::line(&notice)?;
                }
            }
            Output::Jsonl => output::json_line(event)?,
            Output::Json => {}
        }
        Ok(())
    }
}

/// `run <id> COMPLETED in 1.234 s: 3 steps, 1 retry`.
fn summary(run: &Value, view: &View) -> String {
    let status = run["status"].as_str().unwrap_or("?");
    let took = match (view.first, view.last) {
        (Some(first), Some(last)) => format!(
            " in {:.3} s",
            (last - first).num_milliseconds() as f64 / 1000.0
        ),
        _ => String::new(),
    };
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    let mut counts = plural(view.steps, "step");
    if view.retries > 0 {
        counts.push_str(&format!(", {}", plural(view.retries, "retry")));
        counts = counts.replace("retrys", "retries");
    }
    format!("run {} {status}{took}: {counts}", view.run_id)
}

/// What to tell a person about `event`, besides its line: who can decide a
/// pending approval and how, how to resume a paused run, how to send the
/// signal a run waits for.
fn notice(junction: &str, run_id: &str, event: &Value) -> Option<String> {
    let data = &event["data"];
    match event["type"].as_str()? {
        "workflow.approval.requested" => {
            let id = data["approval_id"].as_str().unwrap_or_default();
            let state = event["state"]
                .as_str()
                .or(event["path"].as_str())
                .unwrap_or("?");
            let message = data["message"].as_str().unwrap_or("(no message)");
            Some(format!(
                "run {run_id} is WAITING_APPROVAL: approval {id} (state {state}): {message}\n  approve: {junction} approve {id}\n  reject:  {junction} reject {id}"
            ))
        }
        "workflow.run.paused" => Some(format!(
            "run {run_id} is PAUSED\n  resume: {junction} resume {run_id}"
        )),
        "workflow.run.resumed" | "workflow.run.redriven" => {
            Some(format!("run {run_id} is RUNNING again"))
        }
        "workflow.run.waiting" if data["on"] == "signal" => Some(format!(
            "run {run_id} is WAITING_SIGNAL\n  send:   {junction} send {run_id} NAME --data '{{}}'"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_notice_gives_the_exact_commands() {
        let event = json!({ "type": "workflow.approval.requested", "state": "ask",
            "data": { "approval_id": "ap-1", "message": "Ship 1.2?" } });
        assert_eq!(
            notice("junction --prefix t1", "r1", &event).as_deref(),
            Some(
                "run r1 is WAITING_APPROVAL: approval ap-1 (state ask): Ship 1.2?\n  approve: junction --prefix t1 approve ap-1\n  reject:  junction --prefix t1 reject ap-1"
            )
        );
    }

    #[test]
    fn status_changes_worth_saying() {
        let paused = json!({ "type": "workflow.run.paused", "data": {} });
        assert_eq!(
            notice("junction", "r1", &paused).as_deref(),
            Some("run r1 is PAUSED\n  resume: junction resume r1")
        );
        let waiting = json!({ "type": "workflow.run.waiting", "data": { "on": "approval" } });
        assert_eq!(notice("junction", "r1", &waiting), None);
        let started = json!({ "type": "workflow.step.started", "path": "a" });
        assert_eq!(notice("junction", "r1", &started), None);
    }

    #[test]
    fn the_feed_shows_each_event_once_in_order() {
        let mut feed = Feed::default();
        feed.push(json!({ "seq": 2 }));
        assert!(feed.ready().is_empty());
        feed.push(json!({ "seq": 1 }));
        feed.push(json!({ "seq": 1 }));
        let seqs: Vec<i64> = feed
            .ready()
            .iter()
            .filter_map(|e| e["seq"].as_i64())
            .collect();
        assert_eq!(seqs, [1, 2]);
        feed.push(json!({ "seq": 2 }));
        assert!(feed.ready().is_empty());
        assert_eq!(feed.next, 3);
    }

    #[test]
    fn the_summary_counts_steps_and_retries() {
        let mut view = View::new("junction", "r1", Output::Json);
        for (kind, time) in [
            ("workflow.run.started", "2025-01-01T10:00:00.000Z"),
            ("workflow.step.retrying", "2025-01-01T10:00:00.100Z"),
            ("workflow.step.completed", "2025-01-01T10:00:00.200Z"),
            ("workflow.step.completed", "2025-01-01T10:00:01.250Z"),
            ("workflow.run.completed", "2025-01-01T10:00:01.250Z"),
        ] {
            view.show(&json!({ "type": kind, "time": time }))
                .expect("shown");
        }
        assert!(view.ended);
        assert_eq!(
            summary(&json!({ "status": "COMPLETED" }), &view),
            "run r1 COMPLETED in 1.250 s: 2 steps, 1 retry"
        );
    }
}
