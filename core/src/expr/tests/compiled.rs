//! Compiled expressions: shared across threads, and what a typical
//! condition costs.

#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

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

/// Not a test of behaviour: prints the cost of a typical condition. Run with
/// `cargo test -p junction-core --release --lib expr::tests::compiled::bench -- --ignored --nocapture`.
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
