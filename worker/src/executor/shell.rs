//! `shell.run`: input `{command: [argv…], env?: {}, cwd?, timeoutSeconds?}`,
//! output `{exit_code, stdout, stderr}` (+ `truncated: true`).
//!
//! - The argv is executed as it is, never through a shell.
//! - The child's environment is `PATH` (the worker's) plus the step's `env`,
//!   nothing else of the worker's; stdin is empty.
//! - It runs in its own process group. When the command exits, whatever it
//!   left in its group is killed; when the deadline passes (or the step is
//!   dropped), the whole group is killed (SIGKILL) and the step fails with
//!   `STEP_TIMEOUT`.
//! - Each stream keeps its first 1 MiB; the rest is read and dropped (so the
//!   child never blocks on a full pipe) and the output says
//!   `truncated: true`. Streams are cut further if the output would pass
//!   the payload limit.
//! - A non-zero exit fails the step with `SHELL_EXIT` (`details.exit_code`,
//!   the tails of stderr and stdout); a command that cannot start
//!   (no such program or directory) is `SHELL_SPAWN`.

#![allow(
    clippy::result_large_err,
    reason = "ErrorInfo is the step's error as stored; built once per failure"
)]

#[cfg(test)]
mod tests;

use super::Outcome;
use super::io_common::{self, invalid_input, timed_out};
use chrono::{DateTime, Utc};
use junction_core::wire::ErrorInfo;
use junction_core::wire::error::codes;
use junction_runtime::config::Config;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::os::unix::process::ExitStatusExt as _;
use std::process::{ExitStatus, Stdio};
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::process::{Child, Command};

const EXECUTOR: &str = "shell.run";
/// What each stream keeps (PROTOCOL: 1 MiB).
pub const STREAM_LIMIT: usize = 1024 * 1024;
/// The end of a stream kept for `SHELL_EXIT`'s details, in bytes.
const TAIL: usize = 2048;
/// `PATH` when the worker has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Runs commands for `shell.run` steps (only on workers that enable it).
pub struct ShellExecutor {
    path: String,
    stream_limit: usize,
    payload_limit: usize,
}

/// A command ready to start.
struct Prepared {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<String>,
    deadline: DateTime<Utc>,
}

/// One stream as read: its head, its tail, and its full length.
#[derive(Default)]
struct Captured {
    head: Vec<u8>,
    tail: Vec<u8>,
    total: usize,
}

/// Kills the command's process group when dropped.
struct Group(Option<Pid>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            // ESRCH: the group is already gone.
            let _ = killpg(group, Signal::SIGKILL);
        }
    }
}

impl ShellExecutor {
    pub fn from_config(config: &Config) -> Self {
        Self::new(config.limits.payload_bytes)
    }

    pub fn new(payload_limit: usize) -> Self {
        Self {
            path: std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned()),
            stream_limit: STREAM_LIMIT,
            payload_limit,
        }
    }

    /// Runs one `shell.run` step by `deadline`.
    pub async fn run(&self, input: &Value, deadline: DateTime<Utc>) -> Outcome {
        let prepared = match prepare(input, deadline) {
            Ok(prepared) => prepared,
            Err(error) => return Outcome::failed(error),
        };
        let program = prepared.argv[0].clone();
        let mut child = match self.command(&prepared).spawn() {
            Ok(child) => child,
            Err(error) => return Outcome::failed(spawn_error(&program, prepared.cwd, &error)),
        };
        let seconds = io_common::remaining(prepared.deadline).as_secs_f64();
        let Some((status, stdout, stderr)) = self.finish(&mut child, prepared.deadline).await
        else {
            return timed_out(format!(
                "shell.run: `{program}` did not finish within {seconds:.1} s; its process group was killed"
            ));
        };
        let status = match status {
            Ok(status) => status,
            Err(error) => return Outcome::failed(spawn_error(&program, None, &error)),
        };
        let exit_code = status
            .code()
            .or_else(|| status.signal().map(|signal| 128 + signal))
            .unwrap_or(-1);
        if exit_code != 0 {
            let signal = status.signal();
            return Outcome::failed(exit_error(&program, exit_code, signal, &stdout, &stderr));
        }
        self.output(exit_code, stdout, stderr)
    }

    /// The argv in its own process group, with the minimal environment.
    fn command(&self, prepared: &Prepared) -> Command {
        let mut command = Command::new(&prepared.argv[0]);
        command
            .args(&prepared.argv[1..])
            .env_clear()
            .env("PATH", &self.path)
            .envs(prepared.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cwd) = &prepared.cwd {
            command.current_dir(cwd);
        }
        command
    }

    /// Waits for the command and reads both streams to their end, by
    /// `deadline`; `None` when the deadline passed (the group is killed).
    async fn finish(
        &self,
        child: &mut Child,
        deadline: DateTime<Utc>,
    ) -> Option<(std::io::Result<ExitStatus>, Captured, Captured)> {
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        // Killed on every way out, a dropped attempt included.
        let _group = Group(pgid);
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let exited = async {
            let status = child.wait().await;
            // What it left in its group would hold the pipes open.
            if let Some(pgid) = pgid {
                let _ = killpg(pgid, Signal::SIGKILL);
            }
            status
        };
        let limit = self.stream_limit;
        let finished =
            async { tokio::join!(exited, capture(stdout, limit), capture(stderr, limit)) };
        tokio::time::timeout_at(io_common::instant(deadline), finished)
            .await
            .ok()
    }

    /// `{exit_code, stdout, stderr, truncated?}` within the payload limit.
    fn output(&self, exit_code: i32, stdout: Captured, stderr: Captured) -> Outcome {
        let mut truncated = stdout.total > stdout.head.len() || stderr.total > stderr.head.len();
        let mut streams = [
            String::from_utf8_lossy(&stdout.head).into_owned(),
            String::from_utf8_lossy(&stderr.head).into_owned(),
        ];
        loop {
            let mut output =
                json!({"exit_code": exit_code, "stdout": streams[0], "stderr": streams[1]});
            if truncated {
                output["truncated"] = Value::Bool(true);
            }
            let size = serde_json::to_vec(&output).map_or(usize::MAX, |bytes| bytes.len());
            if size <= self.payload_limit {
                return Outcome::succeeded(output);
            }
            let longer = usize::from(streams[1].len() > streams[0].len());
            if streams[longer].is_empty() {
                return Outcome::failed(
                    ErrorInfo::new(
                        codes::PAYLOAD_TOO_LARGE,
                        format!(
                            "shell.run: the output does not fit in {} bytes",
                            self.payload_limit
                        ),
                    )
                    .not_retryable(),
                );
            }
            let keep = floor_char_boundary(&streams[longer], streams[longer].len() * 3 / 4);
            streams[longer].truncate(keep);
            truncated = true;
        }
    }
}

