//! In-process counters. They are logged at shutdown now; the Prometheus
//! endpoint arrives with the HTTP API.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Counters shared by the coordinator's tasks.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    signals_rejected: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl Metrics {
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
