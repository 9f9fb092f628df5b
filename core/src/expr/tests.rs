//! Tests of the expression sandbox: semantics, name resolution, errors,
//! limits and determinism.

#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

fn eval(source: &str, bindings: &Bindings) -> Result<Json, ExprError> {
    CompiledExpr::compile(source)?.evaluate(bindings)
}

fn eval_ok(source: &str, bindings: &Bindings) -> Json {
    match eval(source, bindings) {
        Ok(v) => v,
        Err(e) => panic!("{source}: {e}"),
    }
}

fn truthy(source: &str, bindings: &Bindings) -> bool {
    match CompiledExpr::compile(source).and_then(|c| c.evaluate_bool(bindings)) {
        Ok(v) => v,
        Err(e) => panic!("{source}: {e}"),
    }
}

/// A run context with a little of everything.
fn context() -> Json {
    json!({
        "ctx": {"threshold": 0.1, "env": "prod", "ip": "10.0.0.1", "tags": ["a", "b"]},
        "steps": {"fetch": {"result": {"count": 3, "items": [{"id": 1}, {"id": 2}]}}},
        "signal": {"type": "alert.fired", "data": {"severity": "high"}},
        "alert": {"name": "disk"},
    })
}

fn switch_bindings(result: Json) -> Bindings {
    Bindings::for_context(&context(), &json!({"x": 1}), Some(&result), true, &[])
}

fn plain() -> Bindings {
    Bindings::for_context(&context(), &json!({"x": 1}), None, false, &[])
}

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

#[test]
fn syntax_errors_have_positions_within_the_expression() {
    let err = check_syntax("a >").unwrap_err();
    assert!(matches!(err.kind, ExprErrorKind::Parse { .. }), "{err}");
    assert_eq!(err.position(), Some((1, 4)));
    let err = check_syntax("(a and\n  (b ==))").unwrap_err();
    assert_eq!(err.position(), Some((2, 8)), "{err}");
    assert!(
        err.to_string()
            .starts_with("expression \"(a and\\n  (b ==))\" failed: syntax error at 2:8"),
        "{err}"
    );
    // Outside brackets a line break ends the expression.
    assert_eq!(
        check_syntax("a and\n b").unwrap_err().position(),
        Some((1, 6))
    );
    let err = check_syntax("").unwrap_err();
    assert!(matches!(err.kind, ExprErrorKind::Parse { .. }), "{err}");
    check_syntax("x # a comment").unwrap();
    check_syntax("(a,\n b)").unwrap();
}

#[test]
fn statements_def_lambda_and_load_are_refused() {
    for (source, position) in [
        ("x = 1", (1, 1)),
        ("a; b", (1, 4)),
        ("a;", (1, 2)),
        ("a\nb", (2, 1)),
        ("def f(): return 1", (1, 1)),
        ("lambda x: x", (1, 1)),
        ("load('a.star', 'b')", (1, 1)),
        ("for x in y: pass", (1, 1)),
    ] {
        let err = check_syntax(source).unwrap_err();
        assert!(
            matches!(err.kind, ExprErrorKind::Parse { .. }),
            "{source}: {err}"
        );
        assert_eq!(err.position(), Some(position), "{source}: {err}");
    }
}

#[test]
fn nondeterministic_and_io_functions_do_not_exist() {
    for name in [
        "time", "now", "random", "print", "open", "read", "json", "struct", "sum",
    ] {
        let err = eval(&format!("{name}()"), &Bindings::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("unknown variable \"{name}\"")),
            "{name}: {err}"
        );
    }
}

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
fn runtime_errors_are_runtime_errors() {
    let b = plain();
    for source in [
        "1 / 0",
        "ctx.env + 1",
        "fail('boom')",
        "ctx.tags[5]",
        "int('x')",
    ] {
        let err = eval(source, &b).unwrap_err();
        assert!(
            matches!(err.kind, ExprErrorKind::Runtime { .. }),
            "{source}: {err}"
        );
        assert!(err.to_string().contains(&format!("{source:?}")), "{err}");
    }
    let err = eval("fail('boom')", &b).unwrap_err().to_string();
    assert!(err.contains("boom"), "{err}");
}

#[test]
fn compiled_expressions_are_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<CompiledExpr>();
    let c = CompiledExpr::compile("x * 2").unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || c.evaluate(&Bindings::new().with("x", json!(i))).unwrap())
        })
        .collect();
    let results: Vec<Json> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results, vec![json!(0), json!(2), json!(4), json!(6)]);
}

#[test]
fn garbage_never_panics() {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 300,
        failure_persistence: None,
        ..Default::default()
    });
    let alphabet = "[a-z_0-9 .,:;'\"()\\[\\]{}+*%<>=!#\\\\\n-]{0,40}";
    runner
        .run(&alphabet, |source| {
            let b = Bindings::new().with("a", json!({"b": [1, "x"]}));
            if let Ok(c) = CompiledExpr::compile(&source) {
                let _ = c.evaluate(&b);
                let _ = c.evaluate_bool(&b);
            }
            let _ = check_syntax(&source);
            Ok(())
        })
        .unwrap();
    runner
        .run(&any::<String>(), |source| {
            let _ = CompiledExpr::compile(&source).map(|c| c.evaluate(&Bindings::new()));
            Ok(())
        })
        .unwrap();
}

/// Not a test of behaviour: prints the cost of a typical condition. Run with
/// `cargo test -p junction-shared --release --lib expr::tests::bench -- --ignored --nocapture`.
#[test]
#[ignore = "micro-benchmark"]
fn bench_typical_condition() {
    let context = json!({
        "ctx": {"threshold": 0.1, "env": "prod", "ip": "10.0.0.1", "region": "eu", "tier": 2},
        "steps": {"check": {"result": {"error_rate": 0.4}}},
        "signal": null,
    });
    let result = json!({"error_rate": 0.4});
    let c = CompiledExpr::compile("error_rate > ctx.threshold and ctx.env == 'prod'").unwrap();
    let n = 20_000u32;
    let start = std::time::Instant::now();
    for _ in 0..n {
        let b = Bindings::for_context(&context, &json!(null), Some(&result), true, &[]);
        assert!(c.evaluate_bool(&b).unwrap());
    }
    let with_bindings = start.elapsed() / n;
    let b = Bindings::for_context(&context, &json!(null), Some(&result), true, &[]);
    let start = std::time::Instant::now();
    for _ in 0..n {
        assert!(c.evaluate_bool(&b).unwrap());
    }
    let evaluation = start.elapsed() / n;
    let start = std::time::Instant::now();
    for _ in 0..2_000 {
        CompiledExpr::compile("error_rate > ctx.threshold and ctx.env == 'prod'").unwrap();
    }
    let compile = start.elapsed() / 2_000;
    println!(
        "per evaluation: {evaluation:?}; with for_context: {with_bindings:?}; compile: {compile:?}"
    );
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