/// Reads and checks the input.
fn prepare(input: &Value, deadline: DateTime<Utc>) -> Result<Prepared, ErrorInfo> {
    let fields = io_common::object(EXECUTOR, input)?;
    let deadline = io_common::effective_deadline(EXECUTOR, fields, deadline)?;
    let argv: Vec<String> = match fields.get("command") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid_input(EXECUTOR, "`command` must be an array of strings"))?,
        Some(Value::String(_)) => {
            return Err(invalid_input(
                EXECUTOR,
                "`command` must be an argv array (`[\"ls\", \"-l\"]`); it never goes through a shell",
            ));
        }
        _ => {
            return Err(invalid_input(
                EXECUTOR,
                "`command` (an argv array) is required",
            ));
        }
    };
    if argv.first().is_none_or(String::is_empty) {
        return Err(invalid_input(
            EXECUTOR,
            "`command` must name a program first",
        ));
    }
    if argv.iter().any(|arg| arg.contains('\0')) {
        return Err(invalid_input(EXECUTOR, "`command` may not contain NUL"));
    }
    let env = io_common::string_map(EXECUTOR, fields, "env")?;
    if let Some((name, _)) = env
        .iter()
        .find(|(name, value)| name.is_empty() || name.contains(['=', '\0']) || value.contains('\0'))
    {
        return Err(invalid_input(
            EXECUTOR,
            format!("`env` entry {name:?} is not a valid variable"),
        ));
    }
    let cwd = io_common::optional_str(EXECUTOR, fields, "cwd")?.map(str::to_owned);
    Ok(Prepared {
        argv,
        env,
        cwd,
        deadline,
    })
}

/// Reads a stream to its end, keeping the first `limit` bytes and the last
/// [`TAIL`].
async fn capture(stream: Option<impl AsyncRead + Unpin>, limit: usize) -> Captured {
    let mut captured = Captured::default();
    let Some(mut stream) = stream else {
        return captured;
    };
    let mut buffer = vec![0_u8; 16 * 1024];
    while let Ok(read) = stream.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        let chunk = &buffer[..read];
        let room = limit.saturating_sub(captured.head.len());
        captured.head.extend_from_slice(&chunk[..read.min(room)]);
        captured.tail.extend_from_slice(chunk);
        if captured.tail.len() > 2 * TAIL {
            captured.tail.drain(..captured.tail.len() - TAIL);
        }
        captured.total += read;
    }
    captured
}

fn tail_text(captured: &Captured) -> String {
    let start = captured.tail.len().saturating_sub(TAIL);
    String::from_utf8_lossy(&captured.tail[start..]).into_owned()
}

fn exit_error(
    program: &str,
    exit_code: i32,
    signal: Option<i32>,
    stdout: &Captured,
    stderr: &Captured,
) -> ErrorInfo {
    let how = match signal {
        Some(signal) => format!("was killed by signal {signal}"),
        None => format!("exited with {exit_code}"),
    };
    let mut details = json!({
        "exit_code": exit_code,
        "stderr_tail": tail_text(stderr),
        "stdout_tail": tail_text(stdout),
    });
    if let Some(signal) = signal {
        details["signal"] = json!(signal);
    }
    ErrorInfo::new(codes::SHELL_EXIT, format!("shell.run: `{program}` {how}")).with_details(details)
}

fn spawn_error(program: &str, cwd: Option<String>, error: &std::io::Error) -> ErrorInfo {
    let message = match (&cwd, error.kind()) {
        (Some(cwd), _) if !std::path::Path::new(cwd).is_dir() => {
            format!("shell.run: the directory {cwd:?} does not exist")
        }
        (_, std::io::ErrorKind::NotFound) => {
            format!("shell.run: no program `{program}` (looked up on PATH)")
        }
        _ => format!("shell.run: cannot start `{program}`: {error}"),
    };
    ErrorInfo::new(codes::SHELL_SPAWN, message).not_retryable()
}

/// The largest char boundary of `text` at or below `index`.
fn floor_char_boundary(text: &str, index: usize) -> usize {
    (0..=index.min(text.len()))
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0)
}
