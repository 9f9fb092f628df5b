//! The thin driver around the pure state machine: load the run under its
//! lock, apply an input, persist the resulting write, then publish its outbox.
//! Signals, `run.start`, step events and timers all come through here.

use crate::catalog::{Catalog, CompiledWorkflow};
use crate::commit::Committer;
use crate::run_queue::{CachedRun, RunQueues};
use crate::slots;
use crate::timers;
use crate::trace::{self, RunLabels, TraceWork, TracedRun};
use crate::write::{self, WriteContext};
use anyhow::Context as _;
use chrono::Utc;
use junction_bus::Subjects;
use junction_core::engine::{
    self, Answer, ApplyContext, Input, ParentLink, RunMeta, RunState, TimerKind,
};
use junction_core::ids::RunId;
use junction_core::outbox::OutboxMessage;
use junction_core::trace::{RunTrace, SpanContext, TraceId};
use junction_runtime::fault::{self, Faults};
use junction_runtime::outbox::Publisher;
use junction_store::{CreateOutcome, FireOutcome, LockedRun, NewRun, Store, TransitionWrite};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Everything needed to start one run.
#[derive(Debug)]
pub struct StartRequest {
    pub tenant: String,
    pub workflow: Arc<CompiledWorkflow>,
    pub input: Value,
    /// The whole CloudEvent for signal-started runs.
    pub signal: Option<Value>,
    pub causation_id: Option<String>,
    /// Defaults to the run id.
    pub correlation_id: Option<String>,
    /// `signal:<id>`, `key:<idempotency key>` or `child:<run>:<step>:<attempt>`.
    pub dedupe_key: Option<String>,
    /// The parent step, for a `workflow.run` child.
    pub parent: Option<ParentLink>,
    /// The caller's span (a signal's `traceparent`): the run's trace joins it.
    pub traceparent: Option<SpanContext>,
}

/// The run a start produced or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub run_id: String,
    pub created: bool,
}

/// Shared by every coordinator task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Driver {
    pub store: Store,
    pub catalog: Catalog,
    pub publisher: Publisher,
    /// The NATS connection, for control replies.
    pub client: async_nats::Client,
    pub subjects: Subjects,
    pub faults: Faults,
    /// Largest task payload, in bytes.
    pub payload_limit: usize,
    /// Largest signal, in bytes (`limits.signal_bytes`): what
    /// `POST /v1/signals/{type}` may publish.
    pub signal_limit: usize,
    /// Wakes the timer loop when a transition stored a timer.
    pub timers_changed: Arc<Notify>,
    /// One decision point per run: queued inputs and the runs' state in memory.
    pub runs: RunQueues,
    /// Group commit of transitions across runs.
    pub committer: Committer,
    /// Transition and conflict counters.
    pub metrics: crate::metrics::Metrics,
    /// Which coordinator decides for which run.
    pub routing: crate::routing::Ownership,
    /// The tokens file (PROTOCOL §6); `None`: auth is off.
    pub auth: Option<Arc<crate::auth::Tokens>>,
    /// Trace export (off without an OTLP endpoint).
    pub otel: junction_runtime::otel::Tracing,
}

impl Driver {
    /// Starts a run unless its dedupe key was seen before. A run of a
    /// limited workflow whose key has no free slot is created `PENDING`
    /// (queued) instead (`slots.rs`).
    pub async fn start_run(&self, request: StartRequest) -> anyhow::Result<Started> {
        let uuid = uuid::Uuid::now_v7();
        let run_id = RunId::from_uuid(uuid);
        let traced = TracedRun {
            trace: RunTrace::new(
                run_id.as_str(),
                TraceId(uuid.into_bytes()),
                request.traceparent,
            ),
            started_ms: Utc::now().timestamp_millis(),
        };
        let correlation_id = request
            .correlation_id
            .clone()
            .unwrap_or_else(|| run_id.to_string());
        let meta = RunMeta {
            run_id: run_id.clone(),
            tenant: request.tenant.clone(),
            version: request.workflow.version,
        };
        let concurrency_key = request
            .workflow
            .concurrency_key(&request.input, request.signal.as_ref())
            .map_err(|message| anyhow::anyhow!("run {run_id}: {message}"))?;
        let new_run = NewRun {
            run_id: run_id.to_string(),
            tenant: request.tenant.clone(),
            workflow_id: request.workflow.workflow.id.clone(),
            version: request.workflow.version,
            input: request.input.clone(),
            causation_id: request.causation_id.clone(),
            correlation_id: correlation_id.clone(),
            dedupe_key: request.dedupe_key.clone(),
            trace_id: traced.trace.trace_id.to_string(),
            trace_parent: traced.trace.parent.map(|span| span.to_string()),
            concurrency_key,
        };
        let mut state = RunState::new();
        let start = slots::StartInputs {
            request: &request,
            correlation_id,
        };
        let decide = |state: &mut RunState, admitted: bool| {
            let input = start.input(admitted);
            let (write, _, work) =
                self.transition(&request.workflow, &meta, Some(&traced), state, [input])?;
            anyhow::Ok((write, work))
        };
        let (outcome, work, facts) = match &request.workflow.workflow.concurrency {
            None => {
                let (write, work) = decide(&mut state, true)?;
                let facts = slots::WriteFacts::of(&write);
                (self.store.create_run(&new_run, write).await?, work, facts)
            }
            Some(concurrency) => {
                slots::create_limited(self, &new_run, concurrency.limit, |admitted| {
                    decide(&mut state, admitted)
                })
                .await?
            }
        };
        match outcome {
            CreateOutcome::Created(committed) => {
                self.started(&new_run, state, &traced, facts, work);
                self.after_commit(&committed.messages, facts.has_timers)
                    .await;
                Ok(Started {
                    run_id: run_id.to_string(),
                    created: true,
                })
            }
            CreateOutcome::Existing(existing) => Ok(Started {
                run_id: existing,
                created: false,
            }),
        }
    }

