//! Scenario tests for the state machine: apply inputs, assert effects and
//! state. This file holds the harness ([`Env`]) and shared helpers; the
//! scenarios are in one file per construct.

mod child;
mod cron;
mod dag;
mod executors;
mod fanout;
mod inline;
mod lost;
mod operator;
mod queue;
mod redrive;
mod redrive_fanout;
mod spans;
mod station;
mod steps;
mod storable;
mod timer;
mod waits;

use super::*;
use crate::ids::{RunId, StepId};
use crate::model::{SourceFormat, compile};
use crate::status::RunStatus;
use crate::wire::control::ErrorCode;
use crate::wire::{ErrorInfo, EventType, TaskAction};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

const PIPELINE: &str = r#"
id: pipeline
version: "2"
states:
  - name: defaults
    type: inject
    data: { currency: EUR }
    next: check
  - name: check
    type: operation
    action: agent.run
    input: { agent: echo, task: "check {{ ctx.order }}" }
    retry: { maxAttempts: 3 }
    resultPath: steps.check
    next: notify
  - name: notify
    type: operation
    action: agent.run
    input: { agent: notifier, input: { amount: "{{ ctx.amount }}", seen: "{{ steps.check.ok }}" } }
    resultPath: steps.notify
    end: true
"#;

struct Env {
    workflow: crate::model::Workflow,
    meta: RunMeta,
    state: RunState,
    /// The largest task (the coordinator's default).
    payload_limit: usize,
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("valid time")
}

impl Env {
    fn new(source: &str) -> Self {
        let compiled = compile(source, SourceFormat::Yaml);
        let workflow = compiled
            .workflow
            .unwrap_or_else(|| panic!("compiles: {:?}", compiled.diagnostics));
        Self {
            workflow,
            meta: RunMeta {
                run_id: RunId::new("run-1"),
                tenant: "default".into(),
                version: 1,
            },
            state: RunState::new(),
            payload_limit: 1024 * 1024,
        }
    }

    fn apply(&mut self, input: Input) -> Vec<Effect> {
        self.outcome(input).effects
    }

    fn outcome(&mut self, input: Input) -> Outcome {
        let cx = ApplyContext {
            now: now(),
            payload_limit: self.payload_limit,
        };
        apply(&self.workflow, &self.meta, &mut self.state, input, &cx)
    }

    fn start(&mut self, input: Value) -> Vec<Effect> {
        self.apply(Input::Start {
            input,
            signal: None,
            causation_id: Some("sig-1".into()),
            correlation_id: "sig-1".into(),
            parent: None,
        })
    }
}

fn events(effects: &[Effect]) -> Vec<EventType> {
    effects
        .iter()
        .filter_map(|e| {
            if let Effect::Emit(d) = e {
                Some(d.kind)
            } else {
                None
            }
        })
        .collect()
}

/// The timers a transition stores, in order.
fn timers(effects: &[Effect]) -> Vec<&Timer> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Timer(timer) => Some(timer),
            _ => None,
        })
        .collect()
}

fn dispatched(effects: &[Effect]) -> Vec<&crate::wire::StepTask> {
    effects
        .iter()
        .filter_map(|e| {
            if let Effect::Dispatch(t) = e {
                Some(t)
            } else {
                None
            }
        })
        .collect()
}

fn succeed(env: &mut Env, task: &crate::wire::StepTask, output: Value) -> Vec<Effect> {
    env.apply(Input::StepSucceeded {
        step_id: StepId::new(&task.step_id),
        attempt: task.attempt,
        output,
    })
}

fn fail(env: &mut Env, task: &crate::wire::StepTask) -> Vec<Effect> {
    env.apply(Input::StepFailed {
        step_id: StepId::new(&task.step_id),
        attempt: task.attempt,
        error: ErrorInfo::new("BOOM", "it broke").not_retryable(),
    })
}

fn states_of(tasks: &[&crate::wire::StepTask]) -> Vec<String> {
    let mut names: Vec<String> = tasks.iter().map(|t| t.state.clone()).collect();
    names.sort();
    names
}

fn by_path<'t>(tasks: &'t [&crate::wire::StepTask], path: &str) -> &'t crate::wire::StepTask {
    tasks.iter().find(|t| t.path == path).unwrap_or_else(|| {
        panic!(
            "no task at {path}: {:?}",
            tasks.iter().map(|t| &t.path).collect::<Vec<_>>()
        )
    })
}

fn services(n: usize) -> Value {
    json!({ "who": "ada", "services": (0..n).map(|i| json!({ "name": format!("s{i}") })).collect::<Vec<_>>() })
}

const PARENT: &str = r#"
id: parent
states:
  - name: spawn
    type: operation
    action: workflow.run
    input: { workflow: child, input: { n: "{{ ctx.n }}" } }
    resultPath: steps.child
    end: true
"#;
