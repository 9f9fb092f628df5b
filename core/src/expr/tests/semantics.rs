//! The language: comparisons, attribute and index access, comprehensions,
//! truthiness, JSON round trips, and what the rewrite keeps.

#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

#[test]
fn comparisons_and_boolean_logic() {
    let b = switch_bindings(json!({"error_rate": 0.5}));
    assert!(truthy("error_rate > ctx.threshold", &b));
    assert!(truthy("error_rate >= 0.5 and ctx.env == 'prod'", &b));
    assert!(!truthy("error_rate < 0.1 or ctx.env != 'prod'", &b));
    assert!(truthy("not (1 > 2)", &b));
    assert!(truthy("ctx.env in ['prod', 'staging']", &b));
    assert!(truthy("'a' in ctx.tags and 'z' not in ctx.tags", &b));
    assert!(truthy("(1 < 2) == (2 < 3) if True else False", &b));
    // Starlark comparisons do not chain.
    assert!(check_syntax("1 < 2 < 3").is_err());
}

#[test]
fn attribute_and_index_access() {
    let b = plain();
    assert_eq!(eval_ok("ctx.env", &b), json!("prod"));
    assert_eq!(eval_ok("ctx['env']", &b), json!("prod"));
    assert_eq!(eval_ok("steps.fetch.result.count", &b), json!(3));
    assert_eq!(
        eval_ok("steps['fetch'].result['items'][1].id", &b),
        json!(2)
    );
    assert_eq!(eval_ok("steps.fetch.result.items[-1]['id']", &b), json!(2));
    assert_eq!(eval_ok("signal.data.severity", &b), json!("high"));
    assert_eq!(eval_ok("ctx.tags[0] + ctx.tags[1]", &b), json!("ab"));
    assert_eq!(eval_ok("len(ctx.tags) + len(ctx)", &b), json!(6));
    assert_eq!(eval_ok("type(ctx)", &b), json!("dict"));
    assert_eq!(eval_ok("ctx.get('missing', 'dflt')", &b), json!("dflt"));
    assert_eq!(
        eval_ok("sorted(signal.keys())", &b),
        json!(["data", "type"])
    );
    assert_eq!(eval_ok("'env' in ctx", &b), json!(true));
    assert_eq!(
        eval_ok("hasattr(ctx, 'env') and not hasattr(ctx, 'nope')", &b),
        json!(true)
    );
    assert_eq!(eval_ok("getattr(ctx, 'nope', 7)", &b), json!(7));
    assert_eq!(
        eval_ok(
            "ctx == {'threshold': 0.1, 'env': 'prod', 'ip': '10.0.0.1', 'tags': ['a', 'b']}",
            &b
        ),
        json!(true)
    );
}

#[test]
fn a_key_wins_over_a_dict_method_for_attribute_reads() {
    let b = Bindings::new().with("o", json!({"keys": [1, 2], "n": 1}));
    assert_eq!(eval_ok("o.keys", &b), json!([1, 2]));
    assert_eq!(eval_ok("sorted(o.items())[1]", &b), json!(["n", 1]));
}

#[test]
fn missing_attribute_names_the_attribute_and_the_keys() {
    let b = plain();
    let err = eval("ctx.nope", &b).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err.kind, ExprErrorKind::Runtime { .. }), "{text}");
    assert!(text.contains("\"nope\""), "{text}");
    assert!(text.contains("keys: env, ip, tags, threshold"), "{text}");
    let err = eval("ctx['nope']", &b).unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn comprehensions() {
    let b = plain();
    assert_eq!(
        eval_ok(
            "[i.id * 10 for i in steps.fetch.result['items'] if i.id > 1]",
            &b
        ),
        json!([20])
    );
    assert_eq!(
        eval_ok("{t: len(t) for t in ctx.tags}", &b),
        json!({"a": 1, "b": 1})
    );
    assert_eq!(
        eval_ok("[(x, y) for x in range(2) for y in range(x + 1)]", &b),
        json!([[0, 0], [1, 0], [1, 1]])
    );
    assert_eq!(
        eval_ok("any([t == 'b' for t in ctx.tags])", &b),
        json!(true)
    );
    assert_eq!(
        eval_ok("min([1, 2, 3]) if False else max([1, 5, 2])", &b),
        json!(5)
    );
}