    /// What follows a new run's commit besides publishing: metrics, the
    /// run remembered for its next input, its log line and spans.
    fn started(
        &self,
        new_run: &NewRun,
        state: RunState,
        traced: &TracedRun,
        facts: slots::WriteFacts,
        work: TraceWork,
    ) {
        self.metrics.transition_committed(1);
        // A new run ended by its start (inline states only) ends here.
        let (run, workflow) = (new_run.run_id.as_str(), new_run.workflow_id.as_str());
        let new = junction_core::status::RunStatus::Pending;
        self.metrics.run_committed(run, workflow, new, facts.status);
        self.runs.remember(
            &new_run.run_id,
            CachedRun {
                tenant: new_run.tenant.clone(),
                workflow_id: new_run.workflow_id.clone(),
                version: new_run.version,
                revision: 0,
                state,
                state_hash: facts.state_hash,
                traced: Some(traced.clone()),
            },
        );
        tracing::info!(run_id = %new_run.run_id, workflow_id = %new_run.workflow_id, status = %facts.status, trace_id = %traced.trace.trace_id, "run started");
        trace::export(
            &self.otel,
            Some(traced),
            RunLabels {
                run_id: &new_run.run_id,
                workflow_id: &new_run.workflow_id,
                tenant: &new_run.tenant,
            },
            work,
        );
    }

    /// Fires every due timer. Returns when none is due, or on a transient
    /// failure (the timer loop backs off). A timer that fails for good is
    /// postponed (`Store::postpone_timer`, later each time), never lost and
    /// never fired in a tight loop, and the others fire meanwhile.
    pub async fn fire_due_timers(&self) -> anyhow::Result<()> {
        loop {
            // Read first: loading the workflow (and starting a child) is I/O,
            // and the firing transaction's closure stays synchronous.
            let Some(timer) = self.store.peek_due_timer().await? else {
                return Ok(());
            };
            match self.fire_timer(&timer).await {
                Ok(()) => {}
                Err(error) if crate::failure::is_transient(&error) => return Err(error),
                Err(error) => {
                    let at = self.store.postpone_timer(timer.id).await?;
                    tracing::error!(timer_id = timer.id, run_id = %timer.run_id, kind = %timer.kind, error = %format!("{error:#}"), ?at, "timer cannot fire; postponed");
                }
            }
        }
    }

