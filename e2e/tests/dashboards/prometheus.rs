//! A real Prometheus for the test: `promtool`, a `prometheus` child process
//! on a free port scraping the cluster every second (killed on drop), and
//! the few HTTP API calls the test makes (`/api/v1/query`, `/targets`,
//! `/rules`, label values) over plain HTTP/1.0.

use anyhow::{Context, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long Prometheus may take to start and to see its targets up.
const START: Duration = Duration::from_secs(60);

/// Runs `promtool ARGS…` and returns its output; fails, with the output,
/// unless it exits 0.
pub fn promtool(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("promtool").args(args).output().context(
        "run promtool: install Debian's prometheus package (deploy/dev/services.sh --test-tools does)",
    )?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    anyhow::ensure!(
        output.status.success(),
        "promtool {} failed:\n{text}",
        args.join(" ")
    );
    Ok(text)
}

/// A `prometheus` server started by the test.
pub struct Prometheus {
    child: Child,
    pub addr: String,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Writes a configuration into `dir` that scrapes each `(job, address)`
    /// every second and loads `rules`, and starts Prometheus on a free port
    /// of 127.0.0.1 with its storage in `dir`; returns once it is ready.
    pub async fn start(dir: &Path, jobs: &[(&str, &str)], rules: &Path) -> anyhow::Result<Self> {
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, config_text(jobs, rules)?)?;
        let mut last_error = None;
        // The free port is found by binding port 0 and letting it go, so
        // another process may take it first: then Prometheus exits, and we
        // try another.
        for attempt in 1..=3 {
            let port = junction_e2e::free_port()?;
            let addr = format!("127.0.0.1:{port}");
            let log = dir.join(format!("prometheus-{attempt}.log"));
            let file = std::fs::File::create(&log)?;
            let child = Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join(format!("tsdb-{attempt}")).display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .stdout(Stdio::from(file.try_clone()?))
                .stderr(Stdio::from(file))
                .spawn()
                .context(
                    "run prometheus: install Debian's prometheus package \
                     (deploy/dev/services.sh --test-tools does)",
                )?;
            let mut server = Self { child, addr, log };
            match server.wait_ready().await {
                Ok(()) => return Ok(server),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("prometheus did not start")))
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + START;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("prometheus exited with {status}\n{}", self.tail());
            }
            if let Ok((200, _)) = get(&self.addr, "/-/ready").await {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("prometheus not ready within {START:?}\n{}", self.tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines of Prometheus's log, for failure messages.
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- prometheus ---\n{}",
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }

    /// `GET path` on the API; returns the JSON body, whatever the status
    /// (Prometheus answers errors as JSON with `status: "error"`).
    pub async fn api(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = get(&self.addr, path).await?;
        serde_json::from_str(&body).with_context(|| format!("GET {path}: {status} {body}"))
    }

    /// An instant query (`/api/v1/query`) at the current time.
    pub async fn query(&self, expr: &str) -> anyhow::Result<Value> {
        self.api(&format!("/api/v1/query?query={}", encode(expr)))
            .await
    }

    /// The values of `label` on the series of `metric` (what Grafana's
    /// `label_values(metric, label)` variable query asks).
    pub async fn label_values(&self, metric: &str, label: &str) -> anyhow::Result<Vec<String>> {
        let reply = self
            .api(&format!(
                "/api/v1/label/{label}/values?match[]={}",
                encode(metric)
            ))
            .await?;
        let values = reply["data"]
            .as_array()
            .with_context(|| format!("label values of {label}: {reply}"))?;
        Ok(values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect())
    }

    /// Waits until every job of `jobs` has a target Prometheus scraped
    /// successfully (`health: "up"`).
    pub async fn wait_for_targets_up(&self, jobs: &[&str]) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + START;
        loop {
            let reply = self.api("/api/v1/targets").await?;
            let targets = reply["data"]["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let up = |job: &str| {
                targets
                    .iter()
                    .any(|t| t["labels"]["job"] == job && t["health"] == "up")
            };
            if jobs.iter().all(|job| up(job)) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "targets not all up within {START:?}: {}\n{}",
                    serde_json::to_string_pretty(&targets)?,
                    self.tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The configuration: a 1 s scrape and evaluation interval (so `rate` over
/// a short window has samples within seconds), one job per `(job, address)`.
fn config_text(jobs: &[(&str, &str)], rules: &Path) -> anyhow::Result<String> {
    // JSON strings are valid YAML double-quoted scalars.
    let quote = |s: &str| serde_json::to_string(s);
    let mut text = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {}\nscrape_configs:\n",
        quote(&rules.display().to_string())?
    );
    for (job, addr) in jobs {
        text.push_str(&format!(
            "  - job_name: {}\n    static_configs:\n      - targets: [{}]\n",
            quote(job)?,
            quote(addr)?
        ));
    }
    Ok(text)
}

/// Percent-encodes a query parameter value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A plain HTTP/1.0 GET (so the answer is never chunked); returns the
/// status and the body.
async fn get(addr: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .with_context(|| format!("GET {path}: no answer within 10 s"))??;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .with_context(|| format!("GET {path}: no body in {response:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("GET {path}: bad status line in {head:?}"))?;
    Ok((status, body.to_owned()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn encode_escapes_everything_but_unreserved_characters() {
        assert_eq!(
            super::encode(r#"sum(up{job="a b"})"#),
            "sum%28up%7Bjob%3D%22a%20b%22%7D%29"
        );
    }
}