#[test]
fn comprehension_variables_are_not_free_names() {
    let c = CompiledExpr::compile("[x for x in items if x > limit]").unwrap();
    assert_eq!(c.variables(), vec!["items", "limit"]);
    let c = CompiledExpr::compile("{k: v for k, v in d.items()}").unwrap();
    assert_eq!(c.variables(), vec!["d"]);
    let c = CompiledExpr::compile("len(x) + y").unwrap();
    assert_eq!(c.variables(), vec!["x", "y"]);
}

#[test]
fn truthiness() {
    let b = switch_bindings(json!(null));
    for falsy in [
        "None",
        "result",
        "0",
        "''",
        "[]",
        "{}",
        "False",
        "ctx.get('nope')",
    ] {
        assert!(!truthy(falsy, &b), "{falsy} should be false");
    }
    for true_ in ["1", "'x'", "[0]", "ctx", "ctx.tags", "True", "0.5"] {
        assert!(truthy(true_, &b), "{true_} should be true");
    }
}

#[test]
fn json_values_round_trip() {
    let b = Bindings::new().with(
        "v",
        json!({"n": null, "b": true, "i": -3, "big": 9007199254740993u64, "f": 1.5, "s": "x", "l": [1, [2]], "o": {}}),
    );
    assert_eq!(eval_ok("v", &b), b.get("v").unwrap().clone());
    assert_eq!(eval_ok("(1, 'a')", &b), json!([1, "a"]));
    assert_eq!(eval_ok("v.big + 1", &b), json!(9007199254740994u64));
    let err = eval("{1: 2}", &b).unwrap_err().to_string();
    assert!(err.contains("dict keys must be strings"), "{err}");
    let err = eval("range(3)", &b).unwrap_err().to_string();
    assert!(err.contains("no JSON form"), "{err}");
    let err = eval("len", &b).unwrap_err().to_string();
    assert!(err.contains("no JSON form"), "{err}");
}

#[test]
fn parenthesised_objects_keep_their_parentheses() {
    let b = plain();
    assert_eq!(eval_ok("((ctx)).env", &b), json!("prod"));
    assert_eq!(eval_ok("(ctx).tags[0]", &b), json!("a"));
    assert_eq!(eval_ok("(ctx.tags + ['c'])[2]", &b), json!("c"));
    assert_eq!(eval_ok("('-').join(ctx.tags)", &b), json!("a-b"));
    assert_eq!(eval_ok("(('-')).join((ctx.tags))", &b), json!("a-b"));
    assert_eq!(
        eval_ok("((ctx).steps if False else (steps).fetch).result.count", &b),
        json!(3)
    );
    assert_eq!(eval_ok("((1, (ctx))[1]).env", &b), json!("prod"));
    assert_eq!(
        eval_ok("'x'.join([(s).upper() for s in (ctx).tags])", &b),
        json!("AxB")
    );
    assert_eq!(
        eval_ok("(ctx # a comment with ) and '\n).env", &b),
        json!("prod")
    );
}

#[test]
fn rewritten_calls_keep_their_arguments() {
    let b = Bindings::new().with("s", json!("a-b-c"));
    assert_eq!(eval_ok("(s).replace('-', '+')", &b), json!("a+b+c"));
    assert_eq!(eval_ok("s.replace('-', '+', 1)", &b), json!("a+b-c"));
    assert_eq!(eval_ok("'{name}!'.format(name = s)", &b), json!("a-b-c!"));
    assert_eq!(
        eval_ok("','.join(s.split('-')).replace(',', ';')", &b),
        json!("a;b;c")
    );
    assert_eq!(
        eval_ok("''.join(\n  [x.upper() for x in s.split('-')],\n)", &b),
        json!("ABC")
    );
    assert_eq!(eval_ok("'x'.join(('a', 'b'))", &b), json!("axb"));
    assert_eq!(eval_ok("''.join(*[['a', 'b']])", &b), json!("ab"));
}
