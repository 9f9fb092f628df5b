//! The code and path of each mistake: missing or bad steps, names,
//! dependencies and cycles, unknown types and fields, bad values, sizes.

use super::*;
use crate::model::diag::Severity;
use serde_json::json;

#[test]
fn missing_and_empty_steps_are_missing_field() {
    has_error("id: x", "MISSING_FIELD", "steps");
    has_error("id: x\nsteps: []", "MISSING_FIELD", "steps");
    has_error("id: x\nsteps: {}", "INVALID_TYPE", "steps");
    has_error(
        "steps: [{ name: a, type: bash, run: x }]",
        "MISSING_FIELD",
        "id",
    );
    has_error(
        "id: 'bad id'\nsteps: [{ name: a, type: bash, run: x }]",
        "INVALID_ID",
        "id",
    );
    has_error(
        "id: x\nsteps: [{ type: bash, run: x }]",
        "MISSING_FIELD",
        "steps[0].name",
    );
    has_error(
        "id: x\nsteps: [{ name: a }]",
        "MISSING_FIELD",
        "steps[0].type",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: bash }]",
        "MISSING_FIELD",
        "steps[0].run",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: http }]",
        "MISSING_FIELD",
        "steps[0].url",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: python }]",
        "MISSING_FIELD",
        "steps[0].code",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: llm }]",
        "MISSING_FIELD",
        "steps[0].prompt",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: signal.wait }]",
        "MISSING_FIELD",
        "steps[0].signal",
    );
    has_error("id: x\nsteps: [a]", "INVALID_TYPE", "steps[0]");
}

#[test]
fn step_names_must_be_path_segments() {
    has_error(
        "id: x\nsteps: [{ name: a.b, type: bash, run: x }]",
        "INVALID_ID",
        "steps[0].name",
    );
    has_error(
        "id: x\nsteps: [{ id: 'has space', type: bash, run: x }]",
        "INVALID_ID",
        "steps[0].id",
    );
}

#[test]
fn duplicate_names_are_duplicate_state() {
    has_error(
        r#"
id: x
steps:
  - { name: a, type: bash, run: x }
  - { id: a, type: bash, run: y }
"#,
        "DUPLICATE_STATE",
        "steps[1].id",
    );
}

#[test]
fn unknown_dependencies_are_dangling_targets() {
    has_error(
        r#"
id: x
steps:
  - { name: a, type: bash, run: x }
  - { name: b, type: bash, run: x, depends_on: [a, nope] }
  - { name: c, type: bash, run: x, dependencies: ghost }
"#,
        "DANGLING_TARGET",
        "steps[1].depends_on[1]",
    );
    has_error(
        "id: x\nsteps: [{ name: c, type: bash, run: x, dependencies: ghost }]",
        "DANGLING_TARGET",
        "steps[0].dependencies",
    );
    has_error(
        "id: x\nsteps: [{ name: c, type: bash, run: x, depends_on: 3 }]",
        "INVALID_TYPE",
        "steps[0].depends_on",
    );
}

#[test]
fn a_step_that_fails_to_compile_is_still_a_dependency_target() {
    let found = errors(
        r#"
id: x
steps:
  - { name: a, type: rocket }
  - { name: b, type: bash, run: x, depends_on: [a] }
"#,
    );
    assert_eq!(
        found,
        vec![("UNKNOWN_STEP_TYPE".to_owned(), "steps[0].type".to_owned())]
    );
}

#[test]
fn depends_on_and_dependencies_merge_without_duplicates() {
    let workflow = ok(r#"
id: x
steps:
  - { name: a, type: bash, run: x }
  - { name: b, type: bash, run: x }
  - { name: c, type: bash, run: x, depends_on: [a, a], dependencies: [b, a] }
"#);
    assert_eq!(step(&workflow, "c").depends_on, vec!["a", "b"]);
}

#[test]
fn self_dependency_is_a_cycle() {
    has_error(
        "id: x\nsteps: [{ name: a, type: bash, run: x, depends_on: [a] }]",
        "DAG_CYCLE",
        "steps[0].depends_on[0]",
    );
}

#[test]
fn cycles_name_their_members() {
    let (workflow, diagnostics) = compile_yaml(
        r#"
id: x
steps:
  - { name: init, type: bash, run: x }
  - { name: a, type: bash, run: x, depends_on: [init, c] }
  - { name: b, type: bash, run: x, depends_on: [a] }
  - { name: c, type: bash, run: x, depends_on: [b] }
  - { name: d, type: bash, run: x, dependencies: [e] }
  - { name: e, type: bash, run: x, dependencies: [d] }
"#,
    );
    assert!(workflow.is_none());
    let cycles: Vec<_> = diagnostics
        .errors
        .iter()
        .filter(|d| d.code == "DAG_CYCLE")
        .collect();
    assert_eq!(cycles.len(), 2, "{cycles:#?}");
    assert_eq!(cycles[0].path, "steps[1].depends_on");
    assert!(
        cycles[0].message.contains("a → c → b → a"),
        "{}",
        cycles[0].message
    );
    assert!(!cycles[0].message.contains("init"));
    assert_eq!(cycles[1].path, "steps[4].dependencies");
    assert!(
        cycles[1].message.contains("d → e → d"),
        "{}",
        cycles[1].message
    );
}

#[test]
fn unknown_step_types_are_errors() {
    has_error(
        "id: x\nsteps: [{ name: a, type: conditional }]",
        "UNKNOWN_STEP_TYPE",
        "steps[0].type",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: 7 }]",
        "INVALID_TYPE",
        "steps[0].type",
    );
}

