//! Generated workflow definitions (YAML, states form) for the scenarios.
//!
//! Most generated workflows are chains of `agent.run` steps on the `echo`
//! agent; `inflight` uses a `sleep` step followed by one `echo` step;
//! `parallel` is one parallel state of one-`echo`-step branches, and `foreach`
//! one foreach state whose body is one `echo` step. Each has a signal trigger.
//! Ids start with `lt-` so they stand out in a cluster.

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

/// One `parallel` state `fan` of `branches` branches `b1` … `bn`, each one
/// `echo` step `echo` (step paths `fan/b<k>/echo`), joined with `join: all`.
/// Nothing is written at a `resultPath`, so the run's snapshot stays small.
#[derive(Debug, Clone)]
pub struct ParallelWorkflow {
    pub id: String,
    pub trigger: String,
    pub branches: u32,
}

impl ParallelWorkflow {
    /// The workflow for `branches` branches (at least 1); its id and trigger
    /// name the width, so that each width is its own idempotent definition.
    pub fn new(branches: u32) -> Self {
        let branches = branches.max(1);
        Self {
            id: format!("lt-parallel{branches}"),
            trigger: format!("loadtest.parallel{branches}"),
            branches,
        }
    }

    /// The YAML source (states form).
    pub fn yaml(&self) -> String {
        let n = self.branches;
        let mut out = String::with_capacity(256 + 160 * n as usize);
        let _ = writeln!(out, "id: {}", self.id);
        let _ = writeln!(out, "name: loadtest parallel of {n} branches");
        let _ = writeln!(out, "trigger:");
        let _ = writeln!(out, "  signal: {}", self.trigger);
        let _ = writeln!(out, "states:");
        let _ = writeln!(out, "  - name: fan");
        let _ = writeln!(out, "    type: parallel");
        let _ = writeln!(out, "    join:");
        let _ = writeln!(out, "      mode: all");
        let _ = writeln!(out, "    branches:");
        for k in 1..=n {
            let _ = writeln!(out, "      - name: b{k}");
            let _ = writeln!(out, "        states:");
            let _ = writeln!(out, "          - name: echo");
            let _ = writeln!(out, "            type: operation");
            let _ = writeln!(out, "            action: agent.run");
            let _ = writeln!(out, "            input:");
            let _ = writeln!(out, "              agent: {AGENT}");
            let _ = writeln!(out, "            end: true");
        }
        let _ = writeln!(out, "    end: true");
        out
    }
}

/// One `foreach` state `each` over the run input's `items` (`itemsPath:
/// ctx.items`, `itemName: item`) with `maxConcurrency` items in flight; the
/// body is one `echo` step `echo` (step paths `each[<i>]/echo`), which
/// receives its item. The number of items is the run input's business, so one
/// definition serves every `--items`. Nothing is written at a `resultPath`.
#[derive(Debug, Clone)]
pub struct ForeachWorkflow {
    pub id: String,
    pub trigger: String,
    pub max_concurrency: u32,
}

impl ForeachWorkflow {
    /// The workflow for `max_concurrency` (at least 1); its id and trigger
    /// name it, so that each value is its own idempotent definition.
    pub fn new(max_concurrency: u32) -> Self {
        let max_concurrency = max_concurrency.max(1);
        Self {
            id: format!("lt-foreach-c{max_concurrency}"),
            trigger: format!("loadtest.foreachc{max_concurrency}"),
            max_concurrency,
        }
    }

    /// The run input for `items` items: `{"items": [0, 1, …, items - 1]}`.
    pub fn input(items: u32) -> serde_json::Value {
        serde_json::json!({ "items": (0..items).collect::<Vec<u32>>() })
    }

    /// The YAML source (states form).
    pub fn yaml(&self) -> String {
        let mut out = String::with_capacity(768);
        let _ = writeln!(out, "id: {}", self.id);
        let _ = writeln!(
            out,
            "name: loadtest foreach, {} items in flight",
            self.max_concurrency
        );
        let _ = writeln!(out, "inputSchema:");
        let _ = writeln!(out, "  type: object");
        let _ = writeln!(out, "  properties:");
        let _ = writeln!(out, "    items:");
        let _ = writeln!(out, "      type: array");
        let _ = writeln!(out, "  required: [items]");
        let _ = writeln!(out, "trigger:");
        let _ = writeln!(out, "  signal: {}", self.trigger);
        let _ = writeln!(out, "states:");
        let _ = writeln!(out, "  - name: each");
        let _ = writeln!(out, "    type: foreach");
        let _ = writeln!(out, "    itemsPath: ctx.items");
        let _ = writeln!(out, "    itemName: item");
        let _ = writeln!(out, "    maxConcurrency: {}", self.max_concurrency);
        let _ = writeln!(out, "    iterator:");
        let _ = writeln!(out, "      states:");
        let _ = writeln!(out, "        - name: echo");
        let _ = writeln!(out, "          type: operation");
        let _ = writeln!(out, "          action: agent.run");
        let _ = writeln!(out, "          input:");
        let _ = writeln!(out, "            agent: {AGENT}");
        let _ = writeln!(out, "          end: true");
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

    #[test]
    fn parallel_has_one_echo_branch_per_width() {
        let wf = ParallelWorkflow::new(3);
        assert_eq!(wf.id, "lt-parallel3");
        let yaml = wf.yaml();
        assert!(yaml.contains("  - name: fan\n    type: parallel\n    join:\n      mode: all\n"));
        assert!(yaml.contains("      - name: b1\n") && yaml.contains("      - name: b3\n"));
        assert!(!yaml.contains("name: b4"));
        assert_eq!(yaml.matches("agent: echo").count(), 3);
        // Each branch ends, and so does the parallel state.
        assert_eq!(yaml.matches("end: true").count(), 4);
        assert!(yaml.ends_with("            end: true\n    end: true\n"));
        assert_eq!(ParallelWorkflow::new(0).branches, 1);
    }

    #[test]
    fn foreach_reads_its_items_from_the_input() {
        let wf = ForeachWorkflow::new(32);
        assert_eq!(wf.id, "lt-foreach-c32");
        let yaml = wf.yaml();
        assert!(yaml.contains(
            "    type: foreach\n    itemsPath: ctx.items\n    itemName: item\n    maxConcurrency: 32\n"
        ));
        assert_eq!(yaml.matches("agent: echo").count(), 1);
        assert_eq!(yaml.matches("end: true").count(), 2);
        assert_eq!(
            ForeachWorkflow::input(3),
            serde_json::json!({"items": [0, 1, 2]})
        );
    }
}
