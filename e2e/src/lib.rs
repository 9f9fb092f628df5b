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

mod process;

pub use process::Process;

use anyhow::{Context, bail};
use bytes::Bytes;
use junction_bus::Subjects;
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
    pub database: String,
    pub database_url: String,
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
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let short = &tag[tag.len() - 12..];
        let prefix = format!("t{short}");
        let database = format!("junction_test_{short}");
        let (admin, connection) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
            .await
            .context("connect to the admin database")?;
        tokio::spawn(connection);
        admin
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .await
            .context("create test database")?;
        let base = admin_url();
        let database_url = format!(
            "{}/{database}",
            base.rsplit_once('/')
                .map_or(base.as_str(), |(head, _)| head)
        );
        let nats = async_nats::connect(nats_url())
            .await
            .context("connect to NATS")?;
        let subjects = Subjects::new(&prefix)?;
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("workflows"))?;
        std::fs::create_dir_all(dir.path().join("agents"))?;
        let env = Self {
            prefix,
            database,
            database_url,
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
            ("JUNCTION_NATS__URL".into(), nats_url()),
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

    fn agent_file(&self, name: &str) -> PathBuf {
        self.agents_dir().join(format!("{name}.agent.json"))
    }

    /// Writes the registry file of agent `name` (replacing any).
    fn write_agent_file(
        &self,
        name: &str,
        input_schema: Option<&Value>,
        output_schema: Option<&Value>,
    ) -> anyhow::Result<()> {
        let mut agent = json!({ "name": name, "description": "served by the e2e harness" });
        if let Some(schema) = input_schema {
            agent["input_schema"] = schema.clone();
        }
        if let Some(schema) = output_schema {
            agent["output_schema"] = schema.clone();
        }
        std::fs::write(self.agent_file(name), serde_json::to_vec_pretty(&agent)?)?;
        Ok(())
    }

    /// Registers (or replaces) agent `name` in the `default` tenant through
    /// `wf.ctl.agents.put`, and updates its agent file so coordinators started
    /// later keep it. A running worker sees the change within its registry
    /// cache TTL (2 s); put schemas before starting the runs they concern.
    pub async fn put_agent(
        &self,
        name: &str,
        input_schema: Option<Value>,
        output_schema: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut body = json!({ "name": name });
        if let Some(schema) = &input_schema {
            body["input_schema"] = schema.clone();
        }
        if let Some(schema) = &output_schema {
            body["output_schema"] = schema.clone();
        }
        let reply = self.control("agents.put", body).await?;
        self.write_agent_file(name, input_schema.as_ref(), output_schema.as_ref())?;
        Ok(reply)
    }

    /// Deletes agent `name` through `wf.ctl.agents.delete`, and its agent file.
    pub async fn delete_agent(&self, name: &str) -> anyhow::Result<()> {
        self.control("agents.delete", json!({ "name": name }))
            .await?;
        let file = self.agent_file(name);
        if file.exists() {
            std::fs::remove_file(file)?;
        }
        Ok(())
    }

    /// Starts a coordinator with extra environment variables.
    pub async fn start_coordinator(
        &mut self,
        name: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<usize> {
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
        let process = Process::spawn("junction-coordinator", name, &env, self.dir.path())?;
        self.processes.push(process);
        Ok(self.processes.len() - 1)
    }

    /// Starts a worker with extra environment variables.
    pub async fn start_worker(
        &mut self,
        name: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<usize> {
        let mut env = self.base_env();
        env.push(("JUNCTION_WORKER__ID".into(), name.to_owned()));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let process = Process::spawn("junction-worker", name, &env, self.dir.path())?;
        self.processes.push(process);
        Ok(self.processes.len() - 1)
    }

    /// Serves `registry` in this test process (real NATS), recording calls in
    /// [`Self::calls`]. Agents without an agent file get one (no schemas), so
    /// coordinators started afterwards register them.
    pub async fn serve_agents(&mut self, registry: Registry) -> anyhow::Result<()> {
        for name in registry.names() {
            if !self.agent_file(name).exists() {
                self.write_agent_file(name, None, None)?;
            }
        }
        let handle = junction_example_agents::spawn(
            self.nats.clone(),
            self.subjects.clone(),
            registry,
            self.calls.clone(),
        )
        .await?;
        self.agents = Some(handle);
        Ok(())
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

    /// Waits until `coordinators` coordinators and `workers` workers are listed.
    pub async fn wait_for_members(
        &self,
        coordinators: usize,
        workers: usize,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(reply) = self.try_control("cluster.members", json!({})).await {
                let members = reply["members"].as_array().cloned().unwrap_or_default();
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

    /// A control request; returns the whole reply, `ok` or not.
    pub async fn try_control(&self, what: &str, body: Value) -> anyhow::Result<Value> {
        let request = async_nats::Request::new()
            .payload(Bytes::from(serde_json::to_vec(&body)?))
            .timeout(Some(Duration::from_secs(10)));
        let reply = self
            .nats
            .send_request(self.subjects.control(what), request)
            .await?;
        Ok(serde_json::from_slice(&reply.payload)?)
    }

    /// A control request that must succeed.
    pub async fn control(&self, what: &str, body: Value) -> anyhow::Result<Value> {
        let reply = self.try_control(what, body.clone()).await?;
        if reply["ok"] != json!(true) {
            bail!("{what} {body} failed: {reply}");
        }
        Ok(reply)
    }

    /// Stores a workflow through `workflows.put`; returns its version.
    pub async fn put_workflow(&self, yaml: &str) -> anyhow::Result<i64> {
        let reply = self
            .control("workflows.put", json!({ "source": yaml }))
            .await?;
        reply["version"].as_i64().context("version in put reply")
    }

    /// Publishes raw bytes to `signals.<type>` through JetStream.
    pub async fn publish_raw_signal(&self, signal_type: &str, body: Vec<u8>) -> anyhow::Result<()> {
        let jetstream = async_nats::jetstream::new(self.nats.clone());
        jetstream
            .publish(self.subjects.signal(signal_type), body.into())
            .await?
            .await?;
        Ok(())
    }

    /// Publishes a valid CloudEvent.
    pub async fn publish_signal(
        &self,
        signal_type: &str,
        id: &str,
        data: Value,
    ) -> anyhow::Result<()> {
        let event = json!({ "specversion": "1.0", "id": id, "source": "e2e", "type": signal_type, "data": data });
        self.publish_raw_signal(signal_type, serde_json::to_vec(&event)?)
            .await
    }

    pub async fn start_run(&self, workflow_id: &str, input: Value) -> anyhow::Result<String> {
        let reply = self
            .control(
                "run.start",
                json!({ "workflow_id": workflow_id, "input": input }),
            )
            .await?;
        Ok(reply["run_id"].as_str().context("run_id")?.to_owned())
    }

    pub async fn get_run(&self, run_id: &str) -> anyhow::Result<Value> {
        Ok(self
            .control(&format!("run.{run_id}.get"), json!({}))
            .await?["run"]
            .clone())
    }

    /// Waits until the run reaches a terminal status; returns the run.
    pub async fn wait_for_end(&self, run_id: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // A coordinator that is restarting does not answer yet: keep asking.
            let run = match self.get_run(run_id).await {
                Ok(run) => run,
                Err(error) if tokio::time::Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(error) => return Err(error),
            };
            if matches!(
                run["status"].as_str(),
                Some("COMPLETED" | "FAILED" | "CANCELLED" | "TIMED_OUT")
            ) {
                return Ok(run);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "run {run_id} still {} after {:?}: {run}\n{}",
                    run["status"],
                    timeout,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs started by a signal (via `runs.list` with `causation_id`).
    pub async fn runs_caused_by(&self, signal_id: &str) -> anyhow::Result<Vec<Value>> {
        let reply = self
            .control("runs.list", json!({ "causation_id": signal_id }))
            .await?;
        Ok(reply["runs"].as_array().cloned().unwrap_or_default())
    }

    /// Waits for the run a signal starts.
    pub async fn wait_for_signal_run(
        &self,
        signal_id: &str,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(run) = self.runs_caused_by(signal_id).await?.first() {
                return Ok(run["id"].as_str().context("run id")?.to_owned());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "no run for signal {signal_id} after {timeout:?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every stored event of a run.
    pub async fn events(&self, run_id: &str) -> anyhow::Result<Vec<Value>> {
        let reply = self
            .control(&format!("run.{run_id}.events"), json!({ "limit": 1000 }))
            .await?;
        Ok(reply["events"].as_array().cloned().unwrap_or_default())
    }

    /// The coordinator's HTTP address from `cluster.members`.
    pub async fn coordinator_http(&self) -> anyhow::Result<String> {
        let reply = self.control("cluster.members", json!({})).await?;
        let members = reply["members"].as_array().cloned().unwrap_or_default();
        let addr = members
            .iter()
            .find(|m| m["role"] == "coordinator")
            .and_then(|m| m["http_addr"].as_str());
        Ok(addr.context("coordinator http_addr")?.to_owned())
    }

    /// Every live coordinator's HTTP address from `cluster.members`.
    pub async fn coordinator_http_addrs(&self) -> anyhow::Result<Vec<String>> {
        let reply = self.control("cluster.members", json!({})).await?;
        Ok(reply["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["role"] == "coordinator")
            .filter_map(|m| m["http_addr"].as_str().map(str::to_owned))
            .collect())
    }

    /// A plain HTTP/1.1 GET against the coordinator; returns the body.
    pub async fn http_get(&self, path: &str) -> anyhow::Result<String> {
        let addr = self.coordinator_http().await?;
        http_get_at(&addr, path).await
    }
}

/// A plain HTTP/1.1 GET against `addr`; returns the body.
pub async fn http_get_at(addr: &str, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(&addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default())
}

impl TestEnv {
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
                    tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                        .await;
                }
                if let (Ok(nats), Ok(subjects)) = (
                    async_nats::connect(nats_url()).await,
                    Subjects::new(&prefix),
                ) {
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

/// An n-step chain of `agent` calls, each writing to `steps.s<i>`.
pub fn chain_yaml(id: &str, agent: &str, steps: usize, trigger: Option<&str>) -> String {
    let mut yaml = format!("id: {id}\n");
    if let Some(signal) = trigger {
        yaml.push_str(&format!("trigger:\n  signal: {signal}\n"));
    }
    yaml.push_str("states:\n");
    for i in 1..=steps {
        yaml.push_str(&format!("  - name: s{i}\n    type: operation\n    action: agent.run\n    input:\n      agent: {agent}\n      task: \"step {i}\"\n    resultPath: steps.s{i}\n"));
        if i == steps {
            yaml.push_str("    end: true\n");
        } else {
            yaml.push_str(&format!("    next: s{}\n", i + 1));
        }
    }
    yaml
}
