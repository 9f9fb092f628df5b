//! Name resolution: reserved names, switch values, dataPath keys, items,
//! context roots, and builtins shadowed by bindings.

#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

#[test]
fn resolution_reserved_names_win_over_data_path_keys() {
    let b = switch_bindings(json!({"ctx": "shadow", "input": 0, "result": 1, "level": 3}));
    assert_eq!(eval_ok("ctx.env", &b), json!("prod"));
    assert_eq!(eval_ok("input", &b), json!({"x": 1}));
    assert_eq!(eval_ok("result.level", &b), json!(3));
    assert_eq!(eval_ok("level", &b), json!(3));
}

#[test]
fn resolution_switch_value_names() {
    let b = switch_bindings(json!({"level": 3}));
    assert_eq!(
        eval_ok("_value.level + val.level + result.level", &b),
        json!(9)
    );
    // A missing dataPath binds result, _value and val to None.
    let b = Bindings::for_context(&context(), &json!(null), None, true, &[]);
    assert_eq!(
        eval_ok("[result, _value, val]", &b),
        json!([null, null, null])
    );
    // Outside a switch there is no `val`.
    let err = eval("val", &plain()).unwrap_err().to_string();
    assert!(err.contains("unknown variable \"val\""), "{err}");
}

#[test]
fn resolution_data_path_keys_win_over_items_and_context() {
    let items = vec![("alert".to_owned(), json!("item"))];
    let b = Bindings::for_context(
        &context(),
        &json!(null),
        Some(&json!({"alert": "dp"})),
        true,
        &items,
    );
    assert_eq!(eval_ok("alert", &b), json!("dp"));
    // Not in a switch: the dataPath object's keys are not bound.
    let b = Bindings::for_context(
        &context(),
        &json!(null),
        Some(&json!({"alert": "dp"})),
        false,
        &items,
    );
    assert_eq!(eval_ok("alert", &b), json!("item"));
}

#[test]
fn resolution_innermost_item_wins() {
    let items = vec![
        ("host".to_owned(), json!("outer")),
        ("port".to_owned(), json!(1)),
        ("host".to_owned(), json!("inner")),
    ];
    let b = Bindings::for_context(&context(), &json!(null), None, false, &items);
    assert_eq!(eval_ok("[host, port]", &b), json!(["inner", 1]));
}

#[test]
fn resolution_items_win_over_context_roots_which_win_over_ctx_keys() {
    let context = json!({
        "ctx": {"alert": "from ctx", "ip": "1.2.3.4", "steps": "ctx steps"},
        "steps": {},
        "signal": null,
        "alert": {"name": "root"},
    });
    let b = Bindings::for_context(&context, &json!(null), None, false, &[]);
    assert_eq!(eval_ok("alert.name", &b), json!("root"));
    assert_eq!(eval_ok("ip", &b), json!("1.2.3.4"));
    assert_eq!(eval_ok("steps", &b), json!({}));
    let items = vec![("alert".to_owned(), json!("item"))];
    let b = Bindings::for_context(&context, &json!(null), None, false, &items);
    assert_eq!(eval_ok("alert", &b), json!("item"));
    let names: Vec<&str> = b.names().collect();
    assert_eq!(
        names[..6],
        ["ctx", "steps", "signal", "input", "result", "alert"]
    );
}

#[test]
fn resolution_skips_names_that_are_not_identifiers() {
    let context = json!({"ctx": {"my-key": 1, "ok_key": 2, "if": 3, "True": 4, "9lives": 5}});
    let b = Bindings::for_context(&context, &json!(null), None, false, &[]);
    assert!(b.contains("ok_key"));
    for skipped in ["my-key", "if", "True", "9lives"] {
        assert!(!b.contains(skipped), "{skipped}");
    }
    assert_eq!(eval_ok("ctx['my-key'] + ok_key", &b), json!(3));
    // Missing reserved roots are None.
    assert_eq!(eval_ok("[steps, signal]", &b), json!([null, null]));
}

#[test]
fn a_binding_shadows_a_builtin() {
    let b = Bindings::new()
        .with("type", json!("disk"))
        .with("x", json!([1, 2]));
    assert_eq!(eval_ok("type == 'disk'", &b), json!(true));
    assert_eq!(eval_ok("len(x)", &b), json!(2));
}

#[test]
fn unknown_variable_names_the_expression_and_the_available_names() {
    let b = switch_bindings(json!({"error_rate": 0.5}));
    let err = CompiledExpr::compile("error_rat > ctx.threshold")
        .unwrap()
        .evaluate_bool(&b)
        .unwrap_err()
        .in_role("condition");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "condition \"error_rat > ctx.threshold\" failed: unknown variable \"error_rat\" (did you mean \"error_rate\"?); available: ctx, steps, signal, input, result, _value, val, error_rate, alert,"
        ),
        "{text}"
    );
}
