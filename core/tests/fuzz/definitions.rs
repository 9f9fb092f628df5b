//! Definitions: the shipped examples and a few inline documents in every
//! form (states with the Station dialect, DAG, composer graph, Starlark
//! plan), mutated as trees and as text, plus random trees, deep nesting and
//! random bytes, compiled as YAML, JSON and Starlark.

use crate::inputs::{self, TextEdit, TreeEdit};
use junction_core::model::parse::{Compiled, compile_document};
use junction_core::model::validate::{AgentSpec, against_registry};
use junction_core::model::{SourceFormat, Workflow, compile};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

/// One document to mutate: its text, its format and (YAML and JSON) its tree.
#[derive(Debug, Clone)]
pub struct Seed {
    /// For the failure's report.
    #[allow(dead_code)]
    pub name: String,
    pub text: String,
    pub format: SourceFormat,
    pub tree: Option<Value>,
}

const INLINE: &[(&str, &str)] = &[
    (
        "states.yaml",
        "id: s\ntrigger: { signal: s.go, filter: \"data.n > 1\" }\ninputSchema: { type: object, properties: { n: { type: integer } } }\nstart: a\nstates:\n  - name: a\n    type: operation\n    action: agent.run\n    input: { agent: echo, task: \"{{ ctx.n }}\" }\n    retry: { maxAttempts: 3, backoff: 1s }\n    resultPath: steps.a\n    next: b\n  - name: b\n    type: switch\n    conditions:\n      - { condition: \"steps.a.x > 1\", next: c }\n    defaultNext: d\n  - name: c\n    type: foreach\n    itemsPath: ctx.items\n    itemName: item\n    iterator:\n      states:\n        - { name: i, type: inject, data: { v: \"{{ item }}\" }, end: true }\n    next: d\n  - name: d\n    type: parallel\n    branches:\n      - name: x\n        states: [ { name: x1, type: transform, expression: \"{'n': ctx.n}\", end: true } ]\n    join: all\n    end: true\n",
    ),
    (
        "station.yaml",
        "id: station\nstates:\n  - { id: bare, type: agent, agent: echo, transition: ask }\n  - id: ask\n    type: human_approval\n    prompt: \"ok {{ ctx.n }}?\"\n    transition: wait\n  - { id: wait, type: signal.wait, signal: go, timeoutSeconds: 30, transition: t }\n  - id: t\n    type: transform\n    expression: |\n      n = len(ctx)\n      {\"n\": n}\n    end: true\n",
    ),
    (
        "dag.yaml",
        "id: d\nvariables: { v: 1 }\nsteps:\n  - { name: a, agent: echo, retries: 2, timeout: 30s }\n  - { name: b, agent: echo, depends_on: [a], condition: \"steps.a.ok\" }\n  - { name: c, type: shell.run, command: [echo, hi], depends_on: [a, b] }\n",
    ),
    (
        "composer.json",
        r#"{"id":"g","name":"g","nodes":[{"id":"a","type":"agent","name":"a","agent":"echo","task":"t"},{"id":"v","type":"verifier","name":"v","command":["true"]},{"id":"p","type":"approval","name":"p"}],"edges":[{"source":"a","target":"v"},{"source":"v","target":"p","kind":"pass"}]}"#,
    ),
    (
        "anchors.yaml",
        "id: anchors\nx: &a { type: inject, data: { v: [1, 2, 3] }, end: true }\nstates:\n  - <<: *a\n    name: one\n",
    ),
];

const INLINE_STAR: &[&str] = &[
    "def workflow():\n    return {\"id\": \"p\", \"states\": [{\"name\": \"s%d\" % i, \"type\": \"inject\", \"data\": {\"i\": i}, \"end\": i == 2, \"next\": \"s%d\" % (i + 1)} for i in range(3)]}\n",
    "def step(name, deps):\n    return {\"name\": name, \"agent\": \"echo\", \"depends_on\": deps}\n\ndef workflow():\n    steps = [step(\"a\", [])]\n    for i in range(4):\n        steps.append(step(\"b%d\" % i, [\"a\"]))\n    return {\"id\": \"d\", \"steps\": steps}\n",
];

fn load_examples(dir: &Path, out: &mut Vec<Seed>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            load_examples(&path, out);
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if let (Some(format), Ok(text)) = (
            SourceFormat::from_file_name(name),
            std::fs::read_to_string(&path),
        ) {
            out.push(seed(name, &text, format));
        }
    }
}

fn seed(name: &str, text: &str, format: SourceFormat) -> Seed {
    let tree = match format {
        SourceFormat::Yaml => yaml_serde::from_str(text).ok(),
        SourceFormat::Json => serde_json::from_str(text).ok(),
        SourceFormat::Star => None,
    };
    Seed {
        name: name.to_owned(),
        text: text.to_owned(),
        format,
        tree,
    }
}

/// Every seed: the repository's examples, then the inline ones.
pub fn seeds() -> &'static [Seed] {
    static SEEDS: LazyLock<Vec<Seed>> = LazyLock::new(|| {
        let mut seeds = Vec::new();
        load_examples(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"),
            &mut seeds,
        );
        for (name, text) in INLINE {
            let format = if name.ends_with(".json") {
                SourceFormat::Json
            } else {
                SourceFormat::Yaml
            };
            seeds.push(seed(name, text, format));
        }
        for (i, text) in INLINE_STAR.iter().enumerate() {
            seeds.push(seed(
                &format!("inline{i}.workflow.star"),
                text,
                SourceFormat::Star,
            ));
        }
        assert!(
            seeds.iter().filter(|s| s.tree.is_some()).count() >= INLINE.len(),
            "the seeds parse"
        );
        seeds
    });
    &SEEDS
}

