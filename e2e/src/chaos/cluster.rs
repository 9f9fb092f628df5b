//! The cluster under chaos: a private Postgres server and three-node NATS
//! cluster, a [`TestEnv`] on them (database, prefix, in-process agents
//! recording every call's idempotency key), two coordinators and three
//! workers that the fault injector kills, stops and restarts by name.

use super::nats_cluster::NatsCluster;
use super::postgres::PgServer;
use crate::{Process, TestEnv};
use anyhow::Context;
use junction_example_agents::Registry;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// What every Junction process of the chaos cluster gets on top of the
/// usual test environment: streams replicated on all three NATS nodes and a
/// short worker lease, so a stopped worker's task is taken over quickly.
pub const LEASE_SECONDS: u64 = 2;

/// Coordinator or worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Coordinator,
    Worker,
}

/// One Junction process the injector may kill or stop, with what it takes
/// to start it again.
pub struct Member {
    pub name: String,
    pub role: Role,
    env: Vec<(String, String)>,
    process: Option<Process>,
    /// Held by a fault (killed, stopped) until that fault ends.
    pub busy: bool,
}

/// Every Junction process, behind one lock (held only for instants).
#[derive(Clone)]
pub struct Members {
    inner: Arc<Mutex<Vec<Member>>>,
    dir: PathBuf,
}

