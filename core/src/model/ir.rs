//! The intermediate representation: what every front end compiles to and the
//! only thing the runtime reads. Serialized as JSON into `definitions.ir`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A compiled workflow definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    /// Stable identifier (`id` in the source).
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// The source's own `version` field (the protocol calls it `definition_version`).
    pub definition_version: Option<String>,
    /// JSON Schema the run input must satisfy.
    pub input_schema: Option<Value>,
    /// JSON Schema the final `ctx` is checked against (a mismatch is a warning event).
    #[serde(default)]
    pub output_schema: Option<Value>,
    /// The whole run's deadline; past it the run ends TIMED_OUT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    pub trigger: Option<Trigger>,
    /// When runs start by themselves: `trigger.schedule` or a `type: cron`
    /// start state (which is not a state of the graph: `start` is its `next`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<super::schedule::Schedule>,
    /// At most `limit` runs with the same rendered `key` are active at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
    /// Name of the first state.
    pub start: String,
    pub states: Vec<State>,
}

/// `concurrency: {key, limit}` (docs/language.md §1): runs with the same
/// rendered key share `limit` slots; the others wait `PENDING`, in start order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concurrency {
    /// A template over the run input and the starting signal.
    pub key: String,
    /// At least 1.
    pub limit: u32,
}

/// What starts runs of this workflow besides `run.start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// The signal type (`signals.<type>`) that starts a run.
    pub signal: String,
    /// A Starlark filter over `signal` and `data` (evaluated from the language issue on).
    pub filter: Option<String>,
}

/// One state of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    pub kind: StateKind,
    pub transition: Transition,
    /// Where a failure goes once retries are spent (`onError` / `catch`).
    /// Empty: the failure fails the enclosing scope (the run, or the branch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catch: Vec<CatchRule>,
}

/// Where a state goes when it is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Next(String),
    End,
    /// The state itself picks the next state (a `switch`).
    Decided,
}

/// One `catch` entry: failures whose code is in `errors` (any failure when
/// empty) go to `next`, with the error object written at `result_path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatchRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    pub next: String,
    pub result_path: Option<String>,
}

/// What a state does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    /// Runs one action on a worker (or, for approvals and signal waits, waits).
    Operation(Operation),
    /// Writes static data into the context, inline in the coordinator.
    /// Without `result_path` the data is merged into `ctx`.
    Inject {
        data: Value,
        result_path: Option<String>,
    },
    /// Routes on Starlark conditions, inline in the coordinator.
    Switch(Switch),
    /// Runs branches at once and joins them.
    Parallel(Parallel),
    /// Runs a sub-graph once per item of a list.
    Foreach(Foreach),
    /// Evaluates a Starlark expression inline in the coordinator.
    Transform(Transform),
    /// Steps with dependencies (the DAG form and composer graphs): a step
    /// starts when all its dependencies succeeded and its condition holds.
    Dag(Dag),
}

/// A `switch` state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Switch {
    /// Context path whose value is bound as `result`, `_value` and `val`.
    pub data_path: Option<String>,
    pub conditions: Vec<SwitchCase>,
    /// Taken when no condition holds; without it the run fails with `NO_MATCHING_CONDITION`.
    pub default_next: Option<String>,
}

/// One `if` → `next` of a switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchCase {
    /// A Starlark expression (see [`crate::expr`]).
    pub condition: String,
    pub next: String,
}

/// A self-contained sub-graph: a parallel branch or a foreach body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubGraph {
    pub start: String,
    pub states: Vec<State>,
}

impl SubGraph {
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.iter().find(|s| s.name == name)
    }
}

/// One branch of a parallel state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    pub name: String,
    pub graph: SubGraph,
}

/// When a parallel state is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinMode {
    /// Every branch has finished.
    #[default]
    All,
    /// The first branch has finished; the others are cancelled.
    Any,
}

/// How branch or item outputs are combined (Station's `outputAggregation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Parallel: `{branch: local}`; foreach: `[local, …]` (docs/language.md).
    #[default]
    Keyed,
    /// The outputs merged into one object.
    Merge,
    /// The outputs as an array, in branch or item order.
    Array,
}