fn document_seeds() -> Vec<Seed> {
    seeds()
        .iter()
        .filter(|s| s.tree.is_some())
        .cloned()
        .collect()
}

fn star_seeds() -> Vec<Seed> {
    seeds()
        .iter()
        .filter(|s| s.format == SourceFormat::Star)
        .cloned()
        .collect()
}

fn format() -> impl Strategy<Value = SourceFormat> {
    prop::sample::select(vec![SourceFormat::Yaml, SourceFormat::Json])
}

fn serialize(value: &Value, format: SourceFormat) -> String {
    match format {
        SourceFormat::Json => serde_json::to_string_pretty(value).unwrap_or_default(),
        _ => yaml_serde::to_string(value).unwrap_or_default(),
    }
}

/// A YAML or JSON source: a seed mutated as a tree or as text, a random
/// tree, deep nesting or random bytes.
pub fn source() -> impl Strategy<Value = (String, SourceFormat)> {
    let seeds = document_seeds();
    let by_tree = (
        prop::sample::select(seeds.clone()),
        inputs::tree_edits(),
        format(),
    )
        .prop_map(|(seed, edits, format): (Seed, Vec<TreeEdit>, _)| {
            let mut tree = seed.tree.unwrap_or(Value::Null);
            inputs::apply_tree_edits(&mut tree, &edits);
            (serialize(&tree, format), format)
        });
    let by_text = (prop::sample::select(seeds), inputs::text_edits()).prop_map(
        |(seed, edits): (Seed, Vec<TextEdit>)| {
            (inputs::apply_text_edits(&seed.text, &edits), seed.format)
        },
    );
    prop_oneof![
        4 => by_tree,
        4 => by_text,
        2 => (inputs::tree(), format()).prop_map(|(tree, f)| (serialize(&tree, f), f)),
        1 => (inputs::deep_text(), format()),
        1 => (inputs::bytes(), format())
            .prop_map(|(b, f)| (String::from_utf8_lossy(&b).into_owned(), f)),
    ]
}

/// A Starlark plan: a seed mutated as text, an expression of a random
/// tree, or random bytes.
pub fn star_source() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (prop::sample::select(star_seeds()), inputs::text_edits())
            .prop_map(|(seed, edits)| inputs::apply_text_edits(&seed.text, &edits)),
        2 => inputs::tree().prop_map(|tree| format!("def workflow():\n    return {tree}\n")
            .replace("null", "None").replace("true", "True").replace("false", "False")),
        1 => inputs::deep_text().prop_map(|text| format!("def workflow():\n    return {text}\n")),
        1 => inputs::bytes().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn registry() -> HashMap<String, AgentSpec> {
    ["echo", "a", "change-collector"]
        .iter()
        .map(|name| {
            let spec = AgentSpec {
                name: (*name).to_owned(),
                input_schema: Some(
                    json!({"type": "object", "properties": {"n": {"type": "integer"}}}),
                ),
                output_schema: Some(
                    json!({"type": "object", "properties": {"x": {"type": "string"}}}),
                ),
            };
            ((*name).to_owned(), spec)
        })
        .collect()
}

/// What every compilation must give: a workflow exactly when there are no
/// errors, diagnostics with a code, a message and a place inside the text,
/// and a workflow that survives its stored form (JSON bytes, read back with
/// serde_json's recursion limit, as the store reads it).
fn check_compiled(
    source: &str,
    format: SourceFormat,
    compiled: &Compiled,
) -> Result<(), TestCaseError> {
    let diagnostics = &compiled.diagnostics;
    prop_assert_eq!(
        compiled.workflow.is_some(),
        diagnostics.errors.is_empty(),
        "{:?}",
        diagnostics
    );
    // YAML counts a lone `\r` as a line break too.
    let lines = source
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .split('\n')
        .count();
    for d in diagnostics.errors.iter().chain(&diagnostics.warnings) {
        prop_assert!(
            !d.code.is_empty() && !d.message.trim().is_empty(),
            "{:?}",
            d
        );
        if let Some(line) = d.line {
            prop_assert!(
                line >= 1 && line as usize <= lines + 1,
                "{:?} in {} lines",
                d,
                lines
            );
            prop_assert!(d.column.is_some_and(|c| c >= 1), "{:?}", d);
        }
        if d.code == "PARSE_ERROR" && format != SourceFormat::Star && !source.trim().is_empty() {
            prop_assert!(d.line.is_some(), "a syntax error has a line: {:?}", d);
        }
    }
    if let Some(workflow) = &compiled.workflow {
        let mut diagnostics = diagnostics.clone();
        against_registry(workflow, &registry(), &mut diagnostics);
        let stored =
            serde_json::to_vec(workflow).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match serde_json::from_slice::<Workflow>(&stored) {
            Ok(back) => prop_assert_eq!(&back, workflow),
            Err(error) => prop_assert!(false, "the stored IR does not read back: {}", error),
        }
    }
    Ok(())
}

pub fn check((source, format): (String, SourceFormat)) -> Result<(), TestCaseError> {
    let compiled = compile(&source, format);
    check_compiled(&source, format, &compiled)?;
    // The same document, already parsed, straight into the front ends.
    let document = match format {
        SourceFormat::Json => serde_json::from_str::<Value>(&source).ok(),
        _ => yaml_serde::from_str::<Value>(&source).ok(),
    };
    if let Some(document) = document {
        let direct = compile_document(&document);
        prop_assert_eq!(direct.workflow.is_some(), compiled.workflow.is_some());
    }
    Ok(())
}

pub fn check_star(source: String) -> Result<(), TestCaseError> {
    let compiled = compile(&source, SourceFormat::Star);
    check_compiled(&source, SourceFormat::Star, &compiled)
}
