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
    /// The effects a pause holds back (tasks and child starts); others come
    /// back as `Err`.
    #[allow(
        clippy::result_large_err,
        reason = "the effect is handed straight back, never stored"
    )]
    pub fn from_effect(effect: super::Effect) -> Result<Self, super::Effect> {
        use super::timer::{ChildStart, StepAttempt, Timer, TimerKind};
        match effect {
            super::Effect::Dispatch(task) => Ok(Self::Dispatch {
                task: Box::new(task),
            }),
            super::Effect::Timer(Timer {
                kind:
                    TimerKind::StartChild {
                        step: StepAttempt { step_id, attempt },
                        child:
                            ChildStart {
                                workflow_id,
                                version,
                                input,
                            },
                    },
                fire_at_ms: None,
                run_id: None,
            }) => Ok(Self::StartChild {
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
        use super::timer::{ChildStart, StepAttempt, Timer, TimerKind};
        match self {
            Self::Dispatch { task } => super::Effect::Dispatch(*task),
            Self::StartChild {
                step_id,
                attempt,
                workflow_id,
                version,
                input,
            } => super::Effect::Timer(Timer::now(TimerKind::StartChild {
                step: StepAttempt { step_id, attempt },
                child: ChildStart {
                    workflow_id,
                    version,
                    input,
                },
            })),
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

/// A step attempt in progress: started and not yet ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredActiveStep", into = "StoredActiveStep")]
pub struct ActiveStep {
    pub step_id: StepId,
    pub state: String,
    pub path: String,
    pub attempt: u32,
    pub status: ActiveStatus,
    /// When its state was entered (ms since the epoch; 0 in snapshots
    /// stored before it was kept): where its `StateTransition` span starts.
    /// Retries keep it.
    pub entered_ms: i64,
}

/// Where an active step attempt stands. (The lease of a running attempt is
/// the worker's, kept on its attempt row; the engine never sees it.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActiveStatus {
    /// Its task was dispatched: a worker's result ends it.
    Running,
    /// It waits for something other than a worker.
    Waiting(Wait),
}

/// What a waiting step attempt waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// Its retry timer (the backoff after a failed attempt); firing it
    /// dispatches the attempt, once (a second firing finds it running).
    RetryTimer,
    /// Its child run (`workflow.run`).
    Child,
    /// A person's decision (`human.approval`) on approval
    /// `<step_id>-<attempt>`.
    Approval,
    /// The named signal (`signal.wait`).
    Signal { name: String },
}

impl ActiveStep {
    /// A new attempt of `step` in `status`, its state entered at `entered_ms`.
    pub fn new(step: &super::StepRef, status: ActiveStatus, entered_ms: i64) -> Self {
        Self {
            step_id: step.step_id.clone(),
            state: step.state.clone(),
            path: step.path.clone(),
            attempt: step.attempt,
            status,
            entered_ms,
        }
    }

    /// The step this attempt belongs to, as events and records name it.
    pub fn step_ref(&self) -> super::StepRef {
        super::StepRef {
            step_id: self.step_id.clone(),
            state: self.state.clone(),
            path: self.path.clone(),
            attempt: self.attempt,
        }
    }

    /// Is this attempt `step_id`/`attempt`?
    pub fn is(&self, step_id: &StepId, attempt: u32) -> bool {
        &self.step_id == step_id && self.attempt == attempt
    }

    /// What it waits for, unless it runs on a worker.
    pub fn wait(&self) -> Option<&Wait> {
        match &self.status {
            ActiveStatus::Running => None,
            ActiveStatus::Waiting(wait) => Some(wait),
        }
    }

    pub fn waits_for_approval(&self) -> bool {
        self.wait() == Some(&Wait::Approval)
    }

    /// The signal a `signal.wait` attempt waits for.
    pub fn signal(&self) -> Option<&str> {
        match self.wait() {
            Some(Wait::Signal { name }) => Some(name),
            _ => None,
        }
    }
}

/// An active step as `runs.state` stores it: the status as the flags it
/// had before it was an enum, so stored snapshots read unchanged.
#[derive(Clone, Serialize, Deserialize)]
struct StoredActiveStep {
    step_id: StepId,
    state: String,
    path: String,
    attempt: u32,
    /// `false` while the attempt waits for its retry timer.
    #[serde(default = "yes")]
    dispatched: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    child: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    approval: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signal: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    entered_ms: i64,
}

fn is_zero(ms: &i64) -> bool {
    *ms == 0
}

impl From<StoredActiveStep> for ActiveStep {
    fn from(stored: StoredActiveStep) -> Self {
        let status = if let Some(name) = stored.signal {
            ActiveStatus::Waiting(Wait::Signal { name })
        } else if stored.approval {
            ActiveStatus::Waiting(Wait::Approval)
        } else if !stored.dispatched {
            ActiveStatus::Waiting(Wait::RetryTimer)
        } else if stored.child {
            ActiveStatus::Waiting(Wait::Child)
        } else {
            ActiveStatus::Running
        };
        Self {
            step_id: stored.step_id,
            state: stored.state,
            path: stored.path,
            attempt: stored.attempt,
            status,
            entered_ms: stored.entered_ms,
        }
    }
}

impl From<ActiveStep> for StoredActiveStep {
    fn from(active: ActiveStep) -> Self {
        let wait = active.wait().cloned();
        Self {
            dispatched: wait != Some(Wait::RetryTimer),
            child: wait == Some(Wait::Child),
            approval: wait == Some(Wait::Approval),
            signal: match wait {
                Some(Wait::Signal { name }) => Some(name),
                _ => None,
            },
            step_id: active.step_id,
            state: active.state,
            path: active.path,
            attempt: active.attempt,
            entered_ms: active.entered_ms,
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
    /// The start of a run waiting for a concurrency slot (`PENDING`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<super::queue::QueuedStart>,
    /// The run's correlation id (set at start), for the CloudEvents its
    /// `signal.emit` steps publish. Absent in runs started before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// What redrives left: their count, the recorded attempts the replay
    /// has not met yet, and the retry bases of steps run again.
    #[serde(default, skip_serializing_if = "super::redrive::Redrive::is_unused")]
    pub redrive: super::redrive::Redrive,
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
            queued: None,
            correlation_id: None,
            redrive: super::redrive::Redrive::default(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `runs.state` keeps an active step's status as the flags it had
    /// before the status was an enum, both ways.
    #[test]
    fn active_steps_keep_their_stored_form() {
        let base = json!({ "step_id": "s1", "state": "a", "path": "a", "attempt": 2 });
        let with = |extra: Value| {
            let mut stored = base.clone();
            if let (Some(map), Value::Object(extra)) = (stored.as_object_mut(), extra) {
                map.extend(extra);
            }
            stored
        };
        let cases = [
            (with(json!({ "dispatched": true })), ActiveStatus::Running),
            (
                with(json!({ "dispatched": false })),
                ActiveStatus::Waiting(Wait::RetryTimer),
            ),
            (
                with(json!({ "dispatched": true, "child": true })),
                ActiveStatus::Waiting(Wait::Child),
            ),
            (
                with(json!({ "dispatched": true, "approval": true })),
                ActiveStatus::Waiting(Wait::Approval),
            ),
            (
                with(json!({ "dispatched": true, "signal": "go" })),
                ActiveStatus::Waiting(Wait::Signal { name: "go".into() }),
            ),
        ];
        for (stored, status) in cases {
            let active: ActiveStep = serde_json::from_value(stored.clone()).expect("reads");
            assert_eq!(active.status, status, "{stored}");
            assert_eq!(active.step_id, StepId::new("s1"));
            assert_eq!(serde_json::to_value(&active).ok(), Some(stored));
        }
        // Written before `dispatched` existed: a running step.
        let old: ActiveStep = serde_json::from_value(base).expect("reads");
        assert_eq!(old.status, ActiveStatus::Running);
    }
}
