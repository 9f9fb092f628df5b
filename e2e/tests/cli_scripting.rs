//! The `junction` CLI as a script uses it, run as the built binary against
//! a real cluster: the `-o json` (and `jsonl`) output of every command that
//! prints data parses; `junction completion bash` is sourced by bash; each
//! kind of failure exits with its documented code (0 success, 1 the run
//! ended FAILED, 2 bad input, 3 unreachable or timed out, 4 refused); the
//! configuration file gives the cluster's address; `junction run` shows
//! each step as it starts and ends, then a summary line.

use junction_e2e::{Process, TestEnv};
use junction_example_agents::Registry;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

const STEPS: &str = r#"
id: steps
states:
  - { name: first, type: operation, action: agent.run, input: { agent: echo, task: "one" }, resultPath: steps.first, next: second }
  - { name: second, type: operation, action: agent.run, input: { agent: upper, task: "two" }, resultPath: steps.second, end: true }
"#;

const FAILS: &str = r#"
id: fails
states:
  - { name: boom, type: operation, action: agent.run, input: { agent: fail, task: "x" }, end: true }
"#;

const WAITS: &str = r#"
id: waits
states:
  - { name: ask, type: human_approval, message: "ok?", next: done }
  - { name: done, type: inject, data: {}, end: true }
"#;

const NEVER_RUN: &str = "id: never\nstates:\n  - { name: a, type: inject, data: {}, end: true }\n";

/// What a finished CLI command did.
#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?} in {self:?}")))
            .collect()
    }
}

/// Runs `junction ARGS…` against `env` (unless `env` is `None`), with `vars`.
async fn junction_with(
    env: Option<&TestEnv>,
    vars: &[(&str, &str)],
    args: &[&str],
) -> anyhow::Result<Outcome> {
    let path = junction_e2e::bin_dir().join("junction");
    anyhow::ensure!(path.exists(), "{} is not built", path.display());
    let mut command = tokio::process::Command::new(&path);
    command
        .args(args)
        .env_remove("JUNCTION_CONFIG")
        .env_remove("JUNCTION_TOKEN")
        .env_remove("JUNCTION_TENANT")
        .env_remove("JUNCTION_NATS__URL")
        .env_remove("JUNCTION_NATS__PREFIX")
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    if let Some(env) = env {
        command
            .env("JUNCTION_NATS__URL", junction_e2e::nats_url())
            .env("JUNCTION_NATS__PREFIX", &env.prefix);
    }
    command.envs(vars.iter().copied());
    let output = tokio::time::timeout(WAIT, command.output()).await??;
    Ok(Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

async fn junction(env: &TestEnv, args: &[&str]) -> anyhow::Result<Outcome> {
    junction_with(Some(env), &[], args).await
}

/// Runs `junction ARGS…`, which must exit `code`.
async fn expect(env: &TestEnv, code: i32, args: &[&str]) -> anyhow::Result<Outcome> {
    let outcome = junction(env, args).await?;
    assert_eq!(
        outcome.code,
        Some(code),
        "{args:?}: {outcome:?}\n{}",
        env.logs()
    );
    Ok(outcome)
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path.display().to_string())
}

#[tokio::test]
async fn every_command_prints_json_and_exits_with_its_documented_code() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let dir = env.dir.path();
    let files = [
        write(dir, "steps.workflow.yaml", STEPS)?,
        write(dir, "fails.workflow.yaml", FAILS)?,
        write(dir, "waits.workflow.yaml", WAITS)?,
        write(dir, "never.workflow.yaml", NEVER_RUN)?,
    ];
    let mut put = vec!["put", "-o", "json"];
    put.extend(files.iter().map(String::as_str));
    let stored = expect(&env, 0, &put).await?.json();
    assert_eq!(stored.as_array().map(Vec::len), Some(4), "{stored}");
    assert!(
        stored
            .as_array()
            .into_iter()
            .flatten()
            .all(|r| r["ok"] == true),
        "{stored}"
    );
    assert_eq!(stored[0]["id"], "steps");

    workflows_and_agents(&env).await?;
    let run_id = runs_and_their_events(&env).await?;
    lists_and_members(&env, &run_id).await?;
    exit_codes(&env).await?;
    tail_prints_json_lines(&env, &run_id).await?;
    the_configuration_file_names_the_cluster(&env).await
}