    /// Fires one due timer.
    async fn fire_timer(&self, timer: &junction_store::DueTimer) -> anyhow::Result<()> {
        let Some(workflow) = self
            .catalog
            .get(&timer.tenant, &timer.workflow_id, timer.version)
            .await?
        else {
            anyhow::bail!(
                "timer for {} v{}, which is not stored",
                timer.workflow_id,
                timer.version
            );
        };
        let decoded = TimerKind::decode(
            &timer.kind,
            timer.step_id.as_deref(),
            timer.attempt,
            timer.payload.as_ref(),
        );
        let input = match decoded {
            Ok(kind) => timers::input_of(self, timer, kind).await?,
            Err(error) => {
                // Left in place it would block the loop for ever: it
                // is deleted below, without touching its run.
                tracing::error!(timer_id = timer.id, run_id = %timer.run_id, kind = %timer.kind, %error, "stored timer cannot be read; deleting it without effect");
                None
            }
        };
        let mut has_timers = false;
        let mut traced = None;
        let mut moved = None;
        let outcome = self
            .store
            .fire_timer(timer.id, |_, locked| {
                let (write, work, run) = self.decide_locked(&workflow, locked, input?)?;
                has_timers = !write.timers.is_empty();
                traced = Some((work, run));
                moved = Some((locked.status, write.status));
                Some(write)
            })
            .await?;
        match outcome {
            // Another coordinator holds it: let it finish.
            FireOutcome::Idle => tokio::time::sleep(Duration::from_millis(20)).await,
            FireOutcome::Fired(messages) => {
                // The timer wrote the run under its row lock: what this
                // coordinator remembers of the run is stale now.
                self.runs.forget(&timer.run_id);
                if let Some((work, run)) = traced {
                    let labels = RunLabels {
                        run_id: &timer.run_id,
                        workflow_id: &timer.workflow_id,
                        tenant: &timer.tenant,
                    };
                    trace::export(&self.otel, run.as_ref(), labels, work);
                }
                if let Some((from, to)) = moved {
                    let (run, workflow) = (timer.run_id.as_str(), timer.workflow_id.as_str());
                    self.metrics.run_committed(run, workflow, from, to);
                }
                self.after_commit(&messages, has_timers).await
            }
        }
        Ok(())
    }

    /// A timer's transition of a run read under its row lock: snapshot +
    /// input → write (with what it adds to the run's trace), or `None` for
    /// no change.
    pub(crate) fn decide_locked(
        &self,
        workflow: &CompiledWorkflow,
        locked: &LockedRun,
        input: Input,
    ) -> Option<(TransitionWrite, TraceWork, Option<TracedRun>)> {
        let mut run = match CachedRun::from_locked(locked.clone()) {
            Ok(run) => run,
            Err(error) => {
                tracing::error!(run_id = %locked.run_id, %error, "leaving the run alone");
                return None;
            }
        };
        let meta = RunMeta {
            run_id: RunId::new(locked.run_id.clone()),
            tenant: locked.tenant.clone(),
            version: locked.version,
        };
        let (write, answers, work) = match self.transition(
            workflow,
            &meta,
            run.traced.as_ref(),
            &mut run.state,
            std::iter::once(input),
        ) {
            Ok(decided) => decided,
            Err(error) => {
                tracing::error!(run_id = %locked.run_id, error = format!("{error:#}"), "leaving the run alone");
                return None;
            }
        };
        for answer in answers {
            if let Answer::Rejected { message, .. } = answer {
                tracing::info!(run_id = %locked.run_id, message, "a timer's input was refused");
            }
        }
        let changed = write.state.hash() != run.state_hash
            || !write.events.is_empty()
            || !write.attempts.is_empty()
            || !write.timers.is_empty();
        changed.then_some((write, work, run.traced))
    }

    /// Applies `inputs` one after another (each once) and builds the one
    /// write for all of them; the engine's answers come back in input
    /// order, with the spans the transition ends (for export once it is
    /// committed).
    pub(crate) fn transition(
        &self,
        workflow: &CompiledWorkflow,
        meta: &RunMeta,
        traced: Option<&TracedRun>,
        state: &mut RunState,
        inputs: impl IntoIterator<Item = Input>,
    ) -> anyhow::Result<(TransitionWrite, Vec<Answer>, TraceWork)> {
        let cx = ApplyContext {
            now: Utc::now(),
            payload_limit: self.payload_limit,
        };
        let was = state.status;
        let open = trace::before(&self.otel, traced, state);
        let mut effects = Vec::new();
        let mut answers = Vec::new();
        for input in inputs {
            let outcome = engine::apply(&workflow.workflow, meta, state, input, &cx);
            effects.extend(outcome.effects);
            answers.push(outcome.answer);
        }
        let now_ms = cx.now.timestamp_millis();
        let work = trace::after(open, &workflow.workflow, was, state, &effects, now_ms);
        let cx = WriteContext {
            subjects: &self.subjects,
            meta,
            workflow_id: &workflow.workflow.id,
            now: cx.now,
            trace: traced.map(|t| &t.trace),
        };
        let write = write::build(&cx, state, effects)
            .with_context(|| format!("run {}: cannot serialize its transition", meta.run_id))?;
        Ok((write, answers, work))
    }

    pub(crate) async fn after_commit(&self, messages: &[OutboxMessage], has_timers: bool) {
        self.faults
            .hit(fault::COORDINATOR_AFTER_COMMIT_BEFORE_PUBLISH);
        if has_timers {
            self.timers_changed.notify_one();
        }
        self.publisher.publish(messages).await;
    }
}
