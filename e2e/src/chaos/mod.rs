//! The chaos suite (`e2e/tests/chaos.rs`, `deploy/dev/chaos.sh`): a cluster
//! of two coordinators and three workers on a private three-node NATS
//! cluster (streams at R3) and a private Postgres server runs a seeded mix
//! of workflows while seeded faults hit every part of it; once the faults
//! stop and the cluster drains, invariants are checked from Postgres and
//! the agents' call log, and figures are printed.
//!
//! - `rng.rs`: the seeded PRNG every choice is drawn from;
//! - `postgres.rs`, `nats_cluster.rs`: the private servers;
//! - `cluster.rs`: the Junction processes, killable and restartable by name;
//! - `workload.rs`: the workflows and the status each must end in;
//! - `driver.rs`: starting runs, duplicate signals, approvals, signal feeds;
//! - `faults.rs`: the fault injector;
//! - `invariants.rs`: the checks; `figures.rs`: the figures.
//!
//! Settings come from the environment (`JUNCTION_CHAOS_*`, see
//! [`Settings::from_env`]); the defaults are the CI form.

mod cluster;
mod driver;
mod faults;
mod figures;
mod invariants;
mod nats_cluster;
mod postgres;
mod rng;
mod workload;

pub use rng::Rng;

use anyhow::Context;
use cluster::{ChaosCluster, connect_db};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use workload::Kind;

/// One chaos run's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `JUNCTION_CHAOS_SEED`; by default drawn from the clock (and printed).
    pub seed: u64,
    /// `JUNCTION_CHAOS_DURATION`: seconds of the fault window (150).
    pub window: Duration,
    /// `JUNCTION_CHAOS_RUNS`: runs the test starts over the window (220;
    /// children come on top).
    pub runs: usize,
    /// `JUNCTION_CHAOS_FAULTS`: faults of each kind (at least 22, one per
    /// 6 s of window).
    pub faults_per_kind: u32,
    /// `JUNCTION_CHAOS_DRAIN`: seconds the cluster gets to finish every
    /// run and empty its outbox once the faults stop (240).
    pub drain: Duration,
    /// `JUNCTION_CHAOS_REPORT`: a file to write the figures to, as JSON.
    pub report: Option<PathBuf>,
    /// `JUNCTION_CHAOS_KEEP`: a directory to copy every log (processes,
    /// NATS nodes, Postgres) and a dump of the database into at the end.
    pub keep: Option<PathBuf>,
}

fn var<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name}={text:?} is not a valid number")),
        Err(_) => Ok(None),
    }
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let seed = var("JUNCTION_CHAOS_SEED")?.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64 % 1_000_000)
        });
        let window = Duration::from_secs(var("JUNCTION_CHAOS_DURATION")?.unwrap_or(150));
        let faults =
            var("JUNCTION_CHAOS_FAULTS")?.unwrap_or_else(|| (window.as_secs() / 6).max(22) as u32);
        Ok(Self {
            seed,
            window,
            runs: var("JUNCTION_CHAOS_RUNS")?.unwrap_or(220),
            faults_per_kind: faults,
            drain: Duration::from_secs(var("JUNCTION_CHAOS_DRAIN")?.unwrap_or(240)),
            report: std::env::var_os("JUNCTION_CHAOS_REPORT").map(PathBuf::from),
            keep: std::env::var_os("JUNCTION_CHAOS_KEEP").map(PathBuf::from),
        })
    }
}

