//! `junction`: the command-line client. Thin over the control plane.

mod client;
mod follow;
mod graph;
mod operator;
mod render;
mod tail;
mod timeline;
mod validate;

use anyhow::Context;
use clap::builder::PossibleValuesParser;
use clap::{Parser, Subcommand};
use client::Client;
use operator::{ApprovalFilter, Operator, RunAction};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `--nats-url` when neither the option nor `JUNCTION_NATS__URL` is given.
const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

#[derive(Parser)]
#[command(name = "junction", version, about = "Junction command-line client")]
struct Cli {
    /// NATS server.
    #[arg(
        long,
        global = true,
        env = "JUNCTION_NATS__URL",
        default_value = DEFAULT_NATS_URL
    )]
    nats_url: String,
    /// Subject namespace of the cluster.
    #[arg(long, global = true, env = "JUNCTION_NATS__PREFIX", default_value = "")]
    prefix: String,
    /// Tenant to act in.
    #[arg(long, global = true)]
    tenant: Option<String>,
    /// Token for a cluster with auth on (PROTOCOL §6); never printed.
    #[arg(long, global = true, env = "JUNCTION_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Who is acting, recorded with cancels, pauses, resumes and decisions
    /// (default: $USER, or `cli`).
    #[arg(long, global = true)]
    actor: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a run, wait for it, and print its timeline.
    Run {
        workflow_id: String,
        /// Run input, a JSON object.
        #[arg(long, default_value = "{}")]
        input: String,
        /// Return right after starting.
        #[arg(long)]
        no_wait: bool,
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
    },
    /// Publish a CloudEvent signal; with --wait, follow the run it starts.
    Signal {
        signal_type: String,
        #[arg(long, default_value = "{}")]
        data: String,
        /// CloudEvent id (default: a new UUID).
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        wait: bool,
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
    },
    /// Print a run as JSON.
    Get { run_id: String },
    /// Print a run's timeline, rebuilt from the stored events.
    Events { run_id: String },
    /// List runs.
    Runs {
        #[arg(long)]
        workflow: Option<String>,
        #[arg(long)]
        status: Option<String>,
    },
    /// Store workflow definition files.
    Put { files: Vec<PathBuf> },
    /// Cancel a run: it ends CANCELLED at once.
    Cancel {
        run_id: String,
        /// Why, recorded in the run's error and its `cancelled` event.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Pause a run: no new step starts until it is resumed.
    Pause {
        run_id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume a paused run.
    Resume {
        run_id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deliver a signal into a run (for its `signal.wait` states); `signal`
    /// publishes CloudEvents instead.
    Send {
        run_id: String,
        /// Signal name, as the `signal.wait` state names it.
        name: String,
        /// Signal data, a JSON object.
        #[arg(long, default_value = "{}")]
        data: String,
    },
    /// List approvals, newest first.
    Approvals {
        /// Only this run's approvals.
        #[arg(long = "run", value_name = "RUN_ID")]
        run_id: Option<String>,
        /// Only approvals with this status.
        #[arg(long, ignore_case = true, value_parser = PossibleValuesParser::new(
            ["PENDING", "APPROVED", "REJECTED", "TIMED_OUT", "CANCELLED"]))]
        status: Option<String>,
        /// At most this many (the server's default is 100).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: Option<u32>,
        /// Print the approvals as a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending approval: its run goes on.
    Approve {
        approval_id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a pending approval: its run fails (or is cancelled, per `onReject`).
    Reject {
        approval_id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Print lifecycle events live, one line each, until Ctrl-C.
    Tail {
        /// Only this run's events (its stored events first).
        #[arg(long = "run", value_name = "RUN_ID")]
        run_id: Option<String>,
    },
    /// List the cluster's live members.
    Members,
    /// Check definition files offline, as the coordinator would compile them.
    Validate {
        /// Definition files (`*.workflow.yaml|yml|json|star`) or directories of them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output: compiler-style text, or a JSON array.
        #[arg(long, value_enum, default_value_t = validate::OutputFormat::Text)]
        format: validate::OutputFormat,
        /// Directory of `*.agent.yaml|yml|json` files: also check that agents
        /// exist and that their schemas fit.
        #[arg(long, value_name = "DIR")]
        agents: Option<PathBuf>,
    },
    /// Print a definition's compiled graph as a Mermaid flowchart.
    Graph { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Offline commands: no runtime, no cluster.
    match &cli.command {
        Command::Validate {
            files,
            format,
            agents,
        } => return validate::run(files, *format, agents.as_deref()),
        Command::Graph { file } => return graph::run(file),
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn with_tenant(mut body: Value, tenant: &Option<String>) -> Value {
    if let Some(tenant) = tenant {
        body["tenant"] = json!(tenant);
    }
    body
}

fn parse_object(text: &str, what: &str) -> anyhow::Result<Value> {
    let value: Value =
        serde_json::from_str(text).with_context(|| format!("{what} is not valid JSON"))?;
    anyhow::ensure!(value.is_object(), "{what} must be a JSON object");
    Ok(value)
}

/// `--actor`, else `$USER`, else `cli`.
fn actor(cli: &Cli) -> String {
    cli.actor
        .clone()
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "cli".to_owned())
}

/// How to call this CLI again against the same cluster, as the user would
/// type it: `junction` plus the options the environment does not supply.
fn junction_command(cli: &Cli) -> String {
    // An option is needed when its value differs from what the command would
    // get without it (the environment variable, or the default).
    let needed = |var: &str, default: &str, value: &str| match std::env::var(var) {
        Ok(from_env) => from_env != value,
        Err(_) => value != default,
    };
    let mut words = vec!["junction".to_owned()];
    if needed("JUNCTION_NATS__URL", DEFAULT_NATS_URL, &cli.nats_url) {
        words.push(format!("--nats-url {}", shell_word(&cli.nats_url)));
    }
    if needed("JUNCTION_NATS__PREFIX", "", &cli.prefix) {
        words.push(format!("--prefix {}", shell_word(&cli.prefix)));
    }
    if let Some(tenant) = &cli.tenant {
        words.push(format!("--tenant {}", shell_word(tenant)));
    }
    if let Some(actor) = &cli.actor {
        words.push(format!("--actor {}", shell_word(actor)));
    }
    words.join(" ")
}

/// `text` as one POSIX shell word: as it is when that is safe, else quoted.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.,:/@%+=".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let client = Client::connect(&cli.nats_url, &cli.prefix)
        .await?
        .with_token(cli.token.clone());
    let tenant = cli.tenant.clone();
    let actor = actor(&cli);
    let junction = junction_command(&cli);
    let operator = Operator {
        actor: &actor,
        tenant: tenant.as_deref(),
    };
    match cli.command {
        Command::Run {
            workflow_id,
            input,
            no_wait,
            timeout_secs,
        } => {
            let input = parse_object(&input, "--input")?;
            let reply = client
                .request(
                    "run.start",
                    with_tenant(
                        json!({ "workflow_id": workflow_id, "input": input }),
                        &tenant,
                    ),
                )
                .await?;
            let run_id = reply["run_id"].as_str().unwrap_or_default().to_owned();
            println!("run {run_id} started ({workflow_id})");
            if no_wait {
                return Ok(ExitCode::SUCCESS);
            }
            follow::follow(&client, &operator, &junction, &run_id, timeout_secs).await
        }
        Command::Signal {
            signal_type,
            data,
            id,
            wait,
            timeout_secs,
        } => {
            let data = parse_object(&data, "--data")?;
            let id = id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            client
                .publish_signal(&signal_type, &id, data, tenant.as_deref())
                .await?;
            println!("signal {signal_type} published (id {id})");
            if !wait {
                return Ok(ExitCode::SUCCESS);
            }
            let run_id = find_run_for_signal(&client, &id, &tenant, timeout_secs).await?;
            println!("run {run_id} started by the signal");
            follow::follow(&client, &operator, &junction, &run_id, timeout_secs).await
        }
        Command::Get { run_id } => {
            let reply = client
                .request(&format!("run.{run_id}.get"), json!({}))
                .await?;
            println!("{}", serde_json::to_string_pretty(&reply["run"])?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Events { run_id } => {
            print!("{}", timeline::render(&client.all_events(&run_id).await?));
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs { workflow, status } => {
            let reply = client
                .request(
                    "runs.list",
                    with_tenant(
                        json!({ "workflow_id": workflow, "status": status }),
                        &tenant,
                    ),
                )
                .await?;
            for run in reply["runs"].as_array().into_iter().flatten() {
                println!(
                    "{}  {:<10} {}  v{}  {}",
                    run["id"].as_str().unwrap_or(""),
                    run["status"].as_str().unwrap_or(""),
                    run["workflow_id"].as_str().unwrap_or(""),
                    run["version"],
                    run["created_at"].as_str().unwrap_or("")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Put { files } => {
            let mut failed = false;
            for file in files {
                let source = std::fs::read_to_string(&file)
                    .with_context(|| format!("read {}", file.display()))?;
                // `*.workflow.star` is a Starlark plan, `.json` JSON, anything else YAML.
                let format = match file.extension().and_then(|e| e.to_str()) {
                    Some("json") => "json",
                    Some("star") => "star",
                    _ => "yaml",
                };
                match client
                    .request(
                        "workflows.put",
                        with_tenant(json!({ "source": source, "format": format }), &tenant),
                    )
                    .await
                {
                    Ok(reply) => println!(
                        "{}: {} version {} ({})",
                        file.display(),
                        reply["id"].as_str().unwrap_or(""),
                        reply["version"],
                        if reply["created"] == json!(true) {
                            "stored"
                        } else {
                            "unchanged"
                        }
                    ),
                    Err(error) => {
                        eprintln!("{}: {error:#}", file.display());
                        failed = true;
                    }
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Cancel { run_id, reason } => {
            let reason = reason.as_deref();
            operator::act_on_run(&client, &operator, &run_id, RunAction::Cancel, reason).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Pause { run_id, reason } => {
            let reason = reason.as_deref();
            operator::act_on_run(&client, &operator, &run_id, RunAction::Pause, reason).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Resume { run_id, reason } => {
            let reason = reason.as_deref();
            operator::act_on_run(&client, &operator, &run_id, RunAction::Resume, reason).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Send { run_id, name, data } => {
            let data = parse_object(&data, "--data")?;
            operator::send(&client, &operator, &run_id, &name, data).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Approvals {
            run_id,
            status,
            limit,
            json,
        } => {
            let filter = ApprovalFilter {
                run_id: run_id.as_deref(),
                status: status.as_deref(),
                limit,
            };
            let approvals = operator::list_approvals(&client, &operator, &filter).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&approvals)?);
            } else if approvals.is_empty() {
                println!("no approvals");
            } else {
                print!(
                    "{}",
                    operator::approvals_table(&approvals, chrono::Utc::now())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Approve {
            approval_id,
            comment,
        } => {
            let comment = comment.as_deref();
            operator::decide(&client, &operator, &approval_id, true, comment).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reject {
            approval_id,
            comment,
        } => {
            let comment = comment.as_deref();
            operator::decide(&client, &operator, &approval_id, false, comment).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tail { run_id } => {
            tail::tail(&client, run_id.as_deref(), tenant.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { .. } | Command::Graph { .. } => {
            anyhow::bail!("offline commands do not connect to a cluster")
        }
        Command::Members => {
            let reply = client.request("cluster.members", json!({})).await?;
            for member in reply["members"].as_array().into_iter().flatten() {
                println!(
                    "{:<12} {:<32} since {}{}",
                    member["role"].as_str().unwrap_or(""),
                    member["id"].as_str().unwrap_or(""),
                    member["started_at"].as_str().unwrap_or(""),
                    member["http_addr"]
                        .as_str()
                        .map(|a| format!("  http://{a}"))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn find_run_for_signal(
    client: &Client,
    signal_id: &str,
    tenant: &Option<String>,
    timeout_secs: u64,
) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_secs);
    loop {
        let reply = client
            .request(
                "runs.list",
                with_tenant(json!({ "causation_id": signal_id }), tenant),
            )
            .await?;
        if let Some(id) = reply["runs"]
            .as_array()
            .and_then(|r| r.first())
            .and_then(|r| r["id"].as_str())
        {
            return Ok(id.to_owned());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no run was started by signal {signal_id}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn printed_commands_quote_what_the_shell_would_split() {
        assert_eq!(shell_word("nats://10.0.0.1:4222"), "nats://10.0.0.1:4222");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("Ann Lee"), "'Ann Lee'");
        assert_eq!(shell_word("o'brien"), r"'o'\''brien'");
    }
}
