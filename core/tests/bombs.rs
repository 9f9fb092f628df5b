//! Starlark bombs: sources written to exhaust the process (huge strings and
//! lists, endless ranges, nested comprehensions, doubling in loops, deep
//! recursion, deeply nested values) stop within the sandbox's bounds with
//! a clear error, in every place Starlark runs: switch conditions and DAG
//! conditions (`CompiledExpr::cached`, evaluated as a bool), trigger and
//! `signal.wait` filters (`CompiledExpr::compile`), `starlark.eval` steps
//! (`CompiledExpr::cached`, evaluated to JSON), `transform` blocks
//! (`CompiledExpr::compile_block`) and `*.workflow.star` files.
//!
//! Expressions run on the caller's thread (a Tokio worker, 2 MiB of stack),
//! so every bomb runs on a thread with that stack: a native recursion that
//! overflowed it would abort the test binary.

#![allow(clippy::unwrap_used)]

use junction_core::expr::{Bindings, CompiledExpr, ExprError};
use junction_core::model::{SourceFormat, compile};
use serde_json::json;

/// Runs `f` on a thread with a Tokio worker's stack.
fn on_worker_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn_scoped(scope, f)
            .unwrap()
            .join()
            .unwrap()
    })
}

fn bindings() -> Bindings {
    let context =
        json!({"ctx": {"n": 3, "items": [1, 2, 3]}, "steps": {}, "signal": {"data": {"n": 1}}});
    Bindings::for_context(&context, &json!({}), None, true, &[])
}

/// The error of `source` in each expression context: condition, filter,
/// `starlark.eval`, and as a one-expression transform block.
fn expression_errors(source: &str) -> Vec<(&'static str, ExprError)> {
    let b = bindings();
    let mut errors = Vec::new();
    let mut push = |context: &'static str, result: Result<(), ExprError>| match result {
        Err(error) => errors.push((context, error)),
        Ok(()) => panic!("{context}: `{source}` finished"),
    };
    push(
        "condition",
        CompiledExpr::cached(source).and_then(|c| c.evaluate_bool(&b).map(drop)),
    );
    push(
        "filter",
        CompiledExpr::compile(source).and_then(|c| c.evaluate_bool(&b).map(drop)),
    );
    push(
        "starlark.eval",
        CompiledExpr::cached(source).and_then(|c| c.evaluate(&b).map(drop)),
    );
    push(
        "transform",
        CompiledExpr::compile_block(source).and_then(|c| c.evaluate(&b).map(drop)),
    );
    errors
}

fn block_error(source: &str) -> ExprError {
    let b = bindings();
    match CompiledExpr::compile_block(source).and_then(|c| c.evaluate(&b)) {
        Err(error) => error,
        Ok(value) => panic!("`{source}` finished with {value}"),
    }
}

/// The diagnostics of a workflow file whose `workflow()` runs `body`.
fn plan_error(body: &str) -> (String, String) {
    let indented: String = body.lines().map(|l| format!("    {l}\n")).collect();
    let source =
        format!("def workflow():\n{indented}    return {{\"id\": \"w\", \"states\": []}}\n");
    let compiled = compile(&source, SourceFormat::Star);
    assert!(compiled.workflow.is_none(), "`{body}` compiled");
    let error = compiled.diagnostics.errors.first().cloned().unwrap();
    (error.code, error.message)
}

/// Bombs written as one expression: each stops with a limit error in
/// every context, and in a workflow file.
const EXPRESSION_BOMBS: &[&str] = &[
    // Huge strings and lists, sizes known before the allocation.
    "'x' * 1000000000",
    "1000000000 * 'x'",
    "[0] * 1000000000",
    "(0,) * 1000000000",
    "'x' * 2147483647",
    "['x' * 1000000 for i in range(1000)]",
    "'-'.join(['x' * 100000] * 100)",
    "('x' * 1000000).replace('x', 'xx')",
    "'{}'.format('x' * 2000000)",
    "'%s%s' % ('x' * 1000000, 'x' * 1000000)",
    // Endless ranges and loops.
    "range(2000000000)",
    "len(range(2000000000))",
    "[i for i in range(2000000000)]",
    "len([1 for i in range(100000) for j in range(100000)])",
    // Nested comprehension.
    "[[[0 for a in range(1000)] for b in range(1000)] for c in range(1000)]",
    "len([[j for j in range(i)] for i in range(100000)])",
    // Doubling through a list the comprehension mutates.
    "len([l.extend(l) for l in [[0]] for i in range(64)])",
    "[s.append(s[-1] + s[-1]) for s in [['x']] for i in range(64)]",
    // Big integers.
    "1 << 100000",
    "int('9' * 100000)",
];

#[test]
fn expression_bombs_stop_at_a_limit_in_every_context() {
    on_worker_stack(|| {
        for source in EXPRESSION_BOMBS {
            for (context, error) in expression_errors(source) {
                assert!(error.is_limit(), "{context}: `{source}`: {error}");
            }
            let (code, message) = plan_error(&format!("x = {source}"));
            assert_eq!(code, "STARLARK_ERROR", "{source}: {message}");
            assert!(message.contains("limit exceeded"), "{source}: {message}");
        }
    });
}

