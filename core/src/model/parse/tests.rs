//! States-form parser tests: what compiles, and the code of each mistake.

use super::*;
use crate::model::ir::*;

fn codes(source: &str) -> Vec<String> {
    let compiled = compile(source, SourceFormat::Yaml);
    compiled
        .diagnostics
        .errors
        .iter()
        .chain(&compiled.diagnostics.warnings)
        .map(|d| d.code.clone())
        .collect()
}

const CHAIN: &str = r#"
id: order-pipeline
version: "1.0"
trigger: { signal: order.created }
start: defaults
states:
  - name: defaults
    type: inject
    data: { currency: EUR }
    next: check
  - name: check
    type: operation
    action: agent.run
    input: { agent: echo, task: "check {{ ctx.order_id }}" }
    timeoutSeconds: 5
    retry: { maxAttempts: 3, backoffSeconds: 1 }
    resultPath: steps.check
    end: true
"#;

#[test]
fn a_valid_chain_compiles_to_ir() {
    let compiled = compile(CHAIN, SourceFormat::Yaml);
    assert!(
        compiled.diagnostics.errors.is_empty(),
        "{:?}",
        compiled.diagnostics
    );
    let wf = compiled.workflow.expect("workflow");
    assert_eq!(wf.id, "order-pipeline");
    assert_eq!(wf.definition_version.as_deref(), Some("1.0"));
    assert_eq!(
        wf.trigger.as_ref().map(|t| t.signal.as_str()),
        Some("order.created")
    );
    assert_eq!(wf.start, "defaults");
    let StateKind::Operation(op) = &wf.states[1].kind else {
        panic!("operation expected")
    };
    assert_eq!(op.retry.max_attempts, 3);
    assert_eq!(op.effective_timeout_seconds(), 5);
    assert_eq!(op.result_path.as_deref(), Some("steps.check"));
}

#[test]
fn station_dialect_spellings_are_accepted() {
    let source = r#"
id: valid-pipeline
states:
  - id: check
    type: operation
    input: { task: agent.run, agent: pod-checker, agent_task: "look" }
    resultPath: steps.check
    transition: notify
  - id: notify
    type: agent
    agent: notifier
    task: "tell"
    end: true
"#;
    let compiled = compile(source, SourceFormat::Yaml);
    assert!(
        compiled.diagnostics.errors.is_empty(),
        "{:?}",
        compiled.diagnostics
    );
    let wf = compiled.workflow.expect("workflow");
    assert_eq!(wf.start, "check");
    assert_eq!(wf.states[0].transition, Transition::Next("notify".into()));
    let StateKind::Operation(Operation {
        action: Action::AgentRun(call),
        ..
    }) = &wf.states[0].kind
    else {
        panic!("agent call expected")
    };
    assert_eq!(call.agent, "pod-checker");
    assert_eq!(call.task, Some(Value::from("look")));
}

#[test]
fn mistakes_have_stable_codes() {
    let dangling = "id: x\nstates:\n  - name: a\n    type: inject\n    next: nowhere\n  - name: b\n    type: inject\n    end: true\n";
    let found = codes(dangling);
    assert!(found.contains(&"DANGLING_TARGET".into()), "{found:?}");
    assert!(found.contains(&"UNREACHABLE_STATE".into()), "{found:?}");

    let duplicate = "id: x\nstates:\n  - name: a\n    type: inject\n    next: a2\n  - name: a2\n    type: inject\n    end: true\n  - name: a\n    type: inject\n    end: true\n";
    assert!(codes(duplicate).contains(&"DUPLICATE_STATE".into()));

    assert!(
        codes("id: x\nstart: zz\nstates:\n  - name: a\n    type: inject\n    end: true\n")
            .contains(&"INVALID_START".into())
    );
    assert!(
        codes("id: x\nstates:\n  - name: a\n    type: teleport\n    end: true\n")
            .contains(&"UNKNOWN_STATE_TYPE".into())
    );
    assert!(
        codes("id: x\nstates:\n  - name: a\n    type: inject\n    next: a\n")
            .contains(&"MISSING_END".into())
    );
    assert!(
        codes("id: x\nstates:\n  - name: a\n    type: inject\n")
            .contains(&"MISSING_TRANSITION".into())
    );
    assert!(codes("id: x\nstates: []\n").contains(&"MISSING_FIELD".into()));
    assert!(
        codes("states:\n  - name: a\n    type: inject\n    end: true\n")
            .contains(&"MISSING_FIELD".into())
    );
    assert!(codes("id: x\nstates:\n  - name: a\n    type: operation\n    action: agent.run\n    input: { agent: Bad.Name }\n    end: true\n").contains(&"INVALID_AGENT_NAME".into()));
}

#[test]
fn unknown_fields_are_warnings_not_errors() {
    let compiled = compile(
        "id: x\noutputSchema: {}\nfoo: 1\nstates:\n  - name: a\n    type: inject\n    end: true\n",
        SourceFormat::Yaml,
    );
    assert!(compiled.workflow.is_some());
    assert_eq!(compiled.diagnostics.warnings.len(), 1);
    assert_eq!(compiled.diagnostics.warnings[0].code, "UNKNOWN_FIELD");
    assert_eq!(compiled.diagnostics.warnings[0].path, "foo");
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let compiled = compile("id: x\nstates: [\n  {name: a\n", SourceFormat::Yaml);
    let error = &compiled.diagnostics.errors[0];
    assert_eq!(error.code, "PARSE_ERROR");
    assert!(error.line.is_some());
    let compiled = compile("{\"id\": }", SourceFormat::Json);
    assert_eq!(compiled.diagnostics.errors[0].line, Some(1));
}

#[test]
fn oversized_sources_are_refused_clearly() {
    let big = format!("id: x\ndescription: \"{}\"\n", "a".repeat(MAX_SOURCE_BYTES));
    let compiled = compile(&big, SourceFormat::Yaml);
    assert_eq!(compiled.diagnostics.errors[0].code, "DEFINITION_TOO_LARGE");
}

#[test]
fn garbage_never_panics() {
    for source in [
        "",
        "~",
        "[]",
        "42",
        "id: [1]",
        "states: 7",
        "id: x\nstates: [1, null, {}]",
        "\u{0}\u{1}",
        "id: x\nstates:\n - {name: a, type: operation, end: true, retry: {maxAttempts: -1}}",
    ] {
        let _ = compile(source, SourceFormat::Yaml);
        let _ = compile(source, SourceFormat::Json);
    }
}

#[test]
fn a_definition_nested_past_the_limit_is_too_large_with_a_line() {
    let deep = format!(
        "{{\"id\": \"deep\", \"states\": [], \"x\": {}1{}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let compiled = compile(&deep, SourceFormat::Json);
    assert!(compiled.workflow.is_none());
    let error = &compiled.diagnostics.errors[0];
    assert_eq!(error.code, "DEFINITION_TOO_LARGE", "{error:?}");
    assert!(error.message.contains("101 levels"), "{}", error.message);
    assert_eq!(error.line, Some(1));
}

#[test]
fn nesting_depth_counts_containers_without_recursion() {
    assert_eq!(nesting_depth(&serde_json::json!(1)), 0);
    assert_eq!(nesting_depth(&serde_json::json!({"a": [1, {"b": []}]})), 3);
}
