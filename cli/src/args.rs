//! The command line: global options ([`Cli`]) and the subcommands
//! ([`Command`]), as clap parses them.

use crate::validate;
use clap::builder::PossibleValuesParser;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// `--nats-url` when neither the option nor `JUNCTION_NATS__URL` is given.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

#[derive(Parser)]
#[command(name = "junction", version, about = "Junction command-line client")]
pub struct Cli {
    /// NATS server.
    #[arg(
        long,
        global = true,
        env = "JUNCTION_NATS__URL",
        default_value = DEFAULT_NATS_URL
    )]
    pub nats_url: String,
    /// Subject namespace of the cluster.
    #[arg(long, global = true, env = "JUNCTION_NATS__PREFIX", default_value = "")]
    pub prefix: String,
    /// Tenant to act in.
    #[arg(long, global = true)]
    pub tenant: Option<String>,
    /// Token for a cluster with auth on (PROTOCOL §6); never printed.
    #[arg(long, global = true, env = "JUNCTION_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Who is acting, recorded with cancels, pauses, resumes and decisions
    /// (default: $USER, or `cli`).
    #[arg(long, global = true)]
    pub actor: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
