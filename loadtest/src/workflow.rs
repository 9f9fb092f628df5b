//! Generated workflow definitions (YAML, states form) for the scenarios.
//!
//! Every generated workflow is a chain of `agent.run` steps on the `echo` agent,
//! with a signal trigger. Ids start with `lt-` so they stand out in a cluster.

use std::fmt::Write as _;

/// The agent every generated step calls.
pub const AGENT: &str = "echo";

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
}
