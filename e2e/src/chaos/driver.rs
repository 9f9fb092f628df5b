//! What the test does to the cluster besides faults: it starts the runs
//! (by signal, each signal published one to three times with the same
//! CloudEvent id, some copies late; or by `run.start` with an idempotency
//! key, sometimes sent twice), decides every approval (approve or reject,
//! drawn from the seed), and feeds every signal wait (a CloudEvent
//! addressed to the run, sometimes twice). Every request is retried until
//! the cluster takes it: faults make requests fail, never the test.

use super::cluster::connect_db;
use super::rng::Rng;
use super::workload::Kind;
use crate::TestEnv;
use anyhow::Context;
use junction_bus::{ControlSubject, Decision};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How a run was started.
#[derive(Debug, Clone)]
pub enum How {
    /// A CloudEvent with this id, published `copies` times.
    Signal { id: String, copies: u32 },
    /// `run.start` with this idempotency key, sent `requests` times.
    Start { key: String, requests: u32 },
}

/// One run the test started.
#[derive(Debug, Clone)]
pub struct Start {
    pub kind: Kind,
    pub how: How,
    /// When the first publish or request was sent.
    pub sent_at: SystemTime,
    /// Whether the cluster took it (the publish was acknowledged, or
    /// `run.start` answered `ok`).
    pub taken: bool,
}

impl Start {
    /// The run's `dedupe_key`.
    pub fn dedupe_key(&self) -> String {
        match &self.how {
            How::Signal { id, .. } => format!("signal:{id}"),
            How::Start { key, .. } => format!("key:{key}"),
        }
    }
}

