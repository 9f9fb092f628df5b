//! `shell.run` with real processes.

use super::*;
use junction_core::status::StepStatus;
use std::time::Duration;

const LIMIT: usize = 8 * 1024 * 1024;

async fn run(shell: &ShellExecutor, input: Value) -> Outcome {
    shell
        .run(&input, Utc::now() + chrono::Duration::seconds(60))
        .await
}

fn output(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Succeeded { output, .. } => output,
        other => panic!("expected a success, got {other:?}"),
    }
}

fn error(outcome: Outcome) -> ErrorInfo {
    match outcome {
        Outcome::Failed { error, .. } => error,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Whether `pid` is gone (or a zombie: dead, waiting to be reaped).
fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits (at most 5 s) for `pid` to die.
async fn wait_dead(pid: i32) -> bool {
    for _ in 0..100 {
        if is_dead(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn the_argv_runs_without_a_shell() {
    let shell = ShellExecutor::new(LIMIT);
    let reply = output(run(&shell, json!({"command": ["echo", "$HOME", "a  b", "*"]})).await);
    assert_eq!(
        reply,
        json!({"exit_code": 0, "stdout": "$HOME a  b *\n", "stderr": ""})
    );
}

#[tokio::test]
async fn the_child_sees_path_and_the_steps_env_only() {
    let shell = ShellExecutor::new(LIMIT);
    let reply = output(
        run(
            &shell,
            json!({"command": ["env"], "env": {"GREETING": "hi there"}}),
        )
        .await,
    );
    let stdout = reply["stdout"].as_str().unwrap_or_default();
    let mut names: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(n, _)| n)
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["GREETING", "PATH"], "{stdout}");
    assert!(stdout.contains("GREETING=hi there\n"));
}

#[tokio::test]
async fn cwd_sets_the_working_directory() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().canonicalize().expect("a real path");
    let shell = ShellExecutor::new(LIMIT);
    let reply = output(run(&shell, json!({"command": ["pwd"], "cwd": path})).await);
    assert_eq!(reply["stdout"], format!("{}\n", path.display()));
}

#[tokio::test]
async fn a_non_zero_exit_fails_with_the_code_and_the_end_of_stderr() {
    let shell = ShellExecutor::new(LIMIT);
    let failed = error(
        run(
            &shell,
            json!({"command": ["sh", "-c", "echo partial; echo oops >&2; exit 3"]}),
        )
        .await,
    );
    assert_eq!(failed.code, codes::SHELL_EXIT);
    assert_ne!(failed.retryable, Some(false));
    assert_eq!(
        failed.details,
        Some(json!({"exit_code": 3, "stderr_tail": "oops\n", "stdout_tail": "partial\n"}))
    );
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let shell = ShellExecutor::new(LIMIT);
    let input = json!({
        "command": ["sh", "-c", "sleep 30 & echo $! > pidfile; wait"],
        "cwd": dir.path(),
        "timeoutSeconds": 0.5,
    });
    match run(&shell, input).await {
        Outcome::Failed { status, error } => {
            assert_eq!(status, StepStatus::TimedOut);
            assert_eq!(error.code, codes::STEP_TIMEOUT);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let pid = std::fs::read_to_string(dir.path().join("pidfile")).expect("the pidfile");
    let pid: i32 = pid.trim().parse().expect("a pid");
    assert!(wait_dead(pid).await, "the grandchild {pid} survived");
}

#[tokio::test]
async fn what_the_command_leaves_running_is_killed_when_it_exits() {
    let shell = ShellExecutor::new(LIMIT);
    let input = json!({"command": ["sh", "-c", "sleep 30 & echo $!"], "timeoutSeconds": 20});
    let reply = output(run(&shell, input).await);
    let pid: i32 = reply["stdout"]
        .as_str()
        .and_then(|s| s.trim().parse().ok())
        .expect("a pid");
    assert!(wait_dead(pid).await, "the background {pid} survived");
}

#[tokio::test]
async fn output_past_one_mebibyte_is_cut_and_flagged() {
    let shell = ShellExecutor::new(LIMIT);
    let reply = output(
        run(
            &shell,
            json!({"command": ["sh", "-c", "yes | head -c 3000000"]}),
        )
        .await,
    );
    assert_eq!(reply["stdout"].as_str().map(str::len), Some(STREAM_LIMIT));
    assert_eq!(reply["truncated"], true);
    assert_eq!(reply["exit_code"], 0);
    let small = output(run(&shell, json!({"command": ["echo", "hi"]})).await);
    assert!(small.get("truncated").is_none());
}

#[tokio::test]
async fn output_is_cut_further_to_fit_the_payload_limit() {
    let limit = 1024 * 1024 - 16 * 1024;
    let shell = ShellExecutor::new(limit);
    let command = "yes | head -c 3000000; yes e | head -c 3000000 >&2";
    let reply = output(run(&shell, json!({"command": ["sh", "-c", command]})).await);
    assert_eq!(reply["truncated"], true);
    let size = serde_json::to_vec(&reply)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    assert!(size <= limit, "{size} bytes");
    assert!(
        reply["stdout"]
            .as_str()
            .is_some_and(|s| s.len() > 256 * 1024)
    );
    assert!(
        reply["stderr"]
            .as_str()
            .is_some_and(|s| s.len() > 256 * 1024)
    );
}

#[tokio::test]
async fn malformed_commands_are_refused() {
    let shell = ShellExecutor::new(LIMIT);
    for (input, fragment) in [
        (json!({"command": []}), "name a program"),
        (json!({"command": [""]}), "name a program"),
        (json!({"command": "echo hi"}), "never goes through a shell"),
        (json!({"command": ["echo", 1]}), "array of strings"),
        (json!({}), "is required"),
        (
            json!({"command": ["env"], "env": {"A=B": "x"}}),
            "`env` entry",
        ),
        (json!({"command": ["env"], "env": {"A": 1}}), "`env.A`"),
    ] {
        let failed = error(run(&shell, input.clone()).await);
        assert_eq!(failed.code, codes::INVALID_INPUT, "{input}");
        assert!(
            failed.message.contains(fragment),
            "{input}: {}",
            failed.message
        );
    }
}

#[tokio::test]
async fn a_program_or_directory_that_does_not_exist_cannot_start() {
    let shell = ShellExecutor::new(LIMIT);
    let missing = error(run(&shell, json!({"command": ["no-such-program-junction"]})).await);
    assert_eq!(missing.code, codes::SHELL_SPAWN);
    assert_eq!(missing.retryable, Some(false));
    assert!(
        missing
            .message
            .contains("no program `no-such-program-junction`")
    );
    let nowhere = error(run(&shell, json!({"command": ["pwd"], "cwd": "/no/such/dir"})).await);
    assert_eq!(nowhere.code, codes::SHELL_SPAWN);
    assert!(
        nowhere.message.contains("does not exist"),
        "{}",
        nowhere.message
    );
}