/// `workflows list|get|delete`, `agents put|list|delete`.
async fn workflows_and_agents(env: &TestEnv) -> anyhow::Result<()> {
    let listed = expect(env, 0, &["workflows", "list", "-o", "json"])
        .await?
        .json();
    let ids: Vec<&str> = listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["id"].as_str())
        .collect();
    for id in ["steps", "fails", "waits", "never"] {
        assert!(ids.contains(&id), "{id} not in {listed}");
    }
    let jsonl = expect(env, 0, &["workflows", "list", "-o", "jsonl"]).await?;
    assert_eq!(jsonl.json_lines().len(), ids.len());
    let got = expect(env, 0, &["workflows", "get", "steps", "-o", "json"])
        .await?
        .json();
    assert_eq!(got["id"], "steps");
    assert_eq!(got["version"], 1);
    let source = expect(env, 0, &["workflows", "get", "steps"]).await?.stdout;
    assert!(source.contains("name: first"), "{source}");
    let deleted = expect(env, 0, &["workflows", "delete", "never", "-o", "json"])
        .await?
        .json();
    assert_eq!(deleted["deleted"], true, "{deleted}");
    let gone = expect(env, 4, &["workflows", "get", "never"]).await?;
    assert!(gone.stderr.contains("NOT_FOUND"), "{gone:?}");

    let agent = write(
        env.dir.path(),
        "scripted.agent.yaml",
        "name: scripted\ndescription: from the CLI\ninput_schema: { type: object }\n",
    )?;
    let put = expect(env, 0, &["agents", "put", &agent, "-o", "json"])
        .await?
        .json();
    assert_eq!(put[0]["name"], "scripted", "{put}");
    assert_eq!(put[0]["created"], true, "{put}");
    let agents = expect(env, 0, &["agents", "list", "-o", "json"])
        .await?
        .json();
    let scripted = agents
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["name"] == "scripted")
        .cloned()
        .unwrap_or_default();
    assert_eq!(scripted["description"], "from the CLI", "{agents}");
    let text = expect(env, 0, &["agents", "list"]).await?.stdout;
    assert!(text.starts_with("NAME"), "{text}");
    expect(env, 0, &["agents", "delete", "scripted", "-o", "json"]).await?;
    let again = expect(env, 4, &["agents", "delete", "scripted"]).await?;
    assert!(again.stderr.contains("NOT_FOUND"), "{again:?}");
    let bad = write(env.dir.path(), "bad.agent.yaml", "description: no name\n")?;
    expect(env, 2, &["agents", "put", &bad]).await?;
    Ok(())
}

/// `run` (text, json, jsonl), `get`, `events`; returns a completed run's id.
async fn runs_and_their_events(env: &TestEnv) -> anyhow::Result<String> {
    let text = expect(env, 0, &["run", "steps"]).await?.stdout;
    // Each step as it starts and as it ends, then the summary line.
    for needle in [
        "workflow.step.started  first (attempt 1)",
        "workflow.step.completed  first (attempt 1)",
        "workflow.step.started  second (attempt 1)",
        "workflow.step.completed  second (attempt 1)",
        "COMPLETED in ",
        ": 2 steps",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from\n{text}");
    }
    let started = text.find("started  second").unwrap_or(0);
    let ended = text.find("completed  second").unwrap_or(0);
    assert!(started < ended, "{text}");

    let run = expect(env, 0, &["run", "steps", "-o", "json"])
        .await?
        .json();
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["context"]["steps"]["second"]["text"], "TWO", "{run}");
    let run_id = run["id"].as_str().unwrap_or_default().to_owned();

    let events = expect(env, 0, &["run", "steps", "-o", "jsonl"])
        .await?
        .json_lines();
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "in order, once each"
    );
    assert_eq!(
        events.last().map(|e| e["type"].clone()),
        Some("workflow.run.completed".into())
    );

    let no_wait = expect(env, 0, &["run", "steps", "--no-wait", "-o", "json"])
        .await?
        .json();
    assert!(no_wait["run_id"].is_string(), "{no_wait}");

    let got = expect(env, 0, &["get", &run_id, "-o", "json"])
        .await?
        .json();
    assert_eq!(got["id"], run_id.as_str());
    let stored = expect(env, 0, &["events", &run_id, "-o", "json"])
        .await?
        .json();
    assert_eq!(stored[0]["type"], "workflow.run.started", "{stored}");
    let lines = expect(env, 0, &["events", &run_id, "-o", "jsonl"])
        .await?
        .json_lines();
    assert_eq!(Some(lines.len()), stored.as_array().map(Vec::len));
    Ok(run_id)
}

