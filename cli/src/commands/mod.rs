//! The commands that talk to a cluster: [`run`] connects, works out who is
//! acting, and hands each subcommand to its group: runs and signals
//! ([`runs`]), workflow definitions ([`workflows`]), approvals
//! ([`approvals`]) and the cluster itself ([`cluster`]).

mod approvals;
mod cluster;
mod runs;
mod workflows;

use crate::args::{Cli, Command};
use crate::client::Client;
use crate::invocation::{actor, junction_command};
use crate::operator::{Operator, RunAction};
use anyhow::Context;
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
    let value: Value =
        serde_json::from_str(text).with_context(|| format!("{what} is not valid JSON"))?;
    anyhow::ensure!(value.is_object(), "{what} must be a JSON object");
    Ok(value)
}

/// Runs one online command against the cluster.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let client = Client::connect(&cli.nats_url, &cli.prefix)
        .await?
        .with_token(cli.token.clone());
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
    };
    let s = &session;
    match cli.command {
        Command::Run {
            workflow_id,
            input,
            no_wait,
            timeout_secs,
        } => runs::start(s, &workflow_id, &input, no_wait, timeout_secs).await,
        Command::Signal {
            signal_type,
            data,
            id,
            wait,
            timeout_secs,
        } => runs::signal(s, &signal_type, &data, id, wait, timeout_secs).await,
        Command::Get { run_id } => runs::get(s, &run_id).await,
        Command::Events { run_id } => runs::events(s, &run_id).await,
        Command::Runs { workflow, status } => runs::list(s, workflow, status).await,
        Command::Put { files } => workflows::put(s, &files).await,
        Command::Cancel { run_id, reason } => {
            runs::act(s, &run_id, RunAction::Cancel, reason.as_deref()).await
        }
        Command::Pause { run_id, reason } => {
            runs::act(s, &run_id, RunAction::Pause, reason.as_deref()).await
        }
        Command::Resume { run_id, reason } => {
            runs::act(s, &run_id, RunAction::Resume, reason.as_deref()).await
        }
        Command::Send { run_id, name, data } => runs::send(s, &run_id, &name, &data).await,
        Command::Approvals {
            run_id,
            status,
            limit,
            json,
        } => approvals::list(s, run_id.as_deref(), status.as_deref(), limit, json).await,
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
        Command::Validate { .. } | Command::Graph { .. } => {
            anyhow::bail!("offline commands do not connect to a cluster")
        }
    }
}
