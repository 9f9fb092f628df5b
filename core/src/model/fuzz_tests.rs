//! Robustness: no document, however broken, makes a front end, the graph
//! checks, the validator or the locator panic. Documents are generated in the
//! shape of each form (states, DAG, composer) with every field drawn from
//! both plausible and hostile values, then compiled as JSON and as YAML and
//! validated against a registry.

use super::validate::{AgentSpec, against_registry};
use super::{SourceFormat, compile, parse::compile_document};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Names that collide on purpose, so targets sometimes resolve.
fn name() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "c", "d", "echo", "item", ""]).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(Value::Null),
        1 => "[a-z$.{}\\[\\]]{0,12}".prop_map(Value::from),
    ]
}

/// Scalars and small structures, including templates and expressions.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "{{ ctx.a }}",
            "${steps.b.c}",
            "{{ }}",
            "{{ a..b }}",
            "result.x > 1",
            "[x for x in",
            "ctx.a == 'b'",
            "agent.run",
            "human.approval",
            "signal.wait",
            "shell.run",
            "steps.a",
            "$.ctx.a",
            "30s",
            "all",
            "any",
            "merge",
        ])
        .prop_map(Value::from),
        ".{0,16}".prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const STATE_KEYS: &[&str] = &[
    "name",
    "id",
    "type",
    "action",
    "input",
    "next",
    "transition",
    "end",
    "resultPath",
    "retry",
    "timeoutSeconds",
    "data",
    "dataPath",
    "conditions",
    "defaultNext",
    "branches",
    "join",
    "itemsPath",
    "itemName",
    "iterator",
    "expression",
    "catch",
    "onError",
    "agent",
    "task",
    "outputAggregation",
    "maxConcurrency",
    "states",
    "start",
];

const TYPES: &[&str] = &[
    "operation",
    "switch",
    "parallel",
    "inject",
    "foreach",
    "transform",
    "agent",
    "human_approval",
    "bogus",
];

/// A state-like mapping: a type, a name, and random known keys.
fn state(depth: u32) -> BoxedStrategy<Value> {
    let keys = prop::collection::btree_map(prop::sample::select(STATE_KEYS), value(), 0..7);
    let nested = if depth == 0 {
        Just(None).boxed()
    } else {
        prop::option::of(prop::collection::vec(state(depth - 1), 0..3)).boxed()
    };
    (name(), prop::sample::select(TYPES), keys, nested, name())
        .prop_map(|(name, kind, keys, nested, next)| {
            let mut object: Map<String, Value> =
                keys.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            object.insert("name".into(), name);
            object.insert("type".into(), kind.into());
            object.entry("next").or_insert(next);
            if let Some(states) = nested {
                let graph = json!({ "states": states });
                object.insert("iterator".into(), graph.clone());
                object.insert(
                    "branches".into(),
                    json!([{ "name": "x", "states": graph["states"] }]),
                );
            }
            Value::Object(object)
        })
        .boxed()
}

fn document() -> impl Strategy<Value = Value> {
    let states = (prop::collection::vec(state(2), 0..6), name(), value()).prop_map(
        |(states, start, schema)| json!({ "id": "w", "start": start, "states": states, "inputSchema": schema }),
    );
    let dag = prop::collection::vec(
        (name(), name(), prop::collection::vec(name(), 0..3), leaf(), leaf(), leaf()),
        0..6,
    )
    .prop_map(|steps| {
        let steps: Vec<Value> = steps
            .into_iter()
            .map(|(name, agent, deps, retries, timeout, condition)| {
                json!({ "name": name, "agent": agent, "depends_on": deps, "retries": retries, "timeout": timeout, "condition": condition })
            })
            .collect();
        json!({ "id": "d", "variables": { "v": 1 }, "steps": steps })
    });
    let composer = (
        prop::collection::vec((name(), prop::sample::select(vec!["agent", "signature", "verifier", "approval", "deployment", "x"]), value()), 0..5),
        prop::collection::vec((name(), name(), leaf()), 0..5),
    )
        .prop_map(|(nodes, edges)| {
            let nodes: Vec<Value> = nodes
                .into_iter()
                .map(|(id, kind, extra)| json!({ "id": id, "type": kind, "name": "n", "agent": "echo", "task": "t", kind: extra }))
                .collect();
            let edges: Vec<Value> = edges
                .into_iter()
                .map(|(source, target, kind)| json!({ "source": source, "target": target, "kind": kind }))
                .collect();
            json!({ "id": "g", "name": "g", "nodes": nodes, "edges": edges })
        });
    prop_oneof![states, dag, composer, value()]
}

fn registry() -> HashMap<String, AgentSpec> {
    ["echo", "a", "b"]
        .iter()
        .map(|n| {
            (
                (*n).to_owned(),
                AgentSpec {
                    name: (*n).to_owned(),
                    input_schema: Some(json!({"type": "object", "required": ["x"], "properties": {"x": {"type": "integer"}}})),
                    output_schema: Some(json!({"type": "object", "properties": {"x": {"type": "string"}}})),
                },
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn no_document_makes_the_compiler_or_validator_panic(doc in document()) {
        let registry = registry();
        let compiled = compile_document(&doc);
        if let Some(workflow) = &compiled.workflow {
            let mut diagnostics = compiled.diagnostics.clone();
            against_registry(workflow, &registry, &mut diagnostics);
            // What compiles must survive a round trip through the stored IR.
            let stored = serde_json::to_value(workflow).expect("IR serializes");
            let back: super::Workflow = serde_json::from_value(stored).expect("IR deserializes");
            prop_assert_eq!(&back, workflow);
        }
        let json_text = serde_json::to_string_pretty(&doc).expect("json");
        let from_json = compile(&json_text, SourceFormat::Json);
        prop_assert_eq!(from_json.workflow.is_some(), compiled.workflow.is_some());
        let yaml_text = yaml_serde::to_string(&doc).expect("yaml");
        let _ = compile(&yaml_text, SourceFormat::Yaml);
        for diagnostic in from_json.diagnostics.errors.iter().chain(&from_json.diagnostics.warnings) {
            if let Some(line) = diagnostic.line {
                prop_assert!(line as usize <= json_text.lines().count().max(1));
            }
        }
    }

    #[test]
    fn no_text_makes_compile_panic(text in ".{0,400}") {
        let _ = compile(&text, SourceFormat::Yaml);
        let _ = compile(&text, SourceFormat::Json);
        let _ = compile(&text, SourceFormat::Star);
    }
}