/// `runs` with pages, `approvals`, `members`.
async fn lists_and_members(env: &TestEnv, run_id: &str) -> anyhow::Result<()> {
    let page = expect(
        env,
        0,
        &["runs", "--workflow", "steps", "--limit", "2", "-o", "json"],
    )
    .await?
    .json();
    assert_eq!(page["runs"].as_array().map(Vec::len), Some(2), "{page}");
    let cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty(), "{page}");
    let next = expect(
        env,
        0,
        &[
            "runs",
            "--workflow",
            "steps",
            "--limit",
            "2",
            "--cursor",
            &cursor,
            "-o",
            "jsonl",
        ],
    )
    .await?
    .json_lines();
    assert!(!next.is_empty());
    assert!(next.iter().all(|r| r["id"] != page["runs"][0]["id"]));
    let completed = expect(env, 0, &["runs", "--status", "completed", "-o", "json"])
        .await?
        .json();
    assert!(
        completed["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["id"] == run_id),
        "{completed}"
    );
    let table = expect(env, 0, &["runs"]).await?.stdout;
    assert!(table.starts_with("ID "), "{table}");

    let approvals = expect(env, 0, &["approvals", "-o", "json"]).await?.json();
    assert!(approvals.is_array(), "{approvals}");
    let deprecated = expect(env, 0, &["approvals", "--json"]).await?.json();
    assert_eq!(deprecated, approvals);

    let members = expect(env, 0, &["members", "-o", "json"]).await?.json();
    let coordinator = members
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["role"] == "coordinator")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        coordinator["http_addr"].as_str(),
        Some(env.coordinator_http().await?.as_str())
    );
    let text = expect(env, 0, &["members"]).await?.stdout;
    assert!(text.contains("http://"), "{text}");
    Ok(())
}

/// One case per exit code.
async fn exit_codes(env: &TestEnv) -> anyhow::Result<()> {
    // 1: the run ended FAILED.
    let failed = expect(env, 1, &["run", "fails"]).await?;
    assert!(failed.stdout.contains("FAILED"), "{failed:?}");
    // 2: usage and bad input.
    expect(env, 2, &["run", "steps", "--input", "[1]"]).await?;
    expect(env, 2, &["runs", "--status", "nope"]).await?;
    expect(env, 2, &["runs", "--limit", "0"]).await?;
    expect(env, 2, &["put", "/no/such.workflow.yaml"]).await?;
    let broken = write(
        env.dir.path(),
        "broken.workflow.yaml",
        "id: broken\nstates: []\n",
    )?;
    let invalid = expect(env, 2, &["put", &broken]).await?;
    assert!(invalid.stderr.contains("VALIDATION_FAILED"), "{invalid:?}");
    let tenant = junction_with(
        Some(env),
        &[("JUNCTION_TENANT", "not a tenant!")],
        &["runs"],
    )
    .await?;
    assert_eq!(tenant.code, Some(2), "{tenant:?}");
    assert!(tenant.stderr.contains("INVALID_REQUEST"), "{tenant:?}");
    // 3: not reachable, and waiting timed out.
    let unreachable = junction_with(
        None,
        &[("JUNCTION_NATS__URL", "nats://127.0.0.1:1")],
        &["members"],
    )
    .await?;
    assert_eq!(unreachable.code, Some(3), "{unreachable:?}");
    let nobody = junction_with(
        None,
        &[
            ("JUNCTION_NATS__URL", &junction_e2e::nats_url()),
            ("JUNCTION_NATS__PREFIX", "nobodyhere"),
        ],
        &["runs"],
    )
    .await?;
    assert_eq!(nobody.code, Some(3), "{nobody:?}");
    let waiting = expect(env, 3, &["run", "waits", "--timeout-secs", "2"]).await?;
    assert!(waiting.stderr.contains("has not ended"), "{waiting:?}");
    // 4: refused.
    expect(env, 4, &["get", "no-such-run"]).await?;
    let conflict = expect(env, 4, &["workflows", "delete", "steps"]).await?;
    assert!(conflict.stderr.contains("CONFLICT"), "{conflict:?}");
    // The tenant from the environment: another tenant sees none of these runs.
    let other = junction_with(
        Some(env),
        &[("JUNCTION_TENANT", "other")],
        &["runs", "-o", "json"],
    )
    .await?;
    assert_eq!(other.code, Some(0), "{other:?}");
    assert_eq!(other.json()["runs"], serde_json::json!([]));
    Ok(())
}

