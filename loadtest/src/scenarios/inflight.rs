//! `inflight`: many runs in flight at once (the coordinator's memory target).
//!
//! Puts a workflow whose first step calls the `sleep` agent for `--hold-ms`
//! and whose second step calls `echo`, starts `--runs` runs with `run.start`
//! (at most `--start-concurrency` requests outstanding), and waits for every
//! run's end. A run is in flight from its `run.start` reply until its terminal
//! event reaches the tracker; the peak of started minus ended is reported.
//! The peak equals `--runs` only when the hold outlasts starting them all,
//! and only if the workers can hold that many steps at once (or leave the
//! rest queued) and drain them in time: see `deploy/dev/bench.sh`.

use anyhow::Result;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use junction_bus::ControlSubject;
use serde_json::json;
use tokio::time::{Instant, timeout_at};

use super::{Common, prepare, prepare_source, progress, timed_out, warmup_runs};
use crate::cluster::{Cluster, Outcome};
use crate::report::ScenarioReport;
use crate::stats::ms;
use crate::workflow::{ChainWorkflow, HoldWorkflow};

pub const DEFAULT_RUNS: u32 = 10_000;
pub const DEFAULT_HOLD_MS: u64 = 60_000;
pub const DEFAULT_START_CONCURRENCY: u32 = 64;
/// The `sleep` agent never sleeps longer than this.
const MAX_HOLD_MS: u64 = 600_000;

/// Options of `inflight`.
#[derive(Debug, Clone, clap::Args)]
pub struct InflightArgs {
    /// Measured runs in total.
    #[arg(long, default_value_t = DEFAULT_RUNS, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// How long each run's first step sleeps, in milliseconds. Every run stays
    /// in flight at the peak only if this outlasts starting all of them.
    #[arg(long, default_value_t = DEFAULT_HOLD_MS,
          value_parser = clap::value_parser!(u64).range(0..=MAX_HOLD_MS))]
    pub hold_ms: u64,
    /// `run.start` requests outstanding at once.
    #[arg(long, default_value_t = DEFAULT_START_CONCURRENCY,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub start_concurrency: u32,
}

impl Default for InflightArgs {
    fn default() -> Self {
        Self {
            runs: DEFAULT_RUNS,
            hold_ms: DEFAULT_HOLD_MS,
            start_concurrency: DEFAULT_START_CONCURRENCY,
        }
    }
}

/// How one `run.start` went.
enum Start {
    /// Started: when the request was sent, the run id, and when the reply came.
    Started {
        sent: Instant,
        run_id: String,
        replied: Instant,
    },
    Failed(String),
    /// Not sent: the deadline had passed.
    Skipped,
}

/// How one started run ended.
enum End {
    Done { sent: Instant, at: Instant },
    Failed(String),
    Incomplete,
}

/// Runs the scenario; problems end up in the report, never as a panic.
pub async fn run(cluster: &Cluster, args: &InflightArgs, common: &Common) -> ScenarioReport {
    ScenarioReport::new(
        "inflight",
        json!({
            "runs": args.runs,
            "hold_ms": args.hold_ms,
            "start_concurrency": args.start_concurrency,
            "warmup": common.warmup,
        }),
    )
    .run(args.runs, async |report| {
        run_inner(cluster, args, common, report).await
    })
    .await
}

async fn start(cluster: &Cluster, workflow_id: &str, deadline: Instant) -> Start {
    let sent = Instant::now();
    if sent >= deadline {
        return Start::Skipped;
    }
    match timeout_at(deadline, cluster.start_run(workflow_id, json!({}))).await {
        Err(_) => Start::Skipped,
        Ok(Err(error)) => Start::Failed(format!("{}: {error:#}", ControlSubject::RunStart)),
        Ok(Ok(run_id)) => Start::Started {
            sent,
            run_id,
            replied: Instant::now(),
        },
    }
}

async fn end(cluster: &Cluster, run_id: String, sent: Instant, deadline: Instant) -> End {
    match timeout_at(deadline, cluster.tracker().run_end(&run_id)).await {
        Err(_) => End::Incomplete,
        Ok(Err(error)) => End::Failed(format!("{error:#}")),
        Ok(Ok(trace)) => match trace.end.map(|e| (e.at, e.outcome)) {
            Some((at, Outcome::Completed)) => End::Done { sent, at },
            Some((_, Outcome::Failed { event_type, error })) => {
                End::Failed(format!("{event_type}: {error}"))
            }
            None => End::Failed("run has no terminal event".to_owned()),
        },
    }
}

/// Seconds from `from` to `to`.
fn secs(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64()
}

