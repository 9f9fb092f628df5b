//! Validator tests: the acceptance cases "Workflow Validator" and "Agent
//! Resolution", the three-agent fixtures, templates and expressions.

use super::*;
use crate::model::{Diagnostics, SourceFormat, compile};
use serde_json::json;
use std::collections::HashMap;

fn registry(agents: &[(&str, Option<Value>, Option<Value>)]) -> HashMap<String, AgentSpec> {
    agents
        .iter()
        .map(|(name, input, output)| {
            (
                (*name).to_owned(),
                AgentSpec {
                    name: (*name).to_owned(),
                    input_schema: input.clone(),
                    output_schema: output.clone(),
                },
            )
        })
        .collect()
}

/// Compiles, then runs the registry checks; returns every diagnostic.
fn validate(source: &str, agents: &HashMap<String, AgentSpec>) -> Diagnostics {
    let compiled = compile(source, SourceFormat::Yaml);
    let mut diagnostics = compiled.diagnostics;
    if let Some(workflow) = &compiled.workflow {
        against_registry(workflow, agents, &mut diagnostics);
    }
    diagnostics
}

fn codes(list: &[crate::model::Diagnostic]) -> Vec<&str> {
    list.iter().map(|d| d.code.as_str()).collect()
}

/// The three-agent fixtures.
fn fixtures() -> HashMap<String, AgentSpec> {
    registry(&[
        (
            "pod-checker",
            Some(
                json!({"type": "object", "properties": {"namespace": {"type": "string"}}, "required": ["namespace"]}),
            ),
            Some(json!({"type": "object", "properties": {
                "pods": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "status": {"type": "string"}}}},
                "timestamp": {"type": "string"}}, "required": ["pods"]})),
        ),
        (
            "log-analyzer",
            Some(json!({"type": "object", "properties": {
                "pods": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}, "required": ["pods"]})),
            Some(
                json!({"type": "object", "properties": {"analysis": {"type": "string"}, "severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]}}}),
            ),
        ),
        ("notifier", None, None),
        (
            "minimal-output-agent",
            None,
            Some(
                json!({"type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]}),
            ),
        ),
        (
            "expects-more-agent",
            Some(
                json!({"type": "object", "properties": {"result": {"type": "string"}, "metadata": {"type": "object"}}, "required": ["result"]}),
            ),
            None,
        ),
        (
            "needs-filters",
            Some(
                json!({"type": "object", "properties": {"pods": {"type": "array"}, "filters": {"type": "array"}}, "required": ["pods", "filters"]}),
            ),
            None,
        ),
    ])
}

const VALID_PIPELINE: &str = r#"
id: valid-pipeline
states:
  - id: check
    type: operation
    input:
      task: agent.run
      agent: pod-checker
    resultPath: steps.check
    transition: analyze
  - id: analyze
    type: operation
    input:
      task: agent.run
      agent: log-analyzer
    transition: notify
  - id: notify
    type: operation
    input:
      task: agent.run
      agent: notifier
    end: true
"#;

#[test]
fn validator_all_agents_exist() {
    let d = validate(VALID_PIPELINE, &fixtures());
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn validator_agent_not_found_names_agent_and_step() {
    let source = r#"
id: invalid-agent
states:
  - id: check
    type: operation
    input:
      task: agent.run
      agent: nonexistent-agent
    end: true
"#;
    let d = validate(source, &fixtures());
    assert_eq!(codes(&d.errors), ["AGENT_NOT_FOUND"]);
    assert!(d.errors[0].message.contains("nonexistent-agent"));
    assert!(d.errors[0].message.contains("`check`"));
    assert!(d.errors[0].message.contains("not found in environment"));
    assert_eq!(d.errors[0].path, "states[0].input.agent");
}

#[test]
fn validator_multiple_agents_not_found_gives_one_error_each() {
    let source = r#"
id: two-missing
states:
  - { name: a, type: agent, agent: ghost-one, next: b }
  - { name: b, type: agent, agent: ghost-two, next: c }
  - { name: c, type: agent, agent: notifier, end: true }
"#;
    let d = validate(source, &fixtures());
    assert_eq!(codes(&d.errors), ["AGENT_NOT_FOUND", "AGENT_NOT_FOUND"]);
    assert!(d.errors[0].message.contains("ghost-one"));
    assert!(d.errors[1].message.contains("ghost-two"));
}

#[test]
fn validator_empty_workflow() {
    let d = validate("id: empty\nstates: []\n", &fixtures());
    assert_eq!(codes(&d.errors), ["MISSING_FIELD"]);
    assert!(d.errors[0].message.contains("workflow has no states"));
}

#[test]
fn validator_invalid_start_state() {
    let source =
        "id: s\nstart: nowhere\nstates:\n  - { name: a, type: inject, data: {}, end: true }\n";
    let d = validate(source, &fixtures());
    assert_eq!(codes(&d.errors), ["INVALID_START"]);
    assert!(d.errors[0].message.contains("start state not found"));
}

#[test]
fn validator_circular_transition_with_an_exit_is_a_warning() {
    let source = r#"
id: loop
states:
  - { name: a, type: agent, agent: notifier, resultPath: steps.a, next: b }
  - name: b
    type: switch
    dataPath: steps.a
    conditions:
      - { if: "result.again", next: a }
    defaultNext: done
  - { name: done, type: inject, data: {}, end: true }
"#;
    let d = validate(source, &fixtures());
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(codes(&d.warnings), ["CIRCULAR_TRANSITION"]);
    assert!(
        d.warnings[0]
            .message
            .contains("circular transition detected")
    );
}

#[test]
fn validator_cycle_without_exit_is_an_error() {
    let source = r#"
id: spin
states:
  - { name: a, type: inject, data: {}, next: b }
  - { name: b, type: inject, data: {}, next: a }
  - { name: c, type: inject, data: {}, end: true }
"#;
    let d = validate(source, &fixtures());
    assert!(
        codes(&d.errors).contains(&"CYCLE_WITHOUT_EXIT"),
        "{:?}",
        d.errors
    );
    assert!(codes(&d.warnings).contains(&"UNREACHABLE_STATE"));
}

#[test]
fn validator_unreachable_state_is_a_warning() {
    let source = r#"
id: island
states:
  - { name: a, type: inject, data: {}, end: true }
  - { name: lonely, type: inject, data: {}, end: true }
"#;
    let d = validate(source, &fixtures());
    assert!(d.errors.is_empty());
    assert_eq!(codes(&d.warnings), ["UNREACHABLE_STATE"]);
    assert!(d.warnings[0].message.contains("unreachable state"));
    assert_eq!(d.warnings[0].path, "states[1]");
}

#[test]
fn agent_resolution_by_name_and_its_failures() {
    let one = |agent: &str| {
        format!(
            "id: r\nstates:\n  - name: s\n    type: operation\n    action: agent.run\n    input: {{ agent: {agent} }}\n    end: true\n"
        )
    };
    // Success: resolved by name.
    assert!(validate(&one("notifier"), &fixtures()).errors.is_empty());
    // Not found, and the same agent registered only in another tenant's registry.
    let other_tenant = registry(&[("kubernetes-triage", None, None)]);
    let d = validate(&one("notifier"), &other_tenant);
    assert_eq!(codes(&d.errors), ["AGENT_NOT_FOUND"]);
    assert!(d.errors[0].message.contains("not found in environment"));
    // Empty name.
    let d = validate(&one("\"\""), &fixtures());
    assert_eq!(codes(&d.errors), ["MISSING_FIELD"]);
    assert!(d.errors[0].message.contains("agent name is required"));
}

#[test]
fn legacy_agent_id_works_with_a_deprecation_warning() {
    let source = "id: legacy\nstates:\n  - name: s\n    type: operation\n    action: agent.run\n    input: { agent_id: notifier }\n    end: true\n";
    let d = validate(source, &fixtures());
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(codes(&d.warnings), ["UNKNOWN_FIELD"]);
    assert!(d.warnings[0].message.contains("deprecated"));
    // A numeric id cannot be resolved by name: a clear error.
    let numeric = source.replace("agent_id: notifier", "agent_id: 123");
    let d = validate(&numeric, &fixtures());
    assert_eq!(codes(&d.errors), ["INVALID_AGENT_NAME"]);
    assert!(d.errors[0].message.contains("by name"));
}

#[test]
fn three_agent_pipeline_with_mismatched_schemas_is_refused() {
    let source = VALID_PIPELINE.replace("agent: log-analyzer", "agent: needs-filters");
    let d = validate(&source, &fixtures());
    assert_eq!(codes(&d.errors), ["SCHEMA_INCOMPATIBLE"]);
    let message = &d.errors[0].message;
    assert!(
        message.contains("pod-checker") && message.contains("needs-filters"),
        "{message}"
    );
    assert!(message.contains("filters"), "{message}");
    assert_eq!(d.errors[0].path, "states[1]");
}

#[test]
fn missing_optional_field_is_a_warning() {
    let source = r#"
id: warning-pipeline
states:
  - id: step1
    type: operation
    input: { task: agent.run, agent: minimal-output-agent }
    transition: step2
  - id: step2
    type: operation
    input: { task: agent.run, agent: expects-more-agent }
    end: true
"#;
    let d = validate(source, &fixtures());
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(codes(&d.warnings), ["SCHEMA_UNVERIFIED"]);
    assert!(
        d.warnings[0].message.contains("metadata"),
        "{}",
        d.warnings[0].message
    );
}

#[test]
fn only_an_input_schema_cannot_be_validated() {
    let source = VALID_PIPELINE.replace("agent: pod-checker", "agent: notifier");
    let d = validate(&source, &fixtures());
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(codes(&d.warnings), ["SCHEMA_UNVERIFIED"]);
    assert!(d.warnings[0].message.contains("cannot validate"));
}

#[test]
fn schemas_are_checked_along_every_switch_branch() {
    let source = r#"
id: branches
states:
  - { name: check, type: agent, agent: pod-checker, resultPath: steps.check, next: route }
  - name: route
    type: switch
    dataPath: steps.check
    conditions:
      - { if: "len(result.pods) > 0", next: good }
    defaultNext: bad
  - { name: good, type: agent, agent: log-analyzer, end: true }
  - { name: bad, type: agent, agent: needs-filters, end: true }
"#;
    let d = validate(source, &fixtures());
    assert_eq!(codes(&d.errors), ["SCHEMA_INCOMPATIBLE"]);
    assert_eq!(d.errors[0].path, "states[3]");
}

#[test]
fn schemas_are_checked_into_parallel_branches_and_foreach_bodies() {
    let source = r#"
id: fan
states:
  - { name: check, type: agent, agent: pod-checker, resultPath: steps.check, next: fan }
  - name: fan
    type: parallel
    branches:
      - name: ok
        states:
          - { name: analyze, type: agent, agent: log-analyzer, end: true }
      - name: broken
        states:
          - { name: strict, type: agent, agent: needs-filters, end: true }
    resultPath: steps.fan
    next: each
  - name: each
    type: foreach
    itemsPath: steps.check.pods
    iterator:
      states:
        - { name: first, type: agent, agent: pod-checker, input: { namespace: "{{ item.name }}" }, next: second }
        - { name: second, type: agent, agent: needs-filters, end: true }
    end: true
"#;
    let d = validate(source, &fixtures());
    let paths: Vec<&str> = d.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        codes(&d.errors),
        ["SCHEMA_INCOMPATIBLE", "SCHEMA_INCOMPATIBLE"],
        "{:?}",
        d.errors
    );
    assert!(
        paths.contains(&"states[1].branches[1].states[0]"),
        "{paths:?}"
    );
    assert!(paths.contains(&"states[2].iterator.states[1]"), "{paths:?}");
}

#[test]
fn an_explicit_input_naming_an_agent_result_is_checked() {
    let source = r#"
id: explicit
states:
  - { name: check, type: agent, agent: pod-checker, resultPath: steps.check, next: other }
  - { name: other, type: agent, agent: notifier, next: strict }
  - { name: strict, type: agent, agent: needs-filters, input: "{{ steps.check }}", end: true }
"#;
    let d = validate(source, &fixtures());
    assert_eq!(codes(&d.errors), ["SCHEMA_INCOMPATIBLE"], "{:?}", d.errors);
}

#[test]
fn template_paths_that_can_never_resolve_are_errors() {
    let source = r#"
id: templates
inputSchema:
  type: object
  properties: { namespace: { type: string } }
states:
  - name: a
    type: operation
    action: agent.run
    input:
      agent: notifier
      task: "{{ ctx.namespace }} {{ namespace }} {{ ctx.nmespace }} {{ steps.nothing.x }} {{ steps.a.ok }} {{ input.free }}"
    resultPath: steps.a
    end: true
"#;
    let d = validate(source, &fixtures());
    let messages: Vec<&str> = d.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        codes(&d.errors),
        ["TEMPLATE_PATH", "TEMPLATE_PATH"],
        "{messages:?}"
    );
    assert!(messages[0].contains("ctx.nmespace"));
    assert!(messages[1].contains("steps.nothing.x"));
    assert_eq!(d.errors[0].path, "states[0].input.task");
    assert_eq!(d.errors[0].line, Some(12));
}

#[test]
fn foreach_item_names_are_in_scope_only_inside_the_body() {
    let source = r#"
id: items
inputSchema: { type: object, properties: { services: { type: array } } }
states:
  - name: each
    type: foreach
    itemsPath: ctx.services
    itemName: service
    iterator:
      states:
        - { name: check, type: agent, agent: notifier, task: "{{ service.name }}", end: true }
    resultPath: steps.all
    next: after
  - { name: after, type: agent, agent: notifier, task: "{{ service.name }}", end: true }
"#;
    let d = validate(source, &fixtures());
    assert_eq!(codes(&d.errors), ["TEMPLATE_PATH"], "{:?}", d.errors);
    assert_eq!(d.errors[0].path, "states[1].task");
    assert_eq!(d.errors[0].line, Some(14));
}

#[test]
fn bad_starlark_is_reported_at_validation_time() {
    let source = r#"
id: bad-expr
trigger: { signal: order.created, filter: "data.total >" }
states:
  - name: route
    type: switch
    conditions:
      - { if: "result.x ==", next: done }
    defaultNext: done
  - { name: done, type: transform, expression: "[x for x in", end: true }
"#;
    let d = validate(source, &fixtures());
    assert_eq!(
        codes(&d.errors),
        ["STARLARK_SYNTAX", "STARLARK_SYNTAX", "STARLARK_SYNTAX"],
        "{:?}",
        d.errors
    );
    let paths: Vec<&str> = d.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "trigger.filter",
            "states[0].conditions[0].if",
            "states[1].expression"
        ]
    );
}
