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

    /// Like [`Self::new`], started with `nats-server -c <config>`: the file's
    /// users and permissions apply; its port, listen address and JetStream
    /// store directory are overridden by the test's own (command-line
    /// options win over the file).
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
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        let child = command
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path().join("jetstream"))
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