impl Members {
    fn lock(&self) -> MutexGuard<'_, Vec<Member>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn spawn(&self, member: &Member) -> anyhow::Result<Process> {
        let binary = match member.role {
            Role::Coordinator => "junction-coordinator",
            Role::Worker => "junction-worker",
        };
        Process::spawn(binary, &member.name, &member.env, &self.dir)
    }

    fn add(&self, name: &str, role: Role, env: Vec<(String, String)>) -> anyhow::Result<()> {
        let mut member = Member {
            name: name.to_owned(),
            role,
            env,
            process: None,
            busy: false,
        };
        member.process = Some(self.spawn(&member)?);
        self.lock().push(member);
        Ok(())
    }

    /// Takes a member of `role` no other fault holds (marking it busy);
    /// `None` if all are held. `choice` picks among the free ones.
    pub fn take(&self, role: Role, choice: u64) -> Option<String> {
        let mut members = self.lock();
        let free: Vec<usize> = (0..members.len())
            .filter(|&i| members[i].role == role && !members[i].busy)
            .collect();
        let index = *free.get((choice % free.len().max(1) as u64) as usize)?;
        members[index].busy = true;
        Some(members[index].name.clone())
    }

    /// Releases a member taken with [`Self::take`].
    pub fn release(&self, name: &str) {
        if let Some(member) = self.lock().iter_mut().find(|m| m.name == name) {
            member.busy = false;
        }
    }

    /// SIGKILLs `name` and reaps it.
    pub fn kill(&self, name: &str) {
        let mut members = self.lock();
        if let Some(member) = members.iter_mut().find(|m| m.name == name)
            && let Some(mut process) = member.process.take()
        {
            process.kill_now();
        }
    }

    /// Starts `name` again (same environment, same log file).
    pub fn restart(&self, name: &str) -> anyhow::Result<()> {
        let mut members = self.lock();
        let member = members
            .iter_mut()
            .find(|m| m.name == name)
            .with_context(|| format!("no member {name}"))?;
        if member.process.is_none() {
            member.process = Some(self.spawn(member)?);
        }
        Ok(())
    }

    /// Sends `signal` (`STOP`, `CONT`) to `name`; whether it was delivered.
    pub fn signal(&self, name: &str, signal: &str) -> bool {
        self.lock()
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| m.process.as_ref())
            .is_some_and(|p| p.signal(signal))
    }

    /// Restarts every member that exited on its own (no fault holds it);
    /// returns their names and exit codes: a process is not meant to exit
    /// when NATS or Postgres goes away.
    pub fn revive_exited(&self) -> anyhow::Result<Vec<String>> {
        let mut revived = Vec::new();
        let mut members = self.lock();
        for member in members.iter_mut().filter(|m| !m.busy) {
            let Some(process) = member.process.as_mut() else {
                continue;
            };
            if process.is_running() {
                continue;
            }
            let code = process.exit_code();
            revived.push(format!("{} (exit {code:?})", member.name));
            member.process = Some(self.spawn(member)?);
        }
        Ok(revived)
    }

    /// The last `lines` lines of every member's log.
    pub fn logs(&self, lines: usize) -> String {
        self.lock()
            .iter()
            .filter_map(|m| m.process.as_ref().map(|p| p.tail(lines)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// How many lines of every member's whole log (across restarts: logs
    /// are appended to) contain `needle`.
    pub fn count_lines(&self, needle: &str) -> usize {
        self.lock()
            .iter()
            .filter_map(|m| m.process.as_ref().map(|p| p.output()))
            .map(|text| text.lines().filter(|l| l.contains(needle)).count())
            .sum()
    }

    /// Kills every member (at the end of the test).
    pub fn kill_all(&self) {
        for member in self.lock().iter_mut() {
            if let Some(mut process) = member.process.take() {
                let _ = process.signal("CONT");
                process.kill_now();
            }
        }
    }
}

/// The whole cluster. Fields drop in order: processes, then the test
/// environment (which drops its database), then NATS, then Postgres.
pub struct ChaosCluster {
    pub members: Members,
    pub env: Arc<TestEnv>,
    pub nats: Arc<tokio::sync::Mutex<NatsCluster>>,
    pub pg: Arc<PgServer>,
}

impl Drop for ChaosCluster {
    fn drop(&mut self) {
        self.members.kill_all();
    }
}

impl ChaosCluster {
    /// Starts everything and waits until two coordinators and three workers
    /// are members. `Ok(None)` when the machine has no Postgres binaries.
    pub async fn start(pg_bin: PathBuf) -> anyhow::Result<Self> {
        let pg = PgServer::start_new(pg_bin)
            .await
            .context("private Postgres")?;
        let nats = NatsCluster::start_new()
            .await
            .context("private NATS cluster")?;
        let addresses = nats
            .urls()
            .split(',')
            .map(|u| u.parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()?;
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(addresses)
            .await
            .context("connect to the NATS cluster")?;
        let mut env = TestEnv::with_services(pg.admin_url(), nats.urls(), client).await?;
        env.serve_agents(Registry::builtin()).await?;
        let lease = LEASE_SECONDS.to_string();
        let common = [
            ("JUNCTION_NATS__STREAM_REPLICAS", "3"),
            ("JUNCTION_WORKER__LEASE_SECONDS", lease.as_str()),
        ];
        let members = Members {
            inner: Arc::new(Mutex::new(Vec::new())),
            dir: env.dir.path().to_owned(),
        };
        for name in ["coordinator-1", "coordinator-2"] {
            members.add(name, Role::Coordinator, env.coordinator_env(name, &common))?;
        }
        for name in ["worker-1", "worker-2", "worker-3"] {
            members.add(name, Role::Worker, env.worker_env(name, &common))?;
        }
        let cluster = Self {
            members,
            env: Arc::new(env),
            nats: Arc::new(tokio::sync::Mutex::new(nats)),
            pg: Arc::new(pg),
        };
        cluster
            .env
            .wait_for_members(2, 3)
            .await
            .with_context(|| cluster.members.logs(30))?;
        Ok(cluster)
    }

    /// The harness's own database URL: its connections are named, so the
    /// `pg_terminate_backend` fault spares them.
    pub fn harness_db_url(&self) -> String {
        format!("{}?application_name=chaos-harness", self.env.database_url)
    }
}

/// A connection to `url`, retried for up to `timeout` (Postgres may be
/// restarting).
pub async fn connect_db(url: &str, timeout: Duration) -> anyhow::Result<tokio_postgres::Client> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                return Ok(client);
            }
            Err(error) if tokio::time::Instant::now() > deadline => {
                return Err(error).with_context(|| format!("connect to {url}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
