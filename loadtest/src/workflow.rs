//! Generated workflow definitions (YAML, states form) for the scenarios.
//!
//! Most generated workflows are chains of `agent.run` steps on the `echo`
//! agent; `inflight` uses a `sleep` step followed by one `echo` step;
//! `parallel` is one parallel state of one-`echo`-step branches, and `foreach`
//! one foreach state whose body is one `echo` step. Each has a signal trigger.
//! Ids start with `lt-` so they stand out in a cluster. Every definition is
//! built as a document and written out as YAML in one place, [`to_yaml`].

use serde_json::{Map, Value, json};

/// The agent every chain step calls.
pub const AGENT: &str = "echo";
/// The agent of the holding step (an example agent: waits `input.ms`).
pub const HOLD_AGENT: &str = "sleep";
/// Step timeout when none is given (`DEFAULT_STEP_TIMEOUT_SECONDS`).
const DEFAULT_STEP_TIMEOUT_SECONDS: u64 = 300;

/// A definition: id, name and signal trigger around `fields` (`states`, …).
fn definition(id: &str, name: String, trigger: &str, fields: Value) -> Value {
    let mut document = json!({ "id": id, "name": name, "trigger": { "signal": trigger } });
    if let (Some(document), Value::Object(fields)) = (document.as_object_mut(), fields) {
        document.extend(fields);
    }
    document
}

/// An `agent.run` operation state `name` calling `agent` with `input`,
/// followed by `next` (or ending the run when `None`).
fn agent_state(name: &str, agent: &str, input: Option<Value>, next: Option<&str>) -> Value {
    let mut call = Map::new();
    call.insert("agent".into(), json!(agent));
    if let Some(input) = input {
        call.insert("input".into(), input);
    }
    let mut state =
        json!({ "name": name, "type": "operation", "action": "agent.run", "input": call });
    if let Some(state) = state.as_object_mut() {
        match next {
            Some(next) => state.insert("next".into(), json!(next)),
            None => state.insert("end".into(), json!(true)),
        };
    }
    state
}

