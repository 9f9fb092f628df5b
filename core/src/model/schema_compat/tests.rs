//! Schema compatibility tests: every row of the acceptance cases "Schema
//! Compatibility Tests", the three-agent fixtures, and edge cases that must not panic.

use super::*;
use serde_json::json;

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn verdict(output: &Value, input: &Value) -> Report {
    check(Some(output), Some(input))
}

fn assert_verdict(report: &Report, expected: Verdict) {
    assert_eq!(report.verdict, expected, "{:#?}", report.problems);
}

fn fatal_paths(report: &Report) -> Vec<&str> {
    report
        .problems
        .iter()
        .filter(|p| p.fatal)
        .map(|p| p.path.as_str())
        .collect()
}

// --- Acceptance cases ------------------------------------------------------

#[test]
fn schema_exact_match() {
    let schema = object(json!({"pods": {"type": "array"}}), &[]);
    let report = verdict(&schema, &schema);
    assert_verdict(&report, Verdict::Compatible);
    assert!(report.problems.is_empty());
}

#[test]
fn schema_output_superset() {
    let output = object(
        json!({"pods": {"type": "array"}, "timestamp": {"type": "string"}}),
        &["pods", "timestamp"],
    );
    let input = object(json!({"pods": {"type": "array"}}), &["pods"]);
    assert_verdict(&verdict(&output, &input), Verdict::Compatible);
}

#[test]
fn schema_missing_required_field() {
    let output = object(json!({"pods": {"type": "array"}}), &["pods"]);
    let input = object(
        json!({"pods": {"type": "array"}, "filters": {"type": "array", "items": {"type": "string"}}}),
        &["pods", "filters"],
    );
    let report = verdict(&output, &input);
    assert_verdict(&report, Verdict::Incompatible);
    assert_eq!(fatal_paths(&report), vec!["filters"]);
}

#[test]
fn schema_missing_optional_field() {
    let output = object(json!({"pods": {"type": "array"}}), &["pods"]);
    let input = object(
        json!({"pods": {"type": "array"}, "filters": {"type": "array"}}),
        &["pods"],
    );
    let report = verdict(&output, &input);
    assert_verdict(&report, Verdict::CompatibleWithWarnings);
    assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
    assert_eq!(report.problems[0].path, "filters");
    assert!(!report.problems[0].fatal);
}

#[test]
fn schema_type_mismatch() {
    let output = object(json!({"count": {"type": "string"}}), &["count"]);
    let input = object(json!({"count": {"type": "integer"}}), &["count"]);
    let report = verdict(&output, &input);
    assert_verdict(&report, Verdict::Incompatible);
    assert_eq!(fatal_paths(&report), vec!["count"]);
    assert!(report.problems[0].message.contains("string"));
}

#[test]
fn schema_nested_object_match() {
    let schema = object(
        json!({"result": object(json!({"status": {"type": "string"}}), &["status"])}),
        &["result"],
    );
    assert_verdict(&verdict(&schema, &schema), Verdict::Compatible);
}

#[test]
fn schema_array_item_match() {
    let schema = object(
        json!({"pods": {"type": "array", "items": object(json!({"name": {"type": "string"}}), &["name"])}}),
        &["pods"],
    );
    assert_verdict(&verdict(&schema, &schema), Verdict::Compatible);
}

#[test]
fn schema_no_schemas() {
    let report = check(None, None);
    assert_verdict(&report, Verdict::Compatible);
    assert!(report.problems.is_empty());
}

#[test]
fn schema_only_output_schema() {
    let output = object(json!({"pods": {"type": "array"}}), &[]);
    let report = check(Some(&output), None);
    assert_verdict(&report, Verdict::Compatible);
    assert!(report.problems.is_empty());
}

