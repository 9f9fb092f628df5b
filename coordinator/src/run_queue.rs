//! One decision point per run inside a coordinator.
//!
//! Every input for a run (a worker's result, a signal into the run, an
//! operator action, a child's end) is queued on that run. One task per run
//! with queued inputs drains the queue: it takes **everything** queued, applies
//! the inputs one after another to the run's state in memory, and commits the
//! result as one transition (one statement, shared with other runs' by the
//! group committer). Inputs that arrive while a transition is being committed
//! wait for the next one, so a burst of results of one run (a wide parallel
//! or foreach) costs a few transitions, not one per result, and never races
//! with itself.
//!
//! The state stays in memory between transitions (bounded by
//! [`CACHE_CAPACITY`] idle runs), so a run that keeps moving on this
//! coordinator is never re-read. The optimistic check on the run's revision
//! still guards every write: if another coordinator (or a timer) moved the
//! run, the write is refused, counted in `junction_transition_conflicts_total`,
//! and the batch is decided again from a fresh read.

use crate::catalog::CompiledWorkflow;
use crate::driver::Driver;
use crate::trace::{TraceWork, TracedRun};
use junction_core::engine::{Answer, Input, RunState};
use junction_core::status::RunStatus;
use junction_core::trace::RunTrace;
use junction_core::wire::control::{ControlError, ErrorCode};
use junction_store::{LockedRun, PendingWrite};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Idle runs whose state is kept in memory; beyond it the oldest idle entries go.
pub const CACHE_CAPACITY: usize = 4096;

/// Decisions redone before a batch is failed back to its senders (who retry).
const MAX_REDECIDES: usize = 20;

/// A run as this coordinator last wrote (or read) it.
#[derive(Debug, Clone)]
pub struct CachedRun {
    pub tenant: String,
    pub workflow_id: String,
    pub version: i32,
    pub revision: i64,
    pub state: RunState,
    /// Hash of the state as last written: a transition that changes nothing is skipped.
    pub state_hash: u64,
    /// The run's trace (`None` for runs started before traces were kept).
    pub traced: Option<TracedRun>,
}

/// What deciding one queued input did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The transition that included it was committed (`false`: nothing changed).
    pub changed: bool,
    /// The engine's answer to the input (an operator action may be refused).
    pub answer: Answer,
    /// The run's status after the decision.
    pub status: RunStatus,
}

#[derive(Debug, Clone)]
struct Batch {
    changed: bool,
    answers: Vec<Answer>,
    status: RunStatus,
}

/// One input waiting for its run's next decision.
struct Queued {
    input: Input,
    /// The batch's outcome; a failure keeps its control code (a store
    /// failure stays `UNAVAILABLE` for the control plane).
    done: oneshot::Sender<Result<Option<Decided>, ControlError>>,
}

#[derive(Default)]
struct RunSlot {
    queue: Vec<Queued>,
    /// A task is draining this run's queue.
    busy: bool,
    cached: Option<CachedRun>,
    /// When the slot was last used, for eviction (a logical clock).
    touched: u64,
}

/// The per-run queues and the state cache. Cheap to clone.
#[derive(Clone, Default)]
pub struct RunQueues {
    inner: Arc<Mutex<Slots>>,
}

#[derive(Default)]
struct Slots {
    runs: HashMap<String, RunSlot>,
    clock: u64,
}

impl std::fmt::Debug for RunQueues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunQueues").finish_non_exhaustive()
    }
}

impl RunQueues {
    /// Remembers a run just created by this coordinator.
    pub fn remember(&self, run_id: &str, run: CachedRun) {
        let Ok(mut slots) = self.inner.lock() else {
            return;
        };
        slots.clock += 1;
        let clock = slots.clock;
        let slot = slots.runs.entry(run_id.to_owned()).or_default();
        slot.cached = Some(run);
        slot.touched = clock;
        slots.evict();
    }

    /// Drops what this coordinator remembers of a run (another writer moved it).
    pub fn forget(&self, run_id: &str) {
        if let Ok(mut slots) = self.inner.lock()
            && let Some(slot) = slots.runs.get_mut(run_id)
        {
            slot.cached = None;
        }
    }

    /// Queues `input`; `true` if this call must start the run's task.
    fn enqueue(&self, run_id: &str, queued: Queued) -> bool {
        let Ok(mut slots) = self.inner.lock() else {
            return false;
        };
        slots.clock += 1;
        let clock = slots.clock;
        let slot = slots.runs.entry(run_id.to_owned()).or_default();
        slot.queue.push(queued);
        slot.touched = clock;
        let start = !slot.busy;
        slot.busy = true;
        start
    }

    /// The queued inputs and the cached state; `None` when the queue is empty
    /// (the task ends and the slot becomes idle).
    fn take_batch(&self, run_id: &str) -> Option<(Vec<Queued>, Option<CachedRun>)> {
        let mut slots = self.inner.lock().ok()?;
        let slot = slots.runs.get_mut(run_id)?;
        if slot.queue.is_empty() {
            slot.busy = false;
            if slot.cached.is_none() {
                slots.runs.remove(run_id);
            }
            slots.evict();
            return None;
        }
        Some((std::mem::take(&mut slot.queue), slot.cached.take()))
    }