async fn run_inner(
    cluster: &Cluster,
    args: &InflightArgs,
    common: &Common,
    report: &mut ScenarioReport,
) -> Result<()> {
    let deadline = Instant::now() + common.timeout;
    // Warm up on a two-step echo chain: a warmup run of the holding workflow
    // would take the whole hold.
    if common.warmup > 0 {
        let warm = ChainWorkflow::new("lt-inflight-warmup", "loadtest.inflightwarmup", 2);
        prepare(cluster, &warm, report).await?;
        warmup_runs(cluster, &warm.id, common.warmup, deadline).await?;
    }
    let wf = HoldWorkflow::new(args.hold_ms);
    prepare_source(cluster, &wf.id, &wf.yaml(), report).await?;

    let runs = args.runs as usize;
    let mut tally = Tally::new(runs);
    let mut starts = futures::stream::iter(0..runs)
        .map(|_| start(cluster, &wf.id, deadline))
        .buffer_unordered(args.start_concurrency as usize);
    let mut ends = FuturesUnordered::new();
    let mut starting = true;
    loop {
        tokio::select! {
            next = starts.next(), if starting => match next {
                None => starting = false,
                Some(Start::Started { sent, run_id, replied }) => {
                    // A run that already ended (only with a tiny hold) is not in flight.
                    let gone = cluster
                        .tracker()
                        .snapshot(&run_id)
                        .is_some_and(|t| t.end.is_some());
                    tally.started(sent, replied, gone);
                    ends.push(end(cluster, run_id, sent, deadline));
                }
                Some(Start::Failed(error)) => tally.refused(report, error),
                Some(Start::Skipped) => tally.skipped(),
            },
            next = ends.next(), if !ends.is_empty() => {
                if let Some(result) = next {
                    tally.ended(report, result);
                }
            }
            else => break,
        }
    }
    tally.report(report, common);
    Ok(())
}

/// What the measured runs add up to, as they start and end.
struct Tally {
    runs: usize,
    measured_start: Instant,
    start_latencies: Vec<f64>,
    run_latencies: Vec<f64>,
    /// `started - finished` is the number of runs in flight; `done` counts
    /// every measured run accounted for (ended, refused at start, or never sent).
    started: usize,
    finished: usize,
    done: usize,
    peak: usize,
    incomplete: usize,
    last_reply: Option<Instant>,
    first_end: Option<Instant>,
    last_end: Option<Instant>,
}

impl Tally {
    fn new(runs: usize) -> Self {
        Self {
            runs,
            measured_start: Instant::now(),
            start_latencies: Vec::with_capacity(runs),
            run_latencies: Vec::with_capacity(runs),
            started: 0,
            finished: 0,
            done: 0,
            peak: 0,
            incomplete: 0,
            last_reply: None,
            first_end: None,
            last_end: None,
        }
    }

    /// A run started (`gone`: it already ended, so it is not in flight).
    fn started(&mut self, sent: Instant, replied: Instant, gone: bool) {
        self.started += 1;
        self.start_latencies
            .push(ms(replied.saturating_duration_since(sent)));
        self.last_reply = Some(replied);
        self.peak = self
            .peak
            .max(self.started - self.finished - usize::from(gone));
        let step = (self.runs / 10).max(1);
        if self.started.is_multiple_of(step) || self.started == self.runs {
            eprintln!(
                "[inflight] {}/{} runs started, {} in flight",
                self.started,
                self.runs,
                self.started - self.finished
            );
        }
    }

    /// `run.start` refused a run.
    fn refused(&mut self, report: &mut ScenarioReport, error: String) {
        self.done += 1;
        report.fail_run(error);
    }

    /// A run never sent: the deadline came first.
    fn skipped(&mut self) {
        self.done += 1;
        self.incomplete += 1;
    }

    fn ended(&mut self, report: &mut ScenarioReport, result: End) {
        self.finished += 1;
        self.done += 1;
        match result {
            End::Done { sent, at } => {
                report.counts.completed += 1;
                self.run_latencies
                    .push(ms(at.saturating_duration_since(sent)));
                self.first_end = Some(self.first_end.map_or(at, |t| t.min(at)));
                self.last_end = Some(self.last_end.map_or(at, |t| t.max(at)));
            }
            End::Failed(error) => {
                self.first_end.get_or_insert_with(Instant::now);
                report.fail_run(error);
            }
            End::Incomplete => self.incomplete += 1,
        }
        progress("inflight", self.done, self.runs);
    }

    /// The scenario's figures and notes.
    fn report(&self, report: &mut ScenarioReport, common: &Common) {
        let (runs, started, peak) = (self.runs, self.started, self.peak);
        let since_start = |t: Instant| secs(self.measured_start, t);
        let wall_end = match self.last_end {
            Some(end) if self.incomplete == 0 && report.counts.failed == 0 => end,
            _ => Instant::now(),
        };
        report.wall_seconds = since_start(wall_end);
        if self.incomplete > 0 {
            timed_out(report, common, self.incomplete);
        }
        let start_seconds = self.last_reply.map_or(0.0, since_start);
        report.latency("start_latency", &self.start_latencies);
        report.latency("run_latency", &self.run_latencies);
        report.figure("runs_in_flight_peak", peak as f64);
        report.figure("start_seconds", start_seconds);
        if start_seconds > 0.0 {
            report.figure("starts_per_sec", started as f64 / start_seconds);
        }
        if let Some(first) = self.first_end {
            report.figure("first_end_seconds", since_start(first));
        }
        report.figure("total_seconds", report.wall_seconds);
        if peak < runs {
            let why = if started < runs {
                format!("only {started} started")
            } else {
                format!(
                    "runs began to end {:.1} s in, before all had started ({start_seconds:.1} s); \
                     raise --hold-ms",
                    self.first_end.map_or(0.0, since_start),
                )
            };
            report.notes.push(format!(
                "only {peak} of {runs} runs were in flight at once: {why}"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fit_the_sleep_agent() {
        let d = InflightArgs::default();
        assert!(d.hold_ms <= MAX_HOLD_MS);
        assert_eq!(d.runs, 10_000);
        assert!(d.start_concurrency > 0);
    }
}
