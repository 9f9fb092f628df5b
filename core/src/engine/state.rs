//! The run snapshot the state machine reads and updates; stored as JSON in
//! `runs.state` and loaded under the run's row lock.

use crate::ids::{RunId, StepId};
use crate::status::RunStatus;
use crate::wire::ErrorInfo;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What the engine knows about a run besides its state: fixed at creation.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMeta {
    pub run_id: RunId,
    pub tenant: String,
    /// The store's revision of the workflow the run is pinned to.
    pub version: i32,
}

/// An effect a paused run holds back until it resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "held")]
pub enum HeldEffect {
    Dispatch {
        task: Box<crate::wire::StepTask>,
    },
    StartChild {
        step_id: StepId,
        attempt: u32,
        workflow_id: String,
        version: Option<i32>,
        input: Value,
    },
}

impl HeldEffect {
    /// The effects a pause holds back; others come back as `Err`.
    #[allow(
        clippy::result_large_err,
        reason = "the effect is handed straight back, never stored"
    )]
    pub fn from_effect(effect: super::Effect) -> Result<Self, super::Effect> {
        match effect {
            super::Effect::Dispatch(task) => Ok(Self::Dispatch {
                task: Box::new(task),
            }),
            super::Effect::StartChild {
                step_id,
                attempt,
                workflow_id,
                version,
                input,
            } => Ok(Self::StartChild {
                step_id,
                attempt,
                workflow_id,
                version,
                input,
            }),
            other => Err(other),
        }
    }

    pub fn into_effect(self) -> super::Effect {
        match self {
            Self::Dispatch { task } => super::Effect::Dispatch(*task),
            Self::StartChild {
                step_id,
                attempt,
                workflow_id,
                version,
                input,
            } => super::Effect::StartChild {
                step_id,
                attempt,
                workflow_id,
                version,
                input,
            },
        }
    }
}

/// The parent step a child run reports to (`workflow.run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentLink {
    pub run_id: RunId,
    pub step_id: StepId,
    pub attempt: u32,
}

/// A step that waits for a worker's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveStep {
    pub step_id: StepId,
    pub state: String,
    pub path: String,
    pub attempt: u32,
    /// `false` while the attempt waits for its retry timer; firing the timer
    /// twice must not dispatch twice.
    #[serde(default = "yes")]
    pub dispatched: bool,
    /// A `workflow.run` step: it waits for a child run, not a worker.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub child: bool,
    /// A `human.approval` step: it waits for a decision, not a worker.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approval: bool,
    /// A `signal.wait` step: the signal name it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

impl ActiveStep {
    /// The step this attempt belongs to, as events and records name it.
    pub fn step_ref(&self) -> super::StepRef {
        super::StepRef {
            step_id: self.step_id.clone(),
            state: self.state.clone(),
            path: self.path.clone(),
            attempt: self.attempt,
        }
    }
}

/// A signal delivered into the run that no step has taken yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mail {
    pub name: String,
    pub data: Value,
}

fn yes() -> bool {
    true
}

/// The durable state of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub status: RunStatus,
    /// The context document `{ctx, steps, signal, …}`.
    pub context: Value,
    /// The run input, as started (bound as `input` in templates). Not part
    /// of the stored snapshot: the run row keeps it once (`runs.input`) and
    /// the driver puts it back when it reads the run.
    #[serde(default, skip_serializing)]
    pub input: Value,
    pub error: Option<ErrorInfo>,
    /// Steps dispatched to workers and not yet finished.
    pub active: Vec<ActiveStep>,
    /// How often each state was entered, so a loop gets fresh step ids.
    pub visits: BTreeMap<String, u32>,
    /// The output of the last `agent.run` step: the next agent's default input.
    pub previous_output: Option<Value>,
    /// The running DAG state, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag: Option<super::dag::DagProgress>,
    /// Running parallel branches and foreach items, by frame path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub frames: BTreeMap<String, super::frames::Frame>,
    /// Signals delivered that no `signal.wait` has taken yet, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mailbox: Vec<Mail>,
    /// Ids of the last CloudEvents delivered into the run (redeliveries are dropped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals_seen: Vec<String>,
    /// The status a pause interrupted, restored on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_from: Option<RunStatus>,
    /// Work a pause held back, sent on resume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<HeldEffect>,
    /// The step of the parent run this run reports to, for child runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentLink>,
    /// Running parallel and foreach states, by their step path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fanouts: BTreeMap<String, super::frames::Fanout>,
    /// The values of the running fan-outs' ended children, by the fan-out's
    /// step id and the child's index. Not part of the snapshot: each is
    /// stored once, as its own row, when its child ends, and read back with
    /// the run, so a result costs what it weighs, not what the fan-out has
    /// gathered so far.
    #[serde(skip)]
    pub child_results: BTreeMap<StepId, BTreeMap<usize, Value>>,
    /// Children that ended since the driver last took them
    /// ([`RunState::take_new_child_results`]): the rows to store.
    #[serde(skip)]
    pub new_child_results: Vec<(StepId, usize)>,
}

impl RunState {
    /// A run that has not started yet.
    pub fn new() -> Self {
        Self {
            status: RunStatus::Pending,
            context: Value::Null,
            input: Value::Null,
            error: None,
            active: Vec::new(),
            visits: BTreeMap::new(),
            previous_output: None,
            dag: None,
            mailbox: Vec::new(),
            signals_seen: Vec::new(),
            paused_from: None,
            held: Vec::new(),
            parent: None,
            frames: BTreeMap::new(),
            fanouts: BTreeMap::new(),
            child_results: BTreeMap::new(),
            new_child_results: Vec::new(),
        }
    }

    /// The ended children's values to store with this transition: `(fan-out
    /// step id, child index, value)`, for fan-outs still running (a join that
    /// happened in the same transition needs no rows).
    pub fn take_new_child_results(&mut self) -> Vec<(StepId, usize, Value)> {
        std::mem::take(&mut self.new_child_results)
            .into_iter()
            .filter_map(|(fanout, index)| {
                let value = self.child_results.get(&fanout)?.get(&index)?.clone();
                Some((fanout, index, value))
            })
            .collect()
    }

    /// The final context's `ctx`: the run's output.
    pub fn output(&self) -> Value {
        self.context.get("ctx").cloned().unwrap_or(Value::Null)
    }
}

impl Default for RunState {
    fn default() -> Self {
        Self::new()
    }
}