/// Runs the suite. `Ok(None)` (with a message) when the machine lacks the
/// Postgres binaries or `nats-server`; an error lists every violated
/// invariant, with the figures and the processes' logs.
pub async fn run(settings: Settings) -> anyhow::Result<Option<serde_json::Value>> {
    let Some(pg_bin) = postgres::find_bin() else {
        eprintln!(
            "SKIPPED: the chaos suite needs Postgres' initdb and pg_ctl (Debian: postgresql)"
        );
        return Ok(None);
    };
    let nats_bin = std::env::var("JUNCTION_TEST_NATS_SERVER")
        .unwrap_or_else(|_| "/usr/sbin/nats-server".into());
    if !std::path::Path::new(&nats_bin).is_file() {
        eprintln!("SKIPPED: the chaos suite needs nats-server at {nats_bin}");
        return Ok(None);
    }
    eprintln!(
        "chaos: {settings:?} (rerun with JUNCTION_CHAOS_SEED={})",
        settings.seed
    );
    let began = Instant::now();
    let cluster = ChaosCluster::start(pg_bin).await?;
    let env = cluster.env.clone();
    for kind in std::iter::once(Kind::Child).chain(Kind::STARTED.iter().map(|(k, _)| *k)) {
        env.put_workflow(&kind.source())
            .await
            .with_context(|| format!("store {}", kind.workflow_id()))?;
    }
    let db_url = cluster.harness_db_url();
    let rng = Rng::new(settings.seed);
    let ledger = driver::Ledger::default();
    let fault_log = faults::FaultLog::default();
    let stop = Arc::new(AtomicBool::new(false));

    let start = Instant::now();
    let operator = tokio::spawn(driver::operate(
        env.clone(),
        db_url.clone(),
        ledger.clone(),
        rng.fork("operator"),
        stop.clone(),
    ));
    let starter = tokio::spawn(driver::start_runs(
        env.clone(),
        ledger.clone(),
        rng.fork("workload"),
        settings.runs,
        settings.window.mul_f64(0.85),
        settings.seed,
    ));
    let members = cluster.members.clone();
    let watchdog_stop = stop.clone();
    let watchdog = tokio::spawn(async move {
        let mut exits = Vec::new();
        while !watchdog_stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            exits.extend(members.revive_exited()?);
        }
        anyhow::Ok(exits)
    });
    faults::inject(
        &cluster,
        &rng,
        start,
        settings.window,
        settings.faults_per_kind,
        fault_log.clone(),
    )
    .await
    .with_context(|| cluster.members.logs(30))?;
    starter.await??;
    let window_end = Instant::now();

    // Drain: every start has its run, every run ends, the outbox empties.
    let deadline = window_end + settings.drain;
    let mut drained = false;
    let mut last = (0, 0, 0);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(db) = connect_db(&db_url, Duration::from_secs(5)).await else {
            continue;
        };
        let (Ok((open, missing)), Ok(outbox)) = (
            driver::outstanding(&db, &ledger).await,
            driver::outbox_rows(&db).await,
        ) else {
            continue;
        };
        last = (open, missing, outbox);
        if open == 0 && missing == 0 && outbox == 0 {
            drained = true;
            break;
        }
    }
    let drain = window_end.elapsed();
    stop.store(true, Ordering::SeqCst);
    operator.await??;
    let exits = watchdog.await??;

    let db = connect_db(&db_url, Duration::from_secs(30)).await?;
    let runs = invariants::load(&db).await?;
    let mut findings = invariants::check(&runs, &ledger, &env.calls.records());
    if !drained {
        findings.violate(
            "drain",
            format!(
                "not drained within {:?}: {} runs not ended, {} starts without a run, {} outbox rows",
                settings.drain, last.0, last.1, last.2
            ),
        );
    }
    for exit in &exits {
        findings.violate("exit", format!("{exit} exited by itself (restarted)"));
    }
    let lost = figures::LostTasks {
        redispatched: cluster.members.count_lines(figures::REDISPATCHED_LINE),
        rebuilt: cluster.members.count_lines(figures::REBUILT_LINE),
    };
    let (value, text) = figures::summarize(
        settings.seed,
        settings.window,
        began.elapsed(),
        &runs,
        &ledger,
        &fault_log.all(),
        &findings,
        drain,
        lost,
    );
    eprintln!("{text}");
    if let Some(path) = &settings.report {
        std::fs::write(path, serde_json::to_vec_pretty(&value)?)?;
    }
    if let Some(dir) = &settings.keep {
        keep(&cluster, dir).await?;
        eprintln!("logs and a database dump in {}", dir.display());
    }
    if findings.count() > 0 {
        anyhow::bail!(
            "chaos seed {}: {} invariant violations:\n{}\n{text}\n{}",
            settings.seed,
            findings.count(),
            findings.report().join("\n"),
            cluster.members.logs(25)
        );
    }
    Ok(Some(value))
}

/// Copies every log and a dump of the database into `dir`.
async fn keep(cluster: &ChaosCluster, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(cluster.env.dir.path())? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "log")
            && let Some(name) = path.file_name()
        {
            std::fs::copy(&path, dir.join(name))?;
        }
    }
    cluster.nats.lock().await.copy_logs(dir)?;
    // The JetStream side of a stuck run: what each durable consumer still
    // holds (a task neither pending nor awaiting an ack is gone).
    let env = &cluster.env;
    let subjects = &env.subjects;
    let mut state = String::new();
    for (stream, consumer) in [
        (subjects.tasks_stream(), subjects.workers_consumer()),
        (subjects.signals_stream(), subjects.signal_intake_consumer()),
        (subjects.events_stream(), subjects.event_intake_consumer()),
    ] {
        let found = env.consumer_state(&stream, &consumer).await;
        state += &format!("{stream} / {consumer}:\n{found:#?}\n\n");
    }
    std::fs::write(dir.join("jetstream.txt"), state)?;
    cluster.pg.keep(&cluster.env.database, dir).await
}
