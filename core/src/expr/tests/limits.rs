//! Limits and determinism: ticks, sizes refused before they are built,
//! guarded methods, result and source bounds, and stack use.

#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

#[test]
fn evaluation_is_deterministic() {
    let b = plain();
    let source = "[hash(k) for k in ctx] + [{'b': 1, 'a': 2}] + [str(ctx)]";
    let c = CompiledExpr::compile(source).unwrap();
    let first = c.evaluate(&b).unwrap();
    for _ in 0..3 {
        assert_eq!(c.evaluate(&b).unwrap(), first);
        assert_eq!(eval_ok(source, &b), first);
    }
    assert_eq!(eval_ok("hash('abc')", &b), json!(96354));
}

#[test]
fn tick_limit_stops_a_huge_comprehension() {
    let c = CompiledExpr::compile_with(
        "len([i for i in range(1000) for j in range(1000)])",
        Limits::EXPRESSION,
    )
    .unwrap();
    let err = c.evaluate(&Bindings::new()).unwrap_err();
    assert!(err.is_limit(), "{err}");
    assert!(err.to_string().contains("ticks"), "{err}");
}

/// An almost endless loop (10^10 iterations) stops at the tick bound under
/// both sets of limits, with the same error every time: no clock decides.
#[test]
fn a_long_loop_stops_at_the_tick_limit_the_same_way_every_time() {
    let source = "len([1 for i in range(100000) for j in range(100000)])";
    for limits in [Limits::EXPRESSION, Limits::PLAN] {
        let c = CompiledExpr::compile_with(source, limits).unwrap();
        let first = c.evaluate(&Bindings::new()).unwrap_err();
        assert!(first.is_limit(), "{first}");
        let message = first.to_string();
        assert!(
            message.contains(&format!("ticks: more than {}", limits.max_ticks)),
            "{message}"
        );
        for _ in 0..3 {
            let again = c.evaluate(&Bindings::new()).unwrap_err();
            assert_eq!(again.to_string(), message);
        }
    }
}

/// The tick bound is a count of steps (each loop iteration is one): a loop
/// just under it finishes, one just over it stops.
#[test]
fn the_tick_limit_is_a_count_of_steps() {
    let loops = |outer: u64| format!("len([1 for i in range({outer}) for j in range(1000)])");
    let thousands = Limits::EXPRESSION.max_ticks / 1000;
    let under = loops(thousands - 1);
    assert_eq!(
        eval_ok(&under, &Bindings::new()),
        json!((thousands - 1) * 1000)
    );
    let err = eval(&loops(thousands + 1), &Bindings::new()).unwrap_err();
    assert!(err.is_limit(), "{err}");
    assert!(err.to_string().contains("ticks"), "{err}");
}

#[test]
fn big_strings_and_lists_are_refused_before_they_are_built() {
    let b = Bindings::new().with("n", json!(2_147_483_647u64));
    for source in [
        "'x' * 2147483647",
        "'x' * n",
        "n * 'xy'",
        "[1, 2] * 1000000",
        "('x' * 1000000) + ('y' * 1000000)",
        "''.join(['x' * 1000000 for i in range(10)])",
        "('x' * 1000000).replace('x', 'yy')",
        "'{}{}'.format('x' * 1000000, 'y')",
        "'%s%s' % ('x' * 600000, 'x' * 600000)",
        "str(['x' * 100000] * 20)",
        "range(1000000000)",
        "len([l.extend(l) for l in [[1, 2]] for i in range(30)])",
        "1 << 100000",
        "int('9' * 100000)",
        "b'x' * 2147483647",
    ] {
        let err = eval(source, &b).unwrap_err();
        assert!(err.is_limit(), "{source}: {err}");
    }
    // The same operations under the limits work.
    assert_eq!(eval_ok("len('ab' * 1000)", &b), json!(2000));
    assert_eq!(eval_ok("'-'.join(['a', 'b'])", &b), json!("a-b"));
    assert_eq!(eval_ok("'a{}c'.format('b')", &b), json!("abc"));
    assert_eq!(eval_ok("'%s=%d' % ('a', 1)", &b), json!("a=1"));
    assert_eq!(eval_ok("'aXa'.replace('X', 'b')", &b), json!("aba"));
    assert_eq!(eval_ok("3 * 4 + 2 % 3 + (1 << 4)", &b), json!(30));
}