    /// Puts the state back after a transition (ended runs are forgotten).
    fn put_back(&self, run_id: &str, cached: Option<CachedRun>) {
        if let Ok(mut slots) = self.inner.lock()
            && let Some(slot) = slots.runs.get_mut(run_id)
        {
            slot.cached = cached.filter(|c| !c.state.status.is_terminal());
        }
    }
}

impl Slots {
    /// Keeps at most [`CACHE_CAPACITY`] idle slots, dropping the least recently used.
    fn evict(&mut self) {
        let idle = self.runs.values().filter(|s| !s.busy).count();
        if idle <= CACHE_CAPACITY {
            return;
        }
        let mut ages: Vec<(u64, String)> = self
            .runs
            .iter()
            .filter(|(_, s)| !s.busy)
            .map(|(id, s)| (s.touched, id.clone()))
            .collect();
        ages.sort_unstable();
        let excess = idle - CACHE_CAPACITY / 2;
        for (_, id) in ages.into_iter().take(excess) {
            self.runs.remove(&id);
        }
    }
}

impl Driver {
    /// Applies `input` to a run through its queue; resolves once the
    /// transition that included it is committed, with the engine's answer
    /// and the run's status then. `Ok(None)`: the run is not stored.
    pub async fn advance(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: i32,
        run_id: &str,
        input: Input,
    ) -> anyhow::Result<Option<Decided>> {
        let (done, answer) = oneshot::channel();
        if self.runs.enqueue(run_id, Queued { input, done }) {
            let driver = self.clone();
            let key = RunKey {
                run_id: run_id.to_owned(),
                tenant: tenant.to_owned(),
                workflow_id: workflow_id.to_owned(),
                version,
            };
            tokio::spawn(async move { driver.drain(key).await });
        }
        match answer.await {
            Ok(Ok(decided)) => Ok(decided),
            Ok(Err(error)) => Err(anyhow::Error::new(error)),
            // Transient (the process is stopping): the sender tries again.
            Err(_) => Err(anyhow::Error::new(ControlError::new(
                ErrorCode::Unavailable,
                "the run's decision task stopped before answering",
            ))),
        }
    }

    /// The run's task: decide and commit batches until its queue is empty.
    async fn drain(self, key: RunKey) {
        while let Some((batch, cached)) = self.runs.take_batch(&key.run_id) {
            let (inputs, senders): (Vec<Input>, Vec<_>) =
                batch.into_iter().map(|q| (q.input, q.done)).unzip();
            let (result, cached) = self.decide_and_commit(&key, inputs, cached).await;
            self.runs.put_back(&key.run_id, cached);
            let result = result.map_err(|e| crate::control::classify(&e, format!("{e:#}")));
            for (index, sender) in senders.into_iter().enumerate() {
                let decided = result.clone().map(|batch| {
                    batch.map(|batch| Decided {
                        changed: batch.changed,
                        answer: batch.answers.get(index).cloned().unwrap_or(Answer::Applied),
                        status: batch.status,
                    })
                });
                let _ = sender.send(decided);
            }
        }
    }

    /// Applies a batch of inputs and commits the transition, deciding again
    /// from a fresh read when the run moved on meanwhile.
    async fn decide_and_commit(
        &self,
        key: &RunKey,
        inputs: Vec<Input>,
        mut cached: Option<CachedRun>,
    ) -> (anyhow::Result<Option<Batch>>, Option<CachedRun>) {
        let count = inputs.len() as u64;
        for _ in 0..MAX_REDECIDES {
            let (run, from_cache) = match cached.take() {
                Some(run) => (run, true),
                None => match self.load_cached(key).await {
                    Ok(Some(run)) => (run, false),
                    Ok(None) => return (Ok(None), None),
                    Err(error) => return (Err(error), None),
                },
            };
            let workflow = match self
                .catalog
                .get(&run.tenant, &run.workflow_id, run.version)
                .await
            {
                Ok(Some(workflow)) => workflow,
                Ok(None) => {
                    // Permanent: retrying cannot make it appear. Drop the input loudly.
                    tracing::error!(
                        run_id = %key.run_id,
                        workflow_id = %run.workflow_id,
                        version = run.version,
                        "run is pinned to a workflow revision that is not stored; input dropped"
                    );
                    let unchanged = Batch {
                        changed: false,
                        answers: Vec::new(),
                        status: run.state.status,
                    };
                    return (Ok(Some(unchanged)), Some(run));
                }
                Err(error) => return (Err(error), Some(run)),
            };
            let (revision, from) = (run.revision, run.state.status);
            let (next, write, answers, work) =
                match self.decide_batch(&workflow, &key.run_id, run, &inputs) {
                    Ok(decided) => decided,
                    // The cached run took the inputs half-way: forget it.
                    Err(error) => return (Err(error), None),
                };
            let batch = Batch {
                changed: write.is_some(),
                answers,
                status: next.state.status,
            };
            let Some(write) = write else {
                if from_cache {
                    // "Nothing to do" is only trusted from a fresh read: a
                    // stale cache (another coordinator moved the run) may
                    // simply not know the step yet.
                    continue;
                }
                return (Ok(Some(batch)), Some(next));
            };
            match self.commit_batch(&key.run_id, revision, write, count).await {
                Ok(true) => {
                    let labels = crate::trace::RunLabels {
                        run_id: &key.run_id,
                        workflow_id: &next.workflow_id,
                        tenant: &next.tenant,
                    };
                    crate::trace::export(&self.otel, next.traced.as_ref(), labels, work);
                    let to = next.state.status;
                    self.metrics
                        .run_committed(&key.run_id, &next.workflow_id, from, to);
                    return (Ok(Some(batch)), Some(next));
                }
                Ok(false) => {}
                Err(error) => return (Err(error), None),
            }
        }
        // Transient: contention, not the input, stopped it.
        let error = ControlError::new(
            ErrorCode::Unavailable,
            format!(
                "run {} kept changing; gave up after {MAX_REDECIDES} decisions",
                key.run_id
            ),
        );
        (Err(anyhow::Error::new(error)), None)
    }