#[test]
fn schema_only_input_schema() {
    let input = object(json!({"pods": {"type": "array"}}), &[]);
    let report = check(None, Some(&input));
    assert_verdict(&report, Verdict::Unverified);
    assert_eq!(report.verdict.diagnostic_code(), Some("SCHEMA_UNVERIFIED"));
    assert!(report.problems[0].message.contains("cannot validate"));
}

// --- Three-agent fixtures --------------------------------------------------

fn pod_checker_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "pods": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "status": {"type": "string"}}
                }
            },
            "timestamp": {"type": "string"}
        },
        "required": ["pods"]
    })
}

fn log_analyzer_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "pods": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}}
            }
        },
        "required": ["pods"]
    })
}

#[test]
fn pod_checker_feeds_log_analyzer() {
    let report = verdict(&pod_checker_output(), &log_analyzer_input());
    assert_verdict(&report, Verdict::Compatible);
    assert_eq!(report.verdict.diagnostic_code(), None);
}

#[test]
fn log_analyzer_output_feeds_the_schemaless_notifier() {
    let output = json!({
        "type": "object",
        "properties": {
            "analysis": {"type": "string"},
            "severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]}
        }
    });
    assert_verdict(&check(Some(&output), None), Verdict::Compatible);
}

#[test]
fn prd_3_5_example_pods_and_missing_filters() {
    // Output {pods: [{name, status}], timestamp} vs input {pods: [{name}], filters: [string]}.
    let mut input = log_analyzer_input();
    input["properties"]["filters"] = json!({"type": "array", "items": {"type": "string"}});
    let report = verdict(&pod_checker_output(), &input);
    assert_verdict(&report, Verdict::CompatibleWithWarnings);
    input["required"] = json!(["pods", "filters"]);
    let report = verdict(&pod_checker_output(), &input);
    assert_verdict(&report, Verdict::Incompatible);
    assert_eq!(
        report.verdict.diagnostic_code(),
        Some("SCHEMA_INCOMPATIBLE")
    );
}

#[test]
fn warning_pipeline_fixture() {
    // minimal-output-agent {result: ""} → expects-more-agent {result: "", metadata?: {}}.
    let output = object(json!({"result": {"type": "string"}}), &["result"]);
    let input = object(
        json!({"result": {"type": "string"}, "metadata": {"type": "object"}}),
        &["result"],
    );
    assert_verdict(&verdict(&output, &input), Verdict::CompatibleWithWarnings);
}

// --- Edge cases -------------------------------------------------------------

#[test]
fn a_declared_but_optional_output_field_is_a_warning_when_required() {
    let output = object(json!({"pods": {"type": "array"}}), &[]);
    let input = object(json!({"pods": {"type": "array"}}), &["pods"]);
    let report = verdict(&output, &input);
    assert_verdict(&report, Verdict::CompatibleWithWarnings);
    assert_eq!(report.problems[0].path, "pods");
}

#[test]
fn required_without_properties_still_provides() {
    let output = json!({"type": "object", "required": ["pods"]});
    let input = object(json!({"pods": {"type": "array"}}), &["pods"]);
    assert_ne!(verdict(&output, &input).verdict, Verdict::Incompatible);
}

#[test]
fn integer_satisfies_number_but_not_the_reverse() {
    let int = object(json!({"n": {"type": "integer"}}), &["n"]);
    let num = object(json!({"n": {"type": "number"}}), &["n"]);
    assert_verdict(&verdict(&int, &num), Verdict::Compatible);
    let report = verdict(&num, &int);
    assert_verdict(&report, Verdict::CompatibleWithWarnings);
    assert!(report.problems[0].message.contains("integer"));
}

#[test]
fn nullable_output_into_non_null_input_is_a_warning() {
    let output = object(json!({"s": {"type": ["string", "null"]}}), &["s"]);
    let input = object(json!({"s": {"type": "string"}}), &["s"]);
    assert_verdict(&verdict(&output, &input), Verdict::CompatibleWithWarnings);
}

