//! Property tests: whatever order workers finish in, however often results
//! are delivered again, and wherever the coordinator reloads the run from its
//! stored snapshot, a run reaches the same final status and context, and no
//! step is dispatched twice for the same attempt. The same holds when results
//! are decided in batches by two coordinators holding stale copies of the run
//! (the model of `coordinator/src/run_queue.rs` at the end of this file).

use super::*;
use crate::ids::{RunId, StepId};
use crate::model::{SourceFormat, Workflow, compile};
use crate::status::RunStatus;
use crate::wire::{ErrorInfo, StepTask};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::HashSet;

/// Parallel branches, a bounded foreach, nested fan-out, a DAG-free switch,
/// retries and a catch: every construct whose ordering can vary.
const WORKFLOW: &str = r#"
id: orderings
states:
  - name: both
    type: parallel
    branches:
      - name: a
        states:
          - { name: a1, type: agent, agent: echo, resultPath: r1, next: a2 }
          - { name: a2, type: agent, agent: echo, resultPath: r2, end: true }
      - name: b
        states:
          - name: inner
            type: foreach
            itemsPath: ctx.items
            itemName: it
            maxConcurrency: 2
            iterator:
              states:
                - { name: work, type: agent, agent: flaky, task: "{{ it }}", retry: { maxAttempts: 2 }, resultPath: out, end: true }
            resultPath: all
            end: true
    resultPath: steps.both
    next: route
  - name: route
    type: switch
    dataPath: steps.both.a.r2
    conditions:
      - { if: "result['path'] == 'both/a/a2'", next: done }
    defaultNext: odd
  - { name: done, type: inject, data: { verdict: ok }, end: true }
  - { name: odd, type: inject, data: { verdict: odd }, end: true }
"#;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("valid time")
}

fn cx() -> ApplyContext {
    ApplyContext {
        now: now(),
        payload_limit: 1024 * 1024,
    }
}

/// What a worker answers for a task: a pure function of where it ran, so
/// every ordering must produce the same context. `flaky` fails its first
/// attempt on odd items (then succeeds on the retry).
fn answer(task: &StepTask) -> Input {
    let item: i64 = task
        .path
        .split('[')
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let agent_is_flaky = task.path.ends_with("/work");
    if agent_is_flaky && item % 2 == 1 && task.attempt == 1 {
        return Input::StepFailed {
            step_id: StepId::new(&task.step_id),
            attempt: task.attempt,
            error: ErrorInfo::new("FLAKY", "first attempt fails"),
        };
    }
    Input::StepSucceeded {
        step_id: StepId::new(&task.step_id),
        attempt: task.attempt,
        output: json!({ "path": task.path, "attempt": task.attempt }),
    }
}

/// One scheduling decision, drawn by proptest.
#[derive(Debug, Clone)]
enum Move {
    /// Deliver the result of the n-th (mod len) outstanding task.
    Finish(usize),
    /// Deliver again a result already delivered.
    Duplicate(usize),
    /// Reload the run from its stored (serialized) snapshot.
    Reload,
}

fn moves() -> impl Strategy<Value = Vec<Move>> {
    prop::collection::vec(
        prop_oneof![
            6 => any::<usize>().prop_map(Move::Finish),
            2 => any::<usize>().prop_map(Move::Duplicate),
            1 => Just(Move::Reload),
        ],
        0..200,
    )
}

struct Driver {
    workflow: Workflow,
    meta: RunMeta,
    state: RunState,
    outstanding: Vec<StepTask>,
    delivered: Vec<Input>,
    dispatched: HashSet<(String, u32)>,
}

impl Driver {
    fn new(items: usize) -> Self {
        let workflow = compile(WORKFLOW, SourceFormat::Yaml)
            .workflow
            .expect("the workflow compiles");
        let mut driver = Self {
            workflow,
            meta: RunMeta {
                run_id: RunId::new("run-p"),
                tenant: "default".into(),
                version: 1,
            },
            state: RunState::new(),
            outstanding: Vec::new(),
            delivered: Vec::new(),
            dispatched: HashSet::new(),
        };
        let items: Vec<Value> = (0..items).map(|i| json!(i)).collect();
        driver.apply(Input::Start {
            input: json!({ "items": items }),
            signal: None,
            causation_id: None,
            correlation_id: "c".into(),
            parent: None,
        });
        driver
    }

