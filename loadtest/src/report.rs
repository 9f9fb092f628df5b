//! Scenario results: a human-readable table per scenario, and one JSON
//! document for all of them with the machine they ran on.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use crate::stats::Summary;

/// At most this many distinct error messages are kept per scenario.
const MAX_DISTINCT_ERRORS: usize = 20;

/// How many runs ended which way.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Measured runs asked for (warmup excluded).
    pub requested: usize,
    pub completed: usize,
    /// Runs that failed to start, or ended failed, timed out or cancelled.
    pub failed: usize,
    /// Runs not finished when the scenario's timeout struck.
    pub incomplete: usize,
}

/// The result of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub name: String,
    /// True when every measured run completed in time and nothing fatal happened.
    pub ok: bool,
    pub params: Value,
    pub workflow_id: Option<String>,
    pub workflow_version: Option<i64>,
    pub counts: Counts,
    /// Wall-clock seconds of the measured part.
    pub wall_seconds: f64,
    /// Latency summaries by metric name (milliseconds).
    pub latencies: BTreeMap<String, Summary>,
    /// Scalar figures by name (rates, means).
    pub figures: BTreeMap<String, f64>,
    /// Distinct failure messages and how often each occurred.
    pub errors: BTreeMap<String, usize>,
    /// Things worth knowing that do not fail the scenario.
    pub notes: Vec<String>,
    /// Why the scenario stopped early, if it did.
    pub fatal: Option<String>,
}

impl ScenarioReport {
    /// An empty report for `name` with its parameters.
    pub fn new(name: &str, params: Value) -> Self {
        Self {
            name: name.to_owned(),
            ok: false,
            params,
            workflow_id: None,
            workflow_version: None,
            counts: Counts::default(),
            wall_seconds: 0.0,
            latencies: BTreeMap::new(),
            figures: BTreeMap::new(),
            errors: BTreeMap::new(),
            notes: Vec::new(),
            fatal: None,
        }
    }

    /// Counts one failed run, keeping its message.
    pub fn fail_run(&mut self, message: impl Into<String>) {
        self.counts.failed += 1;
        self.record_error(message.into());
    }

    fn record_error(&mut self, message: String) {
        if let Some(n) = self.errors.get_mut(&message) {
            *n += 1;
        } else if self.errors.len() < MAX_DISTINCT_ERRORS {
            self.errors.insert(message, 1);
        } else {
            *self.errors.entry("(other errors)".to_owned()).or_default() += 1;
        }
    }

    /// Adds a latency summary when there are samples.
    pub fn latency(&mut self, name: &str, samples_ms: &[f64]) {
        if let Some(summary) = Summary::of(samples_ms) {
            self.latencies.insert(name.to_owned(), summary);
        }
    }

    /// Adds a scalar figure.
    pub fn figure(&mut self, name: &str, value: f64) {
        if value.is_finite() {
            self.figures.insert(name.to_owned(), value);
        }
    }

    /// Marks the scenario as stopped by `error`.
    pub fn set_fatal(&mut self, error: &anyhow::Error) {
        self.fatal = Some(format!("{error:#}"));
        self.ok = false;
    }

    /// Runs a scenario's `body` for `requested` measured runs into this
    /// report, then [`finish`](Self::finish)es it: a failure ends up in the
    /// report as its fatal error, never as a panic.
    pub async fn run(
        mut self,
        requested: u32,
        body: impl AsyncFnOnce(&mut Self) -> anyhow::Result<()>,
    ) -> Self {
        self.counts.requested = requested as usize;
        if let Err(error) = body(&mut self).await {
            self.set_fatal(&error);
        }
        self.finish();
        self
    }

