//! A private NATS server for tests that stop and restart NATS: the machine's
//! shared server on 4222 is never touched. It listens on a free loopback
//! port with JetStream storing in a directory of its own, so a restart on
//! the same port and directory finds its streams and consumers again.
//! [`NatsServer::with_config`] starts it from a configuration file (users
//! and permissions), the port, address and store still the test's own.

use anyhow::Context;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where Debian's `nats-server` package puts the binary (`deploy/dev/services.sh`).
const NATS_BIN: &str = "/usr/sbin/nats-server";

/// A free TCP port on 127.0.0.1 (bound, then released, so another bind may
/// win it in between; good enough for a test's listener).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A `nats-server -js` owned by a test; killed when dropped.
pub struct NatsServer {
    pub port: u16,
    store: tempfile::TempDir,
    log: PathBuf,
    config: Option<PathBuf>,
    child: Option<Child>,
}

impl NatsServer {
    /// A server on a free port, not started yet.
    pub fn new() -> anyhow::Result<Self> {
        let store = tempfile::tempdir()?;
        let log = store.path().join("nats-server.log");
        Ok(Self {
            port: free_port()?,
            store,
            log,
            config: None,
            child: None,
        })
    }

    /// Like [`Self::new`], started from a copy of the configuration file
    /// `config` whose `port:` and `store_dir:` lines are the test's own: the
    /// file's users, permissions and everything else apply as shipped.
    pub fn with_config(config: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let mut server = Self::new()?;
        server.config = Some(config.into());
        Ok(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (same port, same store) and waits until it accepts
    /// connections.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "the NATS server is already running");
        let binary = std::env::var("JUNCTION_TEST_NATS_SERVER")
            .unwrap_or_else(|_| which("nats-server").unwrap_or_else(|| NATS_BIN.to_owned()));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut command = Command::new(&binary);
        command.args(["-a", "127.0.0.1"]);
        match &self.config {
            // nats-server refuses `-sd` beside a file's `store_dir`: run a copy.
            Some(config) => command.arg("-c").arg(self.config_copy(config)?),
            None => command
                .args(["-js", "-p", &self.port.to_string(), "-sd"])
                .arg(self.store.path().join("jetstream")),
        };
        let child = command
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("start {binary} (deploy/dev/services.sh installs it)"))?;
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the NATS server on {} did not listen within 30 s:\n{}",
                self.port,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// A copy of `config` in the store directory with this server's port
    /// and JetStream directory in its `port:` and `store_dir:` lines.
    fn config_copy(&self, config: &std::path::Path) -> anyhow::Result<PathBuf> {
        let text = std::fs::read_to_string(config)
            .with_context(|| format!("read {}", config.display()))?;
        let store = self.store.path().join("jetstream");
        let lines: Vec<String> = text
            .lines()
            .map(|line| {
                let trimmed = line.trim_start();
                let indent = &line[..line.len() - trimmed.len()];
                if trimmed.starts_with("port:") {
                    format!("{indent}port: {}", self.port)
                } else if trimmed.starts_with("store_dir:") {
                    format!("{indent}store_dir: {:?}", store.display().to_string())
                } else {
                    line.to_owned()
                }
            })
            .collect();
        let copy = self.store.path().join("nats-server.conf");
        std::fs::write(&copy, lines.join("\n"))?;
        Ok(copy)
    }

    /// Kills the server (SIGKILL) and reaps it; its store stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `name` on the `PATH`, if there.
fn which(name: &str) -> Option<String> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
            .map(|path| path.display().to_string())
    })
}