/// `tail --run ID -o jsonl`: the stored events, one JSON object per line.
async fn tail_prints_json_lines(env: &TestEnv, run_id: &str) -> anyhow::Result<()> {
    let vars = [
        ("JUNCTION_NATS__URL".to_owned(), junction_e2e::nats_url()),
        ("JUNCTION_NATS__PREFIX".to_owned(), env.prefix.clone()),
    ];
    let mut tail = Process::spawn_with_args(
        "junction",
        "cli-tail-jsonl",
        &["tail", "--run", run_id, "-o", "jsonl"],
        &vars,
        env.dir.path(),
    )?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !tail.output().contains("workflow.run.completed") {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "{}", tail.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::process::Command::new("kill")
        .args(["-INT", &tail.pid().to_string()])
        .status()?;
    assert_eq!(tail.wait_exit(Duration::from_secs(10)).await, Some(0));
    let output = tail.output();
    let events: Vec<Value> = output
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(events[0]["type"], "workflow.run.started", "{output}");
    Ok(())
}

/// `--config FILE` gives `nats.url` and `nats.prefix`, as the processes read them.
async fn the_configuration_file_names_the_cluster(env: &TestEnv) -> anyhow::Result<()> {
    let file = write(
        env.dir.path(),
        "junction.toml",
        &format!(
            "[nats]\nurl = \"{}\"\nprefix = \"{}\"\n[worker]\nconcurrency = 2\n",
            junction_e2e::nats_url(),
            env.prefix
        ),
    )?;
    let members = junction_with(None, &[], &["--config", &file, "members", "-o", "json"]).await?;
    assert_eq!(members.code, Some(0), "{members:?}");
    assert!(members.json().as_array().is_some_and(|m| !m.is_empty()));
    let from_env =
        junction_with(None, &[("JUNCTION_CONFIG", &file)], &["runs", "-o", "json"]).await?;
    assert_eq!(from_env.code, Some(0), "{from_env:?}");
    Ok(())
}

#[tokio::test]
async fn completion_scripts_are_sourced_by_their_shells() -> anyhow::Result<()> {
    let path = junction_e2e::bin_dir().join("junction");
    let script = std::process::Command::new(&path)
        .args(["completion", "bash"])
        .output()?;
    assert!(script.status.success());
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), &script.stdout)?;
    // Sourced, it registers a completion for `junction` that offers the commands.
    let check = format!(
        "source {} && complete -p junction && COMP_WORDS=(junction wor) COMP_CWORD=1 COMP_LINE='junction wor' COMP_POINT=12 && _junction junction wor junction && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.path().display()
    );
    let sourced = std::process::Command::new("bash")
        .args(["-c", &check])
        .output()?;
    let out = String::from_utf8_lossy(&sourced.stdout);
    assert!(
        sourced.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&sourced.stderr)
    );
    assert!(out.contains("complete"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "workflows"), "{out}");
    for shell in ["zsh", "fish"] {
        let script = std::process::Command::new(&path)
            .args(["completion", shell])
            .output()?;
        assert!(
            script.status.success() && !script.stdout.is_empty(),
            "{shell}"
        );
    }
    let usage = std::process::Command::new(&path)
        .args(["completion", "tcsh"])
        .output()?;
    assert_eq!(usage.status.code(), Some(2));
    Ok(())
}
