//! The operator commands of the `junction` CLI, run as the built binary
//! against a real cluster with the test's NATS URL and prefix in its
//! environment (`JUNCTION_NATS__URL`, `JUNCTION_NATS__PREFIX`):
//!
//! - `junction run` follows a run that waits for approval, prints the pending
//!   approval and the exact `junction approve <id>` command, says when the run
//!   is paused; `approvals --run`, `pause`, `resume` and `approve` drive it to
//!   completion, and a second decision is `ALREADY_DECIDED`;
//! - `junction cancel` ends a waiting run `CANCELLED`, `tail` (every run, and
//!   one run) shows it live and stops on Ctrl-C, and error replies
//!   (`NOT_FOUND`, `INVALID_STATE`, `ALREADY_DECIDED`) exit 4 with their
//!   code, bad input exits 2.

use junction_e2e::{Process, SHIP, TestEnv};
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// The `$USER` the CLI runs with: the default actor.
const OPERATOR: &str = "e2e-operator";

/// The environment of every CLI process: this cluster, and a known `$USER`.
fn cli_env(env: &TestEnv) -> Vec<(String, String)> {
    vec![
        ("JUNCTION_NATS__URL".into(), junction_e2e::nats_url()),
        ("JUNCTION_NATS__PREFIX".into(), env.prefix.clone()),
        ("USER".into(), OPERATOR.into()),
        ("NO_COLOR".into(), "1".into()),
    ]
}

/// What a finished CLI command did.
#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `junction ARGS…` to its end.
async fn junction(env: &TestEnv, args: &[&str]) -> anyhow::Result<Outcome> {
    let path = junction_e2e::bin_dir().join("junction");
    anyhow::ensure!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first",
        path.display()
    );
    let output = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(&path)
            .args(args)
            .env_remove("JUNCTION_CONFIG")
            .envs(cli_env(env))
            .kill_on_drop(true)
            .output(),
    )
    .await??;
    Ok(Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs `junction ARGS…`, which must exit 0; returns its stdout.
async fn junction_ok(env: &TestEnv, args: &[&str]) -> anyhow::Result<String> {
    let outcome = junction(env, args).await?;
    anyhow::ensure!(
        outcome.code == Some(0),
        "junction {args:?} failed: {outcome:?}\n{}",
        env.logs()
    );
    Ok(outcome.stdout)
}

/// Starts `junction ARGS…` in the background, its output in `<name>.log`.
fn spawn_junction(env: &TestEnv, name: &str, args: &[&str]) -> anyhow::Result<Process> {
    Process::spawn_with_args("junction", name, args, &cli_env(env), env.dir.path())
}

/// Waits until the process has printed `needle`; returns all its output.
async fn printed(env: &TestEnv, process: &Process, needle: &str) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let output = process.output();
        if output.contains(needle) {
            return Ok(output);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{} did not print {needle:?} within {WAIT:?}:\n{output}\n{}",
            process.name,
            env.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends SIGINT (Ctrl-C) and expects a clean exit.
async fn interrupt(process: &mut Process) -> anyhow::Result<()> {
    std::process::Command::new("kill")
        .args(["-INT", &process.pid().to_string()])
        .status()?;
    let code = process.wait_exit(Duration::from_secs(10)).await;
    anyhow::ensure!(
        code == Some(0),
        "{} exited with {code:?} on Ctrl-C:\n{}",
        process.name,
        process.output()
    );
    Ok(())
}

/// The word after `after ` on the first line that has it.
fn word_after(text: &str, after: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.split_once(after))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .map(str::to_owned)
}

/// The first stored event of type `kind`.
fn event<'a>(events: &'a [Value], kind: &str) -> Option<&'a Value> {
    events.iter().find(|e| e["type"] == kind)
}

/// Runs `junction ARGS…`, which must exit `code` with `needle` in its stderr.
async fn junction_fails(
    env: &TestEnv,
    code: i32,
    args: &[&str],
    needle: &str,
) -> anyhow::Result<()> {
    let outcome = junction(env, args).await?;
    assert_eq!(outcome.code, Some(code), "{args:?}: {outcome:?}");
    assert!(outcome.stderr.contains(needle), "{args:?}: {outcome:?}");
    Ok(())
}

/// A run that waits for approval, followed by `junction run`.
struct Followed {
    follower: Process,
    run_id: String,
    approval_id: String,
}