    fn apply(&mut self, input: Input) {
        let effects = apply(&self.workflow, &self.meta, &mut self.state, input, &cx()).effects;
        for effect in effects {
            match effect {
                Effect::Dispatch(task) => {
                    let key = (task.step_id.clone(), task.attempt);
                    assert!(
                        self.dispatched.insert(key),
                        "dispatched twice: {} attempt {}",
                        task.path,
                        task.attempt
                    );
                    self.outstanding.push(task);
                }
                Effect::Timer(Timer {
                    kind: TimerKind::Retry(_),
                    ..
                }) => panic!("no backoff configured"),
                _ => {}
            }
        }
    }

    fn play(&mut self, moves: &[Move]) {
        for m in moves {
            match m {
                Move::Finish(n) if !self.outstanding.is_empty() => {
                    let task = self.outstanding.remove(n % self.outstanding.len());
                    let input = answer(&task);
                    self.delivered.push(input.clone());
                    self.apply(input);
                }
                Move::Duplicate(n) if !self.delivered.is_empty() => {
                    let input = self.delivered[n % self.delivered.len()].clone();
                    self.apply(input);
                }
                Move::Reload => {
                    // As the store does: the snapshot, plus the ended
                    // children's values, which live in rows of their own.
                    let results = self.state.child_results.clone();
                    let input = self.state.input.clone();
                    let stored = serde_json::to_string(&self.state).expect("snapshot serializes");
                    self.state = serde_json::from_str(&stored).expect("snapshot loads");
                    self.state.child_results = results;
                    self.state.input = input;
                }
                _ => {}
            }
        }
        // Then let every remaining task finish, oldest first.
        while !self.outstanding.is_empty() {
            let task = self.outstanding.remove(0);
            let input = answer(&task);
            self.delivered.push(input.clone());
            self.apply(input);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_interleaving_reaches_the_same_end(items in 0usize..6, moves in moves()) {
        let mut reference = Driver::new(items);
        reference.play(&[]);
        prop_assert_eq!(reference.state.status, RunStatus::Completed);

        let mut driver = Driver::new(items);
        driver.play(&moves);
        prop_assert_eq!(driver.state.status, RunStatus::Completed);
        prop_assert_eq!(&driver.state.context, &reference.state.context);
        prop_assert!(driver.state.active.is_empty());
        prop_assert!(driver.state.frames.is_empty() && driver.state.fanouts.is_empty());
        prop_assert_eq!(&driver.state.context["ctx"]["verdict"], &json!("ok"));
        let all = driver.state.context["steps"]["both"]["b"]["all"].as_array().map(Vec::len);
        prop_assert_eq!(all, Some(items));
    }
}

/// The store as the coordinators see it: the snapshot, the ended children's
/// rows, and the revision that guards every write.
struct Stored {
    revision: u64,
    input: Value,
    snapshot: String,
    results: std::collections::BTreeMap<StepId, std::collections::BTreeMap<usize, Value>>,
}

/// Two coordinators deciding for one run, as `coordinator/src/run_queue.rs`
/// does: each keeps the run in memory, applies a batch of inputs to it, and
/// commits only if the stored revision is still the one it decided from;
/// otherwise (or when a cached copy finds nothing to do) it reads the run
/// again and decides again. Only committed effects reach workers.
struct Cluster {
    workflow: Workflow,
    meta: RunMeta,
    stored: Stored,
    cached: [Option<(u64, RunState)>; 2],
    outstanding: Vec<StepTask>,
    delivered: Vec<Input>,
    dispatched: HashSet<(String, u32)>,
    conflicts: usize,
}

impl Cluster {
    fn new(items: usize) -> Self {
        let mut start = Driver::new(items);
        let stored = Stored {
            revision: 0,
            input: start.state.input.clone(),
            snapshot: serde_json::to_string(&start.state).expect("serializes"),
            results: start.state.child_results.clone(),
        };
        Self {
            workflow: start.workflow.clone(),
            meta: start.meta.clone(),
            stored,
            cached: [Some((0, start.state.clone())), None],
            outstanding: std::mem::take(&mut start.outstanding),
            delivered: Vec::new(),
            dispatched: start.dispatched.clone(),
            conflicts: 0,
        }
    }

    fn load(&self) -> RunState {
        let mut state: RunState =
            serde_json::from_str(&self.stored.snapshot).expect("snapshot loads");
        state.child_results = self.stored.results.clone();
        state.input = self.stored.input.clone();
        state
    }

    /// One batch of inputs decided by coordinator `c`.
    fn decide(&mut self, c: usize, inputs: &[Input]) {
        for _ in 0..10 {
            let (revision, mut state, from_cache) = match self.cached[c].take() {
                Some((revision, state)) => (revision, state, true),
                None => (self.stored.revision, self.load(), false),
            };
            let before = serde_json::to_string(&state).expect("serializes");
            let mut effects = Vec::new();
            for input in inputs {
                effects.extend(
                    apply(&self.workflow, &self.meta, &mut state, input.clone(), &cx()).effects,
                );
            }
            let after = serde_json::to_string(&state).expect("serializes");
            if effects.is_empty() && before == after {
                if from_cache {
                    continue; // a stale copy may not know the step yet
                }
                self.cached[c] = Some((revision, state));
                return;
            }
            if revision != self.stored.revision {
                self.conflicts += 1;
                continue;
            }
            state.new_child_results.clear();
            self.stored = Stored {
                revision: revision + 1,
                input: self.stored.input.clone(),
                snapshot: after,
                results: state.child_results.clone(),
            };
            for effect in effects {
                if let Effect::Dispatch(task) = effect {
                    let key = (task.step_id.clone(), task.attempt);
                    assert!(
                        self.dispatched.insert(key),
                        "dispatched twice: {}",
                        task.path
                    );
                    self.outstanding.push(task);
                }
            }
            self.cached[c] = Some((revision + 1, state));
            return;
        }
        panic!("a batch was decided 10 times without committing");
    }

    fn play(&mut self, moves: &[ClusterMove]) {
        for m in moves {
            match *m {
                ClusterMove::Batch {
                    coordinator,
                    first,
                    size,
                } if !self.outstanding.is_empty() => {
                    let mut inputs = Vec::new();
                    for k in 0..size.min(self.outstanding.len()) {
                        let task = self
                            .outstanding
                            .remove((first + k) % self.outstanding.len());
                        inputs.push(answer(&task));
                    }
                    self.delivered.extend(inputs.iter().cloned());
                    self.decide(coordinator, &inputs);
                }
                ClusterMove::Duplicate { coordinator, n } if !self.delivered.is_empty() => {
                    let input = self.delivered[n % self.delivered.len()].clone();
                    self.decide(coordinator, &[input]);
                }
                _ => {}
            }
        }
        let mut turn = 0;
        while !self.outstanding.is_empty() {
            let task = self.outstanding.remove(0);
            let input = answer(&task);
            self.delivered.push(input.clone());
            self.decide(turn % 2, &[input]);
            turn += 1;
        }
    }
}

/// One delivery in the two-coordinator model, drawn by proptest.
#[derive(Debug, Clone)]
enum ClusterMove {
    /// `size` outstanding results, decided together by one coordinator.
    Batch {
        coordinator: usize,
        first: usize,
        size: usize,
    },
    /// A result delivered again, to either coordinator.
    Duplicate { coordinator: usize, n: usize },
}

fn cluster_moves() -> impl Strategy<Value = Vec<ClusterMove>> {
    prop::collection::vec(
        prop_oneof![
            6 => (0usize..2, any::<usize>(), 1usize..5)
                .prop_map(|(coordinator, first, size)| ClusterMove::Batch { coordinator, first, size }),
            2 => (0usize..2, any::<usize>())
                .prop_map(|(coordinator, n)| ClusterMove::Duplicate { coordinator, n }),
        ],
        0..120,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Batched decisions on two coordinators with stale copies reach the
    /// same end as one coordinator deciding one result at a time, and no
    /// committed decision dispatches a step twice.
    #[test]
    fn batches_on_two_coordinators_reach_the_same_end(items in 0usize..6, moves in cluster_moves()) {
        let mut reference = Driver::new(items);
        reference.play(&[]);

        let mut cluster = Cluster::new(items);
        cluster.play(&moves);
        let state = cluster.load();
        prop_assert_eq!(state.status, RunStatus::Completed);
        prop_assert_eq!(&state.context, &reference.state.context);
        prop_assert!(state.active.is_empty());
        prop_assert!(state.frames.is_empty() && state.fanouts.is_empty());
    }
}

#[test]
fn the_two_coordinator_model_meets_stale_copies() {
    let moves: Vec<ClusterMove> = (0..40)
        .map(|i| ClusterMove::Batch {
            coordinator: i % 2,
            first: i,
            size: 1 + i % 3,
        })
        .collect();
    let mut cluster = Cluster::new(5);
    cluster.play(&moves);
    assert_eq!(cluster.load().status, RunStatus::Completed);
    assert!(
        cluster.conflicts > 0,
        "the model never decided from a stale copy"
    );
}
