//! The commands that talk to a cluster: [`run`] resolves where the cluster
//! is, connects, works out who is acting, and hands each subcommand to its
//! group: runs and signals ([`runs`]), workflow definitions
//! ([`workflows`]), directories of definition files ([`sync`], through
//! [`store`]), bundles ([`bundle`]), the agent registry ([`agents`]), approvals
//! ([`approvals`]) and the cluster itself ([`cluster`]). Each prints in the
//! format `-o` chose ([`crate::output`]).

mod agents;
mod approvals;
mod bundle;
mod cluster;
mod runs;
pub(crate) mod store;
mod sync;
mod workflows;

use crate::args::{AgentsCommand, BundleCommand, Cli, Command, Output, WorkflowsCommand};
use crate::client::Client;
use crate::exit::BadInput;
use crate::invocation::{actor, cluster, junction_command};
use crate::operator::{Operator, RunAction};
use serde_json::{Value, json};
use std::process::ExitCode;

/// What every command of one invocation shares.
pub struct Session<'a> {
    pub client: Client,
    /// `--tenant`, when given.
    pub tenant: Option<String>,
    /// Who acts, and in which tenant, for operator requests.
    pub operator: Operator<'a>,
    /// How to call this CLI again, for the hints it prints.
    pub junction: String,
    /// `-o`.
    pub output: Output,
}

impl Session<'_> {
    /// `body` with `tenant` when one was chosen.
    pub fn with_tenant(&self, body: Value) -> Value {
        with_tenant(body, &self.tenant)
    }
}

/// `body` with `tenant` when one was chosen.
pub fn with_tenant(mut body: Value, tenant: &Option<String>) -> Value {
    if let Some(tenant) = tenant {
        body["tenant"] = json!(tenant);
    }
    body
}

/// `text` parsed as a JSON object; `what` names the option in errors.
pub fn parse_object(text: &str, what: &str) -> anyhow::Result<Value> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| BadInput(format!("{what} is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(BadInput(format!("{what} must be a JSON object")).into());
    }
    Ok(value)
}

/// Reads a file the user named (unreadable: bad input, exit 2).
pub fn read_file(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| BadInput(format!("cannot read {}: {e}", path.display())).into())
}

/// Runs one online command against the cluster.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let where_ = cluster(&cli)?;
    let client = Client::connect(&where_.nats_url, &where_.prefix, &where_.auth)
        .await?
        .with_token(cli.token.clone())
        .in_tenant(cli.tenant.clone());
    let actor = actor(&cli);
    let tenant = cli.tenant.clone();
    let session = Session {
        client,
        tenant: cli.tenant.clone(),
        operator: Operator {
            actor: &actor,
            tenant: tenant.as_deref(),
        },
        junction: junction_command(&cli),
        output: cli.output,
    };
    let s = &session;
    match cli.command {
        Command::Run {
            workflow_id,
            input,
            version,
            idempotency_key,
            no_wait,
            timeout_secs,
        } => {
            let start = runs::Start {
                workflow_id: &workflow_id,
                input: &input,
                version,
                idempotency_key: idempotency_key.as_deref(),
                no_wait,
                timeout_secs,
            };
            runs::start(s, start).await
        }
        Command::Signal {
            signal_type,
            data,
            id,
            wait,
            timeout_secs,
        } => runs::signal(s, &signal_type, &data, id, wait, timeout_secs).await,
        Command::Get { run_id } => runs::get(s, &run_id).await,
        Command::Events { run_id } => runs::events(s, &run_id).await,
        Command::Runs {
            workflow,
            status,
            limit,
            cursor,
        } => {
            let filter = runs::ListFilter {
                workflow,
                status,
                limit,
                cursor,
            };
            runs::list(s, filter).await
        }
        Command::Put { files } => workflows::put(s, &files).await,
        Command::Sync { dirs, dry_run } => sync::run(s, &dirs, dry_run).await,
        Command::Bundle(BundleCommand::Install { file }) => bundle::install(s, &file).await,
        Command::Workflows(WorkflowsCommand::List) => workflows::list(s).await,
        Command::Workflows(WorkflowsCommand::Get { id, version }) => {
            workflows::get(s, &id, version).await
        }
        Command::Workflows(WorkflowsCommand::Delete { id }) => workflows::delete(s, &id).await,
        Command::Agents(AgentsCommand::List) => agents::list(s).await,
        Command::Agents(AgentsCommand::Put { files }) => agents::put(s, &files).await,
        Command::Agents(AgentsCommand::Delete { name }) => agents::delete(s, &name).await,
        Command::Cancel { run_id, reason } => {
            runs::act(s, &run_id, RunAction::Cancel, reason.as_deref()).await
        }
        Command::Pause { run_id, reason } => {
            runs::act(s, &run_id, RunAction::Pause, reason.as_deref()).await
        }
        Command::Resume { run_id, reason } => {
            runs::act(s, &run_id, RunAction::Resume, reason.as_deref()).await
        }
        Command::Redrive { run_id, reason } => {
            runs::act(s, &run_id, RunAction::Redrive, reason.as_deref()).await
        }
        Command::Send { run_id, name, data } => runs::send(s, &run_id, &name, &data).await,
        Command::Approvals {
            run_id,
            status,
            limit,
            json,
        } => {
            let output = if json { Output::Json } else { s.output };
            approvals::list(s, run_id.as_deref(), status.as_deref(), limit, output).await
        }
        Command::Approve {
            approval_id,
            comment,
        } => approvals::decide(s, &approval_id, true, comment.as_deref()).await,
        Command::Reject {
            approval_id,
            comment,
        } => approvals::decide(s, &approval_id, false, comment.as_deref()).await,
        Command::Tail { run_id } => cluster::tail(s, run_id.as_deref()).await,
        Command::Members => cluster::members(s).await,
        Command::Validate { .. }
        | Command::Graph { .. }
        | Command::Completion { .. }
        | Command::Bundle(BundleCommand::Create { .. } | BundleCommand::Inspect { .. }) => {
            anyhow::bail!("offline commands do not connect to a cluster")
        }
    }
}
