//! The checks that need the agent registry: every agent exists, and each
//! agent's output schema satisfies the input schema of the agent it feeds.

use super::feeds::Feeds;
use super::{AgentSpec, Visit, states_of};
use crate::model::diag::{Diagnostic, Diagnostics};
use crate::model::ir::{Action, AgentCall, State, StateKind, Workflow};
use crate::model::schema_compat::{self, Verdict};
use std::collections::HashMap;

/// Agent existence and schema compatibility, given the tenant's registry.
pub fn against_registry(
    workflow: &Workflow,
    agents: &HashMap<String, AgentSpec>,
    diagnostics: &mut Diagnostics,
) {
    let mark = crate::model::states::cron::mark(diagnostics);
    check_registry(workflow, agents, diagnostics);
    crate::model::states::cron::renumber(workflow, diagnostics, mark);
}

fn check_registry(
    workflow: &Workflow,
    agents: &HashMap<String, AgentSpec>,
    diagnostics: &mut Diagnostics,
) {
    let visits = states_of(workflow);
    for visit in &visits {
        if let Some(call) = agent_call(visit.state)
            && !agents.contains_key(&call.agent)
        {
            diagnostics.push(Diagnostic::new(
                "AGENT_NOT_FOUND",
                agent_path(visit),
                format!(
                    "agent `{}` (state `{}`) not found in environment",
                    call.agent, visit.state.name
                ),
            ));
        }
    }
    let feeds = Feeds::of(workflow);
    let paths: HashMap<*const State, &str> = visits
        .iter()
        .map(|v| (v.state as *const State, v.path.as_str()))
        .collect();
    for (consumer, producers) in &feeds.edges {
        let Some(call) = agent_call(consumer) else {
            continue;
        };
        let Some(input_schema) = agents
            .get(&call.agent)
            .and_then(|a| a.input_schema.as_ref())
        else {
            continue;
        };
        let at = paths
            .get(&(*consumer as *const State))
            .map_or_else(String::new, |p| (*p).to_owned());
        for producer in producers {
            let Some(from) = agent_call(producer) else {
                continue;
            };
            let Some(spec) = agents.get(&from.agent) else {
                continue;
            };
            let report = schema_compat::check(spec.output_schema.as_ref(), Some(input_schema));
            let pair = format!(
                "`{}` (state `{}`) → `{}` (state `{}`)",
                from.agent, producer.name, call.agent, consumer.name
            );
            if let Some(diagnostic) = compatibility(&report, &pair, &from.agent, &at) {
                diagnostics.push(diagnostic);
            }
        }
    }
}

/// The diagnostic of one producer → consumer pair, at the consumer's path;
/// `None` when compatible.
fn compatibility(
    report: &schema_compat::Report,
    pair: &str,
    producer: &str,
    at: &str,
) -> Option<Diagnostic> {
    let details = report.summary();
    let (code, message) = match report.verdict {
        Verdict::Compatible => return None,
        Verdict::Incompatible => (
            "SCHEMA_INCOMPATIBLE",
            format!("{pair}: the output schema does not satisfy the input schema: {details}"),
        ),
        Verdict::CompatibleWithWarnings => (
            "SCHEMA_UNVERIFIED",
            format!("{pair}: compatible, but {details}"),
        ),
        Verdict::Unverified => (
            "SCHEMA_UNVERIFIED",
            format!("{pair}: cannot validate: `{producer}` declares no output schema"),
        ),
    };
    Some(Diagnostic::new(code, at, message))
}

pub(super) fn agent_call(state: &State) -> Option<&AgentCall> {
    match &state.kind {
        StateKind::Operation(op) => match &op.action {
            Action::AgentRun(call) => Some(call),
            _ => None,
        },
        _ => None,
    }
}

fn agent_path(visit: &Visit<'_>) -> String {
    // `type: agent` and shorthands hold `agent` on the state itself; the
    // locator falls back to the state when `input.agent` is not in the source.
    format!("{}.input.agent", visit.path)
}