/// What the driver did, shared by its tasks.
#[derive(Clone, Default)]
pub struct Ledger {
    pub starts: Arc<Mutex<Vec<Start>>>,
    /// Run id → whether the test approved (true) or rejected it.
    pub decisions: Arc<Mutex<HashMap<String, bool>>>,
    /// Runs of the wait workflow the test has fed.
    pub fed: Arc<Mutex<HashSet<String>>>,
    /// Signal copies published (start signals and feeds), duplicates included.
    pub published: Arc<Mutex<u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Ledger {
    pub fn starts(&self) -> Vec<Start> {
        lock(&self.starts).clone()
    }

    pub fn decisions(&self) -> HashMap<String, bool> {
        lock(&self.decisions).clone()
    }

    pub fn published(&self) -> u64 {
        *lock(&self.published)
    }
}

/// How long one request is retried before the test gives up.
const PERSIST: Duration = Duration::from_secs(300);

/// Publishes `event` on `signals.<type>` until JetStream acknowledges it.
async fn publish(
    env: &TestEnv,
    ledger: &Ledger,
    signal_type: &str,
    event: &Value,
) -> anyhow::Result<()> {
    let body = serde_json::to_vec(event)?;
    let deadline = Instant::now() + PERSIST;
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_secs(10),
            env.publish_raw_signal(signal_type, body.clone()),
        )
        .await;
        match attempt {
            Ok(Ok(())) => {
                *lock(&ledger.published) += 1;
                return Ok(());
            }
            _ if Instant::now() > deadline => {
                anyhow::bail!("publish {event} failed for {PERSIST:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Sends a control request until it is answered `ok` or refused with one of
/// `accept` (e.g. a decision already taken); returns the reply.
async fn control(
    env: &TestEnv,
    what: ControlSubject,
    body: Value,
    accept: &[&str],
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + PERSIST;
    loop {
        if let Ok(reply) = env.try_control(what.clone(), body.clone()).await {
            let code = reply["error"]["code"].as_str().unwrap_or_default();
            if reply["ok"] == json!(true) || accept.contains(&code) {
                return Ok(reply);
            }
            // A coordinator that lost its database connection answers an
            // error: retry that too.
        }
        if Instant::now() > deadline {
            anyhow::bail!("{what} {body} not answered ok for {PERSIST:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Starts `runs` runs spread over `spread`, drawing workflows and ways to
/// start them from `rng`; returns when every start was taken.
pub async fn start_runs(
    env: Arc<TestEnv>,
    ledger: Ledger,
    mut rng: Rng,
    runs: usize,
    spread: Duration,
    seed: u64,
) -> anyhow::Result<()> {
    let total: u64 = Kind::STARTED.iter().map(|(_, w)| w).sum();
    let begin = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..runs {
        tokio::time::sleep_until(begin + spread.mul_f64(i as f64 / runs.max(1) as f64)).await;
        let mut draw = rng.below(total);
        let kind = Kind::STARTED
            .iter()
            .find(|(_, w)| {
                let hit = draw < *w;
                draw = draw.saturating_sub(*w);
                hit
            })
            .map_or(Kind::Chain, |(k, _)| *k);
        let by_signal = rng.chance(50);
        let how = if by_signal {
            How::Signal {
                id: format!("chaos-{seed}-{i}"),
                copies: 1 + rng.below(3) as u32,
            }
        } else {
            How::Start {
                key: format!("chaos-{seed}-{i}"),
                requests: if rng.chance(25) { 2 } else { 1 },
            }
        };
        let index = {
            let mut starts = lock(&ledger.starts);
            starts.push(Start {
                kind,
                how: how.clone(),
                sent_at: SystemTime::now(),
                taken: false,
            });
            starts.len() - 1
        };
        let late = rng.millis(200, 3000);
        let (env, ledger) = (env.clone(), ledger.clone());
        tasks.spawn(async move {
            match how {
                How::Signal { id, copies } => {
                    let event = json!({
                        "specversion": "1.0", "id": id, "source": "chaos", "type": kind.signal_type(),
                        "data": { "n": i }
                    });
                    publish(&env, &ledger, &kind.signal_type(), &event).await?;
                    lock(&ledger.starts)[index].taken = true;
                    for copy in 1..copies {
                        // Some copies right away, some late (a redelivery).
                        if copy == 2 {
                            tokio::time::sleep(late).await;
                        }
                        publish(&env, &ledger, &kind.signal_type(), &event).await?;
                    }
                }
                How::Start { key, requests } => {
                    let body = json!({ "workflow_id": kind.workflow_id(), "input": { "n": i }, "idempotency_key": key });
                    for _ in 0..requests {
                        control(&env, ControlSubject::RunStart, body.clone(), &[]).await?;
                    }
                    lock(&ledger.starts)[index].taken = true;
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Decides every pending approval and feeds every waiting run until
/// `stop` is set. A decision, once drawn, is never changed: a request that
/// timed out is sent again with the same decision.
pub async fn operate(
    env: Arc<TestEnv>,
    db_url: String,
    ledger: Ledger,
    mut rng: Rng,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    let mut db: Option<tokio_postgres::Client> = None;
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
        if db.as_ref().is_none_or(|c| c.is_closed()) {
            db = connect_db(&db_url, Duration::from_secs(5)).await.ok();
        }
        let Some(client) = db.as_ref() else { continue };
        let pending = client
            .query(
                "SELECT id, run_id FROM approvals WHERE status = 'PENDING'",
                &[],
            )
            .await;
        let waiting = client
            .query(
                "SELECT id FROM runs WHERE workflow_id = $1",
                &[&Kind::Wait.workflow_id()],
            )
            .await;
        let (Ok(pending), Ok(waiting)) = (pending, waiting) else {
            db = None;
            continue;
        };
        for row in pending {
            let (id, run_id): (String, String) = (row.get(0), row.get(1));
            if sent
                .get(&id)
                .is_some_and(|at| at.elapsed() < Duration::from_secs(10))
            {
                continue;
            }
            sent.insert(id.clone(), Instant::now());
            let approve = *lock(&ledger.decisions)
                .entry(run_id)
                .or_insert_with(|| rng.chance(70));
            let decision = if approve {
                Decision::Approve
            } else {
                Decision::Reject
            };
            let env = env.clone();
            tasks.spawn(async move {
                control(
                    &env,
                    ControlSubject::approval(&id, decision),
                    json!({ "actor": "chaos", "comment": "chaos" }),
                    &["ALREADY_DECIDED"],
                )
                .await
                .map(drop)
            });
        }
        for row in waiting {
            let run_id: String = row.get(0);
            if !lock(&ledger.fed).insert(run_id.clone()) {
                continue;
            }
            let copies = 1 + rng.below(2);
            let (env, ledger) = (env.clone(), ledger.clone());
            tasks.spawn(async move {
                let event = json!({
                    "specversion": "1.0", "id": format!("feed-{run_id}"), "source": "chaos",
                    "type": "chaos.feed", "subject": format!("run:{run_id}"), "data": { "fed": true }
                });
                for _ in 0..copies {
                    publish(&env, &ledger, "chaos.feed", &event).await?;
                }
                anyhow::Ok(())
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// The number of runs not yet terminal, and of starts without a run.
pub async fn outstanding(
    db: &tokio_postgres::Client,
    ledger: &Ledger,
) -> anyhow::Result<(i64, usize)> {
    let open: i64 = db
        .query_one(
            "SELECT count(*) FROM runs WHERE status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')",
            &[],
        )
        .await?
        .get(0);
    let keys: HashSet<String> = db
        .query(
            "SELECT dedupe_key FROM runs WHERE dedupe_key IS NOT NULL",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let missing = ledger
        .starts()
        .iter()
        .filter(|s| !keys.contains(&s.dedupe_key()))
        .count();
    Ok((open, missing))
}

/// Rows left in the outbox.
pub async fn outbox_rows(db: &tokio_postgres::Client) -> anyhow::Result<i64> {
    Ok(db
        .query_one("SELECT count(*) FROM outbox", &[])
        .await
        .context("count outbox")?
        .get(0))
}