#[test]
fn a_guarded_method_must_be_called_where_it_is_named() {
    let err = eval("[f(['a']) for f in [''.join]]", &Bindings::new()).unwrap_err();
    assert!(err.to_string().contains("must be called"), "{err}");
    let err = eval("getattr('', 'join')", &Bindings::new()).unwrap_err();
    assert!(err.to_string().contains("join"), "{err}");
    // A key of a JSON object may be named like a guarded method.
    let b = Bindings::new().with("o", json!({"format": "json", "join": 1}));
    assert_eq!(
        eval_ok("[o.format, o.join, o['format']]", &b),
        json!(["json", 1, "json"])
    );
}

#[test]
fn result_size_and_depth_are_bounded() {
    let limits = Limits {
        max_result_bytes: 1000,
        ..Limits::EXPRESSION
    };
    let c = CompiledExpr::compile_with("['x' * 100 for i in range(20)]", limits).unwrap();
    let err = c.evaluate(&Bindings::new()).unwrap_err();
    assert!(err.to_string().contains("result size"), "{err}");
    // evaluate_bool does not convert.
    assert!(c.evaluate_bool(&Bindings::new()).unwrap());
}

#[test]
fn source_size_and_nesting_are_bounded() {
    let long = format!("1{}", " + 1".repeat(MAX_EXPRESSION_BYTES / 4));
    let err = check_syntax(&long).unwrap_err();
    assert!(err.is_limit(), "{err}");
    let deep = format!(
        "{}1{}",
        "(".repeat(MAX_NESTING + 1),
        ")".repeat(MAX_NESTING + 1)
    );
    let err = check_syntax(&deep).unwrap_err();
    assert_eq!(err.position(), Some((1, 65)), "{err}");
    let fine = format!("{}1{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
    check_syntax(&fine).unwrap();
    // Brackets inside strings do not count.
    check_syntax(&format!("'{}'", "(".repeat(200))).unwrap();
    // Unary runs, like brackets, would make the parser recurse.
    let unary = format!("{}1", "- ".repeat(MAX_NESTING + 1));
    assert!(
        check_syntax(&unary)
            .unwrap_err()
            .to_string()
            .contains("unary")
    );
    check_syntax("not not - -1").unwrap();
    // Operator chains make deep trees: up to the depth limit they run.
    let chain = format!("1{}", " + 1".repeat(150));
    assert_eq!(eval_ok(&chain, &Bindings::new()), json!(151));
    let dots = format!("o{}", ".a".repeat(150));
    let nested = (0..150).fold(json!(7), |inner, _| json!({"a": inner}));
    assert_eq!(eval_ok(&dots, &Bindings::new().with("o", nested)), json!(7));
    let chain = format!("1{}", " + 1".repeat(MAX_AST_DEPTH + 1));
    let err = check_syntax(&chain).unwrap_err();
    assert!(err.to_string().contains("nests deeper"), "{err}");
}

#[test]
fn zip_of_many_long_lists_is_refused() {
    let err = eval("len(zip(*([range(100000)] * 100)))", &Bindings::new()).unwrap_err();
    assert!(err.is_limit(), "{err}");
    assert_eq!(
        eval_ok("zip([1, 2], 'ab'.elems())", &Bindings::new()),
        json!([[1, "a"], [2, "b"]])
    );
}

#[test]
fn worst_case_sources_fit_a_worker_thread_stack() {
    // Tokio workers and test threads have 2 MiB stacks; none of these may
    // overflow one (an overflow aborts the process).
    let run = || {
        let size = MAX_EXPRESSION_BYTES;
        let sources = [
            format!("{}c", "a if b else ".repeat(size / 12)),
            format!("{}x", "not ".repeat(size / 4)),
            format!("{}1", "-".repeat(size - 1)),
            format!("1{}", "+1".repeat(size / 2 - 1)),
            format!("o{}", ".a".repeat(size / 2 - 1)),
            format!("x{}", "[0]".repeat(size / 3 - 1)),
            format!("f{}", "()".repeat(size / 2 - 1)),
            format!("{}1{}", "[".repeat(64), "]".repeat(64)),
            format!("o{}", ".a".repeat(MAX_AST_DEPTH - 2)),
            format!("1{}", "+1".repeat(MAX_AST_DEPTH - 2)),
        ];
        for source in sources {
            let _ = check_syntax(&source);
            if let Ok(c) = CompiledExpr::compile(&source) {
                let _ = c.evaluate(&Bindings::new().with("o", json!({})));
            }
        }
    };
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}