    /// Sets `ok` from the counts; call once the scenario is over.
    /// Measured runs never accounted for (a fatal error stopped the scenario)
    /// count as incomplete.
    pub fn finish(&mut self) {
        let accounted = self.counts.completed + self.counts.failed + self.counts.incomplete;
        self.counts.incomplete += self.counts.requested.saturating_sub(accounted);
        let c = &self.counts;
        self.ok = self.fatal.is_none()
            && c.failed == 0
            && c.incomplete == 0
            && c.completed == c.requested;
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "== {} [{}] {}",
            self.name,
            if self.ok { "OK" } else { "FAILED" },
            compact_params(&self.params)
        );
        if let Some(id) = &self.workflow_id {
            let version = self
                .workflow_version
                .map(|v| format!(" v{v}"))
                .unwrap_or_default();
            let _ = writeln!(out, "   workflow   {id}{version}");
        }
        let c = &self.counts;
        let _ = writeln!(
            out,
            "   runs       {} requested, {} completed, {} failed, {} incomplete",
            c.requested, c.completed, c.failed, c.incomplete
        );
        let _ = writeln!(out, "   wall       {:.3} s", self.wall_seconds);
        if !self.latencies.is_empty() {
            let width = self
                .latencies
                .keys()
                .map(String::len)
                .max()
                .unwrap_or(0)
                .max(6);
            let _ = writeln!(
                out,
                "   {:<width$} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}",
                "metric", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms"
            );
            for (name, s) in &self.latencies {
                let _ = writeln!(
                    out,
                    "   {:<width$} {:>7} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
                    name, s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, s.mean_ms
                );
            }
        }
        for (name, value) in &self.figures {
            let _ = writeln!(out, "   {name:<22} {value:.2}");
        }
        for (message, n) in &self.errors {
            let _ = writeln!(out, "   error x{n}: {message}");
        }
        for note in &self.notes {
            let _ = writeln!(out, "   note: {note}");
        }
        if let Some(fatal) = &self.fatal {
            let _ = writeln!(out, "   FATAL: {fatal}");
        }
        out
    }
}

/// `{"runs":20,"steps":40}` as `runs=20 steps=40`.
fn compact_params(params: &Value) -> String {
    match params.as_object() {
        Some(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        None => params.to_string(),
    }
}

/// Where and when the load test ran.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub hostname: String,
    pub nproc: usize,
    pub timestamp: String,
}

impl Machine {
    /// Describes this machine, now.
    pub fn current() -> Self {
        Self {
            hostname: hostname(),
            nproc: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1),
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }
}

/// The kernel's host name, or `$HOSTNAME`, or `unknown`.
fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|s| s.trim().to_owned())
        .chain(std::env::var("HOSTNAME").ok())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The whole JSON document.
pub fn document(
    machine: &Machine,
    nats_url: &str,
    prefix: &str,
    scenarios: &[ScenarioReport],
) -> Value {
    json!({
        "tool": "junction-loadtest",
        "tool_version": env!("CARGO_PKG_VERSION"),
        "ok": scenarios.iter().all(|s| s.ok),
        "machine": machine,
        "cluster": { "nats_url": nats_url, "prefix": prefix },
        "scenarios": scenarios,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_only_when_every_run_completed() {
        let mut r = ScenarioReport::new("chain", json!({"runs": 2}));
        r.counts.requested = 2;
        r.counts.completed = 2;
        r.finish();
        assert!(r.ok);
        r.fail_run("boom");
        r.finish();
        assert!(!r.ok);
        assert_eq!(r.errors.get("boom"), Some(&1));
        assert!(r.table().contains("[FAILED] runs=2"));
    }

    #[test]
    fn document_has_machine_and_scenarios() {
        let machine = Machine::current();
        assert!(machine.nproc >= 1);
        let doc = document(
            &machine,
            "nats://x",
            "",
            &[ScenarioReport::new("fanout", json!({}))],
        );
        assert_eq!(doc["scenarios"][0]["name"], "fanout");
        assert_eq!(doc["ok"], false);
        assert!(
            doc["machine"]["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
    }
}