#[tokio::test]
async fn a_run_waiting_for_approval_is_listed_paused_resumed_and_approved_from_the_cli()
-> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(SHIP).await?;
    let mut run = follow_a_run_until_it_waits(&env).await?;
    the_pending_approval_is_listed(&env, &run).await?;
    pausing_and_resuming_is_followed(&env, &run).await?;
    the_printed_command_approves_it(&env, &mut run).await?;
    the_operator_and_the_comment_are_recorded(&env, &run.run_id).await?;

    // A second decision is refused with its code.
    junction_fails(
        &env,
        4,
        &["reject", &run.approval_id, "--actor", "bob"],
        "ALREADY_DECIDED",
    )
    .await?;
    let listed = junction_ok(&env, &["approvals", "--run", &run.run_id]).await?;
    assert!(listed.contains("APPROVED"), "{listed}");
    Ok(())
}

/// `junction run` follows the run and says what it waits for.
async fn follow_a_run_until_it_waits(env: &TestEnv) -> anyhow::Result<Followed> {
    let follower = spawn_junction(
        env,
        "cli-run",
        &[
            "run",
            "ship",
            "--input",
            r#"{"v":"1.2"}"#,
            "--timeout-secs",
            "120",
        ],
    )?;
    let shown = printed(env, &follower, "approve: junction approve ").await?;
    let run_id = word_after(&shown, "run ").unwrap_or_default();
    let approval_id = word_after(&shown, "approve: junction approve ").unwrap_or_default();
    assert!(
        shown.contains(&format!(
            "run {run_id} is WAITING_APPROVAL: approval {approval_id} (state ask): Ship 1.2?"
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("reject:  junction reject {approval_id}")),
        "{shown}"
    );
    Ok(Followed {
        follower,
        run_id,
        approval_id,
    })
}

/// The pending approval, as a table and as JSON.
async fn the_pending_approval_is_listed(env: &TestEnv, run: &Followed) -> anyhow::Result<()> {
    let Followed {
        run_id,
        approval_id,
        ..
    } = run;
    let listed = junction_ok(env, &["approvals", "--run", run_id]).await?;
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(lines[0].starts_with("ID "), "{listed}");
    for column in [approval_id.as_str(), run_id, "ask", "PENDING", "Ship 1.2?"] {
        assert!(lines[1].contains(column), "{column} missing from\n{listed}");
    }
    let pending = junction_ok(env, &["approvals", "--status", "pending", "--json"]).await?;
    let pending: Value = serde_json::from_str(&pending)?;
    assert_eq!(pending[0]["id"], approval_id.as_str(), "{pending}");
    Ok(())
}

/// Paused and resumed: the follower says so.
async fn pausing_and_resuming_is_followed(env: &TestEnv, run: &Followed) -> anyhow::Result<()> {
    let run_id = &run.run_id;
    let paused = junction_ok(env, &["pause", run_id, "--reason", "lunch"]).await?;
    assert_eq!(paused.trim(), format!("run {run_id} PAUSED"));
    printed(
        env,
        &run.follower,
        &format!("run {run_id} is PAUSED\n  resume: junction resume {run_id}"),
    )
    .await?;
    let resumed = junction_ok(env, &["resume", run_id]).await?;
    assert_eq!(resumed.trim(), format!("run {run_id} WAITING_APPROVAL"));
    Ok(())
}

/// The exact command the follower printed decides the approval, and the
/// follower shows the run to its end.
async fn the_printed_command_approves_it(env: &TestEnv, run: &mut Followed) -> anyhow::Result<()> {
    let (run_id, approval_id) = (&run.run_id, &run.approval_id);
    let approved = junction_ok(env, &["approve", approval_id, "--comment", "ok"]).await?;
    assert_eq!(approved.trim(), format!("approval {approval_id} APPROVED"));
    let follower = &mut run.follower;
    assert_eq!(
        follower.wait_exit(WAIT).await,
        Some(0),
        "{}",
        follower.output()
    );
    let output = follower.output();
    assert!(
        output.contains(&format!("run {run_id} COMPLETED")),
        "{output}"
    );
    assert!(
        output.contains(&format!(
            "workflow.approval.approved  ask (attempt 1)  approval {approval_id} by {OPERATOR}: ok"
        )) || output.contains(&format!(
            "workflow.approval.approved  approval {approval_id} by {OPERATOR}: ok"
        )),
        "{output}"
    );
    assert!(output.contains("\"shipped\": true"), "{output}");
    let run = env.get_run(run_id).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    Ok(())
}

/// The actor is `$USER`, and what was said is recorded.
async fn the_operator_and_the_comment_are_recorded(
    env: &TestEnv,
    run_id: &str,
) -> anyhow::Result<()> {
    let events = env.events(run_id).await?;
    let approved = event(&events, "workflow.approval.approved").cloned();
    let approved = approved.unwrap_or_default();
    assert_eq!(approved["data"]["actor"], OPERATOR, "{approved}");
    assert_eq!(approved["data"]["comment"], "ok", "{approved}");
    let paused = event(&events, "workflow.run.paused").cloned();
    let paused = paused.unwrap_or_default();
    assert_eq!(
        paused["data"],
        json!({ "actor": OPERATOR, "reason": "lunch" })
    );
    Ok(())
}

#[tokio::test]
async fn a_waiting_run_is_cancelled_from_the_cli_and_tail_shows_it() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(SHIP).await?;
    let (mut tail_all, run_id) = start_a_run_under_tail(&env).await?;

    // One run's events: the stored ones first, then live ones.
    let mut tail_run = spawn_junction(&env, "cli-tail-run", &["tail", "--run", &run_id])?;
    printed(&env, &tail_run, "workflow.approval.requested").await?;
    signals_are_sent_into_the_waiting_run(&env, &run_id).await?;

    let cancelled = junction_ok(
        &env,
        &["cancel", &run_id, "--reason", "not today", "--actor", "bob"],
    )
    .await?;
    assert_eq!(cancelled.trim(), format!("run {run_id} CANCELLED"));
    let run = env.get_run(&run_id).await?;
    assert_eq!(run["status"], "CANCELLED", "{run}");
    assert_eq!(run["error"]["code"], "CANCELLED", "{run}");

    for tail in [&tail_all, &tail_run] {
        printed(&env, tail, "workflow.run.cancelled  by bob: not today").await?;
    }
    interrupt(&mut tail_all).await?;
    interrupt(&mut tail_run).await?;
    // Each event once, even though the `--run` feed both read the stored
    // events and followed the live ones.
    let run_feed = tail_run.output();
    for kind in ["workflow.run.started", "workflow.approval.requested"] {
        assert_eq!(run_feed.matches(kind).count(), 1, "{run_feed}");
    }
    the_cancelled_run_refuses_what_an_ended_run_cannot_do(&env, &run_id).await?;
    unknown_ids_exit_4_with_the_error_code(&env).await
}

