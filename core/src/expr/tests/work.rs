//! The work inside costly builtins and operators is charged to the tick
//! budget: a hostile expression that repeats a membership test, a sort or a
//! join over a large collection stops at the tick limit, deterministically,
//! while the same operations once, or over small collections, still work.

#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

/// `big`: a list of 100,000 integers; `words`: 100,000 one-letter strings;
/// `text`: a 1 MiB string.
fn big() -> Bindings {
    Bindings::new()
        .with("big", json!((0..100_000).collect::<Vec<u32>>()))
        .with("words", json!(vec!["a"; 100_000]))
        .with("text", json!("x".repeat(1 << 20)))
}

/// Evaluates `source` twice with `big()` and expects the same tick-limit
/// error, naming the work of `what`.
fn stops_at_the_tick_limit(source: &str, what: &str) {
    let bindings = big();
    let first = eval(source, &bindings).unwrap_err();
    assert!(first.is_limit(), "{source}: {first}");
    let message = first.to_string();
    let expected = format!(
        "ticks: more than {} steps (function calls, loop iterations and the work of {what})",
        Limits::EXPRESSION.max_ticks
    );
    assert!(message.contains(&expected), "{source}: {message}");
    assert_eq!(eval(source, &bindings).unwrap_err().to_string(), message);
}

#[test]
fn repeated_work_over_a_large_collection_stops_at_the_tick_limit() {
    let cases = [
        ("len([i for i in range(100000) if i in big])", "`in`"),
        ("len([i for i in range(100000) if i not in big])", "`in`"),
        ("len([i for i in range(100000) if 'y' in text])", "`in`"),
        ("[len(sorted(big)) for i in range(100)]", "sorted()"),
        ("[max(big) for i in range(100000)]", "max()"),
        ("[min(big) for i in range(100000)]", "min()"),
        ("[all(big) for i in range(100000)]", "all()"),
        ("[len(''.join(words)) for i in range(100000)]", "join"),
        (
            "[len(text.replace('y', 'z')) for i in range(100000)]",
            "replace",
        ),
    ];
    for (source, what) in cases {
        stops_at_the_tick_limit(source, what);
    }
}

#[test]
fn the_same_operations_once_still_work() {
    let bindings = big();
    assert_eq!(eval_ok("99999 in big", &bindings), json!(true));
    assert_eq!(eval_ok("100000 not in big", &bindings), json!(true));
    assert_eq!(eval_ok("'y' in text", &bindings), json!(false));
    assert_eq!(
        eval_ok("sorted(big, reverse=True)[0]", &bindings),
        json!(99_999)
    );
    assert_eq!(
        eval_ok("[min(big), max(big)]", &bindings),
        json!([0, 99_999])
    );
    assert_eq!(eval_ok("len(''.join(words))", &bindings), json!(100_000));
    assert_eq!(
        eval_ok("len(list(enumerate(big)))", &bindings),
        json!(100_000)
    );
    assert_eq!(eval_ok("list(reversed(big))[0]", &bindings), json!(99_999));
}

#[test]
fn small_collections_cost_what_they_did() {
    let b = Bindings::new();
    assert_eq!(eval_ok("2 in [1, 2, 3]", &b), json!(true));
    assert_eq!(eval_ok("'b' not in 'abc'", &b), json!(false));
    assert_eq!(eval_ok("'k' in {'k': 1}", &b), json!(true));
    assert_eq!(eval_ok("5 in range(100000)", &b), json!(true));
    assert_eq!(
        eval_ok("sorted([3, 1, 2], reverse=True)", &b),
        json!([3, 2, 1])
    );
    assert_eq!(
        eval_ok("[max(1, 5), min([3, 1]), any([]), all([])]", &b),
        json!([5, 1, false, true])
    );
    assert_eq!(eval_ok("list(enumerate(['a'], 1))", &b), json!([[1, "a"]]));
    // A membership test per item of a comprehension over small lists: well
    // within the budget (one tick for the guard call, none for the work).
    let source = "len([i for i in range(30000) if i in [1, 2, 3]])";
    assert_eq!(eval_ok(source, &b), json!(3));
}

#[test]
fn charged_builtins_keep_the_standard_errors() {
    let b = Bindings::new();
    for source in [
        "sorted(1)",
        "max()",
        "min(1)",
        "any(1)",
        "1 in 2",
        "enumerate()",
    ] {
        let err = eval(source, &b).unwrap_err();
        assert!(!err.is_limit(), "{source}: {err}");
    }
}

#[test]
fn plans_are_charged_the_same_way() {
    let source = "len([i for i in range(100000) for j in range(20) if i in big])";
    let c = CompiledExpr::compile_with(source, Limits::PLAN).unwrap();
    let err = c.evaluate(&big()).unwrap_err();
    assert!(err.is_limit(), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("ticks: more than {}", Limits::PLAN.max_ticks)),
        "{err}"
    );
}