/// Bombs that need statements: doubling in loops (with plain and augmented
/// assignment), loops over huge ranges. In a transform block and in a
/// workflow file.
const STATEMENT_BOMBS: &[&str] = &[
    "s = 'x'\nfor i in range(64):\n    s = s + s\nlen(s)",
    "s = 'x'\nfor i in range(64):\n    s += s\nlen(s)",
    "l = [0]\nfor i in range(64):\n    l = l + l\nlen(l)",
    "l = [0]\nfor i in range(64):\n    l += l\nlen(l)",
    "l = [0]\nfor i in range(64):\n    l.extend(l)\nlen(l)",
    "d = {}\nfor i in range(2000000000):\n    d[i] = i\nlen(d)",
    "n = 0\nfor i in range(100000):\n    for j in range(100000):\n        n = n + 1\nn",
    "s = ['x']\nfor i in range(64):\n    s = s + [s[-1] + s[-1]]\nlen(s)",
];

#[test]
fn statement_bombs_stop_at_a_limit_in_blocks_and_workflow_files() {
    on_worker_stack(|| {
        for source in STATEMENT_BOMBS {
            let error = block_error(source);
            assert!(error.is_limit(), "`{source}`: {error}");
            let (code, message) = plan_error(source);
            assert_eq!(code, "STARLARK_ERROR", "{source}: {message}");
            assert!(message.contains("limit exceeded"), "{source}: {message}");
        }
    });
}

/// `*=`, `%=` and `<<=` multiply sizes where no guard sees them: refused
/// in blocks as in workflow files, with the place.
#[test]
fn size_multiplying_augmented_assignments_are_refused() {
    for source in [
        "s = 'x'\ns *= 1000000000\nlen(s)",
        "s = '%s%s'\ns %= ('x', 'y')\ns",
        "n = 1\nn <<= 100000\nn",
    ] {
        let error = block_error(source);
        assert_eq!(error.position(), Some((2, 1)), "`{source}`: {error}");
        assert!(
            error.to_string().contains("is not allowed"),
            "`{source}`: {error}"
        );
        let (_, message) = plan_error(source);
        assert!(message.contains("is not allowed"), "{source}: {message}");
    }
}

/// Recursion (only workflow files have `def`) stops at the call stack.
#[test]
fn deep_recursion_in_a_workflow_file_stops_at_the_call_stack() {
    for body in [
        "def f(n):\n    return f(n + 1)\nx = f(0)",
        "def f(n):\n    return g(n)\ndef g(n):\n    return f(n)\nx = f(0)",
        "def f(n):\n    return [f(n + 1), f(n + 1)]\nx = f(0)",
    ] {
        let (code, message) = plan_error(body);
        assert_eq!(code, "STARLARK_ERROR", "{body}: {message}");
        assert!(message.contains("limit exceeded"), "{body}: {message}");
    }
}

/// Values nested far deeper than any JSON (each level one loop step): the
/// operations that walk them natively (`str`, `repr`, formatting,
/// comparisons, hashing) are refused or bounded instead of overflowing the
/// stack, and a result that deep is refused by its depth.
#[test]
fn deeply_nested_values_do_not_overflow_the_stack() {
    let build_list = "l = []\nfor i in range(60000):\n    l = [l]\n";
    let build_tuple = "t = ()\nfor i in range(60000):\n    t = (t,)\n";
    // Printed or returned: refused by their depth.
    let refused = [
        format!("{build_list}str(l)"),
        format!("{build_list}repr(l)"),
        format!("{build_list}'%s' % [l]"),
        format!("{build_list}'{{}}'.format(l)"),
        format!("{build_list}l"),
        format!("{build_tuple}str(t)"),
        format!("{build_tuple}hash(str(t))"),
    ];
    // Compared or hashed: an answer or an error, never an overflow.
    let bounded = [
        format!("{build_list}l == [l[0]]"),
        format!("{build_list}[l] == [[l[0]]]"),
        format!("{build_list}l in [[l[0]]]"),
        format!("{build_list}sorted([l, [l[0]]])"),
        format!("{build_tuple}t == (t[0],)"),
        format!("{build_tuple}t in (t,)"),
    ];
    on_worker_stack(|| {
        for source in &refused {
            let b = bindings();
            let result = CompiledExpr::compile_block(source).and_then(|c| c.evaluate(&b));
            let error = result.expect_err(source);
            assert!(error.is_limit(), "{source}: {error}");
        }
        for source in &bounded {
            let b = bindings();
            let _ = CompiledExpr::compile_block(source).and_then(|c| c.evaluate(&b));
        }
    });
    // One expression builds depth through a list it mutates.
    let source = "str([x for x in [[[]]] for i in range(40000) if x.append([x[-1]])][0])";
    on_worker_stack(|| {
        let b = bindings();
        let result = CompiledExpr::compile(source).and_then(|c| c.evaluate(&b));
        assert!(result.is_err(), "`{source}` finished");
    });
    for source in &refused {
        let (code, message) = plan_error(source);
        assert!(!code.is_empty() && !message.is_empty());
    }
}
