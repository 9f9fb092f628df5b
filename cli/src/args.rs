//! The command line: global options ([`Cli`]) and the subcommands
//! ([`Command`]), as clap parses them. Every argument and option has help
//! text; enumerations list their allowed values.

use clap::builder::PossibleValuesParser;
use clap::{Parser, Subcommand, ValueEnum};
use junction_core::status::RunStatus;
use std::path::PathBuf;

/// `--nats-url` when neither the option, `JUNCTION_NATS__URL` nor the
/// configuration file's `nats.url` gives one.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// The exit codes, as `--help` shows them (docs/cli.md, "Exit codes").
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the run ended FAILED, CANCELLED or TIMED_OUT (or `validate` found errors)
  2  usage or bad input (INVALID_REQUEST, VALIDATION_FAILED, INPUT_SCHEMA, …)
  3  the cluster is not reachable, or waiting timed out (UNAVAILABLE)
  4  refused: auth (UNAUTHENTICATED, FORBIDDEN), NOT_FOUND, a conflicting state";

/// How a command prints what it returns (`-o`, `--output`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Lines and tables for people.
    #[default]
    Text,
    /// One JSON document (a stream prints one JSON object per line).
    Json,
    /// One JSON object per line: each element of a list, each event of a stream.
    Jsonl,
}

#[derive(Parser)]
#[command(
    name = "junction",
    version,
    about = "Junction command-line client",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// TOML configuration file, the one the coordinator and workers read:
    /// its `nats.url` and `nats.prefix` are used unless the options or
    /// their variables say otherwise.
    #[arg(long, global = true, env = "JUNCTION_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// NATS server URL [default: the configuration file's `nats.url`, else
    /// nats://127.0.0.1:4222].
    #[arg(long, global = true, env = "JUNCTION_NATS__URL", value_name = "URL")]
    pub nats_url: Option<String>,
    /// Subject namespace of the cluster [default: the configuration file's
    /// `nats.prefix`, else none].
    #[arg(
        long,
        global = true,
        env = "JUNCTION_NATS__PREFIX",
        value_name = "PREFIX"
    )]
    pub prefix: Option<String>,
    /// Tenant to act in [default: the server's `default`].
    #[arg(long, global = true, env = "JUNCTION_TENANT", value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Token for a cluster with auth on; never printed.
    #[arg(
        long,
        global = true,
        env = "JUNCTION_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Who is acting, recorded with cancels, pauses, resumes, redrives and decisions
    /// [default: $USER, or `cli`].
    #[arg(long, global = true, value_name = "NAME")]
    pub actor: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

/// The run statuses `--status` accepts (any case).
fn run_statuses() -> PossibleValuesParser {
    PossibleValuesParser::new(RunStatus::ALL.iter().map(|s| s.as_str()))
}