/// `junction tail` of every run, started before a run that it then shows;
/// returns the tail and the run's id.
async fn start_a_run_under_tail(env: &TestEnv) -> anyhow::Result<(Process, String)> {
    let tail_all = spawn_junction(env, "cli-tail-all", &["tail"])?;
    printed(env, &tail_all, "(Ctrl-C to stop)").await?;
    let started = junction_ok(
        env,
        &["run", "ship", "--input", r#"{"v":"2.0"}"#, "--no-wait"],
    )
    .await?;
    let run_id = word_after(&started, "run ").unwrap_or_default();
    assert_eq!(started.trim(), format!("run {run_id} started (ship)"));
    printed(
        env,
        &tail_all,
        &format!("{run_id}  #1   workflow.run.started"),
    )
    .await?;
    let requested = printed(env, &tail_all, "workflow.approval.requested").await?;
    assert!(requested.contains(": Ship 2.0?"), "{requested}");
    Ok((tail_all, run_id))
}

/// Signals into the run are accepted while it waits (and kept for a
/// `signal.wait` that never comes); bad data never leaves the CLI.
async fn signals_are_sent_into_the_waiting_run(env: &TestEnv, run_id: &str) -> anyhow::Result<()> {
    let sent = junction_ok(env, &["send", run_id, "nudge", "--data", r#"{"x":1}"#]).await?;
    assert_eq!(
        sent.trim(),
        format!("signal nudge delivered to run {run_id}")
    );
    junction_fails(
        env,
        2,
        &["send", run_id, "nudge", "--data", "[1]"],
        "--data must be a JSON object",
    )
    .await
}

/// The approval is closed with the run; repeating a cancel is fine, pausing
/// an ended run is not.
async fn the_cancelled_run_refuses_what_an_ended_run_cannot_do(
    env: &TestEnv,
    run_id: &str,
) -> anyhow::Result<()> {
    let listed = junction_ok(env, &["approvals", "--run", run_id]).await?;
    assert!(listed.contains("CANCELLED"), "{listed}");
    let again = junction_ok(env, &["cancel", run_id]).await?;
    assert_eq!(again.trim(), format!("run {run_id} CANCELLED"));
    junction_fails(env, 4, &["pause", run_id], "INVALID_STATE").await
}

/// Unknown ids: the error reply's code and message, exit 4.
async fn unknown_ids_exit_4_with_the_error_code(env: &TestEnv) -> anyhow::Result<()> {
    junction_fails(
        env,
        4,
        &["approve", "no-such-approval", "--comment", "ok"],
        "error: NOT_FOUND: approval `no-such-approval` not found",
    )
    .await?;
    junction_fails(env, 4, &["cancel", "no-such-run"], "NOT_FOUND").await?;
    let none = junction_ok(env, &["approvals", "--run", "no-such-run"]).await?;
    assert_eq!(none.trim(), "no approvals");
    Ok(())
}
