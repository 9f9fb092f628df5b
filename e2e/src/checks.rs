//! Checks several test files make on what a cluster did: how often each
//! step's agent call ran, and whether a run's event seqs have gaps.

use crate::TestEnv;
use serde_json::Value;
use std::collections::HashMap;

impl TestEnv {
    /// Agent calls made so far, counted per `agent:idempotency_key`: one
    /// key per step attempt, kept across redeliveries and takeovers.
    pub fn executions(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for record in self.calls.records() {
            *counts
                .entry(format!("{}:{}", record.agent, record.idempotency_key))
                .or_default() += 1;
        }
        counts
    }

    /// Fails unless exactly `steps` step attempts called an agent, each once.
    pub fn assert_each_step_ran_once(&self, steps: usize) -> anyhow::Result<()> {
        let counts = self.executions();
        anyhow::ensure!(counts.len() == steps, "{steps} steps ran: {counts:?}");
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        anyhow::ensure!(twice.is_empty(), "a step ran twice: {twice:?}");
        Ok(())
    }
}

/// Fails unless the events' `seq`s are 1, 2, 3, … without a gap or a repeat.
pub fn assert_gapless(events: &[Value]) -> anyhow::Result<()> {
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    anyhow::ensure!(seqs == expected, "seqs with gaps or duplicates: {seqs:?}");
    Ok(())
}
