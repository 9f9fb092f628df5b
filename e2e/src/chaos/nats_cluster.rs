//! A private three-node NATS cluster with JetStream for the chaos suite:
//! three `nats-server` processes on free loopback ports, each with a
//! `cluster {}` block routing to the other two and a JetStream store of its
//! own, so streams can be replicated three times and one node can be killed
//! and restarted (same ports, same store) while the other two keep quorum.

use anyhow::Context;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One node: its ports and its process when running.
struct Node {
    name: String,
    client_port: u16,
    cluster_port: u16,
    monitor_port: u16,
    child: Option<Child>,
}

/// Three clustered `nats-server -js` processes; killed when dropped.
pub struct NatsCluster {
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
    binary: String,
}

impl NatsCluster {
    /// Writes the three configurations and starts every node; returns once
    /// each answers its health check (JetStream current).
    pub async fn start_new() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("junction-chaos-nats")
            .tempdir()?;
        let mut nodes = Vec::new();
        for i in 1..=3 {
            nodes.push(Node {
                name: format!("chaos-n{i}"),
                client_port: crate::free_port()?,
                cluster_port: crate::free_port()?,
                monitor_port: crate::free_port()?,
                child: None,
            });
        }
        let binary = std::env::var("JUNCTION_TEST_NATS_SERVER")
            .unwrap_or_else(|_| "/usr/sbin/nats-server".to_owned());
        let mut cluster = Self { nodes, dir, binary };
        for i in 0..3 {
            cluster.write_config(i)?;
        }
        for i in 0..3 {
            cluster.spawn(i)?;
        }
        for i in 0..3 {
            cluster.wait_healthy(i, Duration::from_secs(60)).await?;
        }
        Ok(cluster)
    }

    /// Every client URL, comma-separated (`nats.url` takes that form).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    fn config_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("{}.conf", self.nodes[i].name))
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("{}.log", self.nodes[i].name))
    }

    fn write_config(&self, i: usize) -> anyhow::Result<()> {
        let node = &self.nodes[i];
        let routes: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| format!("nats-route://127.0.0.1:{}", n.cluster_port))
            .collect();
        let store = self.dir.path().join(&node.name);
        let config = format!(
            "server_name: {name}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{monitor}\n\
             jetstream {{\n  store_dir: \"{store}\"\n  max_memory_store: 268435456\n  max_file_store: 4294967296\n}}\n\
             cluster {{\n  name: chaos\n  listen: 127.0.0.1:{cluster}\n  routes: [{routes}]\n}}\n",
            name = node.name,
            client = node.client_port,
            monitor = node.monitor_port,
            store = store.display(),
            cluster = node.cluster_port,
            routes = routes.join(", "),
        );
        std::fs::write(self.config_path(i), config)?;
        Ok(())
    }

    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        anyhow::ensure!(self.nodes[i].child.is_none(), "node {i} already runs");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))?;
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(self.config_path(i))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("start {}", self.binary))?;
        self.nodes[i].child = Some(child);
        Ok(())
    }

    /// SIGKILLs node `i` (its store stays).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts node `i` and waits until it is healthy again (JetStream
    /// caught up with the cluster).
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.spawn(i)?;
        self.wait_healthy(i, Duration::from_secs(120)).await
    }

    /// Waits until node `i`'s `/healthz` answers 200.
    pub async fn wait_healthy(&self, i: usize, timeout: Duration) -> anyhow::Result<()> {
        let addr = format!("127.0.0.1:{}", self.nodes[i].monitor_port);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let probe = crate::http_get_status_at(&addr, "/healthz");
            if let Ok(Ok((200, _))) = tokio::time::timeout(Duration::from_secs(2), probe).await {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "NATS node {} not healthy within {timeout:?}:\n{}",
                self.nodes[i].name,
                self.log_tail(i)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Copies every node's log into `to`.
    pub fn copy_logs(&self, to: &std::path::Path) -> std::io::Result<()> {
        for i in 0..self.nodes.len() {
            std::fs::copy(
                self.log_path(i),
                to.join(format!("{}.log", self.nodes[i].name)),
            )?;
        }
        Ok(())
    }

    /// The end of node `i`'s log.
    pub fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} ---\n{}",
            self.nodes[i].name,
            lines[lines.len().saturating_sub(20)..].join("\n")
        )
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
