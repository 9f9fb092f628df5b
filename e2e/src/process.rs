//! A Junction binary started by a test, with its output captured in a file.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running (or exited) child process.
pub struct Process {
    pub name: String,
    child: Child,
    log: PathBuf,
}

/// The directory holding the workspace binaries (next to the test
/// executable's `deps/`): `junction-coordinator`, `junction-worker`, and the
/// `junction` CLI.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let deps = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if deps.ends_with("deps") {
        deps.parent().map(Path::to_path_buf).unwrap_or(deps)
    } else {
        deps
    }
}

impl Process {
    pub fn spawn(
        binary: &str,
        name: &str,
        env: &[(String, String)],
        dir: &Path,
    ) -> anyhow::Result<Self> {
        Self::spawn_with_args(binary, name, &[], env, dir)
    }

    /// Like [`Process::spawn`], with command-line arguments.
    pub fn spawn_with_args(
        binary: &str,
        name: &str,
        args: &[&str],
        env: &[(String, String)],
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let path = bin_dir().join(binary);
        anyhow::ensure!(
            path.exists(),
            "{} is not built; run `cargo build --workspace` first",
            path.display()
        );
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut command = Command::new(&path);
        // The chaos suite's own settings are not the binaries' (unknown
        // `JUNCTION_*` variables are configuration errors).
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("JUNCTION_CHAOS_") {
                command.env_remove(name);
            }
        }
        let child = command
            .args(args)
            // Inherit nothing that would change behaviour behind the test's back.
            .env_remove("JUNCTION_FAULT__POINT")
            .env_remove("JUNCTION_CONFIG")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .spawn()
            .with_context(|| format!("spawn {}", path.display()))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reap.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
    }

    /// Sends `signal` (`STOP`, `CONT`, …) with `kill(1)`; whether it was delivered.
    pub fn signal(&self, signal: &str) -> bool {
        Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Waits up to `timeout` for the process to exit; returns its exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The exit code, once it exited (`None` while running or when killed
    /// by a signal).
    pub fn exit_code(&mut self) -> Option<i32> {
        self.child.try_wait().ok().flatten().and_then(|s| s.code())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last `lines` lines of its output.
    pub fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        format!(
            "--- {} ---\n{}",
            self.name,
            all[all.len().saturating_sub(lines)..].join("\n")
        )
    }

    /// The whole output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
