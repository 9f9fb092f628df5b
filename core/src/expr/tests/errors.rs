//! Errors: syntax errors with positions, refused statements and functions,
//! runtime errors, and garbage that must never panic.

#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

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