#[derive(Subcommand)]
pub enum Command {
    /// Start a run and follow it live: each step as it starts and ends, then
    /// a summary line (exit 1 unless it COMPLETED).
    Run {
        /// Id of the stored workflow to run.
        workflow_id: String,
        /// Run input, a JSON object.
        #[arg(long, default_value = "{}", value_name = "JSON")]
        input: String,
        /// Run this revision of the workflow [default: the latest].
        #[arg(long, value_name = "N")]
        version: Option<i64>,
        /// Starting twice with the same key starts one run.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        /// Return right after starting.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this many seconds (exit 3; the run goes on).
        #[arg(long, default_value_t = 300, value_name = "SECONDS")]
        timeout_secs: u64,
    },
    /// Publish a CloudEvent signal; with --wait, follow the run it starts.
    Signal {
        /// CloudEvent `type`: the signal's name (`order.created`).
        signal_type: String,
        /// CloudEvent `data`, a JSON object.
        #[arg(long, default_value = "{}", value_name = "JSON")]
        data: String,
        /// CloudEvent id [default: a new UUID].
        #[arg(long)]
        id: Option<String>,
        /// Follow the run the signal starts, as `run` does.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds (exit 3).
        #[arg(long, default_value_t = 300, value_name = "SECONDS")]
        timeout_secs: u64,
    },
    /// Print a run: status, context and steps.
    Get {
        /// The run's id.
        run_id: String,
    },
    /// Print a run's events: its timeline, rebuilt from the stored events.
    Events {
        /// The run's id.
        run_id: String,
    },
    /// List runs, newest first, one page at a time.
    Runs {
        /// Only runs of this workflow.
        #[arg(long, value_name = "WORKFLOW_ID")]
        workflow: Option<String>,
        /// Only runs with this status.
        #[arg(long, ignore_case = true, value_parser = run_statuses())]
        status: Option<String>,
        /// At most this many runs [server default: 100].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: Option<u32>,
        /// Start after this run: the `next_cursor` of the previous page.
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
    },
    /// Store workflow definition files (`*.workflow.yaml|yml|json|star`).
    Put {
        /// The definition files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Store the agent and workflow files of directories (and their
    /// subdirectories), agents first: each file is reported stored,
    /// unchanged or failed (with its diagnostics).
    Sync {
        /// Directories of `*.workflow.yaml|yml|json|star` and
        /// `*.agent.yaml|yml|json` files.
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Check every file against the cluster and say what would be
        /// stored; store nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Bundles: a directory's agent and workflow files in one `.tar.gz`
    /// with a manifest of checksums.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Workflow definitions: list, print or delete them.
    #[command(subcommand)]
    Workflows(WorkflowsCommand),
    /// The agent registry: list, register or delete agents.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Cancel a run: it ends CANCELLED at once.
    Cancel {
        /// The run's id.
        run_id: String,
        /// Why, recorded in the run's error and its `cancelled` event.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Pause a run: no new step starts until it is resumed.
    Pause {
        /// The run's id.
        run_id: String,
        /// Why, recorded in the `paused` event.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume a paused run.
    Resume {
        /// The run's id.
        run_id: String,
        /// Why, recorded in the `resumed` event.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Redrive a FAILED, TIMED_OUT or CANCELLED run: it goes on in the same
    /// run id, and only what failed, was cancelled or never finished runs
    /// again (each failed step with its next attempt number).
    Redrive {
        /// The run's id.
        run_id: String,
        /// Why, recorded in the `redriven` event.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deliver a signal into a run (for its `signal.wait` states); `signal`
    /// publishes CloudEvents instead.
    Send {
        /// The run's id.
        run_id: String,
        /// Signal name, as the `signal.wait` state names it.
        name: String,
        /// Signal data, a JSON object.
        #[arg(long, default_value = "{}", value_name = "JSON")]
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
        /// At most this many [server default: 100].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: Option<u32>,
        /// Deprecated: use `-o json`.
        #[arg(long, hide = true)]
        json: bool,
    },
    /// Approve a pending approval: its run goes on.
    Approve {
        /// The approval's id (`junction approvals` lists them).
        approval_id: String,
        /// Recorded with the decision.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a pending approval: its run fails (or is cancelled, per `onReject`).
    Reject {
        /// The approval's id (`junction approvals` lists them).
        approval_id: String,
        /// Recorded with the decision.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Print lifecycle events live, one line each, until Ctrl-C.
    Tail {
        /// Only this run's events (its stored events first).
        #[arg(long = "run", value_name = "RUN_ID")]
        run_id: Option<String>,
    },
    /// List the cluster's live members, with their HTTP addresses.
    Members,
    /// Check definition files offline, as the coordinator would compile them.
    Validate {
        /// Definition files (`*.workflow.yaml|yml|json|star`) or directories of them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Deprecated: use `-o`.
        #[arg(long, hide = true, value_enum)]
        format: Option<Output>,
        /// Directory of `*.agent.yaml|yml|json` files: also check that agents
        /// exist and that their schemas fit.
        #[arg(long, value_name = "DIR")]
        agents: Option<PathBuf>,
    },
    /// Print a definition's compiled graph as a Mermaid flowchart.
    Graph {
        /// The definition file.
        file: PathBuf,
    },
    /// Print a shell completion script (`source <(junction completion bash)`).
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// `junction workflows …`.
#[derive(Subcommand)]
pub enum WorkflowsCommand {
    /// List workflows: the latest revision of each.
    List,
    /// Print a workflow's source (`-o json`: the revision with its metadata).
    Get {
        /// The workflow's id.
        id: String,
        /// This revision [default: the latest].
        #[arg(long, value_name = "N")]
        version: Option<i64>,
    },
    /// Delete every revision of a workflow that never ran.
    Delete {
        /// The workflow's id.
        id: String,
    },
}

/// `junction bundle …`.
#[derive(Subcommand)]
pub enum BundleCommand {
    /// Pack the agent and workflow files of DIR (and its subdirectories)
    /// into a bundle; every file is checked first, and a directory with
    /// broken files is refused (offline).
    Create {
        /// The directory to pack.
        dir: PathBuf,
        /// The bundle file to write (`NAME.tar.gz`).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Verify a bundle's manifest and checksums and list its files (offline).
    Inspect {
        /// The bundle file.
        file: PathBuf,
    },
    /// Verify a bundle, check every file against the cluster, then store
    /// its agents and then its workflows. A bundle with any file that does
    /// not validate is refused whole: nothing is stored.
    Install {
        /// The bundle file.
        file: PathBuf,
    },
}

/// `junction agents …`.
#[derive(Subcommand)]
pub enum AgentsCommand {
    /// List the registered agents.
    List,
    /// Register (or replace) agents from `*.agent.yaml|yml|json` files:
    /// `name`, `description`, `input_schema`, `output_schema`.
    Put {
        /// The agent files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Remove an agent from the registry.
    Delete {
        /// The agent's name.
        name: String,
    },
}

/// Shells `completion` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_argument_and_option_has_help() {
        fn check(command: &clap::Command, path: &str) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") || arg.is_hide_set() {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} {id} has no help");
            }
            for sub in command.get_subcommands() {
                assert!(
                    sub.get_about().is_some(),
                    "{path} {} has no about",
                    sub.get_name()
                );
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        check(&Cli::command(), "junction");
    }

    #[test]
    fn status_lists_the_run_statuses() {
        let command = Cli::command();
        let runs = command.find_subcommand("runs").expect("runs");
        let status = runs
            .get_arguments()
            .find(|a| a.get_id() == "status")
            .expect("--status");
        let values: Vec<String> = status
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_owned())
            .collect();
        assert_eq!(values.len(), RunStatus::ALL.len());
        assert!(values.contains(&"WAITING_APPROVAL".to_owned()));
        let parsed = Cli::try_parse_from(["junction", "runs", "--status", "failed", "-o", "jsonl"]);
        assert!(parsed.is_ok());
        assert!(Cli::try_parse_from(["junction", "runs", "--status", "nope"]).is_err());
    }
}