    /// Commits a decided write through the group committer: `true` once
    /// committed (its messages published beside the run's next decision),
    /// `false` if the run changed meanwhile (decide again).
    async fn commit_batch(
        &self,
        run_id: &str,
        revision: i64,
        write: junction_store::TransitionWrite,
        inputs: u64,
    ) -> anyhow::Result<bool> {
        let has_timers = !write.timers.is_empty();
        let pending = PendingWrite {
            run_id: run_id.to_owned(),
            revision,
            write,
        };
        match self.committer.write(pending).await? {
            Some(committed) => {
                self.metrics.transition_committed(inputs);
                // Published beside the run's next decision, not before it:
                // the transition is durable, and the outbox relay re-sends
                // whatever a crash leaves unpublished.
                let driver = self.clone();
                tokio::spawn(async move {
                    driver.after_commit(&committed.messages, has_timers).await;
                });
                Ok(true)
            }
            None => {
                self.metrics.transition_conflict();
                tracing::debug!(run_id, "run changed while deciding; deciding again");
                Ok(false)
            }
        }
    }

    /// Applies every input to the run; the write is `None` if nothing
    /// changed. The run comes back as it would be once the write commits.
    fn decide_batch(
        &self,
        workflow: &CompiledWorkflow,
        run_id: &str,
        mut run: CachedRun,
        inputs: &[Input],
    ) -> anyhow::Result<(
        CachedRun,
        Option<junction_store::TransitionWrite>,
        Vec<Answer>,
        TraceWork,
    )> {
        let meta = junction_core::engine::RunMeta {
            run_id: junction_core::ids::RunId::new(run_id.to_owned()),
            tenant: run.tenant.clone(),
            version: run.version,
        };
        let (write, answers, work) = self.transition(
            workflow,
            &meta,
            run.traced.as_ref(),
            &mut run.state,
            inputs.iter().cloned(),
        )?;
        let state_hash = write.state.hash();
        let changed = state_hash != run.state_hash
            || !write.events.is_empty()
            || !write.attempts.is_empty()
            || !write.timers.is_empty();
        if !changed {
            return Ok((run, None, answers, work));
        }
        run.revision += 1;
        run.state_hash = state_hash;
        Ok((run, Some(write), answers, work))
    }

    /// Reads a run from the store into the cache's form.
    async fn load_cached(&self, key: &RunKey) -> anyhow::Result<Option<CachedRun>> {
        let Some(locked) = self.store.load_run(&key.run_id).await? else {
            return Ok(None);
        };
        Ok(Some(CachedRun::from_locked(locked)?))
    }
}

impl CachedRun {
    /// The run as read from the store.
    pub fn from_locked(locked: LockedRun) -> anyhow::Result<Self> {
        let state_hash = junction_store::RawJson::hash_value(&locked.state);
        let mut state = RunState::deserialize(&locked.state).map_err(|error| {
            anyhow::anyhow!("run {}: stored state is unreadable: {error}", locked.run_id)
        })?;
        state.input = locked.input;
        for (fanout, index, value) in locked.child_results {
            state
                .child_results
                .entry(junction_core::ids::StepId::new(fanout))
                .or_default()
                .insert(usize::try_from(index).unwrap_or(usize::MAX), value);
        }
        let traced = RunTrace::stored(
            &locked.run_id,
            locked.trace_id.as_deref(),
            locked.trace_parent.as_deref(),
        )
        .map(|trace| TracedRun {
            trace,
            started_ms: locked.created_at.timestamp_millis(),
        });
        Ok(Self {
            tenant: locked.tenant,
            workflow_id: locked.workflow_id,
            version: locked.version,
            revision: locked.revision,
            state,
            state_hash,
            traced,
        })
    }
}

/// Which run a queue belongs to.
#[derive(Debug, Clone)]
struct RunKey {
    run_id: String,
    #[allow(dead_code, reason = "kept for logs")]
    tenant: String,
    #[allow(dead_code, reason = "kept for logs")]
    workflow_id: String,
    #[allow(dead_code, reason = "kept for logs")]
    version: i32,
}
