//! Tests of the expression sandbox, by subject: the language
//! (`semantics`), name resolution (`names`), errors (`errors`), limits and
//! determinism (`limits`), the work charged for costly builtins (`work`),
//! and compiled expressions (`compiled`). Shared helpers are here.

#![allow(clippy::unwrap_used)]

mod compiled;
mod errors;
mod limits;
mod names;
mod semantics;
mod work;

use super::*;
use serde_json::json;

pub(super) fn eval(source: &str, bindings: &Bindings) -> Result<Json, ExprError> {
    CompiledExpr::compile(source)?.evaluate(bindings)
}

pub(super) fn eval_ok(source: &str, bindings: &Bindings) -> Json {
    match eval(source, bindings) {
        Ok(v) => v,
        Err(e) => panic!("{source}: {e}"),
    }
}

pub(super) fn truthy(source: &str, bindings: &Bindings) -> bool {
    match CompiledExpr::compile(source).and_then(|c| c.evaluate_bool(bindings)) {
        Ok(v) => v,
        Err(e) => panic!("{source}: {e}"),
    }
}

/// A run context with a little of everything.
pub(super) fn context() -> Json {
    json!({
        "ctx": {"threshold": 0.1, "env": "prod", "ip": "10.0.0.1", "tags": ["a", "b"]},
        "steps": {"fetch": {"result": {"count": 3, "items": [{"id": 1}, {"id": 2}]}}},
        "signal": {"type": "alert.fired", "data": {"severity": "high"}},
        "alert": {"name": "disk"},
    })
}

pub(super) fn switch_bindings(result: Json) -> Bindings {
    Bindings::for_context(&context(), &json!({"x": 1}), Some(&result), true, &[])
}

pub(super) fn plain() -> Bindings {
    Bindings::for_context(&context(), &json!({"x": 1}), None, false, &[])
}