#[test]
fn nested_mismatches_carry_their_path() {
    let output = object(
        json!({"pods": {"type": "array", "items": object(json!({"name": {"type": "integer"}}), &["name"])}}),
        &["pods"],
    );
    let input = object(
        json!({"pods": {"type": "array", "items": object(json!({"name": {"type": "string"}, "ready": {"type": "boolean"}}), &["name", "ready"])}}),
        &["pods"],
    );
    let report = verdict(&output, &input);
    assert_verdict(&report, Verdict::Incompatible);
    assert_eq!(fatal_paths(&report), vec!["pods[].name", "pods[].ready"]);
    assert!(report.summary().contains("pods[].ready"));
}

#[test]
fn enums_must_be_subsets() {
    let input = object(
        json!({"s": {"type": "string", "enum": ["low", "high"]}}),
        &["s"],
    );
    let subset = object(json!({"s": {"type": "string", "enum": ["low"]}}), &["s"]);
    assert_verdict(&verdict(&subset, &input), Verdict::Compatible);
    let constant = object(json!({"s": {"const": "high"}}), &["s"]);
    assert_verdict(&verdict(&constant, &input), Verdict::Compatible);
    let wider = object(
        json!({"s": {"type": "string", "enum": ["low", "critical"]}}),
        &["s"],
    );
    let report = verdict(&wider, &input);
    assert_verdict(&report, Verdict::Incompatible);
    assert!(report.problems[0].message.contains("critical"));
    let open = object(json!({"s": {"type": "string"}}), &["s"]);
    assert_verdict(&verdict(&open, &input), Verdict::CompatibleWithWarnings);
    // An enum's values imply its type.
    let numbers = object(json!({"s": {"enum": [1, 2]}}), &["s"]);
    assert_verdict(&verdict(&numbers, &input), Verdict::Incompatible);
}

#[test]
fn closed_inputs_reject_extra_output_fields() {
    let input = json!({
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "additionalProperties": false
    });
    let always = object(
        json!({"a": {"type": "string"}, "b": {"type": "string"}}),
        &["b"],
    );
    assert_verdict(&verdict(&always, &input), Verdict::Incompatible);
    let sometimes = object(
        json!({"a": {"type": "string"}, "b": {"type": "string"}}),
        &[],
    );
    assert_verdict(
        &verdict(&sometimes, &input),
        Verdict::CompatibleWithWarnings,
    );
    let typed_extras = json!({"type": "object", "additionalProperties": {"type": "integer"}});
    let extras = object(json!({"b": {"type": "string"}}), &["b"]);
    let report = verdict(&extras, &typed_extras);
    assert_verdict(&report, Verdict::Incompatible);
    assert_eq!(fatal_paths(&report), vec!["b"]);
}

#[test]
fn top_level_type_mismatch() {
    let report = verdict(&json!({"type": "string"}), &json!({"type": "object"}));
    assert_verdict(&report, Verdict::Incompatible);
    assert_eq!(fatal_paths(&report), vec![""]);
}

#[test]
fn an_opaque_output_object_cannot_be_checked() {
    let output = json!({"type": "object"});
    let input = object(json!({"pods": {"type": "array"}}), &["pods"]);
    let report = verdict(&output, &input);
    assert_verdict(&report, Verdict::CompatibleWithWarnings);
    assert!(report.problems[0].message.contains("`pods`"));
}

#[test]
fn local_refs_are_followed() {
    let output = json!({
        "$defs": {"Pod": object(json!({"name": {"type": "integer"}}), &["name"])},
        "type": "object",
        "properties": {"pod": {"$ref": "#/$defs/Pod"}},
        "required": ["pod"]
    });
    let input = object(
        json!({"pod": object(json!({"name": {"type": "string"}}), &["name"])}),
        &["pod"],
    );
    let report = verdict(&output, &input);
    assert_verdict(&report, Verdict::Incompatible);
    assert_eq!(fatal_paths(&report), vec!["pod.name"]);
}

