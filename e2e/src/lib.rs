//! Test harness for end-to-end tests: real `junction-coordinator` and
//! `junction-worker` processes against the real NATS and Postgres of the
//! machine. Each [`TestEnv`] owns a fresh database and a unique NATS prefix,
//! so tests run in parallel without seeing each other; dropping it kills its
//! processes and removes the database and streams.
//!
//! Workers call only agents registered in the run's tenant (`AGENT_NOT_FOUND`
//! otherwise), so every cluster registers its agents: [`TestEnv::new`] writes
//! one `<name>.agent.json` file per built-in example agent (no schemas) into
//! [`TestEnv::agents_dir`], [`TestEnv::serve_agents`] adds one for every other
//! agent it serves, and each coordinator syncs that directory into the
//! `default` tenant at startup (`JUNCTION_AGENTS__DIR`), before it answers
//! requests. [`TestEnv::put_agent`] and [`TestEnv::delete_agent`] change the
//! registry through the control plane and keep the files in step, so a
//! coordinator started later syncs the same registry.
//!
//! This file holds the cluster itself (processes, members, database,
//! cleanup); `agents.rs` the registry, `control.rs` the control plane,
//! `http.rs` plain HTTP, `cli.rs` the `junction` binary, `waits.rs` the waits for events (never for time),
//! `checks.rs` checks on what the cluster did (executions, event seqs),
//! `fixtures.rs` the workflows and agents several test files share,
//! `process.rs` one child process and its log, `nats.rs` a private NATS
//! server for tests that stop it ([`TestEnv::on_nats`]) or that run it
//! with users and permissions ([`TestEnv::on_locked_nats`]),
//! `prometheus.rs` reading and checking `/metrics` pages, and `python.rs`
//! Python programs run in the venv of `deploy/dev/python-env.sh`; `chaos/` the chaos suite's
//! harness (its own Postgres and NATS cluster, faults, invariants);
//! `webdriver.rs` a headless Chromium over WebDriver for the web UI's tests.

mod agents;
pub mod chaos;
mod checks;
mod cli;
mod control;
mod fixtures;
mod http;
mod nats;
mod otlp;
mod process;
pub mod prometheus;
mod python;
mod waits;
pub mod webdriver;

pub use checks::assert_gapless;
pub use cli::CliOutcome;
pub use fixtures::{SHIP, THREE_STEPS, chain_yaml, registry_with_block};
pub use http::{http_get_at, http_get_status_at, http_post_status_at};
pub use nats::{NatsServer, free_port};
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use process::{Process, bin_dir};
pub use python::{PythonProcess, repo_root, run_python, venv_python};

