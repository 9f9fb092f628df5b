//! The fault injector: for each kind of fault, a task that injects its
//! share of faults at seeded random times over the fault window, one at a
//! time, and records each (what, whom, when, for how long).
//!
//! Kinds: SIGKILL and restart of a coordinator, or of a worker; SIGSTOP of a
//! worker for longer than its lease, then SIGCONT; SIGKILL of one NATS node
//! and its restart (one node at a time: the other two keep quorum); an
//! immediate Postgres restart (crash recovery from the WAL); and
//! `pg_terminate_backend` of every Junction connection to the database.

use super::cluster::{ChaosCluster, LEASE_SECONDS, Role, connect_db};
use super::rng::Rng;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    CoordinatorKill,
    WorkerKill,
    WorkerStop,
    NatsKill,
    PostgresRestart,
    DbTerminate,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        FaultKind::CoordinatorKill,
        FaultKind::WorkerKill,
        FaultKind::WorkerStop,
        FaultKind::NatsKill,
        FaultKind::PostgresRestart,
        FaultKind::DbTerminate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::CoordinatorKill => "coordinator SIGKILL+restart",
            FaultKind::WorkerKill => "worker SIGKILL+restart",
            FaultKind::WorkerStop => "worker SIGSTOP>lease+SIGCONT",
            FaultKind::NatsKill => "NATS node SIGKILL+restart",
            FaultKind::PostgresRestart => "Postgres immediate restart",
            FaultKind::DbTerminate => "pg_terminate_backend",
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct Fault {
    pub kind: FaultKind,
    pub target: String,
    /// Since the start of the fault window.
    pub at: Duration,
    /// How long the target was down, stopped or restarting.
    pub lasted: Duration,
}

/// Every fault so far, shared by the injector tasks.
#[derive(Clone, Default)]
pub struct FaultLog(Arc<Mutex<Vec<Fault>>>);

impl FaultLog {
    fn push(&self, fault: Fault) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(fault);
    }

    pub fn all(&self) -> Vec<Fault> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Injects `per_kind` faults of every kind over `window` from `start`;
/// returns when all are injected and every target is back.
pub async fn inject(
    cluster: &ChaosCluster,
    rng: &Rng,
    start: Instant,
    window: Duration,
    per_kind: u32,
    log: FaultLog,
) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for kind in FaultKind::ALL {
        let injector = Injector {
            kind,
            rng: rng.fork(kind.name()),
            cluster: Shared {
                members: cluster.members.clone(),
                nats: cluster.nats.clone(),
                pg: cluster.pg.clone(),
                database: cluster.env.database.clone(),
            },
            log: log.clone(),
            start,
        };
        tasks.spawn(injector.run(window, per_kind));
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// What an injector task needs of the cluster.
struct Shared {
    members: super::cluster::Members,
    nats: Arc<tokio::sync::Mutex<super::nats_cluster::NatsCluster>>,
    pg: Arc<super::postgres::PgServer>,
    database: String,
}

struct Injector {
    kind: FaultKind,
    rng: Rng,
    cluster: Shared,
    log: FaultLog,
    start: Instant,
}

impl Injector {
    async fn run(mut self, window: Duration, count: u32) -> anyhow::Result<()> {
        // Slot k of `count` holds fault k at a random point of its first
        // 80 %; a fault that overruns its slot delays the next, never drops it.
        let slot = window / count.max(1);
        for k in 0..count {
            let jitter = self.rng.below((slot.as_millis() as u64) * 4 / 5);
            let at = self.start + slot * k + Duration::from_millis(jitter);
            tokio::time::sleep_until(at).await;
            let began = Instant::now();
            let target = self.inject_one().await?;
            self.log.push(Fault {
                kind: self.kind,
                target,
                at: began - self.start,
                lasted: began.elapsed(),
            });
        }
        Ok(())
    }

    /// Injects one fault and waits until its target is back.
    async fn inject_one(&mut self) -> anyhow::Result<String> {
        let members = self.cluster.members.clone();
        match self.kind {
            FaultKind::CoordinatorKill | FaultKind::WorkerKill => {
                let role = if self.kind == FaultKind::CoordinatorKill {
                    Role::Coordinator
                } else {
                    Role::Worker
                };
                let name = self.take(role).await;
                members.kill(&name);
                tokio::time::sleep(self.rng.millis(200, 1500)).await;
                let restarted = members.restart(&name);
                members.release(&name);
                restarted?;
                Ok(name)
            }
            FaultKind::WorkerStop => {
                let name = self.take(Role::Worker).await;
                members.signal(&name, "STOP");
                let hold = Duration::from_secs(LEASE_SECONDS) + self.rng.millis(500, 2000);
                tokio::time::sleep(hold).await;
                members.signal(&name, "CONT");
                members.release(&name);
                Ok(name)
            }
            FaultKind::NatsKill => {
                let mut nats = self.cluster.nats.lock().await;
                let node = self.rng.below(nats.len() as u64) as usize;
                nats.kill(node);
                tokio::time::sleep(self.rng.millis(500, 2500)).await;
                nats.restart(node).await?;
                Ok(format!("nats-{}", node + 1))
            }
            FaultKind::PostgresRestart => {
                self.cluster.pg.stop_immediate().await?;
                tokio::time::sleep(self.rng.millis(100, 1000)).await;
                self.cluster.pg.start().await?;
                Ok("postgres".to_owned())
            }
            FaultKind::DbTerminate => {
                // Postgres may be restarting: retry until the query runs.
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    match self.terminate_backends().await {
                        Ok(n) => return Ok(format!("{n} connections")),
                        Err(error) if Instant::now() > deadline => return Err(error),
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            }
        }
    }

    async fn take(&mut self, role: Role) -> String {
        loop {
            if let Some(name) = self.cluster.members.take(role, self.rng.next_u64()) {
                return name;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Terminates every connection to the test database but the harness's own.
    async fn terminate_backends(&self) -> anyhow::Result<i64> {
        let admin = connect_db(&self.cluster.pg.admin_url(), Duration::from_secs(5)).await?;
        let row = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()
                   AND application_name NOT LIKE 'chaos-harness%'",
                &[&self.cluster.database],
            )
            .await?;
        Ok(row.get(0))
    }
}