#[test]
fn boolean_and_trivial_schemas() {
    let any = object(json!({"a": {"type": "string"}}), &["a"]);
    assert_verdict(&verdict(&any, &json!(true)), Verdict::Compatible);
    assert_verdict(&verdict(&any, &json!({})), Verdict::Compatible);
    assert_verdict(
        &verdict(&any, &json!({"description": "anything"})),
        Verdict::Compatible,
    );
    assert_verdict(&check(None, Some(&json!(true))), Verdict::Compatible);
    assert_verdict(&verdict(&any, &json!(false)), Verdict::Incompatible);
    assert_verdict(&verdict(&json!(false), &any), Verdict::Compatible);
    assert_verdict(
        &verdict(&json!(true), &any),
        Verdict::CompatibleWithWarnings,
    );
}

#[test]
fn non_schemas_are_unverified() {
    let any = object(json!({"a": {"type": "string"}}), &["a"]);
    for junk in [json!(42), json!("x"), json!([1, 2]), json!(null)] {
        assert_verdict(&verdict(&junk, &any), Verdict::Unverified);
        assert_verdict(&verdict(&any, &junk), Verdict::Unverified);
    }
    // Junk nested inside a schema does not panic either.
    let weird = json!({
        "type": 7,
        "properties": {"a": 3, "b": [1], "c": {"type": ["string", 5]}},
        "required": "a",
        "items": "x",
        "enum": 4,
        "$ref": 9
    });
    let _ = verdict(&weird, &any);
    let _ = verdict(&any, &weird);
    let _ = verdict(&weird, &weird);
}

#[test]
fn deep_nesting_is_capped() {
    let mut schema = json!({"type": "string"});
    for _ in 0..1_000 {
        schema = object(json!({"next": schema}), &["next"]);
    }
    let report = verdict(&schema, &schema);
    assert_ne!(report.verdict, Verdict::Incompatible);
    assert!(
        report.problems.iter().any(|p| p.message.contains("deeper")),
        "{:#?}",
        report.problems
    );
}

#[test]
fn recursive_refs_terminate() {
    let schema = json!({
        "type": "object",
        "properties": {"a": {"$ref": "#"}, "b": {"$ref": "#"}, "c": {"$ref": "#"}}
    });
    let report = verdict(&schema, &schema);
    assert_ne!(report.verdict, Verdict::Incompatible);
    let looping = json!({"$ref": "#"});
    let _ = verdict(&looping, &looping);
    let dangling = json!({"$ref": "#/$defs/missing"});
    let _ = verdict(&dangling, &schema);
    let remote = json!({"$ref": "https://example.com/schema.json"});
    let _ = verdict(&remote, &remote);
}

#[test]
fn verdict_names_are_stable() {
    assert_eq!(Verdict::Compatible.as_str(), "compatible");
    assert_eq!(
        Verdict::CompatibleWithWarnings.as_str(),
        "compatible_with_warnings"
    );
    assert_eq!(Verdict::Incompatible.as_str(), "incompatible");
    assert_eq!(Verdict::Unverified.as_str(), "unverified");
}

#[test]
fn the_algebra_clears_what_the_structure_cannot_read() {
    // Two string branches: no `type` at the top, but every value is a string.
    let output = json!({"anyOf": [
        {"type": "string", "maxLength": 3},
        {"type": "string", "minLength": 5}
    ]});
    let report = verdict(&output, &json!({"type": "string"}));
    assert_verdict(&report, Verdict::Compatible);
}

#[test]
fn the_algebra_flags_constraints_the_structure_does_not_read() {
    let output = object(json!({"n": {"type": "integer"}}), &["n"]);
    let input = object(json!({"n": {"type": "integer", "minimum": 0}}), &["n"]);
    let report = verdict(&output, &input);
    assert_verdict(&report, Verdict::CompatibleWithWarnings);
    assert!(report.problems[0].message.contains("minimum"));
}