use anyhow::{Context, bail};
use junction_bus::{ControlSubject, Subjects};
use junction_example_agents::{CallLog, Registry, ServeHandle};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// Where the test database server is (an admin connection that may create databases).
pub fn admin_url() -> String {
    std::env::var("JUNCTION_TEST_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn nats_url() -> String {
    std::env::var("JUNCTION_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// One isolated cluster under test.
pub struct TestEnv {
    pub prefix: String,
    /// The NATS server this cluster uses: [`nats_url`], or a private one.
    pub nats_url: String,
    pub database: String,
    pub database_url: String,
    /// The admin connection that created [`Self::database`] and drops it.
    admin_url: String,
    pub nats: async_nats::Client,
    pub subjects: Subjects,
    pub dir: tempfile::TempDir,
    pub processes: Vec<Process>,
    agents: Option<ServeHandle>,
    pub calls: CallLog,
}

impl TestEnv {
    /// A fresh database and prefix; no processes yet.
    pub async fn new() -> anyhow::Result<Self> {
        let nats = async_nats::connect(nats_url())
            .await
            .context("connect to NATS")?;
        Self::with_nats(nats_url(), nats).await
    }

    /// Like [`Self::new`], on the NATS server at `url` (a [`NatsServer`]),
    /// which may be down yet: the test's own connection comes up with it.
    pub async fn on_nats(url: &str) -> anyhow::Result<Self> {
        let nats = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(url)
            .await
            .context("connect to NATS")?;
        Self::with_nats(url.to_owned(), nats).await
    }

    /// Like [`Self::on_nats`], on a server started from a configuration
    /// file with users ([`NatsServer::with_config`]), which must be up: the
    /// test connects with `auth` (an operator's, for control requests), and
    /// the cluster uses no prefix, as the shipped `deploy/nats` file expects.
    /// Each process gets its role's credentials as extra variables.
    pub async fn on_locked_nats(url: &str, auth: &junction_bus::NatsAuth) -> anyhow::Result<Self> {
        let nats =
            junction_bus::connect_client(url, "e2e", auth, async_nats::ConnectOptions::new())
                .await?;
        let mut env = Self::with_nats(url.to_owned(), nats).await?;
        env.prefix = String::new();
        env.subjects = Subjects::new("")?;
        Ok(env)
    }

    async fn with_nats(nats_url: String, nats: async_nats::Client) -> anyhow::Result<Self> {
        Self::with_services(admin_url(), nats_url, nats).await
    }

    /// Like [`Self::new`], on the Postgres server of `admin_url` and the
    /// NATS server(s) of `nats_url` (comma-separated), reached by `nats`.
    pub(crate) async fn with_services(
        admin_url: String,
        nats_url: String,
        nats: async_nats::Client,
    ) -> anyhow::Result<Self> {
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let short = &tag[tag.len() - 12..];
        let prefix = format!("t{short}");
        let database = format!("junction_test_{short}");
        let (admin, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .context("connect to the admin database")?;
        tokio::spawn(connection);
        admin
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .await
            .context("create test database")?;
        let base = admin_url.clone();
        let database_url = format!(
            "{}/{database}",
            base.rsplit_once('/')
                .map_or(base.as_str(), |(head, _)| head)
        );
        let subjects = Subjects::new(&prefix)?;
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("workflows"))?;
        std::fs::create_dir_all(dir.path().join("agents"))?;
        let env = Self {
            prefix,
            nats_url,
            database,
            database_url,
            admin_url,
            nats,
            subjects,
            dir,
            processes: Vec::new(),
            agents: None,
            calls: CallLog::new(),
        };
        for name in Registry::builtin().names() {
            env.write_agent_file(name, None, None)?;
        }
        Ok(env)
    }

    /// Environment every process of this cluster gets.
    pub fn base_env(&self) -> Vec<(String, String)> {
        vec![
            ("JUNCTION_DATABASE__URL".into(), self.database_url.clone()),
            ("JUNCTION_DATABASE__POOL_SIZE".into(), "4".into()),
            ("JUNCTION_NATS__URL".into(), self.nats_url.clone()),
            ("JUNCTION_NATS__PREFIX".into(), self.prefix.clone()),
            ("JUNCTION_HTTP__LISTEN".into(), "127.0.0.1:0".into()),
            ("JUNCTION_COORDINATOR__RELAY_GRACE_MS".into(), "300".into()),
            (
                "JUNCTION_COORDINATOR__RELAY_INTERVAL_MS".into(),
                "300".into(),
            ),
            ("JUNCTION_SHUTDOWN__DRAIN_SECONDS".into(), "5".into()),
            ("JUNCTION_LOG".into(), "info".into()),
            ("NO_COLOR".into(), "1".into()),
        ]
    }

    pub fn workflows_dir(&self) -> PathBuf {
        self.dir.path().join("workflows")
    }

    /// The agent files every coordinator of this cluster syncs at startup.
    pub fn agents_dir(&self) -> PathBuf {
        self.dir.path().join("agents")
    }

    /// Starts a coordinator with extra environment variables.
    pub async fn start_coordinator(
        &mut self,
        name: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<usize> {
        let env = self.coordinator_env(name, extra);
        let process = Process::spawn("junction-coordinator", name, &env, self.dir.path())?;
        self.processes.push(process);
        Ok(self.processes.len() - 1)
    }

    /// The environment of coordinator `name`: [`Self::base_env`], its id,
    /// the definition and agent directories, and `extra`.
    pub(crate) fn coordinator_env(
        &self,
        name: &str,
        extra: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let mut env = self.base_env();
        env.push((
            "JUNCTION_COORDINATOR__ID".into(),
            format!("{}-{name}", self.prefix),
        ));
        env.push((
            "JUNCTION_DEFINITIONS__DIR".into(),
            self.workflows_dir().display().to_string(),
        ));
        env.push((
            "JUNCTION_AGENTS__DIR".into(),
            self.agents_dir().display().to_string(),
        ));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    /// Starts a worker with extra environment variables.
    pub async fn start_worker(
        &mut self,
        name: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<usize> {
        let env = self.worker_env(name, extra);
        let process = Process::spawn("junction-worker", name, &env, self.dir.path())?;
        self.processes.push(process);
        Ok(self.processes.len() - 1)
    }

    /// The environment of worker `name`: [`Self::base_env`], its id, and `extra`.
    pub(crate) fn worker_env(&self, name: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.base_env();
        env.push(("JUNCTION_WORKER__ID".into(), name.to_owned()));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    /// The common setup: agents, one coordinator, `workers` workers, all ready.
    pub async fn cluster(registry: Registry, workers: usize) -> anyhow::Result<Self> {
        let mut env = Self::new().await?;
        env.serve_agents(registry).await?;
        env.start_coordinator("coordinator", &[]).await?;
        for i in 1..=workers {
            env.start_worker(&format!("worker-{i}"), &[]).await?;
        }
        env.wait_for_members(1, workers).await?;
        Ok(env)
    }

    /// One coordinator and one worker, `worker-a`, with a lease of
    /// `lease_seconds`, serving `registry`: the setup of the tests that kill
    /// a worker. Returns the cluster and the worker's process index.
    pub async fn with_doomed_worker(
        registry: Registry,
        lease_seconds: &str,
    ) -> anyhow::Result<(Self, usize)> {
        let mut env = Self::new().await?;
        env.serve_agents(registry).await?;
        env.start_coordinator("coordinator", &[]).await?;
        let lease = [("JUNCTION_WORKER__LEASE_SECONDS", lease_seconds)];
        let worker = env.start_worker("worker-a", &lease).await?;
        env.wait_for_members(1, 1).await?;
        Ok((env, worker))
    }

    /// Waits until `coordinators` coordinators and `workers` workers are listed.
    pub async fn wait_for_members(
        &self,
        coordinators: usize,
        workers: usize,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            // Until the coordinator answers `ok` (its database is reachable), wait.
            let reply = self
                .try_control(ControlSubject::ClusterMembers, json!({}))
                .await;
            if let Ok(reply) = reply
                && reply["ok"] == json!(true)
            {
                let members = reply["members"]
                    .as_array()
                    .with_context(|| format!("no members in {reply}"))?;
                let count = |role: &str| members.iter().filter(|m| m["role"] == role).count();
                if count("coordinator") >= coordinators && count("worker") >= workers {
                    return Ok(reply);
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("cluster not ready within 60 s\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until process `index` exits, and fails unless it exits with
    /// `code` (`junction_runtime::fault::FAULT_EXIT_CODE` at a fault point,
    /// 0 after a drain), naming `why`, with the process logs.
    pub async fn wait_for_exit(
        &mut self,
        index: usize,
        code: i32,
        why: &str,
    ) -> anyhow::Result<()> {
        let exited = self.processes[index].wait_exit(waits::WAIT).await;
        anyhow::ensure!(
            exited == Some(code),
            "{why}: {} exited with {exited:?}, not {code}\n{}",
            self.processes[index].name,
            self.logs()
        );
        Ok(())
    }

    /// A direct connection to this test's database, for assertions.
    pub async fn db(&self) -> anyhow::Result<tokio_postgres::Client> {
        let (client, connection) =
            tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// The tail of every process log, for failure messages.
    pub fn logs(&self) -> String {
        self.processes
            .iter()
            .map(|p| p.tail(40))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        for process in &mut self.processes {
            process.kill_now();
        }
        if std::thread::panicking() {
            eprintln!("--- process logs ---\n{}", self.logs());
        }
        if let Some(agents) = self.agents.take() {
            drop(agents);
        }
        let (database, prefix) = (self.database.clone(), self.prefix.clone());
        let nats_url = self.nats_url.clone();
        let admin = self.admin_url.clone();
        // Cleanup needs async I/O; run it on a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok((admin, connection)) =
                    tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                        .await;
                }
                if prefix.is_empty() {
                    // A private server's own streams (on_locked_nats): never
                    // delete the unprefixed streams of a shared server.
                    return;
                }
                let connect = async_nats::connect(nats_url.split(',').next().unwrap_or_default());
                let connected = tokio::time::timeout(Duration::from_secs(5), connect).await;
                if let (Ok(Ok(nats)), Ok(subjects)) = (connected, Subjects::new(&prefix)) {
                    let jetstream = async_nats::jetstream::new(nats);
                    for stream in [
                        subjects.signals_stream(),
                        subjects.tasks_stream(),
                        subjects.events_stream(),
                    ] {
                        let _ = jetstream.delete_stream(stream).await;
                    }
                }
            });
        })
        .join();
    }
}