/// The YAML text of a definition document.
fn to_yaml(document: &Value) -> String {
    // A document of strings, numbers, booleans, arrays and maps with string
    // keys always has a YAML form; JSON is YAML too, should that ever change.
    yaml_serde::to_string(document).unwrap_or_else(|_| document.to_string())
}

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
    let states: Vec<Value> = (1..=n)
        .map(|k| {
            let next = (k < n).then(|| format!("s{}", k + 1));
            agent_state(&format!("s{k}"), AGENT, None, next.as_deref())
        })
        .collect();
    let name = format!("loadtest chain of {n}");
    to_yaml(&definition(id, name, trigger, json!({ "states": states })))
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
        let mut hold = agent_state(
            "hold",
            HOLD_AGENT,
            Some(json!({ "ms": hold_ms })),
            Some("echo"),
        );
        // A step timeout at least a minute longer than the sleep.
        let needed = hold_ms.div_ceil(1000) + 60;
        if let (true, Some(hold)) = (needed > DEFAULT_STEP_TIMEOUT_SECONDS, hold.as_object_mut()) {
            hold.insert("timeoutSeconds".into(), json!(needed));
        }
        let states = [hold, agent_state("echo", AGENT, None, None)];
        let name = format!("loadtest hold of {hold_ms} ms");
        to_yaml(&definition(
            &self.id,
            name,
            &self.trigger,
            json!({ "states": states }),
        ))
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
        let branches: Vec<Value> = (1..=n)
            .map(|k| json!({ "name": format!("b{k}"), "states": [agent_state("echo", AGENT, None, None)] }))
            .collect();
        let fan = json!({
            "name": "fan",
            "type": "parallel",
            "join": { "mode": "all" },
            "branches": branches,
            "end": true,
        });
        let name = format!("loadtest parallel of {n} branches");
        to_yaml(&definition(
            &self.id,
            name,
            &self.trigger,
            json!({ "states": [fan] }),
        ))
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
    pub fn input(items: u32) -> Value {
        json!({ "items": (0..items).collect::<Vec<u32>>() })
    }

    /// The YAML source (states form).
    pub fn yaml(&self) -> String {
        let each = json!({
            "name": "each",
            "type": "foreach",
            "itemsPath": "ctx.items",
            "itemName": "item",
            "maxConcurrency": self.max_concurrency,
            "iterator": { "states": [agent_state("echo", AGENT, None, None)] },
            "end": true,
        });
        let fields = json!({
            "inputSchema": {
                "type": "object",
                "properties": { "items": { "type": "array" } },
                "required": ["items"],
            },
            "states": [each],
        });
        let name = format!("loadtest foreach, {} items in flight", self.max_concurrency);
        to_yaml(&definition(&self.id, name, &self.trigger, fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use junction_core::model::ir::Workflow;
    use junction_core::model::parse::{SourceFormat, compile};

    /// Compiles `yaml` with the real compiler; fails the test on any error.
    fn compiled(yaml: &str) -> Workflow {
        let result = compile(yaml, SourceFormat::Yaml);
        assert!(
            result.diagnostics.errors.is_empty(),
            "{yaml}\n{:?}",
            result.diagnostics.errors
        );
        result.workflow.expect("compiles")
    }

    fn document(yaml: &str) -> Value {
        yaml_serde::from_str(yaml).expect("generated YAML parses")
    }

    #[test]
    fn chain_links_every_state_and_ends_once() {
        let yaml = chain_yaml("lt-chain3", "loadtest.chain3", 3);
        let doc = document(&yaml);
        assert_eq!(doc["id"], "lt-chain3");
        assert_eq!(doc["name"], "loadtest chain of 3");
        assert_eq!(doc["trigger"]["signal"], "loadtest.chain3");
        let states = doc["states"].as_array().expect("states");
        assert_eq!(states.len(), 3);
        assert_eq!(states[0]["action"], "agent.run");
        assert_eq!(states[0]["input"]["agent"], AGENT);
        assert_eq!(
            (states[0]["next"].as_str(), states[1]["next"].as_str()),
            (Some("s2"), Some("s3"))
        );
        assert_eq!(states[2]["end"], true);
        assert_eq!(yaml.matches("end: true").count(), 1);
        assert_eq!(compiled(&yaml).id, "lt-chain3");
    }

    #[test]
    fn single_step_chain_just_ends() {
        let yaml = ChainWorkflow::new("lt-one", "loadtest.one", 1).yaml();
        assert!(!yaml.contains("next:"));
        let doc = document(&yaml);
        assert_eq!(doc["states"][0]["end"], true);
        compiled(&yaml);
    }

    #[test]
    fn hold_sleeps_then_echoes() {
        let wf = HoldWorkflow::new(60_000);
        assert_eq!(wf.id, "lt-inflight-60000ms");
        let doc = document(&wf.yaml());
        let states = doc["states"].as_array().expect("states");
        assert_eq!(
            states[0]["input"],
            json!({ "agent": HOLD_AGENT, "input": { "ms": 60_000 } })
        );
        assert_eq!(states[0]["next"], "echo");
        assert_eq!(states[1]["input"]["agent"], AGENT);
        assert_eq!(states[1]["end"], true);
        assert!(states[0].get("timeoutSeconds").is_none());
        // A hold near the default step timeout raises the timeout.
        let long = document(&HoldWorkflow::new(300_000).yaml());
        assert_eq!(long["states"][0]["timeoutSeconds"], 360);
        compiled(&wf.yaml());
    }

    #[test]
    fn parallel_has_one_echo_branch_per_width() {
        let wf = ParallelWorkflow::new(3);
        assert_eq!(wf.id, "lt-parallel3");
        let doc = document(&wf.yaml());
        let fan = &doc["states"][0];
        assert_eq!(
            (fan["type"].as_str(), &fan["join"]["mode"]),
            (Some("parallel"), &json!("all"))
        );
        let branches = fan["branches"].as_array().expect("branches");
        let names: Vec<&str> = branches.iter().filter_map(|b| b["name"].as_str()).collect();
        assert_eq!(names, ["b1", "b2", "b3"]);
        for branch in branches {
            assert_eq!(branch["states"][0]["input"]["agent"], AGENT);
            assert_eq!(branch["states"][0]["end"], true);
        }
        assert_eq!(fan["end"], true);
        assert_eq!(ParallelWorkflow::new(0).branches, 1);
        compiled(&wf.yaml());
    }

    #[test]
    fn foreach_reads_its_items_from_the_input() {
        let wf = ForeachWorkflow::new(32);
        assert_eq!(wf.id, "lt-foreach-c32");
        let doc = document(&wf.yaml());
        let each = &doc["states"][0];
        assert_eq!(each["type"], "foreach");
        assert_eq!(each["itemsPath"], "ctx.items");
        assert_eq!(each["itemName"], "item");
        assert_eq!(each["maxConcurrency"], 32);
        assert_eq!(each["iterator"]["states"][0]["input"]["agent"], AGENT);
        assert_eq!(doc["inputSchema"]["required"], json!(["items"]));
        assert_eq!(ForeachWorkflow::input(3), json!({"items": [0, 1, 2]}));
        compiled(&wf.yaml());
    }
}
