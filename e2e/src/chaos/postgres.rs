//! A private Postgres server for the chaos suite, so restarting it
//! disturbs no other test: `initdb` into a temporary directory, then
//! `pg_ctl` on a free loopback port. Run as root (as tests are in CI), the
//! server runs as the `postgres` user through `runuser`, since `initdb`
//! refuses root. Its settings are the defaults (`fsync` on): a restart here
//! is an immediate stop, so the next start recovers from the WAL.

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::Output;
use tokio::process::Command;

/// A Postgres server owned by the test; stopped and removed when dropped.
pub struct PgServer {
    pub port: u16,
    bin: PathBuf,
    root: tempfile::TempDir,
    as_postgres: bool,
}

/// The directory holding `initdb` and `pg_ctl`: the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian's layout), or the `PATH`.
pub fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    })
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

impl PgServer {
    /// Creates and starts a server in `bin` on a free port.
    pub async fn start_new(bin: PathBuf) -> anyhow::Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("junction-chaos-pg")
            .tempdir()?;
        let as_postgres = is_root();
        let server = Self {
            port: crate::free_port()?,
            bin,
            root,
            as_postgres,
        };
        std::fs::create_dir_all(server.data())?;
        if as_postgres {
            // The server's user must reach and own its directories.
            run(Command::new("chmod").arg("755").arg(server.root.path())).await?;
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(server.root.path()))
            .await?;
        }
        let data = server.data();
        let out = server
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .output()
            .await
            .context("run initdb")?;
        check(&out, "initdb")?;
        server.start().await?;
        Ok(server)
    }

    fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.root.path().join("postgres.log")
    }

    /// `program` of the server's bin directory, as the server's user.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub async fn start(&self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            self.root.path().display()
        );
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log())
            .args(["-w", "-t", "120", "-o", &options, "start"])
            .output()
            .await
            .context("run pg_ctl start")?;
        check(&out, "pg_ctl start").with_context(|| self.log_tail())
    }

    /// Stops the server at once (`-m immediate`: no checkpoint, so the next
    /// start recovers from the WAL, as after a crash).
    pub async fn stop_immediate(&self) -> anyhow::Result<()> {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-t", "60", "-m", "immediate", "stop"])
            .output()
            .await
            .context("run pg_ctl stop")?;
        check(&out, "pg_ctl stop")
    }

    /// Copies the server's log into `to`, with a `pg_dump` of `database`.
    pub async fn keep(&self, database: &str, to: &std::path::Path) -> anyhow::Result<()> {
        std::fs::copy(self.log(), to.join("postgres.log"))?;
        let out = self
            .command("pg_dump")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                database,
            ])
            .output()
            .await
            .context("run pg_dump")?;
        check(&out, "pg_dump")?;
        std::fs::write(to.join(format!("{database}.sql")), out.stdout)?;
        Ok(())
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- postgres ---\n{}",
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let path = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            std::process::Command::new(path)
        };
        let _ = command
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-t", "30", "-m", "immediate", "stop"])
            .output();
    }
}

async fn run(command: &mut Command) -> anyhow::Result<()> {
    let out = command.output().await?;
    check(&out, "command")
}

fn check(out: &Output, what: &str) -> anyhow::Result<()> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
