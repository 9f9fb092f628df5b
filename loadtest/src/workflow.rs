//! Generated workflow definitions (YAML, states form) for the scenarios.
//!
//! Most generated workflows are chains of `agent.run` steps on the `echo`
//! agent; `inflight` uses a `sleep` step followed by one `echo` step. Each has
//! a signal trigger. Ids start with `lt-` so they stand out in a cluster.

use std::fmt::Write as _;

/// The agent every chain step calls.
pub const AGENT: &str = "echo";
/// The agent of the holding step (an example agent: waits `input.ms`).
pub const HOLD_AGENT: &str = "sleep";
/// Step timeout when none is given (`DEFAULT_STEP_TIMEOUT_SECONDS`).
const DEFAULT_STEP_TIMEOUT_SECONDS: u64 = 300;

/// A workflow the load test puts before a scenario.
#[derive(Debug, Clone)]
pub struct ChainWorkflow {
    pub id: String,
    pub trigger: String,
    pub steps: u32,
}

impl ChainWorkflow {
    /// A chain of `steps` echo steps, with id `id` and trigger signal `trigger`.
    pub fn new(id: impl Into<String>, trigger: impl Into<String>, steps: u32) -> Self {
        Self {
            id: id.into(),
            trigger: trigger.into(),
            steps,
        }
    }

    /// The YAML source (states form).
    pub fn yaml(&self) -> String {
        chain_yaml(&self.id, &self.trigger, self.steps)
    }
}

/// YAML for an `n`-step chain `s1 → s2 → … → sn` of `agent.run` on `echo`.
/// `n` is at least 1 (0 is treated as 1).
pub fn chain_yaml(id: &str, trigger: &str, n: u32) -> String {
    let n = n.max(1);
    let mut out = String::with_capacity(128 + 96 * n as usize);
    // Writing to a String cannot fail.
    let _ = writeln!(out, "id: {id}");
    let _ = writeln!(out, "name: loadtest chain of {n}");
    let _ = writeln!(out, "trigger:");
    let _ = writeln!(out, "  signal: {trigger}");
    let _ = writeln!(out, "states:");
    for k in 1..=n {
        let _ = writeln!(out, "  - name: s{k}");
        let _ = writeln!(out, "    type: operation");
        let _ = writeln!(out, "    action: agent.run");
        let _ = writeln!(out, "    input:");
        let _ = writeln!(out, "      agent: {AGENT}");
        if k < n {
            let _ = writeln!(out, "    next: s{}", k + 1);
        } else {
            let _ = writeln!(out, "    end: true");
        }
    }
    out
}

/// A two-step workflow that keeps its runs in flight: `hold` calls `sleep`
/// with `{ms: hold_ms}`, then `echo` calls `echo`.
#[derive(Debug, Clone)]
pub struct HoldWorkflow {
    pub id: String,
    pub trigger: String,
    pub hold_ms: u64,
}

impl HoldWorkflow {
    /// The holding workflow for `hold_ms`; its id and trigger name the hold, so
    /// that each hold is its own idempotent definition.
    pub fn new(hold_ms: u64) -> Self {
        Self {
            id: format!("lt-inflight-{hold_ms}ms"),
            trigger: format!("loadtest.inflight{hold_ms}ms"),
            hold_ms,
        }
    }

    /// The YAML source (states form).
    pub fn yaml(&self) -> String {
        let hold_ms = self.hold_ms;
        let mut out = String::with_capacity(512);
        let _ = writeln!(out, "id: {}", self.id);
        let _ = writeln!(out, "name: loadtest hold of {hold_ms} ms");
        let _ = writeln!(out, "trigger:");
        let _ = writeln!(out, "  signal: {}", self.trigger);
        let _ = writeln!(out, "states:");
        let _ = writeln!(out, "  - name: hold");
        let _ = writeln!(out, "    type: operation");
        let _ = writeln!(out, "    action: agent.run");
        let _ = writeln!(out, "    input:");
        let _ = writeln!(out, "      agent: {HOLD_AGENT}");
        let _ = writeln!(out, "      input:");
        let _ = writeln!(out, "        ms: {hold_ms}");
        // A step timeout at least a minute longer than the sleep.
        let needed = hold_ms.div_ceil(1000) + 60;
        if needed > DEFAULT_STEP_TIMEOUT_SECONDS {
            let _ = writeln!(out, "    timeoutSeconds: {needed}");
        }
        let _ = writeln!(out, "    next: echo");
        let _ = writeln!(out, "  - name: echo");
        let _ = writeln!(out, "    type: operation");
        let _ = writeln!(out, "    action: agent.run");
        let _ = writeln!(out, "    input:");
        let _ = writeln!(out, "      agent: {AGENT}");
        let _ = writeln!(out, "    end: true");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_links_every_state_and_ends_once() {
        let yaml = chain_yaml("lt-chain3", "loadtest.chain3", 3);
        assert!(yaml.starts_with("id: lt-chain3\nname: loadtest chain of 3\n"));
        assert!(yaml.contains("trigger:\n  signal: loadtest.chain3\nstates:\n"));
        assert!(yaml.contains("  - name: s1\n    type: operation\n    action: agent.run\n"));
        assert!(yaml.contains("next: s2\n") && yaml.contains("next: s3\n"));
        assert_eq!(yaml.matches("end: true").count(), 1);
        assert_eq!(yaml.matches("agent: echo").count(), 3);
        assert!(!yaml.contains("next: s4"));
    }

    #[test]
    fn single_step_chain_just_ends() {
        let yaml = ChainWorkflow::new("lt-one", "loadtest.one", 1).yaml();
        assert!(!yaml.contains("next:"));
        assert!(yaml.ends_with("  - name: s1\n    type: operation\n    action: agent.run\n    input:\n      agent: echo\n    end: true\n"));
    }

    #[test]
    fn hold_sleeps_then_echoes() {
        let wf = HoldWorkflow::new(60_000);
        assert_eq!(wf.id, "lt-inflight-60000ms");
        let yaml = wf.yaml();
        assert!(
            yaml.contains("      agent: sleep\n      input:\n        ms: 60000\n    next: echo\n")
        );
        assert!(yaml.ends_with("  - name: echo\n    type: operation\n    action: agent.run\n    input:\n      agent: echo\n    end: true\n"));
        assert!(!yaml.contains("timeoutSeconds"));
        // A hold near the default step timeout raises the timeout.
        assert!(
            HoldWorkflow::new(300_000)
                .yaml()
                .contains("    timeoutSeconds: 360\n")
        );
    }
}
