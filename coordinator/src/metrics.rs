//! In-process counters, rendered on `/metrics` (`http.rs`) and logged at
//! shutdown.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counters shared by the coordinator's tasks.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    signals_rejected: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    transitions: Arc<TransitionCounters>,
}

/// Run transitions committed by this coordinator, and decisions redone.
#[derive(Debug, Default)]
pub struct TransitionCounters {
    /// Transitions committed (`junction_transitions_total`).
    pub committed: AtomicU64,
    /// Inputs those transitions applied (`junction_transition_inputs_total`):
    /// above `committed` when results of one run were decided together.
    pub inputs: AtomicU64,
    /// Decisions redone because the run moved on (`junction_transition_conflicts_total`).
    pub conflicts: AtomicU64,
}

impl Metrics {
    /// A transition applying `inputs` inputs was committed.
    pub fn transition_committed(&self, inputs: u64) {
        self.transitions.committed.fetch_add(1, Ordering::Relaxed);
        self.transitions.inputs.fetch_add(inputs, Ordering::Relaxed);
    }

    /// A decision was refused by the optimistic check and is redone.
    pub fn transition_conflict(&self) {
        self.transitions.conflicts.fetch_add(1, Ordering::Relaxed);
    }

    /// `(committed, inputs, conflicts)` so far.
    pub fn transitions(&self) -> (u64, u64, u64) {
        let t = &self.transitions;
        (
            t.committed.load(Ordering::Relaxed),
            t.inputs.load(Ordering::Relaxed),
            t.conflicts.load(Ordering::Relaxed),
        )
    }

    /// `junction_signals_rejected_total{reason}` += 1.
    pub fn signal_rejected(&self, reason: &'static str) {
        if let Ok(mut counts) = self.signals_rejected.lock() {
            *counts.entry(reason).or_default() += 1;
        }
    }

    /// `(reason, count)` pairs.
    pub fn signals_rejected(&self) -> Vec<(&'static str, u64)> {
        self.signals_rejected
            .lock()
            .map(|c| c.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }
}