#[test]
fn unknown_fields_are_warnings() {
    let (workflow, diagnostics) = compile_yaml(
        r#"
id: x
owner: me
steps:
  - { name: a, type: bash, run: x, colour: blue, agent: echo }
  - { name: b, type: approval, params: { x: 1 } }
"#,
    );
    assert!(workflow.is_some());
    let warnings: Vec<(&str, &str)> = diagnostics
        .warnings
        .iter()
        .map(|d| (d.code.as_str(), d.path.as_str()))
        .collect();
    assert_eq!(
        warnings,
        vec![
            ("UNKNOWN_FIELD", "owner"),
            ("UNKNOWN_FIELD", "steps[0].agent"),
            ("UNKNOWN_FIELD", "steps[0].colour"),
            ("UNKNOWN_FIELD", "steps[1].params"),
        ]
    );
    assert!(
        diagnostics
            .warnings
            .iter()
            .all(|d| d.severity == Severity::Warning)
    );
}

#[test]
fn bad_values_are_reported_where_they_are() {
    has_error(
        "id: x\nsteps: [{ name: a, agent: Bad_Agent }]",
        "INVALID_AGENT_NAME",
        "steps[0].agent",
    );
    has_error(
        "id: x\nsteps: [{ name: a, agent: echo, params: {}, input: {} }]",
        "INVALID_VALUE",
        "steps[0].input",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: bash, run: x, params: [1] }]",
        "INVALID_TYPE",
        "steps[0].params",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: bash, run: '  ' }]",
        "INVALID_VALUE",
        "steps[0].run",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: bash, run: x, condition: 3 }]",
        "INVALID_VALUE",
        "steps[0].condition",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: approval, approvers: [alice] }]",
        "INVALID_VALUE",
        "steps[0].approvers[0]",
    );
    has_error(
        "id: x\nsteps: [{ name: a, type: approval, onReject: shrug }]",
        "INVALID_VALUE",
        "steps[0].onReject",
    );
    has_error(
        "id: x\nvariables: [1]\nsteps: [{ name: a, type: bash, run: x }]",
        "INVALID_TYPE",
        "variables",
    );
    has_error(
        "id: x\ntrigger: { signal: 'no spaces' }\nsteps: [{ name: a, type: bash, run: x }]",
        "INVALID_TRIGGER",
        "trigger.signal",
    );
    has_error(
        "id: x\ninputSchema: 3\nsteps: [{ name: a, type: bash, run: x }]",
        "INVALID_SCHEMA",
        "inputSchema",
    );
}

#[test]
fn too_many_steps_is_definition_too_large() {
    let steps: Vec<Value> = (0..=MAX_STATES)
        .map(|i| json!({"name": format!("s{i}"), "type": "bash", "run": "x"}))
        .collect();
    let document = json!({"id": "big", "steps": steps});
    let mut diagnostics = Diagnostics::default();
    let workflow = compile(document.as_object().expect("object"), &mut diagnostics);
    assert!(workflow.is_none());
    assert_eq!(diagnostics.errors[0].code, "DEFINITION_TOO_LARGE");
}

#[test]
fn a_long_chain_and_a_long_cycle_do_not_overflow() {
    let n = MAX_STATES;
    let chain: Vec<Value> = (0..n)
        .map(|i| {
            let deps: Vec<String> = if i == 0 {
                vec![]
            } else {
                vec![format!("s{}", i - 1)]
            };
            json!({"name": format!("s{i}"), "type": "bash", "run": "x", "depends_on": deps})
        })
        .collect();
    let mut document = json!({"id": "chain", "steps": chain});
    let mut diagnostics = Diagnostics::default();
    let workflow = compile(document.as_object().expect("object"), &mut diagnostics);
    assert!(workflow.is_some(), "{:?}", diagnostics.errors.first());
    // Close the chain into one big cycle.
    document["steps"][0]["depends_on"] = json!([format!("s{}", n - 1)]);
    let mut diagnostics = Diagnostics::default();
    let workflow = compile(document.as_object().expect("object"), &mut diagnostics);
    assert!(workflow.is_none());
    assert_eq!(diagnostics.errors.len(), 1);
    assert_eq!(diagnostics.errors[0].code, "DAG_CYCLE");
}