/// A `parallel` state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parallel {
    pub branches: Vec<Branch>,
    pub join: JoinMode,
    pub aggregation: Aggregation,
    pub result_path: Option<String>,
}

/// A `foreach` state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Foreach {
    pub items_path: String,
    /// The name each item is bound to in templates and conditions.
    pub item_name: String,
    /// Items in flight at once, at least 1.
    pub max_concurrency: u32,
    pub iterator: SubGraph,
    pub aggregation: Aggregation,
    pub result_path: Option<String>,
}

/// A `transform` state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transform {
    /// A Starlark expression over `input` and the context.
    pub expression: String,
    pub result_path: Option<String>,
}

/// A DAG of steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dag {
    pub steps: Vec<DagStep>,
    pub result_path: Option<String>,
}

/// One step of a DAG. Its `state.transition` is always `End`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagStep {
    pub state: State,
    pub depends_on: Vec<String>,
    /// Starlark condition; when false the step is skipped (dependents still run).
    pub condition: Option<String>,
}

/// Default step timeout when neither the state nor the call sets one (PROTOCOL §5).
pub const DEFAULT_STEP_TIMEOUT_SECONDS: u64 = 300;

impl Workflow {
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.iter().find(|s| s.name == name)
    }
}

impl Workflow {
    /// State names by type (`operation`, `switch`, `parallel`, …) and, for
    /// operations, by action (`agent.run`, …); nested graphs and DAG steps
    /// included, in definition order.
    pub fn node_index(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        fn walk(states: &[State], index: &mut std::collections::BTreeMap<String, Vec<String>>) {
            for state in states {
                match &state.kind {
                    StateKind::Operation(op) => index
                        .entry(op.action.name().to_owned())
                        .or_default()
                        .push(state.name.clone()),
                    StateKind::Parallel(p) => {
                        for branch in &p.branches {
                            walk(&branch.graph.states, index);
                        }
                    }
                    StateKind::Foreach(f) => walk(&f.iterator.states, index),
                    StateKind::Dag(d) => {
                        let steps: Vec<State> = d.steps.iter().map(|s| s.state.clone()).collect();
                        walk(&steps, index);
                    }
                    StateKind::Inject { .. } | StateKind::Switch(_) | StateKind::Transform(_) => {}
                }
                index
                    .entry(state.kind.type_name().to_owned())
                    .or_default()
                    .push(state.name.clone());
            }
        }
        let mut index = std::collections::BTreeMap::new();
        walk(&self.states, &mut index);
        index
    }
}

impl Workflow {
    /// The state a step path names: `<state>` at the top level,
    /// `<parallel>/<branch>/<state>`, `<foreach>[<i>]/<state>` and
    /// `<dag>/<step>`, nested as deep as the graphs are.
    pub fn state_at(&self, path: &str) -> Option<&State> {
        let mut graph: &[State] = &self.states;
        let mut segments = path.split('/');
        loop {
            let segment = segments.next()?;
            let name = segment.split_once('[').map_or(segment, |(name, _)| name);
            let state = graph.iter().find(|s| s.name == name)?;
            let rest = segments.clone().next();
            let Some(next) = rest else {
                return Some(state);
            };
            match &state.kind {
                StateKind::Parallel(p) => {
                    graph = &p.branches.iter().find(|b| b.name == next)?.graph.states;
                    segments.next();
                }
                StateKind::Foreach(f) => graph = &f.iterator.states,
                StateKind::Dag(d) => {
                    return d
                        .steps
                        .iter()
                        .map(|s| &s.state)
                        .find(|s| s.name == next && segments.clone().nth(1).is_none());
                }
                _ => return None,
            }
        }
    }
}

impl StateKind {
    /// The state's type as the language names it: `operation`, `switch`,
    /// `parallel`, `inject`, `foreach`, `transform` or `dag`.
    pub fn type_name(&self) -> &'static str {
        match self {
            StateKind::Operation(_) => "operation",
            StateKind::Inject { .. } => "inject",
            StateKind::Switch(_) => "switch",
            StateKind::Parallel(_) => "parallel",
            StateKind::Foreach(_) => "foreach",
            StateKind::Transform(_) => "transform",
            StateKind::Dag(_) => "dag",
        }
    }
}

mod operation;
pub use operation::*;
