//! `junction`: the command-line client. Thin over the control plane.

mod client;
mod graph;
mod render;
mod timeline;
mod validate;

use anyhow::Context;
use clap::{Parser, Subcommand};
use client::Client;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "junction", version, about = "Junction command-line client")]
struct Cli {
    /// NATS server.
    #[arg(
        long,
        global = true,
        env = "JUNCTION_NATS__URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats_url: String,
    /// Subject namespace of the cluster.
    #[arg(long, global = true, env = "JUNCTION_NATS__PREFIX", default_value = "")]
    prefix: String,
    /// Tenant to act in.
    #[arg(long, global = true)]
    tenant: Option<String>,
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

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let client = Client::connect(&cli.nats_url, &cli.prefix).await?;
    let tenant = cli.tenant.clone();
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
            follow(&client, &run_id, timeout_secs).await
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
            follow(&client, &run_id, timeout_secs).await
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

/// Waits for the run, prints its timeline, and exits non-zero unless it completed.
async fn follow(client: &Client, run_id: &str, timeout_secs: u64) -> anyhow::Result<ExitCode> {
    let run = client
        .wait_for_run(run_id, Duration::from_secs(timeout_secs))
        .await?;
    print!("{}", timeline::render(&client.all_events(run_id).await?));
    let status = run["status"].as_str().unwrap_or_default();
    println!("run {run_id} {status}");
    if status == "COMPLETED" {
        println!(
            "output: {}",
            serde_json::to_string_pretty(&run["context"]["ctx"])?
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("error: {}", run["error"]);
        Ok(ExitCode::FAILURE)
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
