//! The `junction` CLI binary run against a test cluster, for tests of
//! commands that read directories and files (`sync`, `bundle`).

use crate::TestEnv;
use crate::waits::WAIT;
use serde_json::Value;

/// What a finished CLI command did.
#[derive(Debug)]
pub struct CliOutcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutcome {
    /// stdout as one JSON document.
    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.stdout)
            .map_err(|e| anyhow::anyhow!("stdout is not JSON ({e}): {self:?}"))
    }
}

impl TestEnv {
    /// Runs `junction ARGS…` against this cluster (its NATS URL and
    /// prefix), with nothing inherited that would point it elsewhere.
    pub async fn junction(&self, args: &[&str]) -> anyhow::Result<CliOutcome> {
        let path = crate::bin_dir().join("junction");
        anyhow::ensure!(path.exists(), "{} is not built", path.display());
        let mut command = tokio::process::Command::new(&path);
        command
            .args(args)
            .env_remove("JUNCTION_CONFIG")
            .env_remove("JUNCTION_TOKEN")
            .env_remove("JUNCTION_TENANT")
            .env("JUNCTION_NATS__URL", &self.nats_url)
            .env("JUNCTION_NATS__PREFIX", &self.prefix)
            .env("NO_COLOR", "1")
            .kill_on_drop(true);
        let output = tokio::time::timeout(WAIT, command.output()).await??;
        Ok(CliOutcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}
