//! Python on the test's side: the venv that `deploy/dev/python-env.sh`
//! makes (`.junction-dev/venv`, with nats-py and the CloudEvents SDK), and
//! Python programs run in it as child processes. A missing venv fails the
//! test with the command that makes it; nothing is skipped.

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The repository's root (the parent of `e2e/`).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The venv's `python`, or an error naming the script that makes it.
/// `JUNCTION_TEST_PYTHON` overrides it.
pub fn venv_python() -> anyhow::Result<PathBuf> {
    if let Some(python) = std::env::var_os("JUNCTION_TEST_PYTHON") {
        return Ok(PathBuf::from(python));
    }
    let python = repo_root().join(".junction-dev/venv/bin/python");
    if !python.exists() {
        bail!(
            "the Python venv is missing ({}): run ./deploy/dev/python-env.sh (deploy/dev/test.sh does) to create it with nats-py and cloudevents",
            python.display()
        );
    }
    Ok(python)
}

/// Runs a Python program to its end in the venv; fails with its output
/// unless it exits 0 within `timeout`. Returns its stdout.
pub async fn run_python(
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> anyhow::Result<String> {
    let mut command = Command::new(venv_python()?);
    command.args(args).kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .with_context(|| format!("python {args:?} did not end within {timeout:?}"))??;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "python {args:?} exited with {}\nstdout:\n{stdout}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

/// A long-running Python program (an agent), killed when dropped.
pub struct PythonProcess {
    child: Child,
}

impl PythonProcess {
    /// Starts `script` in the venv and waits until it prints a line
    /// starting with `ready` on stdout; fails with its stderr if it exits
    /// first or says nothing within 30 s.
    pub async fn spawn(script: &str, env: &[(&str, &str)], ready: &str) -> anyhow::Result<Self> {
        let mut command = Command::new(venv_python()?);
        command
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("start python {script}"))?;
        let stdout = child.stdout.take().context("python stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let wait = async {
            while let Some(line) = lines.next_line().await? {
                if line.starts_with(ready) {
                    return Ok::<_, anyhow::Error>(true);
                }
            }
            Ok(false)
        };
        let started = tokio::time::timeout(Duration::from_secs(30), wait).await;
        if !matches!(started, Ok(Ok(true))) {
            let _ = child.start_kill();
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), err.read_to_string(&mut stderr))
                        .await;
            }
            bail!("python {script} did not print `{ready}`: {started:?}\nstderr:\n{stderr}");
        }
        Ok(Self { child })
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}
