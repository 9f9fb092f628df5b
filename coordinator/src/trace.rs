//! A run's trace, on the coordinator's side (PROTOCOL §9).
//!
//! The coordinator owns the two spans that outlive any one process: the
//! run's root (`WorkflowRun`, from the run's creation to its end) and one
//! `StateTransition` per state entered. Neither is held open: a transition
//! that ends a state (or the run) exports its span after the commit, with the
//! ids `junction_core::trace` derives and the times the run snapshot kept,
//! so whichever coordinator ends a state, after whatever restarts, the span
//! lands in the same place of the same trace. Workers hang their
//! `StepExecute` spans under the state span their task names.

use junction_core::engine::{EndedState, OpenStates, RunState};
use junction_core::model::Workflow;
use junction_core::status::RunStatus;
use junction_core::trace::RunTrace;
use junction_runtime::otel::{FixedSpan, Tracing};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A run's trace and when its root span started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracedRun {
    pub trace: RunTrace,
    /// The run's creation (ms since the epoch).
    pub started_ms: i64,
}

/// The trace facts of one run, for its spans' attributes.
#[derive(Debug, Clone, Copy)]
pub struct RunLabels<'a> {
    pub run_id: &'a str,
    pub workflow_id: &'a str,
    pub tenant: &'a str,
}

/// What a decided transition adds to its run's trace, exported once the
/// transition is committed (and dropped if it is decided again).
#[derive(Debug, Default)]
pub struct TraceWork {
    pub states: Vec<EndedState>,
    /// The run ended: its terminal status.
    pub run_ended: Option<RunStatus>,
    pub now_ms: i64,
}

/// Notes the open states before a transition, when spans are exported.
pub fn before(otel: &Tracing, traced: Option<&TracedRun>, state: &RunState) -> Option<OpenStates> {
    (otel.enabled() && traced.is_some()).then(|| OpenStates::of(state))
}

/// The spans a transition ended, from the open states `before` it.
pub fn after(
    before: Option<OpenStates>,
    workflow: &Workflow,
    was: RunStatus,
    state: &RunState,
    effects: &[junction_core::engine::Effect],
    now_ms: i64,
) -> TraceWork {
    let Some(before) = before else {
        return TraceWork::default();
    };
    TraceWork {
        states: junction_core::engine::ended_states(workflow, &before, state, effects, now_ms),
        run_ended: (!was.is_terminal() && state.status.is_terminal()).then_some(state.status),
        now_ms,
    }
}

/// Exports the spans of a committed transition.
pub fn export(otel: &Tracing, traced: Option<&TracedRun>, labels: RunLabels<'_>, work: TraceWork) {
    let Some(traced) = traced else {
        return;
    };
    let trace = &traced.trace;
    for state in work.states {
        otel.export_span(FixedSpan {
            name: "StateTransition",
            kind: SpanKind::Internal,
            trace_id: trace.trace_id,
            span_id: trace.state_span(state.step_id.as_str()),
            parent: Some(
                state
                    .parent
                    .as_ref()
                    .map_or(trace.root, |parent| trace.state_span(parent.as_str())),
            ),
            start: at(state.started_ms),
            end: at(state.ended_ms),
            attributes: vec![
                KeyValue::new("state_name", state.state),
                KeyValue::new("state_type", state.state_type),
                KeyValue::new("run_id", labels.run_id.to_owned()),
                KeyValue::new("step_id", state.step_id.to_string()),
                KeyValue::new("path", state.path),
            ],
        });
    }
    if let Some(status) = work.run_ended {
        otel.export_span(FixedSpan {
            name: "WorkflowRun",
            kind: SpanKind::Internal,
            trace_id: trace.trace_id,
            span_id: trace.root,
            parent: trace.parent,
            start: at(traced.started_ms),
            end: at(work.now_ms),
            attributes: vec![
                KeyValue::new("workflow_id", labels.workflow_id.to_owned()),
                KeyValue::new("run_id", labels.run_id.to_owned()),
                KeyValue::new("tenant", labels.tenant.to_owned()),
                KeyValue::new("status", status.as_str()),
            ],
        });
    }
}

fn at(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
